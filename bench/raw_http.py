"""One keep-alive HTTP/1.1 connection over a plain socket, for the benchmarks that time
the server itself (the emulator, or the FastAPI floor) with no client library in the way.

Standard library only; ``bench/harness.py`` re-exports ``RawConnection``.
"""

from __future__ import annotations

import socket
import time
from typing import Dict, List, Tuple
from urllib.parse import urlsplit


class _ClosedIdle(Exception):
    pass


class RawConnection:
    """One keep-alive HTTP/1.1 connection over a plain socket: no client library in
    the way, so what is timed is the server (and loopback)."""

    def __init__(self, base_url: str, headers: Dict[str, str]) -> None:
        parts = urlsplit(base_url)
        self.host, self.port = parts.hostname or "127.0.0.1", parts.port or 80
        self.head = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
        self._connect()

    def _connect(self) -> None:
        self.sock = socket.create_connection((self.host, self.port))
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buf = b""

    def request(self, method: str, path: str, body: bytes = b"") -> Tuple[int, bytes]:
        try:
            return self._request(method, path, body)
        except _ClosedIdle:
            # The server closed the connection while it sat idle (keep-alive timeout,
            # during another server's rounds): nothing was received, open a new one.
            self.sock.close()
            self._connect()
            return self._request(method, path, body)

    def _request(self, method: str, path: str, body: bytes = b"") -> Tuple[int, bytes]:
        extra = f"content-type: application/json\r\ncontent-length: {len(body)}\r\n" if body else ""
        self.sock.sendall(
            (
                f"{method} {path} HTTP/1.1\r\nHost: {self.host}:{self.port}\r\n{self.head}"
                f"accept: application/json\r\n{extra}\r\n"
            ).encode("latin-1")
            + body
        )
        try:
            while b"\r\n\r\n" not in self.buf:
                self._fill()
        except (ConnectionError, OSError) as exc:
            if not self.buf:
                raise _ClosedIdle() from exc
            raise
        head, _, rest = self.buf.partition(b"\r\n\r\n")
        lines = head.split(b"\r\n")
        status = int(lines[0].split()[1])
        length = 0
        for line in lines[1:]:
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value)
        self.buf = rest
        while len(self.buf) < length:
            self._fill()
        content, self.buf = self.buf[:length], self.buf[length:]
        return status, content

    def _fill(self) -> None:
        chunk = self.sock.recv(1 << 20)
        if not chunk:
            raise ConnectionError("the server closed the connection")
        self.buf += chunk

    def timed(self, method: str, path: str, body: bytes, n: int, ok: int) -> List[float]:
        """``n`` sequential requests; the time of each (raises on an unexpected status)."""
        times = []
        for _ in range(n):
            started = time.perf_counter()
            status, content = self.request(method, path, body)
            times.append(time.perf_counter() - started)
            if status != ok:
                raise RuntimeError(f"{method} {path} answered {status}: {content[:200]!r}")
        return times

    def close(self) -> None:
        self.sock.close()
