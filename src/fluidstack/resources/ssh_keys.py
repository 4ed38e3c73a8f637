"""SSH keys, addressed by name."""

from __future__ import annotations

from typing import List

from ..core.endpoint import Endpoint
from ..types.account import SSHKeyResponse

LIST: Endpoint[List[SSHKeyResponse]] = Endpoint(
    "ssh_keys.list", "GET", "/ssh_keys", List[SSHKeyResponse]
)
CREATE: Endpoint[SSHKeyResponse] = Endpoint(
    "ssh_keys.create", "POST", "/ssh_keys", SSHKeyResponse, idempotent=False
)
DELETE: Endpoint[None] = Endpoint("ssh_keys.delete", "DELETE", "/ssh_keys/{ssh_key_name}", None)
