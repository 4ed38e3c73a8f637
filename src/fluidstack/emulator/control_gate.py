"""The gate in front of the emulator's control API (``/_emulator/...``): only a caller
that knows the control token gets through, never a web page (a foreign ``Origin``), with
JSON writes only and a body of 1 MiB at most (a snapshot restore: more).

The middleware hands every request under :data:`CONTROL_PREFIX` to :func:`serve_control`
after the ``Host`` check; the control routes themselves are the FastAPI app's.
"""

from __future__ import annotations

import hmac
from typing import Optional, Tuple
from urllib.parse import urlsplit

from fluidstack.emulator.encoding import has_lone_surrogate
from fluidstack.emulator.request_body import (
    BODY_METHODS,
    NOT_UNICODE,
    TOO_LARGE,
    ClientGone,
    read_body,
    replaying,
)
from fluidstack.emulator.responses import ASGIApp, Receive, Scope, Send, send_json
from fluidstack.emulator.runtime import Emulator
from fluidstack.emulator.settings import MAX_BODY_BYTES, MAX_STATE_BYTES

__all__ = ["CONTROL_PREFIX", "CONTROL_TOKEN_HEADER", "STATE_PATH", "serve_control"]

CONTROL_PREFIX = "/_emulator"
STATE_PATH = CONTROL_PREFIX + "/state"
CONTROL_TOKEN_HEADER = b"x-emulator-token"


async def serve_control(
    app: ASGIApp, emulator: Emulator, scope: Scope, receive: Receive, send: Send
) -> None:
    """Pass one control request on to ``app`` if the gate lets it through, or answer
    the refusal (401, 403, 413, 415, 400). Control off: ``app`` answers (404)."""
    if not emulator.settings.control:
        await app(scope, receive, send)  # not mounted: 404
        return
    denial = control_denial(scope, emulator.settings.control_token or "")
    if denial is not None:
        await send_json(send, denial[0], {"message": denial[1]})
        return
    # A snapshot (PUT /_emulator/state) is the one control body that may be large.
    state = scope["path"] == STATE_PATH and scope["method"] == "PUT"
    try:
        body = await read_body(receive, MAX_STATE_BYTES if state else MAX_BODY_BYTES)
    except ClientGone:
        return
    if body is None:
        await send_json(send, 413, TOO_LARGE)
        return
    if has_lone_surrogate(body):
        await send_json(send, 400, NOT_UNICODE)
        return
    await app(scope, replaying(body, receive), send)


def control_denial(scope: Scope, token: str) -> Optional[Tuple[int, str]]:
    """Why the gate refuses this request, as ``(status, message)``; ``None``: it passes.
    The token is compared in constant time."""
    given: Optional[bytes] = None
    origin = host = content_type = None
    for name, value in scope["headers"]:
        if name == CONTROL_TOKEN_HEADER:
            given = value
        elif name == b"origin":
            origin = value.decode("latin-1")
        elif name == b"host":
            host = value.decode("latin-1")
        elif name == b"content-type":
            content_type = value.decode("latin-1")
    if origin is not None:
        parts = urlsplit(origin) if origin != "null" else None
        if parts is None or host is None or parts.netloc.lower() != host.lower():
            return 403, "The control API refuses requests from web pages (a foreign Origin)"
    if given is None or not hmac.compare_digest(given, token.encode("ascii")):
        return 401, (
            "Missing or wrong control token: send it in the x-emulator-token header "
            "(printed at start, or --control-token)"
        )
    if scope["method"] in BODY_METHODS:
        media = (content_type or "").split(";", 1)[0].strip().lower()
        if media != "application/json":
            return 415, "Control API writes take JSON: send Content-Type: application/json"
    return None
