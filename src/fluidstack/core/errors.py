"""The exceptions the SDK raises.

Every one of them is a :class:`ApiError`, so ``except fluidstack.core.ApiError`` catches
anything the SDK can raise. Errors that come from an HTTP response carry its
``status_code``, ``body`` and ``headers``; errors raised before or without a response
(no API key, connection failures, timeouts) have ``status_code=None``.
"""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any, Dict, List, Mapping, Optional, Sequence, Type

import httpx

from .redaction import PROSE_SAFE_LENGTH as PROSE_SAFE_LENGTH  # their old home: re-exported
from .redaction import redact as redact
from .redaction import redact_all as redact_all
from .redaction import redact_value as redact_value

__all__ = [
    "ApiConnectionError",
    "ApiError",
    "ApiTimeoutError",
    "AuthenticationError",
    "BadRequestError",
    "ConfigurationError",
    "ConflictError",
    "InstanceFailedError",
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
    "TokenRateLimitError",
    "UnknownRegionError",
    "UnprocessableEntityError",
    "ValidationErrorItem",
    "WaitTimeoutError",
    "error_for_status",
    "may_have_acted",
]

_MAX_MESSAGE = 300


class ApiError(Exception):
    """Base class of every error the SDK raises.

    Attributes:
        status_code: The HTTP status of the response, or ``None`` when there was no
            response (connection failure, timeout, missing API key).
        body: The response body: parsed JSON when it was JSON, else the text, else ``None``.
        headers: The response headers (empty when there was no response).
        message: A one-line human-readable explanation.
    """

    status_code: Optional[int]
    body: Any
    headers: Mapping[str, str]
    message: str

    def __init__(
        self,
        message: Optional[str] = None,
        *,
        status_code: Optional[int] = None,
        body: Any = None,
        headers: Optional[Mapping[str, str]] = None,
    ) -> None:
        self.status_code = status_code
        self.body = body
        self.headers = dict(headers) if headers is not None else {}
        self.message = message if message is not None else _message_from_body(body)
        super().__init__(self.message)

    def __str__(self) -> str:
        if self.status_code is None:
            return self.message
        reason = _reason_phrase(self.status_code)
        text = f"{self.status_code} {reason}".rstrip()
        return f"{text}: {self.message}" if self.message else text

    def __repr__(self) -> str:
        return f"{type(self).__name__}(status_code={self.status_code!r}, message={self.message!r})"

    def __reduce__(self) -> Any:
        # Keep errors picklable (multiprocessing, pytest-xdist) despite keyword-only args.
        return (
            _rebuild,
            (type(self), self.message, self.status_code, self.body, dict(self.headers)),
        )


def _rebuild(
    cls: Type[ApiError], message: str, status_code: Optional[int], body: Any, headers: Any
) -> ApiError:
    err = cls.__new__(cls)
    ApiError.__init__(err, message, status_code=status_code, body=body, headers=headers)
    return err


class ConfigurationError(ApiError):
    """The client's settings do not allow this call: it lacks one the call needs (a key,
    a region, a project) or one forbids it (a spend limit); nothing was sent. The message
    says which setting and what to do."""


class MissingCredentialsError(ConfigurationError):
    """The client has no credentials for this call; nothing was sent."""


class MissingApiKeyError(MissingCredentialsError):
    """No API key was given and ``FLUIDSTACK_API_KEY`` is not set; nothing was sent."""


class MissingRegionError(ConfigurationError):
    """A regional call was made by a client with no region; nothing was sent. ``known``
    lists the regions that exist."""

    def __init__(self, message: str, *, known: List[str]) -> None:
        super().__init__(message)
        self.known = known


class MissingProjectError(ConfigurationError):
    """A project-scoped call was made by a client with no project; nothing was sent."""


class UnknownRegionError(ConfigurationError):
    """The client's region is not one of the regions the API lists; nothing was sent.

    ``region`` is the name asked for; ``known`` lists the names that exist.
    """

    def __init__(self, message: str, *, region: str, known: List[str]) -> None:
        super().__init__(message)
        self.region = region
        self.known = known


