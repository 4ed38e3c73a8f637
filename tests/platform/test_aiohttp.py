"""``fluidstack.AioHttpClient``: the async clients on aiohttp behave as on httpx's own
transport where the emulator cannot show it (a server that hangs up before answering,
a malformed answer, a port nobody listens on), and close it as documented.

Everything the emulator can show runs on this transport too: the ``clients`` and
``atlas_clients`` fixtures have an ``aiohttp`` kind.
"""

from __future__ import annotations

import asyncio
import gc
import socket
from typing import AsyncIterator, Awaitable, Callable, List

import httpx
import pytest

pytest.importorskip("httpx_aiohttp")

from fluidstack import AioHttpClient, AsyncFluidStack
from fluidstack.atlas import AsyncAtlas
from fluidstack.core import ApiConnectionError, ApiTimeoutError, EventHooks
from fluidstack.core.errors import may_have_acted
from fluidstack.core.events import RetryEvent
from fluidstack.testing.handle import EmulatorHandle
from support import API_KEY

pytestmark = pytest.mark.anyio

Reply = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]
TRANSPORTS = ["httpx", "aiohttp"]


class RawServer:
    """A loopback TCP server answering every connection with ``reply``; counts requests."""

    def __init__(self, reply: Reply) -> None:
        self.reply = reply
        self.requests: List[bytes] = []
        self.url = ""

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await reader.readuntil(b"\r\n\r\n")
            length = 0
            for line in head.split(b"\r\n"):
                if line.lower().startswith(b"content-length:"):
                    length = int(line.split(b":", 1)[1])
            self.requests.append(head + await reader.readexactly(length))
            await self.reply(reader, writer)
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()


@pytest.fixture
async def serve() -> AsyncIterator[Callable[[Reply], Awaitable[RawServer]]]:
    servers: List[asyncio.base_events.Server] = []

    async def start(reply: Reply) -> RawServer:
        raw = RawServer(reply)
        server = await asyncio.start_server(raw._serve, "127.0.0.1", 0)
        servers.append(server)
        raw.url = f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}"
        return raw

    yield start
    for server in servers:
        server.close()
        await server.wait_closed()


def make_client(transport: str, base_url: str, **kwargs: object) -> AsyncFluidStack:
    http = AioHttpClient() if transport == "aiohttp" else None
    return AsyncFluidStack(api_key=API_KEY, base_url=base_url, http_client=http, **kwargs)  # type: ignore[arg-type]


