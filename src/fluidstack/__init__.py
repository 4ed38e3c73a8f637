"""FluidStack GPU cloud: the Python SDK, for both of FluidStack's APIs.

    from fluidstack import FluidStack          # the platform API (api-key)
    from fluidstack.atlas import Atlas         # Atlas (OAuth2, regions, projects)

    client = FluidStack()  # reads FLUIDSTACK_API_KEY
    client.instances.list()

Names are imported on first use, so ``import fluidstack`` stays cheap.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any, Dict, List

from ._extras import missing_extra
from ._version import __version__

if TYPE_CHECKING:
    from . import atlas as atlas
    from . import core as core
    from . import platform as platform
    from . import types as types
    from .core import (
        ApiConnectionError,
        ApiError,
        ApiTimeoutError,
        AuthenticationError,
        BadRequestError,
        ConfigurationError,
        ConflictError,
        DuplicateEvent,
        EventHooks,
        InstanceFailedError,
        InstancePreemptedError,
        InternalServerError,
        MissingApiKeyError,
        MissingCredentialsError,
        MissingProjectError,
        MissingRegionError,
        NoCapacityError,
        NotFoundError,
        NotSupportedError,
        OutOfStockError,
        PaymentRequiredError,
        PermissionDeniedError,
        RateLimitError,
        RawResponse,
        RedirectRefusedError,
        RequestOptions,
        ResponseTooLargeError,
        ResponseValidationError,
        SpendLimitError,
        TokenError,
        UnknownRegionError,
        UnprocessableEntityError,
        WaitTimeoutError,
    )
    from .core.aiohttp_client import AioHttpClient
    from .platform.client import AsyncFluidStack, FluidStack, FluidStackEnvironment
    from .platform.types import (
        ConfigurationResponse,
        CreateInstanceResponse,
        GPUType,
        InstanceResponse,
        InstanceStatus,
        ListInstanceResponse,
        OperatingSystemResponse,
        Region,
        SSHKeyResponse,
        SupportedOperatingSystem,
    )

_LAZY: Dict[str, str] = {
    "AioHttpClient": "fluidstack.core.aiohttp_client",
    "AsyncFluidStack": "fluidstack.platform._async.client",
    "FluidStack": "fluidstack.platform._sync.client",
    "FluidStackEnvironment": "fluidstack.core.config",
    **dict.fromkeys(
        (
            "ApiConnectionError",
            "ApiError",
            "ApiTimeoutError",
            "AuthenticationError",
            "BadRequestError",
            "ConfigurationError",
            "ConflictError",
            "DuplicateEvent",
            "EventHooks",
            "InstanceFailedError",
            "InstancePreemptedError",
            "InternalServerError",
            "MissingApiKeyError",
            "MissingCredentialsError",
            "MissingProjectError",
            "MissingRegionError",
            "NoCapacityError",
            "NotFoundError",
            "NotSupportedError",
            "OutOfStockError",
            "PaymentRequiredError",
            "PermissionDeniedError",
            "RateLimitError",
            "RawResponse",
            "RedirectRefusedError",
            "RequestOptions",
            "ResponseTooLargeError",
            "ResponseValidationError",
            "SpendLimitError",
            "TokenError",
            "UnknownRegionError",
            "UnprocessableEntityError",
            "WaitTimeoutError",
        ),
        "fluidstack.core",
    ),
    **dict.fromkeys(
        (
            "ConfigurationResponse",
            "CreateInstanceResponse",
            "GPUType",
            "InstanceResponse",
            "InstanceStatus",
            "ListInstanceResponse",
            "OperatingSystemResponse",
            "Region",
            "SSHKeyResponse",
            "SupportedOperatingSystem",
        ),
        "fluidstack.platform.types",
    ),
}
_SUBMODULES = {"atlas", "core", "platform", "types", "client", "resources"}

__all__ = [
    "AioHttpClient",
    "ApiConnectionError",
    "ApiError",
    "ApiTimeoutError",
    "AsyncFluidStack",
    "AuthenticationError",
    "BadRequestError",
    "ConfigurationError",
    "ConfigurationResponse",
    "ConflictError",
    "CreateInstanceResponse",
    "DuplicateEvent",
    "EventHooks",
    "FluidStack",
    "FluidStackEnvironment",
    "GPUType",
    "InstanceFailedError",
    "InstancePreemptedError",
    "InstanceResponse",
    "InstanceStatus",
    "InternalServerError",
    "ListInstanceResponse",
    "MissingApiKeyError",
    "MissingCredentialsError",
    "MissingProjectError",
    "MissingRegionError",
    "NoCapacityError",
    "NotFoundError",
    "NotSupportedError",
    "OperatingSystemResponse",
    "OutOfStockError",
    "PaymentRequiredError",
    "PermissionDeniedError",
    "RateLimitError",
    "RawResponse",
    "RedirectRefusedError",
    "Region",
    "RequestOptions",
    "ResponseTooLargeError",
    "ResponseValidationError",
    "SSHKeyResponse",
    "SpendLimitError",
    "SupportedOperatingSystem",
    "TokenError",
    "UnknownRegionError",
    "UnprocessableEntityError",
    "WaitTimeoutError",
    "__version__",
    "atlas",
    "core",
    "platform",
    "types",
]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is not None:
        try:
            value = getattr(importlib.import_module(module), name)
        except ImportError as exc:
            hint = missing_extra(exc)
            if hint is None:
                raise
            raise ImportError(f"fluidstack.{name} needs an optional extra: {hint}") from exc
        globals()[name] = value
        return value
    if name in _SUBMODULES:
        return importlib.import_module(f"fluidstack.{name}")
    raise AttributeError(f"module 'fluidstack' has no attribute {name!r}")


def __dir__() -> List[str]:
    return sorted(set(globals()) | set(_LAZY) | _SUBMODULES)