class SpendLimitError(ConfigurationError):
    """A create or start would take the hourly spend over the client's
    ``max_hourly_spend``, or the spend could not be worked out; the call was not sent.

    ``limit`` is the limit, ``current`` the hourly burn of the instances already running
    (USD per hour, ``None`` when it could not be worked out) and ``adding`` what the call
    would add (``None`` when unknown).
    """

    def __init__(
        self,
        message: str,
        *,
        limit: Decimal,
        current: Optional[Decimal] = None,
        adding: Optional[Decimal] = None,
    ) -> None:
        super().__init__(message)
        self.limit = limit
        self.current = current
        self.adding = adding

    def __reduce__(self) -> Any:
        return (_rebuild_spend_error, (self.message, self.limit, self.current, self.adding))


def _rebuild_spend_error(
    message: str, limit: Decimal, current: Optional[Decimal], adding: Optional[Decimal]
) -> SpendLimitError:
    return SpendLimitError(message, limit=limit, current=current, adding=adding)


class TokenError(ApiError):
    """No access token could be obtained from the OAuth token endpoint.

    ``url`` is the token endpoint; ``error`` and ``error_description`` are what it said
    (e.g. ``invalid_client``), or ``None`` when it could not be reached at all, in which
    case ``__cause__`` is the :class:`ApiConnectionError`. ``status_code`` is the token
    endpoint's status (``None`` without a response). Transient failures (network errors,
    5xx, 429) were already retried.
    """

    def __init__(
        self,
        message: str,
        *,
        url: str,
        error: Optional[str] = None,
        error_description: Optional[str] = None,
        status_code: Optional[int] = None,
    ) -> None:
        super().__init__(message, status_code=status_code)
        self.url = url
        self.error = error
        self.error_description = error_description

    def __reduce__(self) -> Any:
        return (
            _rebuild_token_error,
            (self.message, self.url, self.error, self.error_description, self.status_code),
        )


def _rebuild_token_error(
    message: str,
    url: str,
    error: Optional[str],
    error_description: Optional[str],
    status_code: Optional[int],
) -> TokenError:
    return TokenError(
        message,
        url=url,
        error=error,
        error_description=error_description,
        status_code=status_code,
    )


class RedirectRefusedError(ApiError):
    """The server redirected the request to another origin (scheme, host or port) with a
    307 or 308, which would re-send its body there. A body may hold credentials (a
    token request's ``client_secret``), so the redirect was not followed and nothing was
    sent to ``location`` (the other origin, without path or query). ``status_code`` is
    the redirect's status."""

    def __init__(self, message: str, *, location: str, status_code: int) -> None:
        super().__init__(message, status_code=status_code)
        self.location = location

    def __reduce__(self) -> Any:
        return (_rebuild_redirect_refused, (self.message, self.location, self.status_code))


def _rebuild_redirect_refused(
    message: str, location: str, status_code: int
) -> RedirectRefusedError:
    return RedirectRefusedError(message, location=location, status_code=status_code)


class ApiConnectionError(ApiError):
    """The request could not be completed: DNS, refused or dropped connection, TLS, ...

    ``status_code`` is ``None``. The original ``httpx`` exception is in ``__cause__``.
    """


class ApiTimeoutError(ApiConnectionError):
    """The request (or the whole call, with a total deadline) ran out of time."""


class BadRequestError(ApiError):
    """400: the server refused the request (for example a business rule was broken)."""


class AuthenticationError(ApiError):
    """401: the API key (or session) is missing, unknown or revoked."""


class PaymentRequiredError(ApiError):
    """402: the account's balance cannot pay for this (top it up, then retry)."""


class PermissionDeniedError(ApiError):
    """403: the key is valid but not allowed to do this."""


class NotFoundError(ApiError):
    """404: no such resource in this account."""


class ConflictError(ApiError):
    """409: the request conflicts with the resource's current state."""


class ValidationErrorItem:
    """One entry of a 422 response's ``detail`` list."""

    __slots__ = ("loc", "msg", "type")

    def __init__(self, loc: List[Any], msg: str, type: str) -> None:
        self.loc = loc
        self.msg = msg
        self.type = type

    @property
    def field(self) -> str:
        """The location as a dotted path without its first part, e.g. ``gpu_type``."""
        parts = self.loc[1:] if len(self.loc) > 1 else self.loc
        return ".".join(str(p) for p in parts)

    def __repr__(self) -> str:
        return f"ValidationErrorItem(loc={self.loc!r}, msg={self.msg!r}, type={self.type!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, ValidationErrorItem) and (self.loc, self.msg, self.type) == (
            other.loc,
            other.msg,
            other.type,
        )

    __hash__ = None  # type: ignore[assignment]


