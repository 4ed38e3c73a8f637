"""What the emulator's middleware decides about one request before serving it: where it
goes (the platform app or Atlas's), whether it is already refused (a :data:`Denial`),
and the few headers serving it needs. Filled once per request, read by the middleware's
serving step and by :mod:`~fluidstack.emulator.fault_play`.
"""

from __future__ import annotations

from typing import Dict, List, Optional, Tuple

from fluidstack.emulator.responses import ASGIApp

__all__ = ["Denial", "RequestPlan", "platform_denial"]

Denial = Tuple[int, Dict[str, str], List[Tuple[bytes, bytes]]]
"""A refusal decided before the body is read: status, JSON body, extra headers."""


class RequestPlan:
    """What the middleware decided about one request before serving it."""

    __slots__ = (
        "atlas",
        "body",
        "content_length",
        "content_type",
        "denial",
        "downstream",
        "idempotency_key",
        "path",
    )

    def __init__(
        self,
        downstream: ASGIApp,
        denial: Optional[Denial],
        atlas: bool,
        path: str,
        content_type: Optional[str],
        content_length: Optional[bytes],
        idempotency_key: Optional[str],
    ) -> None:
        self.idempotency_key = idempotency_key
        self.downstream = downstream
        self.denial = denial
        self.atlas = atlas
        self.path = path
        self.content_type = content_type
        self.content_length = content_length
        self.body: Optional[bytes] = None
        """The body as read (for the journal)."""


def platform_denial(api_key: Optional[str], cookie: Optional[str]) -> str:
    """The 401 message of a platform request without a valid key or session, naming
    what it sent."""
    if api_key is not None:
        return "Invalid API key"
    if cookie is not None:
        return "Invalid or expired session: send the 'api-key' header or log in again"
    return "Missing API key: send it in the 'api-key' header"
