"""The connection guard: uvicorn's httptools protocol with a cap on request heads,
timeouts for reading a head and a body, and a connection limit."""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any, Dict, Optional, Type

from fluidstack.emulator.transport import CoalescingTransport

__all__ = ["ConnectionGuard", "guarded_protocol"]

logger = logging.getLogger("fluidstack.emulator")


class ConnectionGuard:
    """What keeps the server answering under hostile connections, shared by every
    connection of one server: the head-size cap, the head-read and body-read timeouts
    and the connection limit. Each condition is logged once (then only counted), so
    that an attack does not fill the disk with log lines."""

    def __init__(
        self,
        header_timeout: float,
        max_connections: int,
        max_head_bytes: int,
        body_timeout: float = 30.0,
    ) -> None:
        self.header_timeout = header_timeout
        self.max_connections = max_connections
        self.max_head_bytes = max_head_bytes
        self.body_timeout = body_timeout
        self.counts: Dict[str, int] = {}
        """How often each condition happened: ``head-too-large``, ``head-timeout``,
        ``body-timeout``, ``evicted`` (an idle connection, or one whose body is still
        arriving, closed to make room) and ``refused`` (a new connection answered
        503)."""

    def note(self, condition: str, message: str) -> None:
        seen = self.counts.get(condition, 0)
        self.counts[condition] = seen + 1
        if not seen:
            logger.warning("%s (logged once; later occurrences are only counted)", message)


_REASONS = {
    408: b"Request Timeout",
    431: b"Request Header Fields Too Large",
    503: b"Service Unavailable",
}


def _closing_answer(status: int, message: str) -> bytes:
    body = json.dumps({"message": message}).encode()
    return (
        b"HTTP/1.1 %d %s\r\ncontent-type: application/json\r\ncontent-length: %d\r\n"
        b"connection: close\r\n\r\n" % (status, _REASONS[status], len(body))
    ) + body


