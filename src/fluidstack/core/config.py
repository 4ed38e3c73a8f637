"""Client configuration: everything both clients resolve the same way at construction."""

from __future__ import annotations

import enum
import ipaddress
import os
import warnings
from dataclasses import dataclass, field
from typing import Dict, Mapping, Optional, Union
from urllib.parse import urlsplit

import httpx

from .._version import __version__
from .events import EventHooks

__all__ = [
    "DEFAULT_MAX_RETRIES",
    "DEFAULT_TIMEOUT",
    "NOT_GIVEN",
    "ClientConfig",
    "FluidStackEnvironment",
    "InsecureTransportWarning",
    "NotGiven",
    "build_config",
]

DEFAULT_TIMEOUT = 60.0
"""Seconds each attempt may take unless the client or the call says otherwise."""

DEFAULT_MAX_RETRIES = 2
"""Retries after the first attempt unless the client or the call says otherwise."""

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
) -> ClientConfig:
    """Resolve constructor arguments and the environment into a :class:`ClientConfig`."""
    if api_key is None:
        api_key = os.environ.get(API_KEY_ENV) or None
    if api_key is not None:
        api_key = api_key.strip()
        if not api_key:
            raise ValueError("api_key is empty; pass a key or set FLUIDSTACK_API_KEY")
        if any(c in api_key for c in "\r\n\x00"):
            # A header value with a line break would be refused by httpx with the key
            # in the message; refuse it here, without echoing it.
            raise ValueError("api_key contains a control character")
    if base_url is None:
        base_url = os.environ.get(BASE_URL_ENV) or None
    if base_url is None:
        base_url = (
            environment.value if isinstance(environment, FluidStackEnvironment) else environment
        )
    base_url = _check_base_url(base_url)
    if max_retries < 0:
        raise ValueError("max_retries must be >= 0")
    if total_timeout is not None and total_timeout <= 0:
        raise ValueError("total_timeout must be > 0 seconds")

    headers: Dict[str, str] = {"user-agent": USER_AGENT, "accept": "application/json"}
    if default_headers:
        headers.update({k.lower(): v for k, v in default_headers.items()})
    if api_key is not None:
        headers["api-key"] = api_key
        _warn_if_plain_http(base_url)
    return ClientConfig(
        base_url=base_url,
        api_key=api_key,
        timeout=as_timeout(timeout),
        max_retries=max_retries,
        total_timeout=total_timeout,
        follow_redirects=follow_redirects,
        headers=headers,
        hooks=hooks if hooks is not None else EventHooks(),
    )


def as_timeout(value: TimeoutTypes) -> httpx.Timeout:
    """Accept seconds, ``None`` (no timeout) or an ``httpx.Timeout``."""
    if isinstance(value, httpx.Timeout):
        return value
    if value is not None and value <= 0:
        raise ValueError("timeout must be > 0 seconds (or None for no timeout)")
    return httpx.Timeout(value)


def _check_base_url(url: str) -> str:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError(f"base_url must be an http(s) URL, got {url!r}")
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


def _warn_if_plain_http(base_url: str) -> None:
    parts = urlsplit(base_url)
    if parts.scheme == "http" and not is_loopback(parts.hostname or ""):
        warnings.warn(
            f"the API key will be sent unencrypted to {parts.hostname}; use https://",
            InsecureTransportWarning,
            stacklevel=4,
        )
