"""Stripe's webhook signatures, as Stripe documents them: the ``Stripe-Signature`` header
carries ``t=<unix time>`` and one or more ``v1=<hex HMAC-SHA256>`` of ``"<t>.<raw body>"``
under the endpoint's signing secret; a timestamp more than five minutes away is refused
(it stops replays)."""

from __future__ import annotations

import hashlib
import hmac
import time
from typing import List, Optional

from fluidstack.emulator.responses import ApiError

__all__ = ["TOLERANCE_SECONDS", "verify_signature"]

TOLERANCE_SECONDS = 300


def verify_signature(
    payload: bytes, header: Optional[str], secret: str, now: Optional[float] = None
) -> None:
    """Raise a 401 unless ``header`` signs ``payload`` with ``secret`` within the
    tolerance (checked against real time: Stripe signs with its own clock)."""
    if not header:
        raise ApiError(401, "Missing Stripe-Signature header")
    timestamp: Optional[int] = None
    signatures: List[str] = []
    for part in header.split(","):
        name, _, value = part.strip().partition("=")
        if name == "t" and value.isdigit():
            timestamp = int(value)
        elif name == "v1":
            signatures.append(value)
    if timestamp is None or not signatures:
        raise ApiError(401, "Malformed Stripe-Signature header: expected t=... and v1=...")
    signed = str(timestamp).encode() + b"." + payload
    expected = hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()
    if not any(hmac.compare_digest(expected, s) for s in signatures):
        raise ApiError(401, "No Stripe-Signature matches the payload")
    if abs((time.time() if now is None else now) - timestamp) > TOLERANCE_SECONDS:
        raise ApiError(401, "The Stripe-Signature timestamp is outside the tolerance")
