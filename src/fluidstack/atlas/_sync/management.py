# Generated from fluidstack/atlas/_async by scripts/unasync.py: do not edit by hand.
"""The management (global) API: regions, organizations, members, invitations, your SSH
keys and managed clusters. None of these need a region or a project."""

from __future__ import annotations

from typing import List, Optional, Union

from ...core._sync._resource import RawListing, raw_method
from ...core.endpoint import Found
from ...core.errors import ConflictError
from ...core.request_options import RequestOptions, for_lookups
from .. import endpoints as api
from ..endpoints import id_text
from ..types import (
    Cluster,
    Invitation,
    MemberRole,
    Organization,
    OrganizationMember,
    Region,
    SSHKey,
)
from ._resource import AtlasResource

__all__ = [
    "ClustersResource",
    "InvitationsResource",
    "MembersResource",
    "OrganizationsResource",
    "RegionsResource",
    "UserKeysResource",
]

Role = Union[MemberRole, str]


def _role(role: Role) -> str:
    text = str(role).strip()
    if not text:
        raise ValueError("role must be a non-empty string, e.g. 'admin', 'editor' or 'viewer'")
    return text


class RegionsResource(AtlasResource):
    """The regions your organization can use, each with its API's URL."""

    @property
    def with_raw_response(self) -> RawListing[List[Region]]:
        """The same methods, returning a :class:`~fluidstack.core.RawResponse`."""
        return RawListing(self.list)

    def list(self, *, request_options: Optional[RequestOptions] = None) -> List[Region]:
        """List the regions (always asked afresh; the client also remembers the answer to
        find the URL of its region)."""
        return self._scope.directory.fetch(request_options)


class OrganizationsResource(AtlasResource):
    """The organizations your credentials belong to."""

    @property
    def with_raw_response(self) -> OrganizationsResourceWithRawResponse:
        """The same methods, returning a :class:`~fluidstack.core.RawResponse`."""
        return OrganizationsResourceWithRawResponse(self)

    def list(self, *, request_options: Optional[RequestOptions] = None) -> List[Organization]:
        """List the organizations."""
        return self._scope.management(api.ORGANIZATIONS, request_options=request_options)

    def create(
        self, *, display_name: str, request_options: Optional[RequestOptions] = None
    ) -> Organization:
        """Create a new organization named ``display_name`` (``POST /organizations``,
        201 ``{id, name, display_name}``; an admin's call, else
        :class:`~fluidstack.core.PermissionDeniedError`).

        Not repeated after a failure that may have created it: the listing shows only
        your own organization, so a second attempt could not tell and would make two.
        """
        if not isinstance(display_name, str) or not display_name.strip():
            raise ValueError("display_name must be a non-empty string")
        return self._scope.management(
            api.ORGANIZATION_CREATE,
            body={"display_name": display_name},
            request_options=request_options,
        )


class MembersResource(AtlasResource):
    """The members of your organization and their roles."""

    @property
    def with_raw_response(self) -> MembersResourceWithRawResponse:
        """The same methods, returning a :class:`~fluidstack.core.RawResponse`."""
        return MembersResourceWithRawResponse(self)

    def list(self, *, request_options: Optional[RequestOptions] = None) -> List[OrganizationMember]:
        """List the members."""
        return self._scope.management(api.MEMBERS, request_options=request_options)

    def update(
        self,
        member_id: str,
        *,
        role: Role,
        request_options: Optional[RequestOptions] = None,
    ) -> None:
        """Give a member another role (``admin``, ``editor``/``member`` or ``viewer``);
        only an admin may, and the last admin cannot be demoted
        (:class:`~fluidstack.core.ConflictError`)."""
        self._scope.management(
            api.MEMBER_UPDATE,
            path_params={"member_id": id_text(member_id, "member_id")},
            body={"role": _role(role)},
            request_options=request_options,
        )

    def delete(self, member_id: str, *, request_options: Optional[RequestOptions] = None) -> None:
        """Remove a member from the organization."""
        self._scope.management(
            api.MEMBER_DELETE,
            path_params={"member_id": id_text(member_id, "member_id")},
            request_options=request_options,
        )


