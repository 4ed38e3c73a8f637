"""Issue 13, SDK items 11-14, on both clients: what a hostile server or network could do.

11. the total deadline covers the response (headers and body, at any pace);
12. a response body has a size cap, with a typed error;
13. secrets stay out of every error path and of httpx's and httpcore's log records;
14. a create whose first attempt arrives late leaves one instance (the platform here;
    Atlas in tests/atlas/test_atlas_late_create.py).

Items 11-13 need a server the emulator cannot be (``hostile_server``); item 14 runs
against the emulator. Figures are in docs/reliability.md.
"""

from __future__ import annotations

import gzip
import logging
import os
import resource
import subprocess
import sys
import threading
import time
import traceback
import tracemalloc
from pathlib import Path
from typing import Any, Callable, Iterator, List

import pytest
from hostile_server import HostileServer, drip

from fluidstack import AsyncFluidStack, FluidStack
from fluidstack.atlas import AsyncAtlas, Atlas
from fluidstack.core import (
    DEFAULT_MAX_RESPONSE_BYTES,
    ApiConnectionError,
    ApiError,
    ApiTimeoutError,
    BadRequestError,
    DuplicateEvent,
    EventHooks,
    ResponseTooLargeError,
    TokenError,
)
from fluidstack.testing import EmulatorHandle
from support import Clients, resolve

pytestmark = pytest.mark.anyio

KEY = "fs-hostile-SECRET-key-0123456789"
SECRET = "atlas-client-SECRET-9876543210"
OK_HEAD = b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n"


@pytest.fixture(params=["sync", "async"])
def kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def stop() -> Iterator[threading.Event]:
    event = threading.Event()
    yield event
    event.set()


async def call(kind: str, url: str, method: Callable[[Any], Any], **kwargs: Any) -> Any:
    """``method(client)`` on a platform client of ``kind`` with its own httpx client."""
    kwargs.setdefault("api_key", KEY)
    if kind == "sync":
        with FluidStack(base_url=url, **kwargs) as client:
            return method(client)
    async with AsyncFluidStack(base_url=url, **kwargs) as client:
        return await method(client)


async def failure(kind: str, url: str, method: Callable[[Any], Any], **kwargs: Any) -> ApiError:
    with pytest.raises(ApiError) as caught:
        await call(kind, url, method, **kwargs)
    return caught.value


def list_instances(client: Any) -> Any:
    return client.instances.list()


BOUNDED = "FLUIDSTACK_TEST_MEMORY_BOUNDED"
"""Set in the child process that runs the size-cap tests under an address-space limit."""

ADDRESS_SPACE = 3 << 29
"""The child's limit, 1.5 GiB: half again what the tests need with the cap (they pass
under 1 GiB: interpreter, threads, one capped body), far below what a flood reaches
without it."""

memory_bounded = pytest.mark.skipif(
    not os.environ.get(BOUNDED),
    reason="guards a memory bound, so it runs in a memory-limited child process, where a "
    "regression fails cleanly instead of exhausting the machine "
    "(test_the_size_cap_holds_in_a_memory_limited_process)",
)


# -- item 11: the total deadline covers the response ------------------------------------


async def test_item11_the_total_deadline_stops_an_endless_body(
    kind: str, stop: threading.Event
) -> None:
    def endless(conn: Any, _: bytes) -> None:
        conn.sendall(OK_HEAD + b"transfer-encoding: chunked\r\n\r\n" + b"1\r\n[\r\n")
        while not stop.wait(0.005):
            conn.sendall(b"400\r\n" + b" " * 1024 + b"\r\n")

    with HostileServer(endless) as server:
        started = time.monotonic()
        error = await failure(kind, server.url, list_instances, timeout=60, total_timeout=2)
        elapsed = time.monotonic() - started
        attempts = len(server.requests)
    assert isinstance(error, ApiTimeoutError)
    assert "total timeout" in str(error)
    # The attempt's own timeout (60 s) is out of reach: only the total deadline ends the
    # call, in its first attempt. The bound is far from the 60 s a broken one would take
    # and far from 2 s, so that a loaded machine does not fail it.
    assert attempts == 1
    assert 1.9 <= elapsed < 15.0, elapsed
    print(f"\n{kind}: endless body stopped after {elapsed:.2f} s (total_timeout=2)")


