"""Models and enumerations of the FluidStack API, named after the API's schemas.

Enumerations accept values they do not list; models keep fields they do not know.

Each name is imported from its module on first use (issue 24, sixth round): a listing
of instances builds neither the account models nor the launch plans' dataclasses.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Dict

from ..._lazy import lazy_attributes

if TYPE_CHECKING:
    from .account import (
        APIKeyResponse,
        ApiKeyResponse,
        CreatePaymentResponse,
        HealthCheckOutSchema,
        HTTPValidationError,
        SSHKeyResponse,
        SshKeyResponse,
        User,
        UserBalanceResponse,
        ValidationError,
    )
    from .enums import (
        GPUType,
        GpuType,
        InstanceStatus,
        InstanceTerm,
        Region,
        SupportedOperatingSystem,
        VolumeStatus,
    )
    from .instances import (
        ConfigurationInstanceResponse,
        ConfigurationResponse,
        CreateInstanceResponse,
        EntityId,
        GPUModelResponse,
        InstanceResponse,
        ListInstanceResponse,
        OperatingSystemResponse,
        VolumeInstanceRequest,
        VolumeInstanceResponse,
    )
    from .launch import LaunchOption, LaunchPlan

_HOMES: Dict[str, str] = {
    **dict.fromkeys(
        (
            "APIKeyResponse",
            "ApiKeyResponse",
            "CreatePaymentResponse",
            "HealthCheckOutSchema",
            "HTTPValidationError",
            "SSHKeyResponse",
            "SshKeyResponse",
            "User",
            "UserBalanceResponse",
            "ValidationError",
        ),
        ".account",
    ),
    **dict.fromkeys(
        (
            "GPUType",
            "GpuType",
            "InstanceStatus",
            "InstanceTerm",
            "Region",
            "SupportedOperatingSystem",
            "VolumeStatus",
        ),
        ".enums",
    ),
    **dict.fromkeys(
        (
            "ConfigurationInstanceResponse",
            "ConfigurationResponse",
            "CreateInstanceResponse",
            "EntityId",
            "GPUModelResponse",
            "InstanceResponse",
            "ListInstanceResponse",
            "OperatingSystemResponse",
            "VolumeInstanceRequest",
            "VolumeInstanceResponse",
        ),
        ".instances",
    ),
    **dict.fromkeys(
        (
            "LaunchOption",
            "LaunchPlan",
        ),
        ".launch",
    ),
}

__all__ = [
    "APIKeyResponse",
    "ApiKeyResponse",
    "ConfigurationInstanceResponse",
    "ConfigurationResponse",
    "CreateInstanceResponse",
    "CreatePaymentResponse",
    "EntityId",
    "GPUModelResponse",
    "GPUType",
    "GpuType",
    "HTTPValidationError",
    "HealthCheckOutSchema",
    "InstanceResponse",
    "InstanceStatus",
    "InstanceTerm",
    "LaunchOption",
    "LaunchPlan",
    "ListInstanceResponse",
    "OperatingSystemResponse",
    "Region",
    "SSHKeyResponse",
    "SshKeyResponse",
    "SupportedOperatingSystem",
    "User",
    "UserBalanceResponse",
    "ValidationError",
    "VolumeInstanceRequest",
    "VolumeInstanceResponse",
    "VolumeStatus",
]


__getattr__, __dir__ = lazy_attributes(__name__, _HOMES)
