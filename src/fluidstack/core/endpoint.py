"""The request pipeline's pure parts: describing an endpoint, building its request,
budgeting attempts and time, and turning a response into a model or a typed error.

Both clients' send loops (``fluidstack._async.pipeline`` and its generated sync twin)
call these functions and only add the I/O.
"""

from __future__ import annotations

import contextvars
import gc
import json
import time
import uuid
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import (
    Any,
    Dict,
    Generic,
    Iterator,
    List,
    Mapping,
    Optional,
    Sequence,
    Tuple,
    TypeVar,
    Union,
)
from urllib.parse import quote, urlencode

import httpx

from .config import DEFAULT_CREATE_GRACE_PERIOD, ClientConfig, as_timeout, check_max_response_bytes
from .errors import (
    ApiConnectionError,
    ApiError,
    ApiTimeoutError,
    MissingApiKeyError,
    NotSupportedError,
    ResponseTooLargeError,
    ResponseValidationError,
    error_for_status,
    redact_all,
    redact_value,
)
from .request_options import RequestOptions, option
from .retries import Outcome, retry_delay

__all__ = [
    "CallBudget",
    "Endpoint",
    "Found",
    "RawResponse",
    "RequestParts",
    "build_request",
    "parse_response",
]

T = TypeVar("T")

_LARGE_BODY = 256 * 1024
"""Bodies at least this large (bytes) are parsed with the cyclic collector paused, and a
listing's items share their sets of field names."""


@dataclass(frozen=True)
class Endpoint(Generic[T]):
    """A declarative description of one API operation.

    Attributes:
        operation: The SDK method name, e.g. ``"instances.get"`` (used in logs and hooks).
        method: The HTTP method.
        path: The path template, e.g. ``"/instances/{instance_id}"``.
        response_type: What a successful body parses into; ``None`` when the body is
            ignored (deletes answer 200 with JSON or 204 with nothing).
        authenticated: Whether the call needs credentials (the API key, a bearer token).
        idempotent: Whether repeating the request after the server may have acted on it
            is harmless. Creates are not: see :class:`~fluidstack.core.retries.Outcome`.
        sends_idempotency_key: Whether a non-idempotent call carries an
            ``Idempotency-Key`` header (the platform API honours it; Atlas has none, and
            its creates are made safe by a client-token tag instead).
        capability: What a server lacking this operation is missing, for the message of
            a 501 (:class:`~fluidstack.core.errors.NotSupportedError`), e.g.
            ``"instances:create"``. Default: the operation's name.
        body_optional: Whether a success with an empty body (202, 204) is a valid answer,
            parsed as ``None``, besides a body of ``response_type``.
    """

    operation: str
    method: str
    path: str
    response_type: Any
    authenticated: bool = True
    idempotent: bool = True
    sends_idempotency_key: bool = True
    capability: Optional[str] = None
    body_optional: bool = False
    _adapter: List[Any] = field(default_factory=list, repr=False, compare=False)

    def parse(self, content: bytes) -> T:
        """Validate JSON bytes straight into the response type (the fast path)."""
        if len(content) < _LARGE_BODY or not gc.isenabled():
            result: T = self._adapters(large=False).validate_json(content)
            return result
        # A large listing allocates hundreds of thousands of containers, which trigger
        # cyclic collections that can find nothing (parsed models hold no cycles):
        # they cost more than half the parse. Pause the collector for its duration.
        adapter = self._adapters(large=True)
        gc.disable()
        try:
            result = adapter.validate_json(content)
        finally:
            gc.enable()
        return result

    def _adapters(self, large: bool) -> Any:
        """The pydantic ``TypeAdapter`` for bodies of this size, built on first use (so
        that ``import fluidstack`` stays light): for a large one, a listing's items
        share their sets of field names (see ``_lean``)."""
        if not self._adapter:
            from pydantic import TypeAdapter

            plain = TypeAdapter(self.response_type)
            lean_type = _lean(self.response_type)
            lean = plain if lean_type is self.response_type else TypeAdapter(lean_type)
            self._adapter.extend((plain, lean))
        return self._adapter[1 if large else 0]


