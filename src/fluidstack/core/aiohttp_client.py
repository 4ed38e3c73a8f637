"""``AioHttpClient``: an ``httpx.AsyncClient`` whose requests travel on aiohttp.

httpx's own async connection pool tops out at a few hundred requests a second with many
calls in flight; aiohttp's is several times faster. This module gives the async clients
of both APIs that speed without changing anything else they do: same errors, timeouts,
deadlines and retries. It needs the ``aiohttp`` extra (``httpx-aiohttp``).
"""

from __future__ import annotations

import datetime as dt
import ssl
import time
from typing import Any, AsyncIterator, Dict, List, Mapping, Optional, Tuple, Union

import aiohttp
import httpx
from httpx_aiohttp import AiohttpTransport
from httpx_aiohttp.transport import AIOHTTP_EXC_MAP, AiohttpResponseStream

from .config import DEFAULT_TIMEOUT, TimeoutTypes
from .request import LeanRequest

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


def _mapped_error(exc: Exception) -> Optional[httpx.TransportError]:
    """The httpx error httpx-aiohttp's ``map_aiohttp_exceptions`` raises for ``exc``
    (``None``: it lets ``exc`` through), for a ``try``/``except`` on the per-request path
    instead of its generator-based context manager."""
    mapped = None
    for from_exc, to_exc in AIOHTTP_EXC_MAP.items():
        if isinstance(exc, from_exc) and (mapped is None or issubclass(to_exc, mapped)):
            mapped = to_exc
    return None if mapped is None else mapped(str(exc))


def _body_error(exc: Exception) -> Optional[httpx.TransportError]:
    """The error reading a body with aiohttp raises as httpx's reading would raise it
    (``None``: ``exc`` is not aiohttp's, let it through)."""
    error = _mapped_error(exc)
    if error is None:
        return _unmapped_error(exc) if isinstance(exc, aiohttp.ClientError) else None
    error.__cause__ = exc
    return _as_httpx_error(error)


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


class _AioBody(httpx.AsyncByteStream):
    """The body of a response read straight from aiohttp, failures reported as httpx
    reports them; sets ``response.elapsed`` when closed if :meth:`time` was called. One
    object instead of three nested streams (httpx-aiohttp's, ``_Body``, ``_Timed``)."""

    def __init__(self, response: aiohttp.ClientResponse) -> None:
        self._response = response
        self._timed: Optional[Tuple[httpx.Response, float]] = None

    def time(self, response: httpx.Response, started: float) -> None:
        self._timed = (response, started)

    async def __aiter__(self) -> AsyncIterator[bytes]:
        while True:
            chunk = await self.read()
            if not chunk:
                return
            yield chunk

    def at_eof(self) -> bool:
        """Whether the whole body has been read."""
        return self._response.content.at_eof()

    async def read(self) -> bytes:
        """The next piece of the body (``b""`` at its end)."""
        try:
            return await self._response.content.read(AiohttpResponseStream.CHUNK_SIZE)
        except Exception as exc:
            error = _body_error(exc)
            if error is None:
                raise
            raise error from exc

    async def aclose(self) -> None:
        if self._timed is not None:
            # Let go of the response, which holds this stream: without that cycle, the
            # objects of a call are freed at once instead of by the cyclic collector
            # (a tenth of a call's CPU time at 64 in flight).
            (response, started), self._timed = self._timed, None
            response.elapsed = dt.timedelta(seconds=time.perf_counter() - started)
        try:
            await self._response.__aexit__(None, None, None)
        except Exception as exc:
            error = _mapped_error(exc)
            if error is None:
                raise
            raise error from exc


