"""Client configuration: everything both clients resolve the same way at construction."""

from __future__ import annotations

import enum
import ipaddress
import os
import warnings
from dataclasses import dataclass, field
from typing import Any, Dict, Mapping, Optional, Tuple, Type, Union
from urllib.parse import urlsplit

import httpx

from .._version import __version__
from .events import EventHooks

__all__ = [
    "DEFAULT_CREATE_GRACE_PERIOD",
    "DEFAULT_MAX_RESPONSE_BYTES",
    "DEFAULT_MAX_RETRIES",
    "DEFAULT_TIMEOUT",
    "NOT_GIVEN",
    "ClientConfig",
    "FluidStackEnvironment",
    "InsecureTransportWarning",
    "NotGiven",
    "Secret",
    "build_config",
    "closes_http_client",
    "finish_config",
    "own_http_client",
]

DEFAULT_TIMEOUT = 60.0
"""Seconds each attempt may take unless the client or the call says otherwise."""

DEFAULT_MAX_RETRIES = 2
"""Retries after the first attempt unless the client or the call says otherwise."""

DEFAULT_MAX_RESPONSE_BYTES = 256 * 1024 * 1024
"""Largest response body (decoded) the SDK reads: room for a listing of 100,000
instances (about 100 MB), and a bound on what a broken or hostile server can make the
client hold in memory."""

DEFAULT_CREATE_GRACE_PERIOD = 10.0
"""Seconds a create keeps looking for what its first attempt made before sending it
again, when that attempt got no answer (it may still reach the server)."""

API_KEY_ENV = "FLUIDSTACK_API_KEY"
BASE_URL_ENV = "FLUIDSTACK_BASE_URL"
USER_AGENT = f"fluidstack-python/{__version__} httpx/{httpx.__version__}"


class FluidStackEnvironment(str, enum.Enum):
    """Known FluidStack API deployments."""

    DEFAULT = "https://platform.fluidstack.io"


class InsecureTransportWarning(UserWarning):
    """The API key would travel unencrypted (``http://``) to a host that is not loopback."""


TimeoutTypes = Union[float, int, httpx.Timeout, None]


class NotGiven:
    """The type of :data:`NOT_GIVEN`: an argument left to its documented default."""

    _instance: Optional[NotGiven] = None

    def __new__(cls) -> NotGiven:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "NOT_GIVEN"

    def __bool__(self) -> bool:
        return False


NOT_GIVEN = NotGiven()
"""Stands for "not passed" where ``None`` is a meaningful value (``timeout=None``)."""


class Secret:
    """A credential that shows as ``[redacted]`` in every repr, so that debuggers,
    tracebacks with locals and logged objects never print it. ``reveal()`` gives it."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "Secret('[redacted]')"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)


def checked_secret(value: Optional[str], what: str, source: str) -> Optional[Secret]:
    """``value`` stripped and wrapped, ``None`` when absent; refuses an empty value or one
    that could not travel in a header, without echoing it. ``source`` says where a good
    one goes (an environment variable, an argument)."""
    if value is None:
        return None
    value = value.strip()
    if not value:
        raise ValueError(f"{what} is empty; pass one or set {source}")
    if any(c in value for c in "\r\n\x00"):
        # A header value with a line break would be refused by httpx with the secret in
        # the message; refuse it here, without echoing it.
        raise ValueError(f"{what} contains a control character")
    return Secret(value)


@dataclass(frozen=True)
class ClientConfig:
    """Resolved settings shared by every call of one client. Never shows the key."""

    base_url: str
    api_key: Optional[str] = field(repr=False)
    timeout: httpx.Timeout
    max_retries: int
    total_timeout: Optional[float]
    follow_redirects: bool
    headers: Mapping[str, str] = field(repr=False)
    """Headers sent on every call, the API key included."""
    hooks: EventHooks = field(default_factory=EventHooks, repr=False)
    uses_api_key: bool = True
    """Whether calls authenticate with the ``api-key`` header (the platform API). The
    Atlas client authenticates with bearer tokens from its pipeline's auth step instead."""
    max_response_bytes: int = DEFAULT_MAX_RESPONSE_BYTES
    """Largest response body (decoded) read; past it :class:`ResponseTooLargeError`."""


def build_config(
    *,
    api_key: Optional[str],
    base_url: Optional[str],
    environment: Union[FluidStackEnvironment, str],
    timeout: TimeoutTypes,
    max_retries: int,
    total_timeout: Optional[float],
    follow_redirects: bool,
    default_headers: Optional[Mapping[str, str]],
    hooks: Optional[EventHooks],
    max_response_bytes: int = DEFAULT_MAX_RESPONSE_BYTES,
) -> ClientConfig:
    """Resolve the platform client's arguments and the environment into a config."""
    if api_key is None:
        api_key = os.environ.get(API_KEY_ENV) or None
    secret = checked_secret(api_key, "api_key", API_KEY_ENV)
    if base_url is None:
        base_url = os.environ.get(BASE_URL_ENV) or None
    if base_url is None:
        base_url = (
            environment.value if isinstance(environment, FluidStackEnvironment) else environment
        )
    return finish_config(
        base_url=base_url,
        api_key=secret.reveal() if secret is not None else None,
        timeout=timeout,
        max_retries=max_retries,
        total_timeout=total_timeout,
        follow_redirects=follow_redirects,
        default_headers=default_headers,
        hooks=hooks,
        max_response_bytes=max_response_bytes,
    )


