"""Models and enumerations of the FluidStack API, named after the API's schemas.

Enumerations accept values they do not list; models keep fields they do not know.
"""

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