async def test_item11_the_total_deadline_stops_a_dripping_body(
    kind: str, stop: threading.Event
) -> None:
    def dripping(conn: Any, _: bytes) -> None:  # 120 bytes at 1 byte / 0.5 s: 60 s
        conn.sendall(OK_HEAD + b"content-length: 120\r\n\r\n")
        drip(conn, b"[" + b" " * 119, 0.5, stop)

    with HostileServer(dripping) as server:
        started = time.monotonic()
        error = await failure(kind, server.url, list_instances, timeout=60, total_timeout=3)
        elapsed = time.monotonic() - started
        attempts = len(server.requests)
    assert isinstance(error, ApiTimeoutError)
    assert "total timeout" in str(error)  # not the attempt's (60 s), nor the server's end
    assert attempts == 1
    assert 2.9 <= elapsed < 15.0, elapsed
    print(f"\n{kind}: body at 1 byte / 0.5 s stopped after {elapsed:.2f} s (total 3)")


async def test_item11_the_total_deadline_stops_dripping_headers(
    kind: str, stop: threading.Event
) -> None:
    def dripping(conn: Any, _: bytes) -> None:  # ~1,060 bytes at 1 byte / 0.2 s: 200 s
        drip(conn, OK_HEAD + b"x-slow: " + b"a" * 1000 + b"\r\n\r\n[]", 0.2, stop)

    with HostileServer(dripping) as server:
        started = time.monotonic()
        error = await failure(kind, server.url, list_instances, timeout=60, total_timeout=3)
        elapsed = time.monotonic() - started
        attempts = len(server.requests)
    assert isinstance(error, ApiTimeoutError)
    assert "total timeout" in str(error)
    assert attempts == 1
    assert 2.9 <= elapsed < 15.0, elapsed
    print(f"\n{kind}: headers at 1 byte / 0.2 s stopped after {elapsed:.2f} s (total 3)")


async def test_item11_a_response_within_the_deadline_still_parses(kind: str) -> None:
    def slow_but_fine(conn: Any, _: bytes) -> None:
        conn.sendall(OK_HEAD + b"content-length: 2\r\n\r\n[")
        # The pause is the point, not a wait for something: the body's end comes late
        # (the client reads it in two parts) yet well within total_timeout.
        time.sleep(0.3)
        conn.sendall(b"]")

    with HostileServer(slow_but_fine) as server:
        assert await call(kind, server.url, list_instances, total_timeout=3) == []


# -- item 12: a size cap -----------------------------------------------------------------


@memory_bounded
async def test_item12_a_body_past_the_cap_raises_response_too_large(
    kind: str, stop: threading.Event
) -> None:
    def flood(conn: Any, _: bytes) -> None:
        conn.sendall(OK_HEAD + b"transfer-encoding: chunked\r\n\r\n")
        chunk = b"10000\r\n" + b" " * 65536 + b"\r\n"
        while not stop.is_set():
            conn.sendall(chunk)

    with HostileServer(flood) as server:
        tracemalloc.start()
        started = time.monotonic()
        error = await failure(kind, server.url, list_instances, max_response_bytes=4 << 20)
        elapsed = time.monotonic() - started
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        assert len(server.requests) == 1  # never retried: the answer would be the same
    assert isinstance(error, ResponseTooLargeError)
    assert error.limit == 4 << 20
    assert error.status_code == 200
    assert elapsed < 60.0  # the child's own timeout is the real bound
    assert peak < 40 << 20, peak
    print(f"\n{kind}: endless body refused at 4 MiB in {elapsed:.2f} s, peak {peak >> 20} MiB")


@memory_bounded
async def test_item12_a_declared_length_past_the_cap_is_refused_unread(
    kind: str, stop: threading.Event
) -> None:
    def huge(conn: Any, _: bytes) -> None:
        conn.sendall(OK_HEAD + b"content-length: %d\r\n\r\n" % (1 << 30))
        stop.wait(10)  # never sends the gigabyte

    with HostileServer(huge) as server:
        started = time.monotonic()
        error = await failure(kind, server.url, list_instances, timeout=10)
        elapsed = time.monotonic() - started
    assert isinstance(error, ResponseTooLargeError)
    assert error.limit == DEFAULT_MAX_RESPONSE_BYTES == 256 << 20
    assert elapsed < 60.0  # unread: a read of 1 GiB would not fit the child's memory


