"""SSH keys, addressed by name."""

from __future__ import annotations

from typing import List, Optional, Sequence

from ..core.endpoint import Endpoint
from ..types.account import SSHKeyResponse

LIST: Endpoint[List[SSHKeyResponse]] = Endpoint(
    "ssh_keys.list", "GET", "/ssh_keys", List[SSHKeyResponse]
)
CREATE: Endpoint[SSHKeyResponse] = Endpoint(
    "ssh_keys.create", "POST", "/ssh_keys", SSHKeyResponse, idempotent=False
)
DELETE: Endpoint[None] = Endpoint("ssh_keys.delete", "DELETE", "/ssh_keys/{ssh_key_name}", None)


def find_stored(
    keys: Sequence[SSHKeyResponse], name: str, public_key: str
) -> Optional[SSHKeyResponse]:
    """The key a create stored, if the listing shows the same name and the same key."""
    for key in keys:
        if key.name == name and (key.public_key or "").split()[:2] == public_key.split()[:2]:
            return key
    return None