class _LeanResponse(httpx.Response):
    """An ``httpx.Response`` whose ``headers`` httpx decodes only when read: the
    pipeline reads its two headers (``Date``, ``Content-Length``) from aiohttp's own
    case-insensitive view (:attr:`quick_headers`), and its body without httpx's
    decoder layers when nothing is to be decoded."""

    _headers: Optional[httpx.Headers]
    _raw_headers: Any
    _aio_headers: Mapping[str, str]

    @classmethod
    def of(cls, response: aiohttp.ClientResponse, request: httpx.Request) -> _LeanResponse:
        extensions: Dict[str, Any] = {"http_version": b"HTTP/1.1"}
        if response.reason:
            extensions["reason_phrase"] = response.reason.encode()
        lean = cls(
            status_code=response.status,
            stream=_AioBody(response),
            request=request,
            extensions=extensions,
        )
        lean._headers = None
        lean._raw_headers = response.raw_headers
        lean._aio_headers = response.headers
        return lean

    @property
    def headers(self) -> httpx.Headers:
        if self._headers is None:
            self._headers = httpx.Headers(self._raw_headers)
        return self._headers

    @headers.setter
    def headers(self, value: httpx.Headers) -> None:
        self._headers = value

    @property
    def quick_headers(self) -> Mapping[str, str]:
        """The headers for reading one by name (case-insensitive ``get``, ``in``)."""
        return self._aio_headers if self._headers is None else self._headers

    async def aiter_bytes(self, chunk_size: Optional[int] = None) -> AsyncIterator[bytes]:
        """httpx's ``aiter_bytes``; a body that is not encoded is passed on as it
        arrives, without httpx's decoder and chunker (it ends the same way: closed)."""
        if (
            chunk_size is not None
            or hasattr(self, "_content")
            or "content-encoding" in self.quick_headers
            or not isinstance(self.stream, _AioBody)
        ):
            async for chunk in super().aiter_bytes(chunk_size):
                yield chunk
            return
        if self.is_stream_consumed:
            raise httpx.StreamConsumed()
        if self.is_closed:
            raise httpx.StreamClosed()
        self.is_stream_consumed = True
        body = self.stream
        try:
            while True:
                chunk = await body.read()
                if chunk:
                    self._num_bytes_downloaded += len(chunk)
                    yield chunk
                if not chunk or body.at_eof():  # all read: no read just to learn it
                    break
        except httpx.RequestError as exc:
            exc.request = self.request  # as httpx's own reading does: errors name it
            raise
        await self.aclose()

    async def aclose(self) -> None:
        """httpx's ``aclose`` (without its generator-based context manager)."""
        if not isinstance(self.stream, _AioBody):
            await super().aclose()
        elif not self.is_closed:
            self.is_closed = True
            try:
                await self.stream.aclose()
            except httpx.RequestError as exc:
                exc.request = self.request
                raise


