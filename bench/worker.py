"""Measurement worker: runs inside the interpreter of the implementation it measures.

``bench/run.py`` starts one long-lived worker per implementation and drives it over
stdin/stdout, one JSON object per line, so that rounds of ours, the floor and the vendor
SDK can be interleaved without paying a process start per round:

- ``ours``: this project's SDK (``fluidstack``), in the project's interpreter;
- ``floor``: raw ``httpx`` plus ``json.loads``, the least any Python client on ``httpx``
  can do, in the project's interpreter;
- ``vendor``: the vendor SDK ``fluidstack==0.0.8`` (imports as ``FluidStack``), in the
  throw-away virtual environment ``.bench/vendor-venv``.

``atlas-ours`` and ``atlas-floor`` do the same for Atlas's ``instances.list()`` (set up
with the ``atlas_setup`` command). The same file also has one-shot modes for
measurements that need a fresh process (``python worker.py parse-mem IMPL PATH``,
``hold-rss IMPL PATH``; ``list-calls IMPL BASE_URL API_KEY N`` for callgrind) and
for the emulator's own latency (``python worker.py emulator-latency BASE_URL API_KEY
PATH N``, or ``raw-latency BASE_URL HEADERS PATH N`` with any header lines, e.g. an
Atlas bearer token).

Only the standard library is imported at module level: the vendor interpreter has no
``fluidstack`` and ours has no ``FluidStack``. Works on Python 3.9+.
"""

from __future__ import annotations

import asyncio
import gc
import json
import socket
import sys
import time
import tracemalloc
from typing import Any, Awaitable, Callable, Dict, List
from urllib.parse import urlsplit

perf = time.perf_counter


class Impl:
    """One implementation's way of doing each measured operation."""

    name = "?"

    def __init__(self, base_url: str, api_key: str) -> None:
        self.base_url = base_url.rstrip("/")
        self.api_key = api_key

    def list(self) -> Any:
        raise NotImplementedError

    def get(self, instance_id: str) -> Any:
        raise NotImplementedError

    def async_client(self) -> Any:
        raise NotImplementedError

    def async_get(self, client: Any) -> Callable[[str], Awaitable[Any]]:
        raise NotImplementedError

    async def async_close(self, client: Any) -> None:
        raise NotImplementedError

    def parser(self) -> Callable[[bytes], Any]:
        raise NotImplementedError


class Floor(Impl):
    """Raw httpx and json.loads: no models, no retries, no error mapping."""

    name = "floor"

    def __init__(self, base_url: str, api_key: str) -> None:
        super().__init__(base_url, api_key)
        import httpx

        self.httpx = httpx
        self.headers = {"api-key": api_key}
        self.http = httpx.Client(headers=self.headers)

    def _json(self, response: Any) -> Any:
        if response.status_code >= 300:
            raise RuntimeError(f"HTTP {response.status_code}: {response.text[:200]}")
        return json.loads(response.content)

    def list(self) -> Any:
        return self._json(self.http.get(self.base_url + "/instances"))

    def get(self, instance_id: str) -> Any:
        return self._json(self.http.get(self.base_url + "/instances/" + instance_id))

    def async_client(self) -> Any:
        return self.httpx.AsyncClient(headers=self.headers)

    def async_get(self, client: Any) -> Callable[[str], Awaitable[Any]]:
        prefix = self.base_url + "/instances/"

        async def get(instance_id: str) -> Any:
            return self._json(await client.get(prefix + instance_id))

        return get

    async def async_close(self, client: Any) -> None:
        await client.aclose()

    def parser(self) -> Callable[[bytes], Any]:
        return json.loads


class SdkImpl(Impl):
    """An SDK with FluidStack-shaped clients: ``instances.list/get``, sync and async."""

    def __init__(self, base_url: str, api_key: str, sync_cls: Any, async_cls: Any) -> None:
        super().__init__(base_url, api_key)
        self.async_cls = async_cls
        self.client = sync_cls(api_key=api_key, base_url=self.base_url)

    def list(self) -> Any:
        return self.client.instances.list()

    def get(self, instance_id: str) -> Any:
        return self.client.instances.get(instance_id)

    def async_client(self) -> Any:
        return self.async_cls(api_key=self.api_key, base_url=self.base_url)

    def async_get(self, client: Any) -> Callable[[str], Awaitable[Any]]:
        return client.instances.get  # type: ignore[no-any-return]


