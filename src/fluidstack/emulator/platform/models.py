"""Server-side request models (pydantic). The emulator's own, never the SDK's.

Responses are built as plain dictionaries by :mod:`fluidstack.emulator.platform.state` and
serialised once; these models are what the emulator validates on the way in, which is
what produces FastAPI's 422 ``{"detail": [...]}`` answers.
"""

from __future__ import annotations

import enum
import uuid
from typing import List, Literal, Optional, Union

from pydantic import BaseModel, ConfigDict, Field, StrictInt, field_validator

from fluidstack.emulator.platform.catalog import GPU_TYPES, REGIONS
from fluidstack.emulator.sshkeys import PUBLIC_KEY_TYPES, validate_public_key

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


_NAME = Field(min_length=1, max_length=255)


class _Request(BaseModel):
    """Request bodies: JSON's NaN/Infinity extensions are refused."""

    model_config = ConfigDict(allow_inf_nan=False)


def _check_instance_name(value: str) -> str:
    """One rule for an instance's name, at create and at rename (issue 13, item 10)."""
    if value != value.strip():
        raise ValueError("must not start or end with whitespace")
    if any(ord(c) < 32 or ord(c) == 127 for c in value):
        raise ValueError("must not contain control characters")
    return value


def _check_name(value: str) -> str:
    """An SSH key's name, which its URL addresses: no ``/`` either."""
    _check_instance_name(value)
    if "/" in value:
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

    name: Optional[str] = Field(default=None, min_length=1, max_length=255)
    """The same rule as a rename's: no surrounding spaces or control characters."""
    gpu_type: GPUType
    gpu_count: StrictInt = Field(default=1, ge=1)
    ssh_key: str
    operating_system_label: str = "ubuntu_20_04_lts_nvidia"
    region: Optional[Region] = None
    volumes: List[VolumeInput] = Field(default_factory=list)

    @field_validator("name")
    @classmethod
    def _name(cls, value: Optional[str]) -> Optional[str]:
        return None if value is None else _check_instance_name(value)


class RenameInstanceRequest(_Request):
    """``PUT /instances/{id}/rename``."""

    new_instance_name: str = _NAME

    _check = field_validator("new_instance_name")(_check_instance_name)


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
