"""Reading a response: a successful body parsed into the endpoint's type, anything else
turned into the SDK's typed errors (transport failures, oversized bodies, statuses)."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any, Mapping, Optional, Sequence, TypeVar

import httpx

from .endpoint import Endpoint
from .errors import (
    ApiConnectionError,
    ApiError,
    ApiTimeoutError,
    NotSupportedError,
    ResponseTooLargeError,
    ResponseValidationError,
    error_for_status,
    redact_all,
    redact_value,
)

if TYPE_CHECKING:
    from .budget import CallBudget

__all__ = [
    "declared_too_large",
    "decode_body",
    "error_from_response",
    "parse_response",
    "quick_headers",
    "too_large_error",
    "transport_error",
]

T = TypeVar("T")


def transport_error(
    exc: httpx.HTTPError,
    budget: Optional[CallBudget] = None,
    secrets: Sequence[Optional[str]] = (),
) -> ApiError:
    """Wrap an ``httpx`` transport or decoding exception in the SDK's error types.

    ``secrets`` are kept out of the message (a server can put anything in a malformed
    status line, which httpx quotes)."""
    if isinstance(exc, httpx.TimeoutException):
        if budget is not None and budget.deadline is not None and (budget.remaining() or 0) <= 0:
            return budget.deadline_error()
        kind = type(exc).__name__
        return ApiTimeoutError(f"request timed out ({kind}){attempted(exc)}")
    detail = redact_all(str(exc) or type(exc).__name__, secrets)
    if isinstance(exc, httpx.DecodingError):
        return ApiConnectionError(f"the response body could not be decoded: {detail}")
    return ApiConnectionError(f"connection error: {detail}{attempted(exc)}")


def attempted(exc: httpx.HTTPError) -> str:
    """`` (GET http://host:port/path)``: what was tried, so that a wrong base URL or a
    server that is not up shows at once. No query string and no user info: only the
    address."""
    try:
        request = exc.request
    except RuntimeError:  # an exception made without its request
        return ""
    url = request.url
    return f" ({request.method} {url.scheme}://{url.netloc.decode('ascii')}{url.path})"


def too_large_error(response: httpx.Response, limit: int) -> ResponseTooLargeError:
    """The error for a body past ``limit`` bytes (decoded)."""
    return ResponseTooLargeError(
        f"the response body is larger than the limit of {limit:,} bytes "
        "(max_response_bytes); it was not read further",
        limit=limit,
        status_code=response.status_code,
        headers=response.headers,
    )


def quick_headers(response: httpx.Response) -> Mapping[str, str]:
    """``response.headers`` for reading a header by name; from ``AioHttpClient``, the
    same headers as aiohttp read them, without decoding them all again for httpx."""
    quick: Optional[Mapping[str, str]] = getattr(response, "quick_headers", None)
    return response.headers if quick is None else quick


def declared_too_large(response: httpx.Response, limit: int) -> bool:
    """Whether the body length the server declares is already past ``limit`` (with a
    ``Content-Encoding`` the decoded body is larger still; the stream will tell)."""
    value = quick_headers(response).get("content-length")
    return value is not None and value.isdigit() and int(value) > limit


def decode_body(response: httpx.Response) -> Any:
    """The body as JSON when it is JSON, else as text, ``None`` when empty."""
    content = response.content
    if not content:
        return None
    try:
        return json.loads(content)
    except (ValueError, UnicodeDecodeError):
        try:
            return response.text
        except Exception:  # pragma: no cover - undecodable charset
            return repr(content[:200])


def error_from_response(
    response: httpx.Response,
    secrets: Sequence[Optional[str]] = (),
    endpoint: Optional[Endpoint[Any]] = None,
    location: Optional[str] = None,
) -> ApiError:
    """The typed error for an unsuccessful response; ``secrets`` are kept out of its text.

    A 501 names what is not supported (the endpoint's capability) and ``location``.
    """
    body = redact_value(decode_body(response), secrets)
    headers = {k: redact_all(v, secrets) for k, v in response.headers.items()}
    error = error_for_status(response.status_code, body, headers)
    if isinstance(error, NotSupportedError) and endpoint is not None:
        error.describe(endpoint.capability or endpoint.operation, location)
    message = redact_all(error.message, secrets)
    if message != error.message:
        error.message = message
        error.args = (message,)
    return error


def parse_response(endpoint: Endpoint[T], response: httpx.Response) -> T:
    """Parse a successful response into the endpoint's type, or raise an ``ApiError``."""
    if endpoint.response_type is None:
        return None  # type: ignore[return-value]
    content = response.content
    if endpoint.body_optional and not content.strip():
        return None  # type: ignore[return-value]
    try:
        return endpoint.parse(content)
    except Exception as exc:  # pydantic.ValidationError, or bad JSON/UTF-8 inside it
        body = decode_body(response)
        what = "an empty body" if not content else "a body that does not match the API"
        raise ResponseValidationError(
            f"{endpoint.operation}: the server sent {what} ({_first_line(exc)})",
            status_code=response.status_code,
            body=body,
            headers=response.headers,
        ) from exc


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    first = text[0] if text else type(exc).__name__
    return first[:200]