class Ours(SdkImpl):
    """This project's SDK, with its defaults (retries on, timeouts on)."""

    name = "ours"

    def __init__(self, base_url: str, api_key: str) -> None:
        from fluidstack import AsyncFluidStack, FluidStack

        super().__init__(base_url, api_key, FluidStack, AsyncFluidStack)

    async def async_close(self, client: Any) -> None:
        await client.aclose()

    def parser(self) -> Callable[[bytes], Any]:
        from fluidstack.platform.endpoints import INSTANCES as LIST

        return LIST.parse


class OursOnAiohttp(Ours):
    """This project's async client on ``fluidstack.AioHttpClient`` (the aiohttp extra)."""

    name = "ours-aiohttp"

    def async_client(self) -> Any:
        from fluidstack import AioHttpClient

        return self.async_cls(
            api_key=self.api_key, base_url=self.base_url, http_client=AioHttpClient()
        )


class Vendor(SdkImpl):
    """The vendor SDK 0.0.8 (Fern-generated; pydantic.v1 models, parse_obj_as)."""

    name = "vendor"

    def __init__(self, base_url: str, api_key: str) -> None:
        from FluidStack.client import AsyncFluidStack, FluidStack

        super().__init__(base_url, api_key, FluidStack, AsyncFluidStack)

    async def async_close(self, client: Any) -> None:
        # The vendor client has no close(); its httpx.AsyncClient is reachable here.
        await client._client_wrapper.httpx_client.httpx_client.aclose()

    def parser(self) -> Callable[[bytes], Any]:
        # Exactly what its instances.list() does with a 2xx body: response.json(),
        # then pydantic.v1's parse_obj_as into List[ListInstanceResponse].
        import typing

        from FluidStack.core.pydantic_utilities import pydantic_v1
        from FluidStack.types.list_instance_response import ListInstanceResponse

        target = typing.List[ListInstanceResponse]

        def parse(data: bytes) -> Any:
            return pydantic_v1.parse_obj_as(target, json.loads(data))

        return parse


IMPLS = {"floor": Floor, "ours": Ours, "ours-aiohttp": OursOnAiohttp, "vendor": Vendor}

# Atlas: the emulator's development client, its first region, one project.
ATLAS_CLIENT = ("fs-emulator-client", "fs-emulator-secret")
ATLAS_REGION = "eu-north-1"


class AtlasOurs:
    """This project's Atlas client, with its defaults; counts every request it sends."""

    name = "atlas-ours"

    def __init__(self, base_url: str, project_id: str) -> None:
        from fluidstack.atlas import Atlas
        from fluidstack.core import EventHooks

        self.sent: List[str] = []
        self.client = Atlas(
            client_id=ATLAS_CLIENT[0],
            client_secret=ATLAS_CLIENT[1],
            management_url=base_url,
            region=ATLAS_REGION,
            project_id=project_id,
            event_hooks=EventHooks(on_request=[lambda event: self.sent.append(event.operation)]),
        )

    def list(self) -> Any:
        return self.client.instances.list()


class AtlasFloor:
    """Raw httpx with the same bearer token and project header, and json.loads."""

    name = "atlas-floor"

    def __init__(self, base_url: str, project_id: str) -> None:
        import httpx

        answer = httpx.post(
            base_url + "/oauth/token",
            data={
                "grant_type": "client_credentials",
                "client_id": ATLAS_CLIENT[0],
                "client_secret": ATLAS_CLIENT[1],
                "audience": "https://api.fluidstack.io",
            },
        )
        answer.raise_for_status()
        token = answer.json()["access_token"]
        self.sent: List[str] = []
        self.url = f"{base_url}/regions/{ATLAS_REGION}/api/v1alpha1/instances"
        self.http = httpx.Client(
            headers={"authorization": f"Bearer {token}", "x-project-id": project_id}
        )

    def list(self) -> Any:
        response = self.http.get(self.url)
        if response.status_code >= 300:
            raise RuntimeError(f"HTTP {response.status_code}: {response.text[:200]}")
        self.sent.append("instances.list")
        return json.loads(response.content)


ATLAS_IMPLS = {"atlas-ours": AtlasOurs, "atlas-floor": AtlasFloor}


