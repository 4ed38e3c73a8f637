"""Async throughput against a hello-world HTTP server: the client's own overhead.

The emulator costs ~0.3 ms a request, which hides what a client spends itself. This bench
puts every client in front of a tiny raw-asyncio HTTP/1.1 server (its own process, on
loopback) answering ``{"status":"ok"}`` to everything, and drives N calls with K in
flight (one shared counter, as ``bench/run.py`` does) through:

- ``aiohttp``: a bare ``aiohttp.ClientSession`` GET + ``json.loads`` (the floor of
  ``AioHttpClient``);
- ``httpx``: a bare ``httpx.AsyncClient`` GET + ``json.loads`` (the floor of the default
  client);
- ``ours``: ``AsyncFluidStack(...).healthcheck()`` on the default httpx client;
- ``ours-aiohttp``: the same on ``AioHttpClient()``.

Each implementation is a separate process per round (``--impl``), rounds alternate and
rotate, and the table gives medians and same-run ratios, of the calls per second and of
the client's CPU time per call (user + system of its process during the measured calls:
on a shared machine, steadier than the wall time, which also counts waits for a core).
``--other-src DIR`` adds ``main-aiohttp`` / ``main``: the same as ``ours-aiohttp`` /
``ours`` with another copy of ``src/`` (``git archive main src``) first on the path::

    python bench/async_hello.py                    # 5 rounds, 3,000 calls, 64 in flight
    python bench/async_hello.py --impls aiohttp,ours-aiohttp --other-src /tmp/main/src
    python bench/async_hello.py --python .bench/lean-venv/bin/python --impls httpx,ours
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path

BODY = b'{"status":"ok"}'
RESPONSE = (
    b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: "
    + str(len(BODY)).encode()
    + b"\r\n\r\n"
    + BODY
)


class _Hello(asyncio.Protocol):
    """Answers each request (headers only; clients here send no bodies on GET)."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport
        self.buf = b""

    def data_received(self, data: bytes) -> None:
        self.buf += data
        while b"\r\n\r\n" in self.buf:
            _, self.buf = self.buf.split(b"\r\n\r\n", 1)
            self.transport.write(RESPONSE)  # type: ignore[attr-defined]


def serve(port_file: str) -> None:
    async def main() -> None:
        loop = asyncio.get_running_loop()
        server = await loop.create_server(_Hello, "127.0.0.1", 0, backlog=1024)
        port = server.sockets[0].getsockname()[1]
        Path(port_file).write_text(str(port))  # noqa: ASYNC240 - once, before serving
        await server.serve_forever()

    asyncio.run(main())


async def _drive(call, total: int, inflight: int) -> tuple[float, float]:
    """Calls per second, and the process's CPU seconds per call."""
    left = [total]

    async def worker() -> None:
        while left[0] > 0:
            left[0] -= 1
            await call()

    started, cpu = time.perf_counter(), time.process_time()
    await asyncio.gather(*(worker() for _ in range(inflight)))
    return total / (time.perf_counter() - started), (time.process_time() - cpu) / total


async def run_impl(impl: str, url: str, total: int, inflight: int) -> tuple[float, float]:
    if impl == "aiohttp":
        import aiohttp

        async with aiohttp.ClientSession() as session:

            async def call() -> None:
                async with session.get(url + "/healthcheck") as r:
                    json.loads(await r.read())

            await _drive(call, inflight * 4, inflight)
            return await _drive(call, total, inflight)
    if impl == "httpx":
        import httpx

        async with httpx.AsyncClient() as client:

            async def call() -> None:
                json.loads((await client.get(url + "/healthcheck")).content)

            await _drive(call, inflight * 4, inflight)
            return await _drive(call, total, inflight)
    import fluidstack

    http = fluidstack.AioHttpClient() if impl == "ours-aiohttp" else None
    async with fluidstack.AsyncFluidStack(api_key="k", base_url=url, http_client=http) as ours:

        async def call() -> None:
            await ours.healthcheck()

        await _drive(call, inflight * 4, inflight)
        return await _drive(call, total, inflight)


_OTHER = {"ours": "main", "ours-aiohttp": "main-aiohttp"}
"""Each of ours, measured again with ``--other-src`` on the path, under this name."""


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--total", type=int, default=3000)
    parser.add_argument("--inflight", type=int, default=64)
    parser.add_argument("--impls", default="aiohttp,ours-aiohttp,httpx,ours")
    parser.add_argument("--python", default=sys.executable, help="interpreter for the clients")
    parser.add_argument("--other-src", help="also measure ours with this copy of src/ (main)")
    parser.add_argument("--serve", help=argparse.SUPPRESS)
    parser.add_argument("--impl", help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(args.serve)
        return
    if args.impl:
        print(json.dumps(asyncio.run(run_impl(args.impl, args.url, args.total, args.inflight))))
        return
    port_file = Path(f"/tmp/async-hello-{os.getpid()}.port")
    server = subprocess.Popen([sys.executable, __file__, "--serve", str(port_file)])
    try:
        while not port_file.exists() or not port_file.read_text():
            time.sleep(0.05)
        url = f"http://127.0.0.1:{port_file.read_text()}"
        socket.create_connection(("127.0.0.1", int(port_file.read_text()))).close()
        impls = args.impls.split(",")
        if args.other_src:
            impls += [_OTHER[i] for i in impls if i in _OTHER]
        rates: dict[str, list[float]] = {impl: [] for impl in impls}
        cpus: dict[str, list[float]] = {impl: [] for impl in impls}
        for r in range(args.rounds):
            order = impls[r % len(impls) :] + impls[: r % len(impls)]
            for impl in order:
                env = {**os.environ}
                run_as = impl
                if impl in _OTHER.values():
                    env["PYTHONPATH"] = os.path.abspath(args.other_src)
                    run_as = {v: k for k, v in _OTHER.items()}[impl]
                out = subprocess.run(
                    [
                        args.python,
                        __file__,
                        "--impl",
                        run_as,
                        "--url",
                        url,
                        "--total",
                        str(args.total),
                        "--inflight",
                        str(args.inflight),
                    ],
                    check=True,
                    capture_output=True,
                    text=True,
                    env=env,
                )
                rate, cpu = json.loads(out.stdout.strip().splitlines()[-1])
                rates[impl].append(rate)
                cpus[impl].append(cpu)
                print(
                    f"round {r + 1} {impl}: {rate:,.0f} req/s, {cpu * 1e6:.0f} us CPU a call",
                    file=sys.stderr,
                )
        med = {impl: statistics.median(v) for impl, v in rates.items()}
        cpu_med = {impl: statistics.median(v) for impl, v in cpus.items()}
        print(
            f"| client | req/s (median of {args.rounds}) | ratio | "
            "client CPU a call | floor's CPU / ours |"
        )
        print("|---|---|---|---|---|")
        floors = {
            "ours": "httpx",
            "ours-aiohttp": "aiohttp",
            "main": "httpx",
            "main-aiohttp": "aiohttp",
        }
        for impl in impls:
            floor = floors.get(impl)
            ratio = cpu_ratio = "floor"
            if floor in med:
                ratio = f"{med[impl] / med[floor]:.2f}x {floor}"
                cpu_ratio = f"{cpu_med[floor] / cpu_med[impl]:.2f}x"
            print(
                f"| {impl} | {med[impl]:,.0f} | {ratio} | "
                f"{cpu_med[impl] * 1e6:.0f} us | {cpu_ratio} |"
            )
    finally:
        server.terminate()
        server.wait()
        port_file.unlink(missing_ok=True)


if __name__ == "__main__":
    main()