def _lean(response_type: Any) -> Any:
    """The type to validate ``response_type`` as: a list of models has each item share
    its set of field names with the items before it (see ``share_fields_set``), which
    makes a large listing much cheaper to hold; anything else as it is."""
    from typing import get_args, get_origin

    from pydantic import AfterValidator
    from typing_extensions import Annotated

    from .models import FluidStackModel, share_fields_set

    args = get_args(response_type)
    if get_origin(response_type) is list and len(args) == 1:
        item = args[0]
        if isinstance(item, type) and issubclass(item, FluidStackModel):
            return List[Annotated[item, AfterValidator(share_fields_set)]]  # type: ignore[valid-type]
    return response_type


@dataclass(frozen=True)
class Found(Generic[T]):
    """What a create's recovery lookup returns when it found what a failed attempt made
    (``value``, which may be ``None`` for calls without a response body). A lookup that
    found nothing returns ``None`` instead, and the call may be sent again."""

    value: T


def _format_path(template: str, path_params: Optional[Mapping[str, str]]) -> str:
    if not path_params:
        return template
    quoted = {}
    for name, value in path_params.items():
        text = str(value)
        if not text:
            raise ValueError(f"{name} must be a non-empty string")
        # Quote everything, "/" included, so an id can never reach another route.
        quoted[name] = quote(text, safe="")
    return template.format(**quoted)


def _query_value(value: Any) -> Any:
    if isinstance(value, bool):
        return "true" if value else "false"
    return value


@dataclass(frozen=True)
class RequestParts:
    """Everything ``httpx.Client.build_request`` needs for one call."""

    method: str
    url: str
    params: Optional[Dict[str, Any]]
    headers: Dict[str, str]
    content: Optional[bytes]
    drop: Tuple[str, ...] = ()
    """Headers of the httpx client this call must not send (the API key, on a call that
    needs none)."""

    def build(self, http: Union[httpx.Client, httpx.AsyncClient]) -> httpx.Request:
        # Through the client, so that its cookies (the login session) and headers apply.
        request = http.build_request(
            self.method, self.url, params=self.params, headers=self.headers, content=self.content
        )
        for name in self.drop:
            request.headers.pop(name, None)
        return request


def build_request(
    config: ClientConfig,
    endpoint: Endpoint[Any],
    *,
    path_params: Optional[Mapping[str, str]] = None,
    query: Optional[Mapping[str, Any]] = None,
    body: Optional[Mapping[str, Any]] = None,
    form: Optional[Mapping[str, str]] = None,
    options: Optional[RequestOptions] = None,
    headers: Optional[Mapping[str, str]] = None,
    base_url: Optional[str] = None,
    headers_on_client: bool = False,
) -> RequestParts:
    """Describe the request of one call. Raises before any I/O on bad input.

    ``body`` is sent as JSON, ``form`` as ``application/x-www-form-urlencoded`` (OAuth
    token requests). ``base_url`` replaces the client's for this call (an Atlas region,
    the token endpoint). ``headers_on_client``: the httpx client already carries the
    client's fixed headers (``config.headers``), so they are not sent again per call.
    """
    if endpoint.authenticated and config.uses_api_key and config.api_key is None:
        raise MissingApiKeyError(
            "no API key: pass api_key=... to the client or set the FLUIDSTACK_API_KEY "
            "environment variable"
        )
    url = (base_url or config.base_url) + _format_path(endpoint.path, path_params)
    request_headers = {} if headers_on_client else dict(config.headers)
    drop: Tuple[str, ...] = ()
    if not endpoint.authenticated:
        if headers_on_client and "api-key" in config.headers:
            drop = ("api-key",)
        request_headers.pop("api-key", None)
    if headers:
        request_headers.update(headers)
    params: Dict[str, Any] = {}
    if query:
        params = {k: _query_value(v) for k, v in query.items() if v is not None}
    content: Optional[bytes] = None
    if options:
        extra_headers = options.get("additional_headers")
        if extra_headers:
            request_headers.update({k.lower(): v for k, v in extra_headers.items()})
        extra_query = options.get("additional_query_parameters")
        if extra_query:
            params.update({k: _query_value(v) for k, v in extra_query.items()})
        extra_body = options.get("additional_body_parameters")
        if extra_body and body is not None:
            body = {**body, **extra_body}
    if body is not None:
        content = json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode()
        request_headers["content-type"] = "application/json"
    elif form is not None:
        content = urlencode(form).encode("ascii")
        request_headers["content-type"] = "application/x-www-form-urlencoded"
    if (
        not endpoint.idempotent
        and endpoint.sends_idempotency_key
        and "idempotency-key" not in request_headers
    ):
        # One key per call, the same on every attempt: a server that honours it
        # performs the call once however many times the SDK has to send it.
        key = option(options, "idempotency_key")
        request_headers["idempotency-key"] = key or str(uuid.uuid4())
    return RequestParts(endpoint.method, url, params or None, request_headers, content, drop)