def _parser_only(name: str) -> Callable[[bytes], Any]:
    impl = IMPLS[name].__new__(IMPLS[name])
    return impl.parser()


# -- measurements ------------------------------------------------------------------


def time_calls(fn: Callable[[], Any], n: int) -> List[float]:
    times = []
    for _ in range(n):
        started = perf()
        fn()
        times.append(perf() - started)
    return times


def time_gets(impl: Impl, ids: List[str], n: int) -> List[float]:
    times = []
    for i in range(n):
        instance_id = ids[i % len(ids)]
        started = perf()
        impl.get(instance_id)
        times.append(perf() - started)
    return times


async def _async_round(impl: Impl, ids: List[str], total: int, concurrency: int) -> float:
    client = impl.async_client()
    get = impl.async_get(client)
    try:
        # Warm up: open the connections and build whatever is built on first use.
        await asyncio.gather(*(get(ids[i % len(ids)]) for i in range(concurrency)))
        calls = iter(range(total))

        async def worker() -> None:
            for i in calls:
                await get(ids[i % len(ids)])

        started = perf()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        return perf() - started
    finally:
        await impl.async_close(client)


def serve(impl_name: str) -> int:
    """The long-lived mode: answer one JSON line per command line."""
    impl: Any = None
    out = sys.stdout
    for line in sys.stdin:
        if not line.strip():
            continue
        cmd = json.loads(line)
        op = cmd["op"]
        try:
            if op == "quit":
                reply: Dict[str, Any] = {"ok": True}
                out.write(json.dumps(reply) + "\n")
                out.flush()
                return 0
            if op == "setup":
                impl = IMPLS[impl_name](cmd["base_url"], cmd["api_key"])
                ids = cmd["ids"]
                # Warm up each path once: adapters, connection, lazy imports.
                for _ in range(3):
                    impl.list()
                    impl.get(ids[0])
                reply = {"ok": True, "python": sys.version.split()[0]}
            elif op == "atlas_setup":
                impl = ATLAS_IMPLS[impl_name](cmd["base_url"], cmd["project_id"])
                for _ in range(3):  # token, region discovery, adapters, connection
                    impl.list()
                reply = {"ok": True, "python": sys.version.split()[0]}
            elif op == "atlas_requests":
                # Requests sent during `n` calls, once the token is cached.
                assert impl is not None
                before = len(impl.sent)
                for _ in range(cmd["n"]):
                    impl.list()
                reply = {"ok": True, "requests": impl.sent[before:], "calls": cmd["n"]}
            elif op == "list":
                assert impl is not None
                count = len(impl.list())
                if count != cmd["expect"]:
                    raise RuntimeError(f"listed {count} instances, expected {cmd['expect']}")
                reply = {"ok": True, "times": time_calls(impl.list, cmd["n"])}
            elif op == "get":
                assert impl is not None
                reply = {"ok": True, "times": time_gets(impl, cmd["ids"], cmd["n"])}
            elif op == "async_get":
                assert impl is not None
                seconds = asyncio.run(
                    _async_round(impl, cmd["ids"], cmd["total"], cmd["concurrency"])
                )
                reply = {"ok": True, "seconds": seconds, "total": cmd["total"]}
            elif op == "parse":
                parse = _parser_only(impl_name)
                with open(cmd["path"], "rb") as f:
                    data = f.read()
                count = len(parse(data))  # warm-up (builds validators) and check
                if count != cmd["expect"]:
                    raise RuntimeError(f"parsed {count} instances, expected {cmd['expect']}")
                times = []
                for _ in range(cmd["n"]):
                    gc.collect()
                    started = perf()
                    result = parse(data)
                    times.append(perf() - started)
                    del result
                reply = {"ok": True, "times": times}
            else:
                raise ValueError(f"unknown op {op!r}")
        except Exception as exc:
            reply = {"ok": False, "error": f"{type(exc).__name__}: {exc}"[:500]}
        out.write(json.dumps(reply) + "\n")
        out.flush()
    return 0


def parse_mem(impl_name: str, path: str) -> int:
    """Peak traced memory of one parse, in a fresh process (the bytes already read)."""
    parse = _parser_only(impl_name)
    with open(path, "rb") as f:
        data = f.read()
    parse(data[: data.index(b"},{") + 1] + b"]")  # build validators outside the trace
    gc.collect()
    tracemalloc.start()
    started = perf()
    result = parse(data)
    seconds = perf() - started
    current, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    print(json.dumps({"peak": peak, "retained": current, "count": len(result), "s": seconds}))
    return 0


