"""``AioHttpClient``: an ``httpx.AsyncClient`` whose requests travel on aiohttp.

httpx's own async connection pool tops out at a few hundred requests a second with many
calls in flight; aiohttp's is several times faster. This module gives the async clients
of both APIs that speed without changing anything else they do: same errors, timeouts,
deadlines and retries. It needs the ``aiohttp`` extra (``httpx-aiohttp``).
"""

from __future__ import annotations

import ssl
from typing import Any, AsyncIterator, Optional, Tuple, Union

import aiohttp
import httpx
from httpx_aiohttp import AiohttpTransport

from .config import DEFAULT_TIMEOUT, TimeoutTypes

__all__ = ["AioHttpClient"]

CertTypes = Union[str, Tuple[str, str], Tuple[str, str, str]]
_HTTPX_LIMITS = httpx.Limits(max_connections=100, max_keepalive_connections=20)
"""httpx's default pool limits, so that both transports queue alike."""


def _as_httpx_error(exc: httpx.TransportError) -> httpx.TransportError:
    """``exc`` with the meaning httpx itself would have given the aiohttp failure.

    httpx-aiohttp reports every ``aiohttp.ClientConnectionError`` as a connect timeout:
    a refused connection, and a connection the server dropped *after* receiving the
    request. Retries depend on that difference (a request that never left may be
    repeated, even a create; one that did may have acted), so it is put back here."""
    cause = exc.__cause__
    if not isinstance(exc, httpx.ConnectTimeout) or not isinstance(
        cause, aiohttp.ClientConnectionError
    ):
        return exc
    if isinstance(cause, aiohttp.ConnectionTimeoutError):
        return exc
    if isinstance(cause, aiohttp.ClientConnectorError):  # refused, unreachable, DNS
        return httpx.ConnectError(str(cause) or type(cause).__name__)
    if isinstance(cause, aiohttp.ServerDisconnectedError):
        return httpx.RemoteProtocolError(str(cause) or "server disconnected")
    return httpx.ReadError(str(cause) or type(cause).__name__)


def _unmapped_error(exc: aiohttp.ClientError) -> httpx.TransportError:
    """An httpx error for an aiohttp failure httpx-aiohttp lets through (a malformed
    response, an oversized header): the server answered something unusable."""
    return httpx.RemoteProtocolError(f"{type(exc).__name__}: {exc}")


class _Body(httpx.AsyncByteStream):
    """The response body, with read failures reported as httpx reports them."""

    def __init__(self, stream: httpx.AsyncByteStream) -> None:
        self._stream = stream

    async def __aiter__(self) -> AsyncIterator[bytes]:
        try:
            async for chunk in self._stream:
                yield chunk
        except httpx.TransportError as exc:
            raise _as_httpx_error(exc) from exc.__cause__
        except aiohttp.ClientError as exc:
            raise _unmapped_error(exc) from exc

    async def aclose(self) -> None:
        await self._stream.aclose()


class _Transport(AiohttpTransport):
    """httpx-aiohttp's transport, with httpx's error meanings and httpx's cookies only."""

    def get_client(self) -> aiohttp.ClientSession:
        connector = aiohttp.TCPConnector(
            keepalive_timeout=self.limits.keepalive_expiry,
            ssl=self.ssl_context,
            limit=self.limits.max_connections or 0,
        )
        # httpx keeps the cookies; aiohttp's own jar would go on sending those httpx
        # has cleared or never accepted.
        session = aiohttp.ClientSession(connector=connector, cookie_jar=aiohttp.DummyCookieJar())
        # aiohttp silently sends a GET, PUT or DELETE again when the server drops the
        # connection. The SDK's retries (back-off, hooks, deadline, max_retries) are the
        # only ones, as on httpx's transport.
        if hasattr(session, "_retry_connection"):
            session._retry_connection = False
        return session

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        try:
            response = await super().handle_async_request(request)
        except httpx.TransportError as exc:
            raise _as_httpx_error(exc) from exc.__cause__
        except aiohttp.ClientError as exc:
            raise _unmapped_error(exc) from exc
        assert isinstance(response.stream, httpx.AsyncByteStream)
        response.stream = _Body(response.stream)
        return response


class AioHttpClient(httpx.AsyncClient):
    """An ``httpx.AsyncClient`` that sends its requests with aiohttp: several times the
    throughput of httpx's own pool with many calls in flight, and the same behaviour.

    Needs ``pip install 'fluidstack[aiohttp]'``. Give it to an async client of either
    API, which then closes it when it is closed itself::

        import fluidstack
        from fluidstack.atlas import AsyncAtlas

        async with fluidstack.AsyncFluidStack(http_client=fluidstack.AioHttpClient()) as client:
            ...
        async with AsyncAtlas(http_client=fluidstack.AioHttpClient()) as atlas:
            ...

    Errors, timeouts (connect, read and pool; aiohttp has no separate write timeout),
    total timeouts, retries and safe creates work exactly as on the default transport.
    It runs on asyncio only (not trio), and speaks HTTP/1.1 only.

    Args:
        timeout: Seconds each attempt may take, or an ``httpx.Timeout``. Default: 60,
            the SDK's own default (plain ``httpx`` would say 5).
        shared: ``True`` when you give this one client to several SDK clients; then
            none of them closes it and you close it yourself (``await http.aclose()``).
        **kwargs: Anything ``httpx.AsyncClient`` takes (``limits``, ``verify``,
            ``proxy``, ``headers``, ``event_hooks``, ``transport``, ...), except
            ``http2``.
    """

    def __init__(
        self, *, timeout: TimeoutTypes = DEFAULT_TIMEOUT, shared: bool = False, **kwargs: Any
    ) -> None:
        if kwargs.get("http2"):
            raise ValueError("AioHttpClient speaks HTTP/1.1 only; leave http2 unset")
        self.closed_by_sdk_client = not shared
        """Whether the SDK client it is given closes it (``shared=False``)."""
        super().__init__(timeout=timeout, **kwargs)

    # httpx builds its transports through these two methods; they are where a
    # subclass chooses another transport (httpx-aiohttp's own client does the same).
    def _init_transport(
        self,
        verify: Union[ssl.SSLContext, str, bool] = True,
        cert: Optional[CertTypes] = None,
        trust_env: bool = True,
        http1: bool = True,
        http2: bool = False,
        limits: httpx.Limits = _HTTPX_LIMITS,
        transport: Optional[httpx.AsyncBaseTransport] = None,
    ) -> httpx.AsyncBaseTransport:
        if transport is not None:
            return transport
        return _Transport(verify=verify, cert=cert, trust_env=trust_env, limits=limits)

    def _init_proxy_transport(
        self,
        proxy: httpx.Proxy,
        verify: Union[ssl.SSLContext, str, bool] = True,
        cert: Optional[CertTypes] = None,
        trust_env: bool = True,
        http1: bool = True,
        http2: bool = False,
        limits: httpx.Limits = _HTTPX_LIMITS,
    ) -> httpx.AsyncBaseTransport:
        return _Transport(verify=verify, cert=cert, trust_env=trust_env, limits=limits, proxy=proxy)