class CallBudget:
    """How many attempts and how much time one call may still use.

    Combines the client's settings with ``request_options``: the per-attempt timeout,
    ``max_retries``, and an optional total deadline that bounds attempts *and* back-off.
    """

    __slots__ = (
        "_clock",
        "create_grace",
        "deadline",
        "max_response_bytes",
        "max_retries",
        "retries_done",
        "timeout",
        "total",
    )

    def __init__(
        self,
        config: ClientConfig,
        options: Optional[RequestOptions],
        clock: Any = time.monotonic,
    ) -> None:
        self._clock = clock
        timeout = config.timeout
        max_retries = config.max_retries
        total = config.total_timeout
        max_response_bytes = config.max_response_bytes
        create_grace = DEFAULT_CREATE_GRACE_PERIOD
        if options:
            if options.get("max_response_bytes") is not None:
                max_response_bytes = check_max_response_bytes(options["max_response_bytes"])
            if options.get("create_grace_period_in_seconds") is not None:
                create_grace = float(options["create_grace_period_in_seconds"])
                if create_grace < 0:
                    raise ValueError("create_grace_period_in_seconds must be >= 0")
            if options.get("timeout_in_seconds") is not None:
                timeout = as_timeout(options["timeout_in_seconds"])
            if options.get("max_retries") is not None:
                max_retries = int(options["max_retries"])
                if max_retries < 0:
                    raise ValueError("max_retries must be >= 0")
            if options.get("total_timeout_in_seconds") is not None:
                total = float(options["total_timeout_in_seconds"])
                if total <= 0:
                    raise ValueError("total_timeout_in_seconds must be > 0")
        self.timeout = timeout
        self.max_retries = max_retries
        self.total = total
        self.deadline = None if total is None else clock() + total
        self.retries_done = 0
        self.max_response_bytes = max_response_bytes
        self.create_grace = create_grace

    def remaining(self) -> Optional[float]:
        """Seconds left before the deadline, or ``None`` without one."""
        return None if self.deadline is None else self.deadline - self._clock()

    def attempt_timeout(self) -> Dict[str, Optional[float]]:
        """The timeout for the next attempt, as httpx's ``timeout`` extension.

        Raises :class:`ApiTimeoutError` when the deadline has already passed.
        """
        left = self.remaining()
        base = self.timeout.as_dict()
        if left is None:
            return base
        if left <= 0:
            raise self.deadline_error()
        return {k: left if v is None else min(v, left) for k, v in base.items()}

    def deadline_error(self) -> ApiTimeoutError:
        return ApiTimeoutError(
            f"the call did not finish within its total timeout of {self.total:g}s"
        )

    def next_delay(
        self, outcome: Outcome, headers: Optional[Mapping[str, str]], idempotent: bool
    ) -> Optional[float]:
        """Seconds to wait before retrying, or ``None`` when the call must not be retried.

        A non-idempotent call is never retried after an ambiguous failure here; the
        caller decides that (after looking for the effect of the first attempt).
        """
        if outcome in (Outcome.SUCCESS, Outcome.FATAL):
            return None
        if outcome is Outcome.AMBIGUOUS and not idempotent:
            return None
        if self.retries_done >= self.max_retries:
            return None
        delay = retry_delay(self.retries_done, headers)
        left = self.remaining()
        if left is not None and delay >= left:
            return None
        return delay


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


