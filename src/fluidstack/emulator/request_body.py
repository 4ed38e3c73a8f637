"""Reading one request's body for the emulator's middleware: within a byte limit, never
buffered past it, with a client that goes away told apart from one that sent nothing;
and handing a body already read on to the next app.

The answers the middleware gives when a body is refused (too large, not Unicode) live
here too, so every path that reads a body refuses it in the same words.
"""

from __future__ import annotations

from typing import List, Optional

from fluidstack.emulator.responses import Message, Receive
from fluidstack.emulator.settings import MAX_BODY_BYTES

__all__ = [
    "BODY_METHODS",
    "NOT_UNICODE",
    "TOO_LARGE",
    "ClientGone",
    "declared_length",
    "read_body",
    "replaying",
]

BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})
"""The methods whose body is checked for its ``Content-Type``."""
TOO_LARGE = {"message": "Request body larger than 1 MiB"}
NOT_UNICODE = {
    "message": "The body is not valid Unicode: a string holds a lone surrogate such as \\ud800"
}


class ClientGone(Exception):
    """The client disconnected before sending its whole body: nothing is performed."""


async def read_body(
    receive: Receive, limit: int = MAX_BODY_BYTES, first: Optional[Message] = None
) -> Optional[bytes]:
    """The whole request body, or ``None`` past ``limit`` bytes (never buffered beyond
    it); ``first``: its first message, already received. Raises :class:`ClientGone`
    when the client went away."""
    chunks: List[bytes] = []
    size = 0
    while True:
        message, first = (first, None) if first is not None else (await receive(), None)
        if message["type"] != "http.request":
            raise ClientGone()
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)


def replaying(body: bytes, receive: Receive) -> Receive:
    """A ``receive`` that yields ``body`` (already read) first, then defers to ``receive``."""
    replayed = False

    async def replay() -> Message:
        nonlocal replayed
        if not replayed:
            replayed = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay


def declared_length(value: Optional[bytes]) -> int:
    """The ``Content-Length`` header's value as a number (0 when absent or not one: the
    body's real size is then checked as it is read)."""
    if value is None:
        return 0
    try:
        return int(value)
    except ValueError:
        return 0
