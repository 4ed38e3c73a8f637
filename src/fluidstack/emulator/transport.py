"""The emulator's transport proxy: one ``write`` per HTTP answer."""

from __future__ import annotations

import asyncio
from typing import Any, Optional

__all__ = ["CoalescingTransport"]


class CoalescingTransport:
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
