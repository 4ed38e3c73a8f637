"""Server-side request models (pydantic). The emulator's own, never the SDK's.

Responses are built as plain dictionaries by :mod:`fluidstack.emulator.state` and
serialised once; these models are what the emulator validates on the way in, which is
what produces FastAPI's 422 ``{"detail": [...]}`` answers.
"""

from __future__ import annotations

import base64
import binascii
import enum
import uuid
from typing import List, Literal, Optional, Union

from pydantic import BaseModel, ConfigDict, Field, StrictInt, field_validator

from fluidstack.emulator.catalog import GPU_TYPES, REGIONS

__all__ = [
    "PUBLIC_KEY_TYPES",
    "AddSSHKeyRequest",
    "CreateAPIKeyRequest",
    "CreateInstanceRequest",
    "CreatePaymentRequest",
    "GPUType",
    "Region",
    "RenameInstanceRequest",
    "UpdateCompanyDetailsRequest",
    "VolumeInput",
    "validate_public_key",
]

GPUType = enum.Enum("GPUType", {name: name for name in GPU_TYPES}, type=str)  # type: ignore[misc]
Region = enum.Enum("Region", {name: name for name in REGIONS}, type=str)  # type: ignore[misc]


class VolumeStatus(str, enum.Enum):
    creating = "creating"
    attached = "attached"
    attaching = "attaching"
    ready = "ready"
    unknown = "unknown"
    error = "error"
    deleted = "deleted"


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


_NAME = Field(min_length=1, max_length=255)


class _Request(BaseModel):
    """Request bodies: JSON's NaN/Infinity extensions are refused."""

    model_config = ConfigDict(allow_inf_nan=False)


def _check_name(value: str) -> str:
    if value != value.strip():
        raise ValueError("must not start or end with whitespace")
    if "/" in value or any(ord(c) < 32 or ord(c) == 127 for c in value):
        raise ValueError("must not contain '/' or control characters")
    return value


class EntityIdInput(_Request):
    value: uuid.UUID
    prefix: str


class VolumeInput(_Request):
    """``VolumeInstanceResponse-Input``: a volume to attach on create."""

    id: EntityIdInput
    name: str
    size_gb: StrictInt = Field(ge=1)
    status: Optional[VolumeStatus] = VolumeStatus.creating
    cost_gb_hr: Union[float, str]
    created_at: Optional[str]
    updated_at: Optional[str]


class CreateInstanceRequest(_Request):
    """``POST /instances``."""

    name: Optional[str] = Field(default=None, max_length=255)
    gpu_type: GPUType
    gpu_count: StrictInt = Field(default=1, ge=1)
    ssh_key: str
    operating_system_label: str = "ubuntu_20_04_lts_nvidia"
    region: Optional[Region] = None
    volumes: List[VolumeInput] = Field(default_factory=list)


class RenameInstanceRequest(_Request):
    """``PUT /instances/{id}/rename``."""

    new_instance_name: str = _NAME

    _check = field_validator("new_instance_name")(_check_name)


class AddSSHKeyRequest(_Request):
    """``POST /ssh_keys``: ``{name, public_key}``."""

    name: str = _NAME
    public_key: str = Field(max_length=16384)

    _check = field_validator("name")(_check_name)

    @field_validator("public_key")
    @classmethod
    def _public_key(cls, value: str) -> str:
        return validate_public_key(value)


class UpdateCompanyDetailsRequest(_Request):
    """``PUT /user/company-details``: only the fields present are changed."""

    company_name: Optional[str] = Field(default=None, max_length=1000)
    company_vat_number: Optional[str] = Field(default=None, max_length=1000)
    company_address: Optional[str] = Field(default=None, max_length=1000)
    company_tax_id: Optional[str] = Field(default=None, max_length=1000)
    company_contact_info: Optional[str] = Field(default=None, max_length=1000)


class CreateAPIKeyRequest(_Request):
    """``POST /api_keys``."""

    name: str = _NAME


class CreatePaymentRequest(_Request):
    """``POST /payments/create-intent``: amount in cents."""

    amount: StrictInt = Field(gt=0)
    currency: Literal["usd"] = "usd"
