"""The floor of the emulator's framework rows: a FastAPI hello-world that answers
``GET /instances`` and ``POST /instances`` with fixed bytes (the emulator's own answers,
captured by ``bench/run.py``), served by uvicorn with the emulator's settings (httptools,
no access log, no lifespan) and its one-write transport (without it, uvicorn writes a
response's head and body apart and the body waits for the client's delayed ACK: ~40 ms
a request). What the emulator does beyond this is its own overhead.

    python bench/floor_app.py GET_BODY_FILE POST_BODY_FILE
"""

from __future__ import annotations

import asyncio
import socket
import sys
from pathlib import Path
from typing import Any

import uvicorn
from fastapi import FastAPI
from starlette.responses import Response
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from fluidstack.emulator.transport import CoalescingTransport


class OneWriteProtocol(HttpToolsProtocol):
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        proxy: Any = CoalescingTransport(transport, asyncio.get_running_loop())
        super().connection_made(proxy)


def main(get_file: str, post_file: str) -> int:
    get_body = Path(get_file).read_bytes()
    post_body = Path(post_file).read_bytes()
    app = FastAPI(docs_url=None, redoc_url=None, openapi_url=None)

    @app.get("/instances")
    async def list_instances() -> Response:
        return Response(get_body, 200, media_type="application/json")

    @app.post("/instances")
    async def create_instance() -> Response:
        return Response(post_body, 202, media_type="application/json")

    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    sock.listen(128)
    port = sock.getsockname()[1]
    config = uvicorn.Config(
        app,
        http=OneWriteProtocol,
        loop="asyncio",
        lifespan="off",
        access_log=False,
        log_level="warning",
        server_header=False,
        timeout_keep_alive=30,  # as the emulator's
    )
    server = uvicorn.Server(config)
    print(f"floor app listening on http://127.0.0.1:{port}", flush=True)
    server.run(sockets=[sock])
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1], sys.argv[2]))
