# Generated from fluidstack/platform/_async by scripts/unasync.py: do not edit by hand.
"""``client.ssh_keys``: the SSH public keys instances can be created with."""

from __future__ import annotations

from typing import List, Optional

from ...core._sync._resource import Resource, raw_method
from ...core.endpoint import Found
from ...core.request_options import RequestOptions
from .. import endpoints as api
from ..types.account import SSHKeyResponse

__all__ = ["SshKeysResource", "SshKeysResourceWithRawResponse"]


class SshKeysResource(Resource):
    """Operations on SSH keys. Keys are addressed by their name."""

    @property
    def with_raw_response(self) -> SshKeysResourceWithRawResponse:
        """The same methods, returning a :class:`~fluidstack.core.RawResponse`."""
        return SshKeysResourceWithRawResponse(self)

    def list(
        self, *, show_all: Optional[bool] = None, request_options: Optional[RequestOptions] = None
    ) -> List[SSHKeyResponse]:
        """List the account's SSH keys.

        Args:
            show_all: Also list keys the server hides by default.
        """
        return self._pipeline.call(
            api.SSH_KEYS, query={"show_all": show_all}, request_options=request_options
        )

    def create(
        self, *, name: str, public_key: str, request_options: Optional[RequestOptions] = None
    ) -> SSHKeyResponse:
        """Add an SSH public key (OpenSSH format: ``ssh-ed25519 AAAA... comment``).

        Args:
            name: Unique name of the key in the account; instances refer to it.
            public_key: The public key. Never pass a private key: it is refused here.
        """
        if not name:
            raise ValueError("name must be a non-empty string")
        if "PRIVATE KEY" in public_key:
            raise ValueError("that is a private key; pass the public key (the .pub file)")
        key_text = public_key.strip()

        def recover() -> Optional[Found[SSHKeyResponse]]:
            # After an ambiguous failure: the key may have been stored already.
            stored = self.list(request_options=request_options)
            found = api.find_stored(stored, name, key_text)
            return None if found is None else Found(found)

        return self._pipeline.call(
            api.SSH_KEY_CREATE,
            body={"name": name, "public_key": key_text},
            request_options=request_options,
            recover=recover,
        )

    def delete(
        self, ssh_key_name: str, *, request_options: Optional[RequestOptions] = None
    ) -> None:
        """Delete an SSH key by name. Running instances keep it installed."""
        self._pipeline.call(
            api.SSH_KEY_DELETE,
            path_params={"ssh_key_name": ssh_key_name},
            request_options=request_options,
        )


class SshKeysResourceWithRawResponse:
    """``client.ssh_keys.with_raw_response``: each method returns the raw response."""

    def __init__(self, resource: SshKeysResource) -> None:
        self.list = raw_method(resource.list)
        self.create = raw_method(resource.create)
        self.delete = raw_method(resource.delete)
