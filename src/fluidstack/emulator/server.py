"""Serving the emulator with uvicorn: in the foreground (CLI) or a background thread."""

from __future__ import annotations

import asyncio
import gc
import json
import logging
import signal
import socket
import sys
import threading
import time
from types import FrameType
from typing import Any, Callable, Dict, List, Optional, Type

from fluidstack.emulator.settings import DEV_ATLAS_USER_EMAIL, MAX_HEADER_BYTES, EmulatorSettings

__all__ = ["ConnectionGuard", "EmulatorServer", "bind_socket", "build_uvicorn_server"]

logger = logging.getLogger("fluidstack.emulator")


class _DropFilter(logging.Filter):
    """Keep the log quiet about connections aborted on purpose by ``drop`` faults."""

    def filter(self, record: logging.LogRecord) -> bool:
        from fluidstack.emulator.middleware import ConnectionDropped

        exc = record.exc_info[1] if record.exc_info else None
        return not isinstance(exc, ConnectionDropped)


class _CoalescingTransport:
    """Transport proxy that sends a response's head and body in one ``write``.

    uvicorn writes the status line and headers, then the body, as two writes: two TCP
    segments per answer. Holding the head until the body (or the end of the current
    loop iteration) arrives makes it one segment, so no peer ever waits on a delayed
    ACK for the second half.
    """

    def __init__(self, transport: asyncio.Transport, loop: asyncio.AbstractEventLoop) -> None:
        self._transport = transport
        self._loop = loop
        self._pending: Optional[bytes] = None

    def write(self, data: bytes) -> None:
        if self._pending is not None:
            data, self._pending = self._pending + data, None
            self._transport.write(data)
            return
        if data.startswith(b"HTTP/") and data.endswith(b"\r\n\r\n"):
            self._pending = data
            self._loop.call_soon(self._flush)
            return
        self._transport.write(data)

    def _flush(self) -> None:
        if self._pending is not None:
            data, self._pending = self._pending, None
            if not self._transport.is_closing():
                self._transport.write(data)

    def close(self) -> None:
        self._flush()
        self._transport.close()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transport, name)


class ConnectionGuard:
    """What keeps the server answering under hostile connections, shared by every
    connection of one server: the head-size cap, the head-read and body-read timeouts
    and the connection limit. Each condition is logged once (then only counted), so
    that an attack does not fill the disk with log lines."""

    def __init__(
        self,
        header_timeout: float,
        max_connections: int,
        max_head_bytes: int,
        body_timeout: float = 30.0,
    ) -> None:
        self.header_timeout = header_timeout
        self.max_connections = max_connections
        self.max_head_bytes = max_head_bytes
        self.body_timeout = body_timeout
        self.counts: Dict[str, int] = {}
        """How often each condition happened: ``head-too-large``, ``head-timeout``,
        ``body-timeout``, ``evicted`` (an idle connection, or one whose body is still
        arriving, closed to make room) and ``refused`` (a new connection answered
        503)."""

    def note(self, condition: str, message: str) -> None:
        seen = self.counts.get(condition, 0)
        self.counts[condition] = seen + 1
        if not seen:
            logger.warning("%s (logged once; later occurrences are only counted)", message)


_REASONS = {
    408: b"Request Timeout",
    431: b"Request Header Fields Too Large",
    503: b"Service Unavailable",
}


def _closing_answer(status: int, message: str) -> bytes:
    body = json.dumps({"message": message}).encode()
    return (
        b"HTTP/1.1 %d %s\r\ncontent-type: application/json\r\ncontent-length: %d\r\n"
        b"connection: close\r\n\r\n" % (status, _REASONS[status], len(body))
    ) + body


def uvicorn_log_level(level: str) -> str:
    """uvicorn's level for the emulator's: its start and stop lines are noise on a
    terminal, so they show only from ``debug`` down; warnings and errors always do."""
    return "warning" if level == "info" else level