@memory_bounded
async def test_item12_a_decompression_bomb_is_stopped_at_the_cap(kind: str) -> None:
    bomb = gzip.compress(b"\0" * (256 << 20), compresslevel=9)  # 256 MiB in ~250 KB

    def send_bomb(conn: Any, _: bytes) -> None:
        conn.sendall(
            OK_HEAD + b"content-encoding: gzip\r\ncontent-length: %d\r\n\r\n" % len(bomb) + bomb
        )

    with HostileServer(send_bomb) as server:
        tracemalloc.start()
        started = time.monotonic()
        error = await failure(kind, server.url, list_instances, max_response_bytes=16 << 20)
        elapsed = time.monotonic() - started
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    assert isinstance(error, ResponseTooLargeError)
    assert elapsed < 60.0  # the child's own timeout is the real bound
    assert peak < 200 << 20, peak  # one read's worth decoded, not 256 MiB
    size = len(bomb) >> 10
    print(f"\n{kind}: {size} KB gzip bomb refused in {elapsed:.2f} s, peak {peak >> 20} MiB")


@pytest.mark.skipif(bool(os.environ.get(BOUNDED)), reason="already inside")
def test_the_size_cap_holds_in_a_memory_limited_process() -> None:
    """Issue 29 item 3: with the cap broken, the flood tests once grew pytest to ~24 GB
    until the kernel killed it. Here they run in a child limited to ``ADDRESS_SPACE``
    and 180 s, so a regression is a failed test with its output."""

    def limit() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (ADDRESS_SPACE, ADDRESS_SPACE))

    here = Path(__file__)
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(here), "-k",
         "item12 and (past_the_cap or bomb)"],
        env={**os.environ, BOUNDED: "1"},
        cwd=here.parents[2],
        preexec_fn=limit,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )  # fmt: skip
    summary = done.stdout.strip().splitlines()[-1] if done.stdout.strip() else ""
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    assert "6 passed" in summary, summary  # three tests, sync and async; none skipped


async def test_item12_the_cap_is_a_client_and_a_call_setting(kind: str) -> None:
    def listing(conn: Any, _: bytes) -> None:
        body = b"[" + b" " * 2000 + b"]"
        conn.sendall(OK_HEAD + b"content-length: %d\r\n\r\n" % len(body) + body)

    with HostileServer(listing) as server:
        small = {"max_response_bytes": 1000}
        assert isinstance(
            await failure(kind, server.url, list_instances, **small), ResponseTooLargeError
        )

        def per_call(client: Any) -> Any:
            return client.instances.list(request_options={"max_response_bytes": 1000})

        assert isinstance(await failure(kind, server.url, per_call), ResponseTooLargeError)
        assert await call(kind, server.url, list_instances) == []
    with pytest.raises(ValueError, match="max_response_bytes"):
        FluidStack(api_key=KEY, max_response_bytes=0)


# -- item 13: secrets on every error path and in the HTTP stack's logs ------------------


def _everything_said(error: BaseException, caplog: pytest.LogCaptureFixture) -> str:
    text = [
        str(error),
        repr(error),
        "".join(traceback.format_exception(type(error), error, error.__traceback__)),
    ]
    if isinstance(error, ApiError):
        text += [repr(error.body), repr(error.headers)]
    cause: Any = error
    while cause is not None:
        text.append(repr(cause))
        cause = cause.__cause__ or cause.__context__
    text += [record.getMessage() for record in caplog.records]
    return "\n".join(text)