class UnprocessableEntityError(ApiError):
    """422: the request did not validate. ``errors`` lists each problem."""

    @property
    def errors(self) -> List[ValidationErrorItem]:
        """The parsed ``detail`` entries (empty if the body was not in FastAPI's shape)."""
        return _validation_items(self.body)


class RateLimitError(ApiError):
    """429: too many requests. Retried automatically, honouring ``Retry-After``."""


class TokenRateLimitError(TokenError, RateLimitError):
    """429 from the token endpoint (e.g. a lock-out after repeated wrong secrets), still
    there after the retries: both a :class:`TokenError` and a :class:`RateLimitError`, so
    code that handles the API's 429s handles this one too. ``headers`` holds the answer's
    (its ``Retry-After``)."""

    def __reduce__(self) -> Any:
        return (_rebuild_token_rate_limit, (*super().__reduce__()[1], self.headers))


def _rebuild_token_rate_limit(
    message: str,
    url: str,
    error: Optional[str],
    error_description: Optional[str],
    status_code: Optional[int],
    headers: Mapping[str, str],
) -> TokenRateLimitError:
    rebuilt = TokenRateLimitError(
        message,
        url=url,
        error=error,
        error_description=error_description,
        status_code=status_code,
    )
    rebuilt.headers = dict(headers)
    return rebuilt


class InternalServerError(ApiError):
    """5xx: the server failed. Retried automatically where that is safe."""


class NotSupportedError(InternalServerError):
    """501: the server (or this region) does not offer the operation. Never retried.

    ``capability`` names what is missing (e.g. ``instances:create``) and ``location``
    where (e.g. ``region eu-north-1``), when the SDK knows them.
    """

    capability: Optional[str] = None
    location: Optional[str] = None

    def describe(self, capability: str, location: Optional[str]) -> None:
        """Say in the message which capability is missing, and where."""
        self.capability = capability
        self.location = location
        where = f" in {location}" if location else ""
        server = f" ({self.message})" if self.message else ""
        self.message = f"{capability} is not supported{where}{server}"
        self.args = (self.message,)


class ResponseTooLargeError(ApiError):
    """A response body grew past the client's ``max_response_bytes`` (decoded), and was
    not read further. Never retried: asking again gets the same answer.

    ``limit`` is the cap in bytes; ``status_code`` and ``headers`` describe the response
    (``body`` is ``None``: it was not kept). Raise the cap with the client's
    ``max_response_bytes`` or the call's ``request_options={"max_response_bytes": ...}``.
    """

    def __init__(
        self,
        message: str,
        *,
        limit: int,
        status_code: Optional[int] = None,
        headers: Optional[Mapping[str, str]] = None,
    ) -> None:
        super().__init__(message, status_code=status_code, headers=headers)
        self.limit = limit

    def __reduce__(self) -> Any:
        return (
            _rebuild_too_large,
            (self.message, self.limit, self.status_code, dict(self.headers)),
        )


def _rebuild_too_large(
    message: str, limit: int, status_code: Optional[int], headers: Any
) -> ResponseTooLargeError:
    return ResponseTooLargeError(message, limit=limit, status_code=status_code, headers=headers)


class ResponseValidationError(ApiError):
    """The server answered successfully, but the body is not what the API promises.

    ``status_code``, ``body`` and ``headers`` describe the response that could not be
    parsed; the underlying parsing error is in ``__cause__``.
    """


class InstanceFailedError(ApiError):
    """A waited-for instance reached a status it cannot leave (``failed``, ``terminated``).

    ``instance`` is the last state seen; ``status_code`` is ``None``.
    """

    def __init__(self, message: str, *, instance: Any = None) -> None:
        super().__init__(message)
        self.instance = instance


class OutOfStockError(InstanceFailedError):
    """A waited-for instance ended ``out-of-stock``: the region had no capacity for its
    type. ``instance`` is the last state seen; delete it, or try another region."""


class InstancePreemptedError(InstanceFailedError):
    """A waited-for preemptible instance was preempted during the wait (it went
    ``stopping``/``stopped`` after being seen on its way up): it will not get there on its
    own. ``instance`` is the last state seen; delete it, or start it again."""


