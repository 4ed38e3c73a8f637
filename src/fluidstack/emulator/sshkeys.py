"""OpenSSH public key lines: the one validator both APIs use for uploaded keys."""

from __future__ import annotations

import base64
import binascii

__all__ = ["PUBLIC_KEY_TYPES", "validate_public_key"]

PUBLIC_KEY_TYPES = (
    "ssh-rsa",
    "ssh-dss",
    "ssh-ed25519",
    "ecdsa-sha2-nistp256",
    "ecdsa-sha2-nistp384",
    "ecdsa-sha2-nistp521",
)


def validate_public_key(text: str) -> str:
    """Check an OpenSSH public key line; returns it stripped, or raises ``ValueError``."""
    stripped = text.strip()
    if "PRIVATE KEY" in stripped or stripped.startswith("PuTTY-User-Key-File"):
        raise ValueError(
            "this is a private key; upload the public key (the .pub file) instead, "
            "and never share the private one"
        )
    parts = stripped.split()
    if len(parts) < 2:
        raise ValueError(
            "expected an OpenSSH public key: '<type> <base64 data> [comment]', "
            f"with type one of {', '.join(PUBLIC_KEY_TYPES)}"
        )
    key_type, data = parts[0], parts[1]
    if key_type not in PUBLIC_KEY_TYPES:
        raise ValueError(
            f"unsupported public key type {key_type[:40]!r}; "
            f"accepted: {', '.join(PUBLIC_KEY_TYPES)}"
        )
    try:
        blob = base64.b64decode(data.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError, ValueError):
        raise ValueError("the key data after the type is not valid base64") from None
    type_bytes = key_type.encode("ascii")
    length = int.from_bytes(blob[:4], "big") if len(blob) >= 4 else -1
    if length != len(type_bytes) or blob[4 : 4 + length] != type_bytes:
        raise ValueError(f"the key data does not hold a {key_type} key")
    if len(blob) <= 4 + length:
        raise ValueError("the key data is truncated")
    return stripped