class InvitationsResource(AtlasResource):
    """Invitations to join your organization."""

    @property
    def with_raw_response(self) -> InvitationsResourceWithRawResponse:
        """The same methods, returning a :class:`~fluidstack.core.RawResponse`."""
        return InvitationsResourceWithRawResponse(self)

    def list(self, *, request_options: Optional[RequestOptions] = None) -> List[Invitation]:
        """List the pending invitations."""
        return self._scope.management(api.INVITATIONS, request_options=request_options)

    def create(
        self,
        *,
        email: str,
        role: Optional[Role] = None,
        request_options: Optional[RequestOptions] = None,
    ) -> None:
        """Invite ``email`` to the organization, with ``role`` (default: the server's).

        The API answers without a body: ``invitations.list()`` shows the invitation and
        its id. Safe to retry: after a failure that may have sent the invitation, the
        listing is checked before inviting again.
        """
        if not isinstance(email, str) or "@" not in email:
            raise ValueError(f"email must be an email address, got {email!r}")
        body = {"email": email}
        if role is not None:
            body["role"] = _role(role)

        def recover() -> Optional[Found[None]]:
            listing = self.list(request_options=for_lookups(request_options))
            arrived = any(i.email.lower() == email.lower() for i in listing)
            return Found(None) if arrived else None

        self._scope.management(
            api.INVITATION_CREATE, body=body, request_options=request_options, recover=recover
        )

    def delete(
        self, invitation_id: str, *, request_options: Optional[RequestOptions] = None
    ) -> None:
        """Withdraw an invitation."""
        self._scope.management(
            api.INVITATION_DELETE,
            path_params={"invitation_id": id_text(invitation_id, "invitation_id")},
            request_options=request_options,
        )


class UserKeysResource(AtlasResource):
    """The public SSH keys registered for your user."""

    @property
    def with_raw_response(self) -> UserKeysResourceWithRawResponse:
        """The same methods, returning a :class:`~fluidstack.core.RawResponse`."""
        return UserKeysResourceWithRawResponse(self)

    def list(self, *, request_options: Optional[RequestOptions] = None) -> List[SSHKey]:
        """List your SSH keys."""
        return self._scope.management(api.USER_KEYS, request_options=request_options)

    def create(
        self, *, name: str, key: str, request_options: Optional[RequestOptions] = None
    ) -> SSHKey:
        """Register a public SSH key (an OpenSSH line) under ``name``; names are unique.

        Safe to retry: if an earlier attempt registered this very key, that is success;
        a different key under the same name raises :class:`ConflictError` (409).
        """
        if not isinstance(name, str) or not name.strip():
            raise ValueError("name must be a non-empty string")
        if not isinstance(key, str) or not key.strip():
            raise ValueError("key must be an OpenSSH public key line")
        registered = SSHKey(name=name, key=key.strip())

        def registered_already() -> bool:
            listing = self.list(request_options=for_lookups(request_options))
            return any(k.name == name and k.key.strip() == registered.key for k in listing)

        def recover() -> Optional[Found[None]]:
            return Found(None) if registered_already() else None

        try:
            self._scope.management(
                api.USER_KEY_CREATE,
                body={"name": name, "key": registered.key},
                request_options=request_options,
                recover=recover,
            )
        except ConflictError:
            # The name is taken: by this key (an attempt whose answer was lost) or another.
            if not registered_already():
                raise
        return registered

    def delete(self, name: str, *, request_options: Optional[RequestOptions] = None) -> None:
        """Remove the SSH key registered under ``name``."""
        self._scope.management(
            api.USER_KEY_DELETE,
            path_params={"name": id_text(name, "name")},
            request_options=request_options,
        )


class ClustersResource(AtlasResource):
    """The Kubernetes and Slurm clusters FluidStack runs for your organization, in every
    region."""

    @property
    def with_raw_response(self) -> RawListing[List[Cluster]]:
        """The same methods, returning a :class:`~fluidstack.core.RawResponse`."""
        return RawListing(self.list)

    def list(self, *, request_options: Optional[RequestOptions] = None) -> List[Cluster]:
        """List the clusters."""
        return self._scope.management(api.CLUSTERS, request_options=request_options)


class OrganizationsResourceWithRawResponse:
    """``atlas.organizations.with_raw_response``: each method returns the raw response."""

    def __init__(self, resource: OrganizationsResource) -> None:
        self.list = raw_method(resource.list)
        self.create = raw_method(resource.create)


class MembersResourceWithRawResponse:
    """``atlas.members.with_raw_response``: each method returns the raw response."""

    def __init__(self, resource: MembersResource) -> None:
        self.list = raw_method(resource.list)
        self.update = raw_method(resource.update)
        self.delete = raw_method(resource.delete)


class InvitationsResourceWithRawResponse:
    """``atlas.invitations.with_raw_response``: each method returns the raw response."""

    def __init__(self, resource: InvitationsResource) -> None:
        self.list = raw_method(resource.list)
        self.create = raw_method(resource.create)
        self.delete = raw_method(resource.delete)


class UserKeysResourceWithRawResponse:
    """``atlas.user_keys.with_raw_response``: each method returns the raw response."""

    def __init__(self, resource: UserKeysResource) -> None:
        self.list = raw_method(resource.list)
        self.create = raw_method(resource.create)
        self.delete = raw_method(resource.delete)