class _Timed(httpx.AsyncByteStream):
    """The body, setting ``response.elapsed`` when closed (httpx's own does the same)."""

    def __init__(self, response: httpx.Response, started: float) -> None:
        self._stream = response.stream
        self._response = response
        self._started = started

    async def __aiter__(self) -> AsyncIterator[bytes]:
        assert isinstance(self._stream, httpx.AsyncByteStream)
        async for chunk in self._stream:
            yield chunk

    async def aclose(self) -> None:
        self._response.elapsed = dt.timedelta(seconds=time.perf_counter() - self._started)
        assert isinstance(self._stream, httpx.AsyncByteStream)
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

    @property
    def _timeouts(self) -> Dict[Tuple[Optional[float], ...], aiohttp.ClientTimeout]:
        cache: Optional[Dict[Tuple[Optional[float], ...], aiohttp.ClientTimeout]]
        cache = self.__dict__.get("_timeout_cache")
        if cache is None:
            cache = self.__dict__["_timeout_cache"] = {}
        return cache

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        try:
            if self.proxy is None and not request.extensions.get("sni_hostname"):
                return await self._plain_request(request)
            response = await super().handle_async_request(request)
        except httpx.TransportError as exc:
            raise _as_httpx_error(exc) from exc.__cause__
        except aiohttp.ClientError as exc:
            raise _unmapped_error(exc) from exc
        assert isinstance(response.stream, httpx.AsyncByteStream)
        response.stream = _Body(response.stream)
        return response

    async def _plain_request(self, request: httpx.Request) -> httpx.Response:
        """httpx-aiohttp's request without a proxy, minus its per-request conversions:
        the headers go to aiohttp as ``str`` pairs (an ``httpx.Headers`` re-decodes every
        header on each access: a tenth of a call's time) and a timeout's
        ``aiohttp.ClientTimeout`` is built once per distinct timeout."""
        if not isinstance(self.client, aiohttp.ClientSession):
            self.client = self.get_client()
        timeout = request.extensions.get("timeout", {})
        key = (timeout.get("connect"), timeout.get("read"), timeout.get("pool"))
        client_timeout = self._timeouts.get(key)
        if client_timeout is None:
            client_timeout = aiohttp.ClientTimeout(
                sock_connect=key[0], sock_read=key[1], connect=key[2]
            )
            if len(self._timeouts) < 64:  # a call's deadline shortens timeouts: bounded
                self._timeouts[key] = client_timeout
        data: Any
        try:
            data = request.content or None
        except httpx.RequestNotRead:
            data = request.stream
            request.headers.pop("transfer-encoding", None)  # aiohttp frames the body
        wire = request.wire() if type(request) is LeanRequest else None
        url: str
        headers: List[Tuple[str, str]]
        if wire is not None:
            url, headers = wire
        else:
            url = str(request.url)
            headers = [(k.decode("latin-1"), v.decode("latin-1")) for k, v in request.headers.raw]
        try:
            response = await self.client.request(
                request.method,
                url,
                headers=headers,
                data=data,
                allow_redirects=False,
                auto_decompress=False,
                compress=False,
                timeout=client_timeout,
            ).__aenter__()
        except Exception as exc:
            error = _mapped_error(exc)
            if error is None:
                raise
            raise error from exc
        return _LeanResponse.of(response, request)


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
        self._opened = False
        self.closed_by_sdk_client = not shared
        """Whether the SDK client it is given closes it (``shared=False``)."""
        super().__init__(timeout=timeout, **kwargs)

    _sends_lean_requests = True
    """The SDK's pipeline may give it lean requests (``core.request.LeanRequest``)."""

    async def send(
        self,
        request: httpx.Request,
        *,
        stream: bool = False,
        auth: Any = httpx.USE_CLIENT_DEFAULT,
        follow_redirects: Any = httpx.USE_CLIENT_DEFAULT,
    ) -> httpx.Response:
        """httpx's ``send``; without authentication or redirects to follow (what the SDK's
        pipeline asks: it follows redirects itself) it skips httpx's auth and redirect
        layers (two async generators and lists per call) and cookie parsing of responses
        that set none. Behaviour is httpx's: hooks, timeouts, ``next_request``, cookies."""
        # A lean request has no user info (nor its URL parsed yet).
        lean = type(request) is LeanRequest and request.wire() is not None
        if (
            auth is not httpx.USE_CLIENT_DEFAULT
            or self.auth is not None
            or follow_redirects is not False
            or (not lean and request.url.userinfo)
            or self.is_closed
            or not self._opened  # httpx's send marks the client open: the first goes there
        ):
            self._opened = True
            return await super().send(
                request, stream=stream, auth=auth, follow_redirects=follow_redirects
            )
        if "timeout" not in request.extensions:
            request.extensions = {**request.extensions, "timeout": self.timeout.as_dict()}
        hooks = self.event_hooks
        for hook in hooks["request"]:
            await hook(request)
        if lean and not self._mounts:
            transport = self._transport
        else:
            transport = self._transport_for_url(request.url)
        started = time.perf_counter()
        try:
            response = await transport.handle_async_request(request)
        except httpx.RequestError as exc:
            exc.request = request  # what httpx's request_context does: errors name it
            raise
        response.request = request
        if isinstance(response.stream, _AioBody):
            response.stream.time(response, started)
        else:
            response.stream = _Timed(response, started)
        if isinstance(response, _LeanResponse):
            if "set-cookie" in response.quick_headers:
                self.cookies.extract_cookies(response)
        elif b"set-cookie" in (k.lower() for k, _ in response.headers.raw):
            self.cookies.extract_cookies(response)
        response.default_encoding = self._default_encoding
        try:
            for hook in hooks["response"]:
                await hook(response)
            if response.has_redirect_location:
                response.next_request = self._build_redirect_request(request, response)
            if not stream:
                await response.aread()
        except BaseException:
            await response.aclose()
            raise
        return response

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