def guarded_protocol(guard: ConnectionGuard) -> Optional[Type[Any]]:
    try:
        from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
    except ImportError:  # httptools missing: uvicorn's h11 protocol instead
        return None

    class GuardedHttpToolsProtocol(HttpToolsProtocol):
        """uvicorn's httptools protocol, plus: one write per answer (see
        :class:`CoalescingTransport`), a cap on the request head counted as it arrives
        (so that a 200 MB header is never buffered), timeouts for reading a head and a
        body, and a connection limit that makes room by closing the connection that has
        waited longest for a request (or, with none waiting, the one whose body has been
        arriving longest). uvicorn has a keep-alive timeout and ``limit_concurrency``
        (checked only once a head has arrived), but none of these."""

        def connection_made(self, transport: asyncio.BaseTransport) -> None:
            assert isinstance(transport, asyncio.Transport)
            loop = asyncio.get_running_loop()
            proxy: Any = CoalescingTransport(transport, loop)
            super().connection_made(proxy)
            self._in_head = True
            """Receiving a request head (or waiting for the first one)."""
            self._message_done = True
            """The last request was received whole: the next bytes start a new one."""
            self._head_bytes = 0
            self._waiting_since = loop.time()
            self._head_timer: Optional[asyncio.TimerHandle] = None
            self._head_deadline: Optional[float] = None
            """When the head being awaited is due (``None``: no head awaited)."""
            self._body_timer: Optional[asyncio.TimerHandle] = None
            self._body_since = 0.0
            """When the body being received began (its head ended)."""
            self._start_head_timer()
            if len(self.connections) > guard.max_connections:
                self._make_room()

        # -- the head ------------------------------------------------------------------

        def _start_head_timer(self) -> None:
            # One timer per connection, re-armed only when it fires: a request moves the
            # deadline stamp, and a timer that fires early sleeps on to the new one. A
            # call_later and a cancel per request cost more than the rest of the guard.
            self._head_deadline = self.loop.time() + guard.header_timeout
            if self._head_timer is None:
                self._head_timer = self.loop.call_later(guard.header_timeout, self._head_due)

        def _stop_head_timer(self) -> None:
            # The timer stays armed; with no deadline it lapses when it fires.
            self._head_deadline = None

        def _cancel_head_timer(self) -> None:
            self._head_deadline = None
            if self._head_timer is not None:
                self._head_timer.cancel()
                self._head_timer = None

        def _head_due(self) -> None:
            self._head_timer = None
            deadline = self._head_deadline
            if deadline is None:  # no head awaited now: the next one arms a timer again
                return
            left = deadline - self.loop.time()
            if left > 0:  # a later request moved the deadline
                self._head_timer = self.loop.call_later(left, self._head_due)
                return
            self._head_timed_out()

        def _head_timed_out(self) -> None:
            self._head_deadline = None
            if self._in_head and not self.transport.is_closing():
                guard.note(
                    "head-timeout",
                    f"a client took over {guard.header_timeout:g} s to send a request's "
                    "headers: connection closed (408)",
                )
                if self._head_bytes:
                    self._close(408, "Request headers not received in time")
                else:  # nothing was said: nothing to answer
                    self._cancel_head_timer()
                    self.transport.close()

        def data_received(self, data: bytes) -> None:
            if self._in_head or self._message_done:
                self._head_bytes += len(data)
            super().data_received(data)
            if self._in_head:
                if self._head_bytes <= guard.max_head_bytes or self.transport.is_closing():
                    return
                guard.note(
                    "head-too-large",
                    f"a request head over {guard.max_head_bytes // 1024} KiB was refused (431)",
                )
                self._close(431, f"Request headers larger than {guard.max_head_bytes // 1024} KiB")
            elif (
                not self._message_done
                and self._body_timer is None
                and not self.transport.is_closing()
            ):
                # Armed only for a body that did not arrive with its head: most requests
                # (no body, or a small one in the same segment) never need a timer.
                self._body_since = self.loop.time()
                self._body_timer = self.loop.call_later(guard.body_timeout, self._body_timed_out)

        def _receiving_body(self) -> bool:
            """The head of a request has arrived, the end of its body not yet."""
            return not self._in_head and not self._message_done

        def _stop_body_timer(self) -> None:
            if self._body_timer is not None:
                self._body_timer.cancel()
                self._body_timer = None

        def _body_timed_out(self) -> None:
            self._body_timer = None
            if self._receiving_body() and not self.transport.is_closing():
                guard.note(
                    "body-timeout",
                    f"a client took over {guard.body_timeout:g} s to send a request's body: "
                    "connection closed (408)",
                )
                self._abandon_body()

        def _abandon_body(self) -> None:
            """Close a connection whose body is still arriving: 408 if nothing was
            answered yet (the app sees a disconnect and performs nothing)."""
            if self.cycle is not None and self.cycle.response_started:
                self._cancel_head_timer()
                self._stop_body_timer()
                self.transport.close()
            else:
                self._close(408, "Request body not received in time")

        def on_message_begin(self) -> None:
            super().on_message_begin()
            self._in_head = True
            self._message_done = False
            self._start_head_timer()

        def on_headers_complete(self) -> None:
            self._in_head = False
            self._head_bytes = 0
            self._stop_head_timer()
            super().on_headers_complete()

        def on_message_complete(self) -> None:
            super().on_message_complete()
            self._message_done = True
            self._head_bytes = 0
            self._stop_body_timer()

        def on_response_complete(self) -> None:
            super().on_response_complete()
            self._waiting_since = self.loop.time()

        def connection_lost(self, exc: Optional[Exception]) -> None:
            self._cancel_head_timer()
            self._stop_body_timer()
            super().connection_lost(exc)

        # -- the connection limit ---------------------------------------------------------

        def _idle(self) -> bool:
            """No request being served: waiting for or receiving the next head, or
            sending a body nobody reads any more (the answer has gone)."""
            return self.cycle is None or self.cycle.response_complete

        def _make_room(self) -> None:
            others = [
                c
                for c in self.connections
                if isinstance(c, GuardedHttpToolsProtocol)
                and c is not self
                and not c.transport.is_closing()
            ]
            waiting = [c for c in others if c._idle()]
            # Then a request whose body is still arriving: a thousand bodies sent a byte
            # a second must not lock every other client out (issue 23, item 3).
            uploading = [] if waiting else [c for c in others if c._receiving_body()]
            if not waiting and not uploading:
                guard.note(
                    "refused", f"{guard.max_connections} connections are busy: new ones get 503"
                )
                self._close(503, "Too many connections; try again")
                return
            guard.note(
                "evicted",
                f"{guard.max_connections} connections open: closing the one that has waited "
                "longest for a request (or sent a body longest) to make room",
            )
            if not waiting:
                min(uploading, key=lambda c: c._body_since)._abandon_body()
                return
            victim = min(waiting, key=lambda c: c._waiting_since)
            if victim._in_head and victim._head_bytes:
                victim._close(408, "Request headers not received in time")
            else:
                victim.transport.close()

        def _close(self, status: int, message: str) -> None:
            self._cancel_head_timer()
            self._stop_body_timer()
            self._in_head = False
            self.transport.write(_closing_answer(status, message))
            self.transport.close()

    return GuardedHttpToolsProtocol
