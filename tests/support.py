"""Helpers shared by the SDK tests (importable as ``support``)."""

from __future__ import annotations

import inspect
import time
from typing import Any, Callable, Dict, List, Optional

import httpx

from fluidstack.atlas import AsyncAtlas, Atlas
from fluidstack.client import AsyncFluidStack, FluidStack
from fluidstack.testing.handle import EmulatorHandle

API_KEY = "sk-test-0123456789abcdef"


async def resolve(value: Any) -> Any:
    """Await the result of an async client's call; pass a sync client's through."""
    if inspect.isawaitable(value):
        return await value
    return value


class FakeClock:
    """A monotonic clock that only moves when the client sleeps (or a test says so)."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: List[float] = []

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


Handler = Callable[[httpx.Request], httpx.Response]
RequestHook = Callable[[httpx.Request], None]


def _has_aiohttp() -> bool:
    try:
        import httpx_aiohttp  # noqa: F401
    except ImportError:
        return False
    return True


EMULATOR_KINDS = ["sync", "async"] + (["aiohttp"] if _has_aiohttp() else [])
"""The kinds of client every emulator test runs with: the async client on httpx's own
transport and, when the ``aiohttp`` extra is installed (always in CI), on aiohttp."""


class ClientFactory:
    """Builds clients of one kind and closes their httpx clients: ``sync``, ``async``
    (httpx's transport) or ``aiohttp`` (the async client on :class:`AioHttpClient`).

    ``sync_class``/``async_class`` are the clients built: the platform's by default,
    ``Atlas``/``AsyncAtlas`` for the Atlas tests (same constructor conventions)."""

    def __init__(
        self, kind: str, sync_class: Any = FluidStack, async_class: Any = AsyncFluidStack
    ) -> None:
        self.kind = kind
        self._open: List[Any] = []
        self._classes = (sync_class, async_class)

    @property
    def is_async(self) -> bool:
        return self.kind in ("async", "aiohttp")

    def _build(
        self,
        *,
        transport: Optional[httpx.MockTransport] = None,
        request_hook: Optional[RequestHook] = None,
        sleep: Optional[Callable[[float], None]] = None,
        **kwargs: Any,
    ) -> Any:
        """A client of this kind; ``sleep`` replaces real sleeping (same on both kinds)."""
        if self.is_async:

            async def async_hook(request: httpx.Request) -> None:
                assert request_hook is not None
                request_hook(request)

            hooks = {"request": [async_hook]} if request_hook else {}
            http: Any
            if self.kind == "aiohttp":
                from fluidstack import AioHttpClient

                # Shared: this factory closes it, whatever the client under test does.
                http = AioHttpClient(transport=transport, event_hooks=hooks, shared=True)
            else:
                http = httpx.AsyncClient(transport=transport, event_hooks=hooks)
            client: Any = self._classes[1](httpx_client=http, **kwargs)
            if sleep is not None:

                async def async_sleep(seconds: float) -> None:
                    sleep(seconds)

                client._pipeline.sleep = async_sleep
        else:
            hooks = {"request": [request_hook]} if request_hook else {}
            http = httpx.Client(transport=transport, event_hooks=hooks)
            client = self._classes[0](httpx_client=http, **kwargs)
            if sleep is not None:
                client._pipeline.sleep = sleep
        self._open.append(http)
        return client

    async def close(self) -> None:
        for http in self._open:
            if isinstance(http, httpx.AsyncClient):
                await http.aclose()
            else:
                http.close()


class Harness(ClientFactory):
    """Builds a sync or async client on an ``httpx.MockTransport`` with a fake clock."""

    def __init__(self, kind: str) -> None:
        super().__init__(kind)
        self.clock = FakeClock()
        self.requests: List[httpx.Request] = []

    def client(self, handler: Handler, **kwargs: Any) -> Any:
        def recording(request: httpx.Request) -> httpx.Response:
            request.read()
            self.requests.append(request)
            return handler(request)

        kwargs.setdefault("api_key", API_KEY)
        kwargs.setdefault("base_url", "https://api.test")
        client = self._build(
            transport=httpx.MockTransport(recording), sleep=self.clock.sleep, **kwargs
        )
        client._pipeline.clock = self.clock
        return client


def json_response(
    status: int, body: Any = None, headers: Optional[dict[str, str]] = None
) -> httpx.Response:
    if body is None:
        return httpx.Response(status, headers=headers)
    return httpx.Response(status, json=body, headers=headers)


INSTANCE = {
    "id": "i-1",
    "status": "running",
    "username": "ubuntu",
    "ssh_port": "22",
    "ssh_keys": ["laptop"],
    "ip_address": "192.0.2.10",
    "name": "trainer",
    "current_gpu_hr_cost": 0.5,
    "configuration": {
        "id": "c-1",
        "region": "NORWAY",
        "gpu_model": {"name": "RTX_A5000_24GB", "memory_size_gb": 24},
        "cpu_model": "generic",
        "gpu_count": 2,
        "cpu_count": 8,
        "nvme_storage_size_gb": 200,
        "memory_size_gb": 30.0,
        "estimated_provisioning_time_minutes": 5,
    },
    "created_at": "2024-01-15T09:30:00Z",
}


class Clients(ClientFactory):
    """Builds clients of one kind (sync or async) pointed at the emulator."""

    def __init__(self, kind: str, emulator: EmulatorHandle) -> None:
        super().__init__(kind)
        self.emulator = emulator
        self.sleeps: List[float] = []

    def make(
        self, *, strip_idempotency: bool = False, fake_sleep: bool = True, **kwargs: Any
    ) -> Any:
        kwargs.setdefault("api_key", self.emulator.api_key)
        kwargs.setdefault("base_url", self.emulator.base_url)
        kwargs.setdefault("timeout", 10.0)
        return self._build(
            request_hook=_strip_idempotency_key if strip_idempotency else None,
            sleep=self._sleep if fake_sleep else None,
            **kwargs,
        )

    def _sleep(self, seconds: float) -> None:
        # The client's waits cost no real time, but simulated time passes as if they had.
        self.sleeps.append(seconds)
        self.emulator.advance(seconds)


class AtlasClients(ClientFactory):
    """Builds sync or async Atlas clients of the emulator whose waits cost no real time:
    where a client would sleep, the emulator's simulated clock moves instead."""

    def __init__(self, kind: str, emulator: EmulatorHandle) -> None:
        super().__init__(kind, Atlas, AsyncAtlas)
        self.emulator = emulator
        self.sleeps: List[float] = []

    def make(self, **kwargs: Any) -> Any:
        control = self.emulator.atlas
        kwargs.setdefault("client_id", control.client_id)
        kwargs.setdefault("client_secret", control.client_secret)
        kwargs.setdefault("management_url", control.management_url)
        kwargs.setdefault("token_url", control.token_url)
        kwargs.setdefault("region", control.regions()[0])
        kwargs.setdefault("timeout", 10.0)
        clock = FakeClock()

        def sleep(seconds: float) -> None:
            # The wait costs no real time; simulated time passes on both sides as if it
            # had, so deadlines (the client's) and lifecycles (the emulator's) agree.
            self.sleeps.append(seconds)
            clock.advance(seconds)
            self.emulator.advance(seconds)

        client = self._build(sleep=sleep, **kwargs)
        client._pipeline.clock = clock
        return client


APIS = ("platform", "atlas")
"""The APIs whose clients the emulator tests build."""


def emulator_clients(api: str, kind: str, emulator: EmulatorHandle) -> Any:
    """The factory of clients of ``api`` (``"platform"``: :class:`Clients`, ``"atlas"``:
    :class:`AtlasClients`) of ``kind`` (one of :data:`EMULATOR_KINDS`) bound to
    ``emulator``. The ``clients``-style fixtures of every test folder are built on this
    (through ``emulator_clients`` in ``tests/conftest.py``)."""
    if api == "platform":
        return Clients(kind, emulator)
    if api == "atlas":
        return AtlasClients(kind, emulator)
    raise ValueError(f"api must be one of {APIS}, not {api!r}")


def _strip_idempotency_key(request: httpx.Request) -> None:
    """Makes the emulator behave like a server that ignores the header."""
    request.headers.pop("idempotency-key", None)


def journal_entries(
    emulator: EmulatorHandle, path: str, count: int = 1, method: Optional[str] = None
) -> List[Dict[str, Any]]:
    """The journal's entries for ``path`` (and ``method``, if given) once there are at
    least ``count``. A request the client gave up on is journalled when the emulator
    finally answers it: wait for that event, not for a duration (30 s is a bound on a
    loaded machine, not a timing claim)."""
    deadline = time.monotonic() + 30
    while True:
        found = [
            e for e in emulator.journal()
            if e["path"] == path and (method is None or e["method"] == method)
        ]  # fmt: skip
        if len(found) >= count:
            return found
        assert time.monotonic() < deadline, f"{method or ''} {path} never completed".strip()
        time.sleep(0.02)


def refuse_connections_beyond_loopback(monkeypatch: Any, record: List[Any]) -> None:
    """Make every socket connection beyond loopback in this process fail at once, as in
    a loopback-only network namespace ("Network is unreachable"), and append its address
    to ``record``: a test of a refusal "at once" asserts ``record`` stayed empty, which
    holds however loaded the machine is (a bound on the seconds the call took did not),
    and no packet leaves the machine whatever the code under test does."""
    import errno
    import ipaddress
    import os
    import socket

    def beyond_loopback(address: Any) -> bool:
        if not isinstance(address, tuple):  # a Unix socket's path
            return False
        try:
            return not ipaddress.ip_address(address[0].split("%")[0]).is_loopback
        except ValueError:  # a name: only localhost stays here
            return bool(address[0] != "localhost")

    def refused(connect: Callable[..., Any]) -> Callable[..., Any]:
        def attempt(self: socket.socket, address: Any) -> Any:
            if beyond_loopback(address):
                record.append(address)
                raise OSError(errno.ENETUNREACH, os.strerror(errno.ENETUNREACH))
            return connect(self, address)

        return attempt

    monkeypatch.setattr(socket.socket, "connect", refused(socket.socket.connect))
    monkeypatch.setattr(socket.socket, "connect_ex", refused(socket.socket.connect_ex))