def _guarded_protocol(guard: ConnectionGuard) -> Optional[Type[Any]]:
    try:
        from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
    except ImportError:  # httptools missing: uvicorn's h11 protocol instead
        return None

    class GuardedHttpToolsProtocol(HttpToolsProtocol):
        """uvicorn's httptools protocol, plus: one write per answer (see
        :class:`_CoalescingTransport`), a cap on the request head counted as it arrives
        (so that a 200 MB header is never buffered), timeouts for reading a head and a
        body, and a connection limit that makes room by closing the connection that has
        waited longest for a request (or, with none waiting, the one whose body has been
        arriving longest). uvicorn has a keep-alive timeout and ``limit_concurrency``
        (checked only once a head has arrived), but none of these."""

        def connection_made(self, transport: asyncio.BaseTransport) -> None:
            assert isinstance(transport, asyncio.Transport)
            loop = asyncio.get_running_loop()
            proxy: Any = _CoalescingTransport(transport, loop)
            super().connection_made(proxy)
            self._in_head = True
            """Receiving a request head (or waiting for the first one)."""
            self._message_done = True
            """The last request was received whole: the next bytes start a new one."""
            self._head_bytes = 0
            self._waiting_since = loop.time()
            self._head_timer: Optional[asyncio.TimerHandle] = None
            self._body_timer: Optional[asyncio.TimerHandle] = None
            self._body_since = 0.0
            """When the body being received began (its head ended)."""
            self._start_head_timer()
            if len(self.connections) > guard.max_connections:
                self._make_room()

        # -- the head ------------------------------------------------------------------

        def _start_head_timer(self) -> None:
            if self._head_timer is not None:
                self._head_timer.cancel()
            self._head_timer = self.loop.call_later(guard.header_timeout, self._head_timed_out)

        def _stop_head_timer(self) -> None:
            if self._head_timer is not None:
                self._head_timer.cancel()
                self._head_timer = None

        def _head_timed_out(self) -> None:
            self._head_timer = None
            if self._in_head and not self.transport.is_closing():
                guard.note(
                    "head-timeout",
                    f"a client took over {guard.header_timeout:g} s to send a request's "
                    "headers: connection closed (408)",
                )
                if self._head_bytes:
                    self._close(408, "Request headers not received in time")
                else:  # nothing was said: nothing to answer
                    self._stop_head_timer()
                    self.transport.close()

        def data_received(self, data: bytes) -> None:
            if self._in_head or self._message_done:
                self._head_bytes += len(data)
            super().data_received(data)
            if self._in_head:
                if self._head_bytes <= guard.max_head_bytes or self.transport.is_closing():
                    return
                guard.note(
                    "head-too-large",
                    f"a request head over {guard.max_head_bytes // 1024} KiB was refused (431)",
                )
                self._close(431, f"Request headers larger than {guard.max_head_bytes // 1024} KiB")
            elif (
                not self._message_done
                and self._body_timer is None
                and not self.transport.is_closing()
            ):
                # Armed only for a body that did not arrive with its head: most requests
                # (no body, or a small one in the same segment) never need a timer.
                self._body_since = self.loop.time()
                self._body_timer = self.loop.call_later(guard.body_timeout, self._body_timed_out)

        def _receiving_body(self) -> bool:
            """The head of a request has arrived, the end of its body not yet."""
            return not self._in_head and not self._message_done

        def _stop_body_timer(self) -> None:
            if self._body_timer is not None:
                self._body_timer.cancel()
                self._body_timer = None

        def _body_timed_out(self) -> None:
            self._body_timer = None
            if self._receiving_body() and not self.transport.is_closing():
                guard.note(
                    "body-timeout",
                    f"a client took over {guard.body_timeout:g} s to send a request's body: "
                    "connection closed (408)",
                )
                self._abandon_body()

        def _abandon_body(self) -> None:
            """Close a connection whose body is still arriving: 408 if nothing was
            answered yet (the app sees a disconnect and performs nothing)."""
            if self.cycle is not None and self.cycle.response_started:
                self._stop_head_timer()
                self._stop_body_timer()
                self.transport.close()
            else:
                self._close(408, "Request body not received in time")

        def on_message_begin(self) -> None:
            super().on_message_begin()
            self._in_head = True
            self._message_done = False
            self._start_head_timer()

        def on_headers_complete(self) -> None:
            self._in_head = False
            self._head_bytes = 0
            self._stop_head_timer()
            super().on_headers_complete()

        def on_message_complete(self) -> None:
            super().on_message_complete()
            self._message_done = True
            self._head_bytes = 0
            self._stop_body_timer()

        def on_response_complete(self) -> None:
            super().on_response_complete()
            self._waiting_since = self.loop.time()

        def connection_lost(self, exc: Optional[Exception]) -> None:
            self._stop_head_timer()
            self._stop_body_timer()
            super().connection_lost(exc)

        # -- the connection limit ---------------------------------------------------------

        def _idle(self) -> bool:
            """No request being served: waiting for or receiving the next head, or
            sending a body nobody reads any more (the answer has gone)."""
            return self.cycle is None or self.cycle.response_complete

        def _make_room(self) -> None:
            others = [
                c
                for c in self.connections
                if isinstance(c, GuardedHttpToolsProtocol)
                and c is not self
                and not c.transport.is_closing()
            ]
            waiting = [c for c in others if c._idle()]
            # Then a request whose body is still arriving: a thousand bodies sent a byte
            # a second must not lock every other client out (issue 23, item 3).
            uploading = [] if waiting else [c for c in others if c._receiving_body()]
            if not waiting and not uploading:
                guard.note(
                    "refused", f"{guard.max_connections} connections are busy: new ones get 503"
                )
                self._close(503, "Too many connections; try again")
                return
            guard.note(
                "evicted",
                f"{guard.max_connections} connections open: closing the one that has waited "
                "longest for a request (or sent a body longest) to make room",
            )
            if not waiting:
                min(uploading, key=lambda c: c._body_since)._abandon_body()
                return
            victim = min(waiting, key=lambda c: c._waiting_since)
            if victim._in_head and victim._head_bytes:
                victim._close(408, "Request headers not received in time")
            else:
                victim.transport.close()

        def _close(self, status: int, message: str) -> None:
            self._stop_head_timer()
            self._stop_body_timer()
            self._in_head = False
            self.transport.write(_closing_answer(status, message))
            self.transport.close()

    return GuardedHttpToolsProtocol


