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
rotate, and the table gives medians and same-run ratios::

    python bench/async_hello.py                    # 5 rounds, 3,000 calls, 64 in flight
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


async def _drive(call, total: int, inflight: int) -> float:
    left = [total]

    async def worker() -> None:
        while left[0] > 0:
            left[0] -= 1
            await call()

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(inflight)))
    return total / (time.perf_counter() - started)


async def run_impl(impl: str, url: str, total: int, inflight: int) -> float:
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


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--total", type=int, default=3000)
    parser.add_argument("--inflight", type=int, default=64)
    parser.add_argument("--impls", default="aiohttp,ours-aiohttp,httpx,ours")
    parser.add_argument("--python", default=sys.executable, help="interpreter for the clients")
    parser.add_argument("--serve", help=argparse.SUPPRESS)
    parser.add_argument("--impl", help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(args.serve)
        return
    if args.impl:
        rate = asyncio.run(run_impl(args.impl, args.url, args.total, args.inflight))
        print(json.dumps(rate))
        return
    port_file = Path(f"/tmp/async-hello-{os.getpid()}.port")
    server = subprocess.Popen([sys.executable, __file__, "--serve", str(port_file)])
    try:
        while not port_file.exists() or not port_file.read_text():
            time.sleep(0.05)
        url = f"http://127.0.0.1:{port_file.read_text()}"
        socket.create_connection(("127.0.0.1", int(port_file.read_text()))).close()
        impls = args.impls.split(",")
        rates: dict[str, list[float]] = {impl: [] for impl in impls}
        for r in range(args.rounds):
            order = impls[r % len(impls) :] + impls[: r % len(impls)]
            for impl in order:
                out = subprocess.run(
                    [
                        args.python,
                        __file__,
                        "--impl",
                        impl,
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
                )
                rates[impl].append(json.loads(out.stdout.strip().splitlines()[-1]))
                print(f"round {r + 1} {impl}: {rates[impl][-1]:,.0f} req/s", file=sys.stderr)
        med = {impl: statistics.median(v) for impl, v in rates.items()}
        print(f"| client | req/s (median of {args.rounds}) | ratio |")
        print("|---|---|---|")
        floors = {"ours": "httpx", "ours-aiohttp": "aiohttp"}
        for impl in impls:
            floor = floors.get(impl)
            ratio = f"{med[impl] / med[floor]:.2f}x {floor}" if floor in med else "floor"
            print(f"| {impl} | {med[impl]:,.0f} | {ratio} |")
    finally:
        server.terminate()
        server.wait()
        port_file.unlink(missing_ok=True)


if __name__ == "__main__":
    main()
