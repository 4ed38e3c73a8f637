"""The request pipeline's shared parts: configuration, options, retries and errors.

Every exception the SDK raises derives from :class:`ApiError`::

    import fluidstack

    try:
        client.instances.get("i-123")
    except fluidstack.core.ApiError as e:
        print(e.status_code, e.body)
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Dict

from .._lazy import lazy_attributes

if TYPE_CHECKING:
    from .config import (
        DEFAULT_MAX_RESPONSE_BYTES,
        DEFAULT_MAX_RETRIES,
        DEFAULT_TIMEOUT,
        FluidStackEnvironment,
        InsecureTransportWarning,
    )
    from .errors import (
        ApiConnectionError,
        ApiError,
        ApiTimeoutError,
        AuthenticationError,
        BadRequestError,
        ConfigurationError,
        ConflictError,
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
        RedirectRefusedError,
        ResponseTooLargeError,
        ResponseValidationError,
        SpendLimitError,
        TokenError,
        UnknownRegionError,
        UnprocessableEntityError,
        ValidationErrorItem,
        WaitTimeoutError,
    )
    from .events import DuplicateEvent, EventHooks, RequestEvent, ResponseEvent, RetryEvent
    from .raw import RawResponse
    from .request_options import RequestOptions

# Each name is imported from its module on first use: a command or a client needs a few
# of these modules, and importing all of them made every start-up pay for the rest.
_HOMES: Dict[str, str] = {
    **dict.fromkeys(
        (
            "DEFAULT_MAX_RESPONSE_BYTES",
            "DEFAULT_MAX_RETRIES",
            "DEFAULT_TIMEOUT",
            "FluidStackEnvironment",
            "InsecureTransportWarning",
        ),
        ".config",
    ),
    **dict.fromkeys(
        (
            "ApiConnectionError",
            "ApiError",
            "ApiTimeoutError",
            "AuthenticationError",
            "BadRequestError",
            "ConfigurationError",
            "ConflictError",
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
            "RedirectRefusedError",
            "ResponseTooLargeError",
            "ResponseValidationError",
            "SpendLimitError",
            "TokenError",
            "UnknownRegionError",
            "UnprocessableEntityError",
            "ValidationErrorItem",
            "WaitTimeoutError",
        ),
        ".errors",
    ),
    **dict.fromkeys(
        ("DuplicateEvent", "EventHooks", "RequestEvent", "ResponseEvent", "RetryEvent"), ".events"
    ),
    **dict.fromkeys(("RawResponse",), ".raw"),
    **dict.fromkeys(("RequestOptions",), ".request_options"),
}

__all__ = [
    "DEFAULT_MAX_RESPONSE_BYTES",
    "DEFAULT_MAX_RETRIES",
    "DEFAULT_TIMEOUT",
    "ApiConnectionError",
    "ApiError",
    "ApiTimeoutError",
    "AuthenticationError",
    "BadRequestError",
    "ConfigurationError",
    "ConflictError",
    "DuplicateEvent",
    "EventHooks",
    "FluidStackEnvironment",
    "InsecureTransportWarning",
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
    "RequestEvent",
    "RequestOptions",
    "ResponseEvent",
    "ResponseTooLargeError",
    "ResponseValidationError",
    "RetryEvent",
    "SpendLimitError",
    "TokenError",
    "UnknownRegionError",
    "UnprocessableEntityError",
    "ValidationErrorItem",
    "WaitTimeoutError",
]


__getattr__, __dir__ = lazy_attributes(__name__, _HOMES)