async def hang_up(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Read the request, then close the connection without a word."""


async def never_answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    await asyncio.sleep(5)


async def huge_header(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    big = b"a" * 200_000
    writer.write(b"HTTP/1.1 200 OK\r\nx-big: " + big + b"\r\ncontent-length: 2\r\n\r\n[]")
    await writer.drain()


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_a_create_the_server_hung_up_on_is_not_repeated(
    serve: Callable[[Reply], Awaitable[RawServer]], transport: str
) -> None:
    # httpx-aiohttp calls this a connect timeout ("never sent", safe to repeat even a
    # create); it was sent, so it may have acted and must not be sent again.
    server = await serve(hang_up)
    async with make_client(transport, server.url) as client:
        with pytest.raises(ApiConnectionError) as info:
            await client.api_keys.create(name="once")
    assert may_have_acted(info.value)
    assert len(server.requests) == 1


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_a_read_the_server_hung_up_on_is_retried(
    serve: Callable[[Reply], Awaitable[RawServer]], transport: str
) -> None:
    server = await serve(hang_up)
    async with make_client(transport, server.url, max_retries=2) as client:
        client._pipeline.sleep = _no_sleep
        with pytest.raises(ApiConnectionError):
            await client.ssh_keys.list()
    assert len(server.requests) == 3


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_a_port_nobody_listens_on_is_a_connection_error_even_for_a_create(
    transport: str,
) -> None:
    events: List[RetryEvent] = []
    hooks = EventHooks(on_retry=[events.append])
    # Bound but never listening, and kept for the whole test: connections are refused,
    # and no other process can take the port meanwhile (a closed probe could be reused).
    with socket.socket() as bound:
        bound.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{bound.getsockname()[1]}"
        async with make_client(transport, url, max_retries=1, event_hooks=hooks) as client:
            client._pipeline.sleep = _no_sleep
            with pytest.raises(ApiConnectionError) as info:
                await client.api_keys.create(name="never-sent")
    # Never sent, so even a create without an idempotency key was tried again.
    assert [event.operation for event in events] == ["api_keys.create"]
    assert not isinstance(info.value, ApiTimeoutError)


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_a_silent_server_is_a_timeout_after_the_attempt_timeout(
    serve: Callable[[Reply], Awaitable[RawServer]], transport: str
) -> None:
    server = await serve(never_answer)
    async with make_client(transport, server.url, timeout=0.2, max_retries=0) as client:
        started = asyncio.get_running_loop().time()
        with pytest.raises(ApiTimeoutError):
            await client.ssh_keys.list()
        assert asyncio.get_running_loop().time() - started < 2


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_a_malformed_answer_is_an_sdk_error_not_an_aiohttp_one(
    serve: Callable[[Reply], Awaitable[RawServer]], transport: str
) -> None:
    server = await serve(huge_header)
    async with make_client(transport, server.url, max_retries=0) as client:
        with pytest.raises(ApiConnectionError):
            await client.ssh_keys.list()


async def _no_sleep(seconds: float) -> None:
    return None


async def test_the_sdk_client_closes_the_aiohttp_client_made_for_it(
    emulator: EmulatorHandle,
) -> None:
    http = AioHttpClient()
    async with AsyncFluidStack(
        api_key=emulator.api_key, base_url=emulator.base_url, http_client=http
    ) as client:
        await client.ssh_keys.list()
    assert http.is_closed

    shared = AioHttpClient(shared=True)
    for _ in range(2):
        async with AsyncFluidStack(
            api_key=emulator.api_key, base_url=emulator.base_url, http_client=shared
        ) as client:
            await client.ssh_keys.list()
    assert not shared.is_closed
    await shared.aclose()


async def test_atlas_takes_it_too(emulator: EmulatorHandle) -> None:
    http = AioHttpClient()
    async with AsyncAtlas(
        client_id=emulator.atlas.client_id,
        client_secret=emulator.atlas.client_secret,
        management_url=emulator.atlas.management_url,
        http_client=http,
    ) as atlas:
        assert await atlas.regions.list()
    assert http.is_closed


async def test_httpx_alone_keeps_the_cookies(
    serve: Callable[[Reply], Awaitable[RawServer]],
) -> None:
    async def set_cookie(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(
            b"HTTP/1.1 200 OK\r\nset-cookie: s=1; Path=/\r\nconnection: close\r\n"
            b"content-length: 2\r\n\r\n[]"
        )
        await writer.drain()

    server = await serve(set_cookie)
    # A host name: aiohttp's own jar would ignore the cookies of an IP address.
    url = server.url.replace("127.0.0.1", "localhost")
    async with AioHttpClient() as http:
        await http.get(url + "/a")
        await http.get(url + "/b")
        http.cookies.clear()
        await http.get(url + "/c")
    sent = [request.lower() for request in server.requests]
    assert sent[1].count(b"cookie: s=1") == 1
    assert b"cookie:" not in sent[2]  # cleared in httpx means not sent


def test_its_defaults_are_the_sdks() -> None:
    http = AioHttpClient()
    assert http.timeout == httpx.Timeout(60.0)
    with pytest.raises(ValueError, match=r"HTTP/1\.1 only"):
        AioHttpClient(http2=True)


async def answer_ok(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    body = b"[]"
    writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: %d\r\n\r\n%s" % (len(body), body))
    await writer.drain()


async def test_a_response_times_itself_and_is_not_held_by_its_own_body(
    serve: Callable[[Reply], Awaitable[RawServer]],
) -> None:
    # The body stream sets `elapsed` on its response when closed; if it kept holding the
    # response after that, the two made a cycle, and each call's objects waited for the
    # cyclic collector (a tenth of a call's CPU time at 64 calls in flight).
    server = await serve(answer_ok)
    async with make_client("aiohttp", server.url) as client:
        await client.ssh_keys.list()  # the first call goes through httpx's own send
        raw = await client.ssh_keys.with_raw_response.list()
    assert raw.elapsed > 0
    stream = raw.http_response.stream
    assert not any(ref is raw.http_response for ref in gc.get_referents(stream))
    assert getattr(stream, "_timed", None) is None