def _settled_rss() -> int:
    """Resident memory once the collector ran and free heap pages went back (Linux)."""
    gc.collect()
    try:
        import ctypes

        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise RuntimeError("no VmRSS in /proc/self/status")


def hold_rss(impl_name: str, path: str) -> int:
    """Resident memory that holding one parsed listing takes, in a fresh process: RSS
    with the result held minus RSS before (the bytes read, the validators built)."""
    parse = _parser_only(impl_name)
    with open(path, "rb") as f:
        data = f.read()
    parse(data[: data.index(b"},{") + 1] + b"]")
    before = _settled_rss()
    held = parse(data)
    after = _settled_rss()
    print(json.dumps({"rss": after - before, "count": len(held)}))
    return 0


def list_calls(impl_name: str, base_url: str, api_key: str, n: int) -> int:
    """Warm up, then ``n`` sequential ``instances.list()`` calls: run under callgrind
    twice (``n`` = 0 and ``n`` = N), the difference is what N calls cost in CPU
    instructions, whatever else the machine is doing."""
    impl = IMPLS[impl_name](base_url, api_key)
    for _ in range(3):
        impl.list()
    for _ in range(n):
        impl.list()
    return 0


def emulator_latency(base_url: str, api_key: str, path: str, n: int) -> int:
    """Sequential keep-alive GETs over a raw socket: the server's time plus loopback."""
    return raw_latency(base_url, f"api-key: {api_key}", path, n)


def raw_latency(base_url: str, credentials: str, path: str, n: int) -> int:
    """Sequential keep-alive GETs with ``credentials`` (header lines, ``\n``-separated)."""
    parts = urlsplit(base_url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    sock = socket.create_connection((host, port))
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    extra = "".join(f"{line.strip()}\r\n" for line in credentials.split("\n") if line.strip())
    request = (
        f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\n{extra}accept: application/json\r\n\r\n"
    ).encode("ascii")
    buf = b""

    def one() -> bytes:
        nonlocal buf
        sock.sendall(request)
        while b"\r\n\r\n" not in buf:
            chunk = sock.recv(65536)
            if not chunk:
                raise ConnectionError("the emulator closed the connection")
            buf += chunk
        head, _, rest = buf.partition(b"\r\n\r\n")
        length = 0
        for line in head.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value)
        while len(rest) < length:
            chunk = sock.recv(65536)
            if not chunk:
                raise ConnectionError("the emulator closed the connection")
            rest += chunk
        buf = rest[length:]
        return head.split(b"\r\n", 1)[0]

    status = one()
    if b" 200 " not in status:
        raise RuntimeError(f"GET {path} answered {status!r}")
    for _ in range(min(50, n)):
        one()
    times = []
    started = perf()
    for _ in range(n):
        t0 = perf()
        one()
        times.append(perf() - t0)
    elapsed = perf() - started
    sock.close()
    print(json.dumps({"times": times, "elapsed": elapsed}))
    return 0


def main(argv: List[str]) -> int:
    if len(argv) == 2 and argv[0] == "serve":
        return serve(argv[1])
    if len(argv) == 3 and argv[0] == "parse-mem":
        return parse_mem(argv[1], argv[2])
    if len(argv) == 5 and argv[0] == "list-calls":
        return list_calls(argv[1], argv[2], argv[3], int(argv[4]))
    if len(argv) == 3 and argv[0] == "hold-rss":
        return hold_rss(argv[1], argv[2])
    if len(argv) == 5 and argv[0] == "emulator-latency":
        return emulator_latency(argv[1], argv[2], argv[3], int(argv[4]))
    if len(argv) == 5 and argv[0] == "raw-latency":
        return raw_latency(argv[1], argv[2], argv[3], int(argv[4]))
    print(
        "usage: worker.py serve IMPL | parse-mem IMPL PATH | hold-rss IMPL PATH | "
        "list-calls IMPL BASE_URL API_KEY N | "
        "emulator-latency BASE_URL API_KEY PATH N | raw-latency BASE_URL HEADERS PATH N",
        file=sys.stderr,
    )
    return 2


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