def _connection_limit(wanted: int) -> int:
    """``wanted``, but below the process's file-descriptor limit: accepting must never
    fail for want of descriptors (the server needs some for its database and logs)."""
    try:
        import resource

        soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    except (ImportError, OSError, ValueError):  # pragma: no cover - not POSIX
        return wanted
    if soft <= 0:  # RLIM_INFINITY
        return wanted
    return max(1, min(wanted, soft - 64))


_OUT_OF_RESOURCES = "out of system resource"


class _OnceFilter(logging.Filter):
    """asyncio logs every failed ``accept`` when file descriptors run out: keep one."""

    def __init__(self) -> None:
        super().__init__()
        self.suppressed = 0
        self._seen = False

    def filter(self, record: logging.LogRecord) -> bool:
        if _OUT_OF_RESOURCES not in str(record.msg):
            return True
        if self._seen:
            self.suppressed += 1
            return False
        self._seen = True
        return True


def bind_socket(host: str, port: int) -> socket.socket:
    """A listening TCP socket (port 0 picks a free one)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError:
        sock.close()
        raise
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock


def build_uvicorn_server(
    settings: EmulatorSettings, on_started: Optional[Callable[[], None]] = None
) -> Any:
    """A ``uvicorn.Server`` for the emulator app, tuned for low latency."""
    import uvicorn

    from fluidstack.emulator.app import create_app

    app = create_app(settings, check_host=True)
    guard = ConnectionGuard(
        settings.header_timeout,
        _connection_limit(settings.max_connections),
        MAX_HEADER_BYTES,
        body_timeout=settings.body_timeout,
    )
    protocol = _guarded_protocol(guard)
    config = uvicorn.Config(
        app,
        http=protocol if protocol is not None else "h11",
        loop="asyncio",
        lifespan="off",
        access_log=False,
        log_level=uvicorn_log_level(settings.log_level),
        server_header=False,
        date_header=False,  # the middleware sends the simulated clock's Date instead
        timeout_keep_alive=30,
        # Only for the h11 fallback: the cap on a request head it buffers.
        h11_max_incomplete_event_size=MAX_HEADER_BYTES,
    )

    class _Server(uvicorn.Server):
        emulator_app: Any = None
        connection_guard: Optional[ConnectionGuard] = None

        async def startup(self, sockets: Optional[List[socket.socket]] = None) -> None:
            await super().startup(sockets=sockets)
            if on_started is not None and not self.should_exit:
                on_started()

    uvicorn_logger = logging.getLogger("uvicorn.error")
    if not any(isinstance(f, _DropFilter) for f in uvicorn_logger.filters):
        uvicorn_logger.addFilter(_DropFilter())
    asyncio_logger = logging.getLogger("asyncio")
    if not any(isinstance(f, _OnceFilter) for f in asyncio_logger.filters):
        asyncio_logger.addFilter(_OnceFilter())
    server = _Server(config)
    server.emulator_app = app
    server.connection_guard = guard
    return server


class EmulatorServer:
    """The emulator on a loopback port, served from a background thread.

    ``with EmulatorServer(EmulatorSettings(port=0, manual_clock=True)) as server:`` then
    talk to ``server.base_url`` with ``server.api_key``.
    """

    def __init__(self, settings: Optional[EmulatorSettings] = None) -> None:
        self.settings = settings if settings is not None else EmulatorSettings(port=0)
        self._server: Any = None
        self._thread: Optional[threading.Thread] = None
        self._sock: Optional[socket.socket] = None
        self.port: int = self.settings.port

    @property
    def base_url(self) -> str:
        host = self.settings.host
        shown = f"[{host}]" if ":" in host else host
        return f"http://{shown}:{self.port}"

    @property
    def api_key(self) -> str:
        """The first account's key (the development key when none was configured)."""
        return self.settings.effective_api_keys[0]

    @property
    def control_token(self) -> str:
        """What the control API (``/_emulator/*``) wants in ``x-emulator-token``."""
        return self.settings.control_token or ""

    @property
    def connection_guard(self) -> Optional[ConnectionGuard]:
        """The server's connection limits and how often each was hit (after :meth:`start`)."""
        return self._server.connection_guard if self._server is not None else None

    @property
    def app(self) -> Any:
        """The FastAPI app being served (after :meth:`start`)."""
        return self._server.emulator_app if self._server is not None else None

    def start(self, timeout: float = 30.0) -> EmulatorServer:
        if self._thread is not None:
            raise RuntimeError("the emulator server is already running")
        self._sock = bind_socket(self.settings.host, self.settings.port)
        self.port = self._sock.getsockname()[1]
        self._server = build_uvicorn_server(self.settings)
        self._thread = threading.Thread(
            target=self._server.run,
            kwargs={"sockets": [self._sock]},
            name=f"fluidstack-emulator-{self.port}",
            daemon=True,
        )
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError("the emulator server did not start")
            time.sleep(0.005)
        return self

    def stop(self, timeout: float = 10.0) -> None:
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None
        if self._sock is not None:
            self._sock.close()
            self._sock = None
        if self._server is not None:
            app = self._server.emulator_app
            app.state.emulator.close()
            self._server = None

    def __enter__(self) -> EmulatorServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