class WaitTimeoutError(ApiTimeoutError):
    """A wait reached its deadline. ``instance`` is the last state seen (or ``None``)."""

    def __init__(self, message: str, *, instance: Any = None) -> None:
        super().__init__(message)
        self.instance = instance


class NoCapacityError(ApiError):
    """No configuration matching a launch request could be created.

    ``attempts`` lists ``(LaunchOption, ApiError)`` for each option that was tried.
    """

    def __init__(self, message: str, *, attempts: Optional[List[Any]] = None) -> None:
        super().__init__(message)
        self.attempts = attempts or []


_BY_STATUS: Dict[int, Type[ApiError]] = {
    400: BadRequestError,
    401: AuthenticationError,
    402: PaymentRequiredError,
    403: PermissionDeniedError,
    404: NotFoundError,
    409: ConflictError,
    422: UnprocessableEntityError,
    429: RateLimitError,
}


def error_for_status(
    status_code: int, body: Any, headers: Optional[Mapping[str, str]] = None
) -> ApiError:
    """Build the typed error for an unsuccessful response."""
    cls = _BY_STATUS.get(status_code)
    if status_code == 501:
        cls = NotSupportedError
    if cls is None:
        cls = InternalServerError if status_code >= 500 else ApiError
    return cls(status_code=status_code, body=body, headers=headers)


def may_have_acted(error: ApiError) -> bool:
    """Whether the server may have performed a request that failed with ``error``.

    A 4xx means it refused; an error raised before anything was sent (no credentials,
    no token, no region) means it never saw the request. A 5xx or a lost answer may
    hide a success."""
    if isinstance(error, (ConfigurationError, TokenError)):
        return False
    return error.status_code is None or error.status_code >= 500


def _validation_items(body: Any) -> List[ValidationErrorItem]:
    detail = body.get("detail") if isinstance(body, dict) else None
    if not isinstance(detail, list):
        return []
    items = []
    for entry in detail:
        if isinstance(entry, dict):
            loc = entry.get("loc")
            items.append(
                ValidationErrorItem(
                    loc=list(loc) if isinstance(loc, (list, tuple)) else [],
                    msg=str(entry.get("msg", "")),
                    type=str(entry.get("type", "")),
                )
            )
    return items


def _message_from_body(body: Any) -> str:
    """A single line for ``str(error)``: the server's message, else a clipped body."""
    if body is None or body == "":
        return ""
    if isinstance(body, dict):
        items = _validation_items(body)
        if items:
            return "; ".join(f"{i.field or '<body>'}: {i.msg}" for i in items)
        for key in ("message", "detail", "error", "msg"):
            value = body.get(key)
            if isinstance(value, str) and value:
                return _one_line(value)
            if isinstance(value, dict) and isinstance(value.get("message"), str):
                return _one_line(value["message"])
        return _one_line(json.dumps(body, default=str))
    if isinstance(body, str):
        return _one_line(body)
    return _one_line(json.dumps(body, default=str))


def _one_line(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= _MAX_MESSAGE else text[: _MAX_MESSAGE - 1] + "…"


def _reason_phrase(status_code: int) -> str:
    try:
        return httpx.codes.get_reason_phrase(status_code)
    except Exception:  # pragma: no cover - httpx never raises here today
        return ""


def scrub_chain(exc: Optional[BaseException], secrets: Sequence[Optional[str]]) -> None:
    """Redact secrets from ``exc`` and every exception it was caused by or raised during
    (its ``__cause__``/``__context__``), since a formatted traceback prints them all: a
    server that puts the key in a malformed status line gets it into httpcore's error,
    then httpx's, then ours."""
    if not any(secrets):
        return
    seen = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        try:
            text = str(exc)
        except Exception:  # pragma: no cover - a broken __str__
            text = ""
        if isinstance(exc, ApiError):
            exc.message = redact_all(exc.message, secrets)
            exc.args = (exc.message,)
            exc.body = redact_value(exc.body, secrets)
            exc.headers = {k: redact_all(v, secrets) for k, v in exc.headers.items()}
        elif any(s and s in text for s in secrets):
            exc.args = (redact_all(text, secrets),)
        exc = exc.__cause__ if exc.__cause__ is not None else exc.__context__
