"""Who may do what: the roles of an organization's members, enforced on every Atlas
request (Management API and every region's API) before its handler runs.

- ``admin``: everything.
- ``editor`` (the Management API's enum) or ``member`` (the role its descriptions name):
  everything but managing members and invitations.
- ``viewer``: read-only (``GET`` only), its own SSH keys included.

A refused request answers 403 ``{"message"}`` and changes nothing, since the check runs
before the handler. Because members cannot change roles at all, a member cannot raise
their own. Who is calling follows from the access token: a user's token (browser login)
has the user's id as ``sub``, which is also the id of the user's member record; a
client-credentials token belongs to the organization itself and acts as ``admin``.
The contract declares 403 but no rule: all of this is *inferred* (docs/emulator.md).
"""

from __future__ import annotations

from typing import Dict, Sequence

from fluidstack.emulator.atlas.records import Member, Organization
from fluidstack.emulator.responses import ApiError

__all__ = ["ADMIN_ONLY", "ROLE_RANK", "check_role", "last_admin_guard", "role_of"]

ROLE_RANK = {"viewer": 0, "editor": 1, "member": 1, "admin": 2}
"""What each role may do, in increasing order (an unknown role counts as a viewer)."""
ADMIN_ONLY = frozenset({"members", "invitations", "organizations"})
"""Management API collections whose writes only an admin may make."""
READS = frozenset({"GET", "HEAD", "OPTIONS"})


def role_of(org: Organization, subject: str, members: Dict[str, Member]) -> str:
    """The role of the caller ``subject`` (a token's ``sub``) in ``org``."""
    if subject == org.client_id:
        # The organization's own OAuth client: machine access on its behalf.
        return "admin"
    member = members.get(subject)
    if member is not None and member.org_id == org.id:
        return member.role
    return "viewer"  # nobody we know: the least (the token check refuses this first)


def check_role(role: str, method: str, management: bool, parts: Sequence[str]) -> None:
    """Raise 403 when ``role`` may not make this request (``parts``: the path after
    ``/api/v1alpha1``)."""
    if method in READS:
        return
    rank = ROLE_RANK.get(role, 0)
    if rank == 0:
        raise ApiError(403, f"Your role ({role}) is read-only: it cannot change anything")
    if management and parts and parts[0] in ADMIN_ONLY and rank < ROLE_RANK["admin"]:
        raise ApiError(403, f"Only an admin can change {parts[0]}; your role is {role}")


def last_admin_guard(org: Organization, member: Member, members: Dict[str, Member]) -> None:
    """409 when ``member`` is the organization's last admin (it would be left without
    one: nobody could manage members any more)."""
    if member.role != "admin":
        return
    admins = [m for m in members.values() if m.org_id == org.id and m.role == "admin"]
    if len(admins) <= 1:
        raise ApiError(409, "The last admin of the organization cannot be removed or demoted")