def _tune_gc() -> None:
    """For the emulator's own process: what exists at start (modules, FastAPI's routes,
    pydantic's validators: ~200,000 objects) is never garbage, so move it out of the
    collector's sight, and collect the young generation less often. The state is made
    of plain data without reference cycles, freed by reference counting; the cyclic
    collector only ever walked it to find nothing (a full collection at 100,000
    instances walks a few million objects)."""
    gc.collect()
    gc.freeze()
    _, second, third = gc.get_threshold()
    gc.set_threshold(GC_YOUNG_THRESHOLD, second, third)


GC_YOUNG_THRESHOLD = 20_000
"""Allocations between two young-generation collections in the emulator's process
(Python's default is 700)."""

_EXIT_SIGNALS = (signal.SIGINT, signal.SIGTERM)


def _ignore_signal(signum: int, frame: Optional[FrameType]) -> None:
    """Placeholder handler while uvicorn serves (uvicorn installs its own meanwhile)."""


def run_forever(settings: EmulatorSettings) -> int:
    """Serve in the foreground until Ctrl-C/SIGTERM; prints the ``listening on`` line."""
    try:
        sock = bind_socket(settings.host, settings.port)
    except OSError as exc:
        print(f"fluidstack-emulator: cannot listen on {settings.host}:{settings.port}: {exc}",
              file=sys.stderr)  # fmt: skip
        return 1
    port = sock.getsockname()[1]
    host = f"[{settings.host}]" if ":" in settings.host else settings.host

    def announce() -> None:
        if not settings.api_keys:
            print(
                f"No --api-key given: accepting the development key "
                f"'{settings.effective_api_keys[0]}'",
                file=sys.stderr,
                flush=True,
            )
        if not settings.atlas_clients:
            client_id, secret = settings.effective_atlas_clients[0]
            print(
                f"No --atlas-client given: accepting the Atlas development client "
                f"'{client_id}' with secret '{secret}'",
                file=sys.stderr,
                flush=True,
            )
        if settings.control and settings.control_token_generated:
            print(
                f"Control API token (send it as x-emulator-token to /_emulator/*): "
                f"{settings.control_token}",
                file=sys.stderr,
                flush=True,
            )
        dev_code = server.emulator_app.state.platform.dev_login_code
        if dev_code is not None:
            print(
                f"Platform development login: /auth/callback?code={dev_code} logs in as the "
                "first account (this run only)",
                file=sys.stderr,
                flush=True,
            )
        if not settings.atlas_users:
            logins = server.emulator_app.state.atlas.logins
            print(
                f"No --atlas-user given: the Atlas development user '{DEV_ATLAS_USER_EMAIL}' "
                f"logs in at /authorize with the password '{logins.dev_password}' (this run only)",
                file=sys.stderr,
                flush=True,
            )
        machines = server.emulator_app.state.emulator.ssh
        if machines is not None:
            print(
                "SSH (--ssh): platform instances answer on 127.0.0.1 at their ssh_port; "
                f"Atlas instances on their ip, port {machines.atlas_port} "
                f"(export FLUIDSTACK_SSH_PORT={machines.atlas_port}). Instance files: "
                f"{machines.root}",
                file=sys.stderr,
                flush=True,
            )
        print(f"FluidStack emulator listening on http://{host}:{port}", flush=True)

    from fluidstack.emulator.store import StoreInUse

    try:
        server = build_uvicorn_server(settings, on_started=announce)
    except StoreInUse as exc:
        print(f"fluidstack-emulator: {exc}", file=sys.stderr, flush=True)
        sock.close()
        return 2
    _tune_gc()
    # uvicorn re-raises the signal that stopped it once shut down; with these (restored)
    # handlers that re-raise is a no-op, so Ctrl-C and SIGTERM exit with status 0.
    previous = {sig: signal.signal(sig, _ignore_signal) for sig in _EXIT_SIGNALS}
    try:
        server.run(sockets=[sock])
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        sock.close()
        server.emulator_app.state.emulator.close()
    return 0
