"""Serving the emulator with uvicorn: in the foreground (CLI) or a background thread."""

from __future__ import annotations

import gc
import logging
import signal
import socket
import sys
import threading
import time
from types import FrameType
from typing import Any, Callable, List, Optional

from fluidstack.emulator.connection_guard import ConnectionGuard
from fluidstack.emulator.connection_guard import guarded_protocol as _guarded_protocol
from fluidstack.emulator.settings import DEV_ATLAS_USER_EMAIL, MAX_HEADER_BYTES, EmulatorSettings

# The old home of the transport proxy: kept importable for code that still uses it here.
from fluidstack.emulator.transport import CoalescingTransport as _CoalescingTransport  # noqa: F401

__all__ = ["ConnectionGuard", "EmulatorServer", "bind_socket", "build_uvicorn_server"]

logger = logging.getLogger("fluidstack.emulator")


class _DropFilter(logging.Filter):
    """Keep the log quiet about connections aborted on purpose by ``drop`` faults."""

    def filter(self, record: logging.LogRecord) -> bool:
        from fluidstack.emulator.middleware import ConnectionDropped

        exc = record.exc_info[1] if record.exc_info else None
        return not isinstance(exc, ConnectionDropped)


def uvicorn_log_level(level: str) -> str:
    """uvicorn's level for the emulator's: its start and stop lines are noise on a
    terminal, so they show only from ``debug`` down; warnings and errors always do."""
    return "warning" if level == "info" else level


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
    from fluidstack.emulator.entry import served_entry

    app = create_app(settings, check_host=True)
    guard = ConnectionGuard(
        settings.header_timeout,
        _connection_limit(settings.max_connections),
        MAX_HEADER_BYTES,
        body_timeout=settings.body_timeout,
    )
    protocol = _guarded_protocol(guard)
    config = uvicorn.Config(
        served_entry(app),  # fewer pass-through layers per request (issue 24)
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
