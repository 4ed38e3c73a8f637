"""How an injected fault (``POST /_emulator/faults``) plays out on the one request it
matched: an error answer, a connection dropped mid-answer, or a delay, each either
instead of performing the request or (``perform: true``) after performing it.

Which request a fault matches is :class:`~fluidstack.emulator.faults.FaultBook`'s job;
the middleware calls :func:`play_fault` only for a request that matched one, so the
usual request never comes here.
"""

from __future__ import annotations

import asyncio
from typing import Any, Awaitable, Callable, List, Tuple

from fluidstack.emulator.faults import FaultRule
from fluidstack.emulator.request_body import TOO_LARGE, ClientGone, read_body, replaying
from fluidstack.emulator.request_plan import RequestPlan
from fluidstack.emulator.responses import Message, Receive, Scope, Send, send_json
from fluidstack.emulator.runtime import Emulator

__all__ = ["ConnectionDropped", "Perform", "drop_connection", "play_fault"]

Perform = Callable[[Scope, Receive, Send, RequestPlan], Awaitable[None]]
"""The middleware's step that serves a request for real (its ``_perform``)."""


class ConnectionDropped(Exception):
    """Raised by a ``drop`` fault after starting a response: the server aborts it."""


async def drop_connection(send: Send) -> None:
    """Start a response, send part of it, then abort the connection."""
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [(b"content-type", b"application/json"), (b"content-length", b"4096")],
        }
    )
    await send({"type": "http.response.body", "body": b'{"id": "', "more_body": True})
    raise ConnectionDropped("connection dropped by an injected fault")


class _Captured:
    """A response recorded instead of sent (for faults with ``perform: true``)."""

    def __init__(self) -> None:
        self.messages: List[Message] = []

    async def send(self, message: Message) -> None:
        self.messages.append(message)

    async def replay(self, send: Send) -> None:
        for message in self.messages:
            await send(message)


def _fault_error(rule: FaultRule) -> Tuple[int, Any, List[Tuple[bytes, bytes]]]:
    """An ``error`` fault's answer: status, JSON body, extra (``Retry-After``) headers."""
    spec = rule.spec
    body = spec.body if spec.body is not None else {"message": "Injected fault"}
    extra: List[Tuple[bytes, bytes]] = []
    if spec.retry_after is not None:
        extra.append((b"retry-after", spec.retry_after.encode("ascii")))
    if spec.retry_after_ms is not None:
        extra.append((b"retry-after-ms", str(spec.retry_after_ms).encode("ascii")))
    return spec.status, body, extra


async def play_fault(
    perform: Perform,
    emulator: Emulator,
    scope: Scope,
    receive: Receive,
    send: Send,
    rule: FaultRule,
    request: RequestPlan,
    generation: int,
) -> None:
    """Serve one request that matched ``rule``; ``perform`` serves it for real, and
    ``generation`` is the emulator's at the request's arrival (a reset meanwhile
    drops a delayed request instead of performing it in the fresh state)."""
    spec = rule.spec
    if not spec.perform:
        if spec.action == "error":
            status, body, extra = _fault_error(rule)
            await send_json(send, status, body, extra)
            return
        if spec.action == "drop":
            await drop_connection(send)
            return
        # The request has arrived, body and all; the server only acts on it later,
        # whether or not the client still waits for the answer (a server cannot
        # tell): the late arrival that makes naive create retries duplicate.
        try:
            early = await read_body(receive)
        except ClientGone:
            return
        if early is None:
            await send_json(send, 413, TOO_LARGE)
            return
        await asyncio.sleep(spec.seconds)
        if generation != emulator.generation:
            # Reset while this request was delayed: performing it now would leak
            # it into the fresh state.
            await drop_connection(send)
            return
        await perform(scope, replaying(early, receive), send, request)
        return
    captured = _Captured()
    await perform(scope, receive, captured.send, request)
    if spec.action == "error":
        status, body, extra = _fault_error(rule)
        await send_json(send, status, body, extra)
    elif spec.action == "drop":
        await drop_connection(send)
    else:
        await asyncio.sleep(spec.seconds)
        await captured.replay(send)