def finish_config(
    *,
    base_url: str,
    api_key: Optional[str],
    timeout: TimeoutTypes,
    max_retries: int,
    total_timeout: Optional[float],
    follow_redirects: bool,
    default_headers: Optional[Mapping[str, str]],
    hooks: Optional[EventHooks],
    uses_api_key: bool = True,
    max_response_bytes: int = DEFAULT_MAX_RESPONSE_BYTES,
) -> ClientConfig:
    """Check the settings both APIs' clients share and build the :class:`ClientConfig`."""
    base_url = check_base_url(base_url)
    if _number(max_retries, "max_retries", "a whole number") < 0:
        raise ValueError("max_retries must be >= 0")
    check_max_response_bytes(max_response_bytes)
    if total_timeout is not None and _number(total_timeout, "total_timeout") <= 0:
        raise ValueError("total_timeout must be > 0 seconds")

    headers: Dict[str, str] = {"user-agent": USER_AGENT, "accept": "application/json"}
    if default_headers:
        headers.update({k.lower(): v for k, v in default_headers.items()})
    if api_key is not None:
        headers["api-key"] = api_key
        warn_if_plain_http(base_url, "the API key")
    return ClientConfig(
        base_url=base_url,
        api_key=api_key,
        timeout=as_timeout(timeout),
        max_retries=max_retries,
        total_timeout=total_timeout,
        follow_redirects=follow_redirects,
        headers=headers,
        hooks=hooks if hooks is not None else EventHooks(),
        uses_api_key=uses_api_key,
        max_response_bytes=max_response_bytes,
    )


def check_max_response_bytes(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"max_response_bytes must be a positive number of bytes, got {value!r}")
    return value


def own_http_client(
    httpx_client: Any,
    http_client: Any,
    expected: Type[Any],
    timeout: Union[TimeoutTypes, NotGiven],
) -> Tuple[Any, TimeoutTypes]:
    """The caller's own ``httpx`` client, under either argument name, checked to be of
    the ``expected`` kind (``None`` when none was given), and the timeout that applies:
    the one asked for, else that client's own, else :data:`DEFAULT_TIMEOUT`."""
    if httpx_client is not None and http_client is not None:
        raise TypeError("pass httpx_client or http_client, not both")
    custom: Any = httpx_client if httpx_client is not None else http_client
    if custom is not None and not isinstance(custom, expected):
        raise TypeError(
            f"httpx_client must be an {expected.__module__}.{expected.__name__}, "
            f"got {type(custom).__name__}"
        )
    if isinstance(timeout, NotGiven):
        timeout = custom.timeout if custom is not None else DEFAULT_TIMEOUT
    return custom, timeout


def closes_http_client(custom: Any) -> bool:
    """Whether an SDK client closes its httpx client when it is closed: always its own,
    and a caller's only when that client says it was made for this one (an
    :class:`~fluidstack.AioHttpClient` not marked ``shared``)."""
    return custom is None or getattr(custom, "closed_by_sdk_client", False) is True


def as_timeout(value: TimeoutTypes) -> httpx.Timeout:
    """Accept seconds, ``None`` (no timeout) or an ``httpx.Timeout``."""
    if isinstance(value, httpx.Timeout):
        return value
    if (
        value is not None
        and _number(value, "timeout", "a number of seconds, None or an httpx.Timeout") <= 0
    ):
        raise ValueError("timeout must be > 0 seconds (or None for no timeout)")
    return httpx.Timeout(value)


def _number(value: Any, what: str, kind: str = "a number of seconds") -> Any:
    """``value``, checked to compare with numbers: one that does not (``timeout="30"``,
    read from an environment variable) is a ``TypeError`` that names the setting, not
    Python's ``'<=' not supported between instances of 'str' and 'int'``."""
    try:
        value < 0  # noqa: B015 - only whether it compares
    except TypeError:
        raise TypeError(f"{what} must be {kind}, got {value!r}") from None
    return value


def check_base_url(url: str, what: str = "base_url") -> str:
    """``url`` without a trailing slash; raises ``ValueError`` unless it is http(s)."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        hint = ""
        if "://" not in url and url:  # `localhost:8080`, the emulator's address as typed
            host = urlsplit(f"//{url}").hostname or ""
            hint = f"; did you mean '{'http' if is_loopback(host) else 'https'}://{url}'?"
        raise ValueError(f"{what} must be an http(s) URL, got {url!r}{hint}")
    return url.rstrip("/")


def is_loopback(host: str) -> bool:
    """True for ``localhost`` and loopback addresses, where plain HTTP stays on the machine."""
    host = host.strip("[]").lower()
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def warn_if_plain_http(url: str, what: str, stacklevel: int = 5) -> None:
    """Warn when ``what`` (a credential) would travel unencrypted off this machine.

    ``stacklevel`` points the warning at the user's line that built the client."""
    parts = urlsplit(url)
    if parts.scheme == "http" and not is_loopback(parts.hostname or ""):
        warnings.warn(
            f"{what} will be sent unencrypted to {parts.hostname}; use https://",
            InsecureTransportWarning,
            stacklevel=stacklevel,
        )