@pytest.fixture
def every_logger_at_debug(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    caplog.set_level(logging.DEBUG)
    for name in ("httpx", "httpcore", "fluidstack"):
        caplog.set_level(logging.DEBUG, logger=name)
    return caplog


async def test_item13_a_key_in_a_malformed_status_line_goes_nowhere(
    kind: str, every_logger_at_debug: pytest.LogCaptureFixture
) -> None:
    def malformed(conn: Any, request: bytes) -> None:
        assert KEY.encode() in request
        conn.sendall(b"HTTP/1.1 2" + KEY.encode() + b" OK\r\n\r\n")

    with HostileServer(malformed) as server:
        error = await failure(kind, server.url, list_instances, max_retries=1)
    assert isinstance(error, ApiConnectionError)
    said = _everything_said(error, every_logger_at_debug)
    assert "illegal status line" in said  # the failure is still explained ...
    assert KEY not in said  # ... without the key


async def test_item13_a_key_echoed_in_headers_and_body_goes_nowhere(
    kind: str, every_logger_at_debug: pytest.LogCaptureFixture
) -> None:
    def echo(conn: Any, _: bytes) -> None:
        body = b'{"message": "bad key %s", "key": "%s"}' % (KEY.encode(), KEY.encode())
        conn.sendall(
            b"HTTP/1.1 400 Bad " + KEY.encode() + b"\r\ncontent-type: application/json\r\n"
            b"x-echo: " + KEY.encode() + b"\r\ncontent-length: %d\r\n\r\n" % len(body) + body
        )

    with HostileServer(echo) as server:
        error = await failure(kind, server.url, list_instances)
    assert isinstance(error, BadRequestError)
    said = _everything_said(error, every_logger_at_debug)
    assert "x-echo" in said  # httpcore logged the headers ...
    assert KEY not in said  # ... with the key replaced


async def test_item13_an_atlas_client_secret_goes_nowhere_either(
    kind: str, every_logger_at_debug: pytest.LogCaptureFixture
) -> None:
    def malformed(conn: Any, request: bytes) -> None:
        assert SECRET.encode() in request
        conn.sendall(b"HTTP/1.1 5" + SECRET.encode() + b" No\r\n\r\n")

    with HostileServer(malformed) as server:
        settings = {
            "client_id": "someone",
            "client_secret": SECRET,
            "management_url": server.url,
            "token_url": server.url + "/oauth/token",
            "region": "eu-north-1",
            "max_retries": 0,
        }
        with pytest.raises(TokenError) as caught:
            await _list_regions(kind, settings)
    said = _everything_said(caught.value, every_logger_at_debug)
    assert SECRET not in said


async def _list_regions(kind: str, settings: Any) -> Any:
    if kind == "sync":
        with Atlas(**settings) as atlas:
            return atlas.regions.list()
    async with AsyncAtlas(**settings) as async_atlas:
        return await async_atlas.regions.list()


# -- item 14: a create that arrives late --------------------------------------------------


def _live_named(emulator: EmulatorHandle, name: str) -> List[str]:
    import httpx

    listing = httpx.get(
        emulator.base_url + "/instances",
        params={"include_failed_instances": "true"},
        headers={"api-key": emulator.api_key},
    ).json()
    return [i["id"] for i in listing if i["name"] == name and i["status"] != "terminated"]


async def test_item14_a_late_first_attempt_is_found_not_duplicated(
    clients: Clients, emulator: EmulatorHandle
) -> None:
    client = clients.make(strip_idempotency=True, timeout=0.3, fake_sleep=False)
    await resolve(client.ssh_keys.create(name="laptop", public_key=_PUBLIC_KEY))
    # The first attempt reaches the server 1.2 s later: after the client's 0.3 s timeout
    # and after its first lookup. The server ignores Idempotency-Key.
    emulator.add_fault(method="POST", path="/instances", action="delay", seconds=1.2)
    started = time.monotonic()
    created = await resolve(client.instances.create(gpu_type="RTX_A4000_16GB", ssh_key="laptop"))
    elapsed = time.monotonic() - started
    assert _live_named(emulator, created.name) == [created.id]
    posts = [e for e in emulator.journal() if (e["method"], e["path"]) == ("POST", "/instances")]
    assert len(posts) == 1  # found during the grace period: never sent again
    print(f"\n{clients.kind}: the late create was found after {elapsed:.2f} s")


async def test_item14_after_a_resend_the_late_duplicate_is_deleted_and_reported(
    clients: Clients, emulator: EmulatorHandle
) -> None:
    events: List[DuplicateEvent] = []
    hooks = EventHooks(on_duplicate=[events.append])
    client = clients.make(
        strip_idempotency=True, timeout=0.3, fake_sleep=False, event_hooks=hooks, max_retries=3
    )
    await resolve(client.ssh_keys.create(name="laptop", public_key=_PUBLIC_KEY))
    # Attempt 1 arrives at 2 s; attempt 2 gets a 503 (retry after 3 s); attempt 3
    # succeeds at ~4 s, after the late one arrived: two instances, one too many.
    emulator.add_fault(method="POST", path="/instances", action="delay", seconds=2.0)
    emulator.add_fault(method="POST", path="/instances", status=503, retry_after="3")
    created = await resolve(
        client.instances.create(
            gpu_type="RTX_A4000_16GB",
            ssh_key="laptop",
            request_options={"create_grace_period_in_seconds": 0},
        )
    )
    assert _live_named(emulator, created.name) == [created.id]
    (event,) = events
    assert event.kept_id == created.id
    assert event.identity == created.name
    assert len(event.deleted_ids) == 1
    assert event.deleted_ids[0] != created.id


_PUBLIC_KEY = (
    "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIMlZrNQiO9x/cSV8+8kF4khUmIupYM4FWj8WT0wfbsoV you@laptop"
)