def declared_too_large(response: httpx.Response, limit: int) -> bool:
    """Whether the body length the server declares is already past ``limit`` (with a
    ``Content-Encoding`` the decoded body is larger still; the stream will tell)."""
    value = response.headers.get("content-length")
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


class RawResponse(Generic[T]):
    """A response as received, with its body parsed only when you ask for it.

    Returned by ``client.<group>.with_raw_response.<method>(...)``.
    """

    __slots__ = ("_endpoint", "_parsed", "http_response", "retries_taken")

    def __init__(
        self, endpoint: Endpoint[T], http_response: httpx.Response, retries_taken: int
    ) -> None:
        self._endpoint = endpoint
        self._parsed: List[T] = []
        self.http_response = http_response
        """The underlying ``httpx.Response``."""
        self.retries_taken = retries_taken
        """How many retries the call needed (0 when the first attempt succeeded)."""

    @property
    def status_code(self) -> int:
        return self.http_response.status_code

    @property
    def headers(self) -> httpx.Headers:
        return self.http_response.headers

    @property
    def content(self) -> bytes:
        return self.http_response.content

    @property
    def elapsed(self) -> float:
        """Seconds the last attempt took."""
        return self.http_response.elapsed.total_seconds()

    def json(self) -> Any:
        """The body decoded as JSON (``None`` for an empty body)."""
        return decode_body(self.http_response)

    def parse(self) -> T:
        """The body parsed into the method's usual return type (cached)."""
        if not self._parsed:
            self._parsed.append(parse_response(self._endpoint, self.http_response))
        return self._parsed[0]

    def __repr__(self) -> str:
        return f"<RawResponse [{self.status_code}] {self._endpoint.operation}>"


# Set by `with_raw_response` wrappers: the pipeline then hands back the raw response
# instead of parsing. A context variable works for threads and asyncio tasks alike.
_raw_slot: contextvars.ContextVar[Optional[List[RawResponse[Any]]]] = contextvars.ContextVar(
    "fluidstack_raw_slot", default=None
)


def claim_raw_slot() -> Optional[List[RawResponse[Any]]]:
    """Take the raw-response slot for this call, so nested calls parse normally."""
    slot = _raw_slot.get()
    if slot is not None:
        _raw_slot.set(None)
    return slot


@contextmanager
def side_calls() -> Iterator[None]:
    """Calls made inside this block (a lookup a method needs before its own request, such
    as region discovery) parse normally and leave the raw-response slot to the method's
    own request."""
    token = _raw_slot.set(None)
    try:
        yield
    finally:
        _raw_slot.reset(token)


def _origin(url: httpx.URL) -> Tuple[str, str, Optional[int]]:
    return (url.scheme, url.host, url.port)


def redirect_request(request: httpx.Request, response: httpx.Response) -> Optional[httpx.Request]:
    """The next request of a redirect, without credentials if it leaves the origin."""
    nxt = response.next_request
    if nxt is None:
        return None
    if _origin(nxt.url) != _origin(request.url):
        # httpx only strips `Authorization`; our key travels in `api-key`.
        for name in ("api-key", "cookie"):
            if name in nxt.headers:
                del nxt.headers[name]
    nxt.extensions = dict(request.extensions)
    return nxt
