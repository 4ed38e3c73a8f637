"""The served emulator's ASGI entry: the request goes from the server straight to
Starlette's error layer and the emulator's middleware.

FastAPI puts four layers in front of the first user middleware: ``FastAPI.__call__``
(telemetry, ``root_path``), ``Starlette.__call__`` (``scope["app"]``), then
``ServerErrorMiddleware`` (the 500 answer and the app's ``Exception`` handler),
``ExceptionTelemetryMiddleware`` and ``AppBodyLimitMiddleware`` (FastAPI 0.16x). With
telemetry off and no app-wide body limit, all but the error layer only pass the request
on, and each is a coroutine and a frame per request: ~4 % of a served create (callgrind
and py-spy, issue 24). :func:`served_entry` keeps what acts (``scope["app"]``, the error
layer with the app's own handler) and skips the rest. When the app is built otherwise
(another FastAPI with other layers, telemetry on, a ``root_path``, an app-wide body
limit), it serves the app as it is.
"""

from __future__ import annotations

from typing import Any, Optional

from starlette.middleware.errors import ServerErrorMiddleware

from fluidstack.emulator.middleware import EmulatorMiddleware
from fluidstack.emulator.responses import ASGIApp, Receive, Scope, Send

__all__ = ["served_entry"]

_PASSING_LAYERS = frozenset({"ExceptionTelemetryMiddleware", "AppBodyLimitMiddleware"})
"""FastAPI's layers between the error layer and the user middleware that pass a request
on unchanged when telemetry is off and there is no app-wide body limit: the telemetry
one only records an exception for a request whose scope carries telemetry, and the body
limit's own ``app`` is the next layer itself when there is no limit."""


class _Entry:
    """HTTP requests to ``lean`` (with ``scope["app"]`` set, as Starlette sets it);
    anything else (lifespan, websockets) to the whole ``app``."""

    def __init__(self, app: Any, lean: ASGIApp) -> None:
        self.app = app
        self.lean = lean

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        scope["app"] = self.app
        await self.lean(scope, receive, send)


def _lean_stack(app: Any) -> Optional[ASGIApp]:
    """The error layer over the emulator's middleware, or ``None`` when ``app``'s
    layers are not the ones known to pass requests through."""
    if getattr(app, "root_path", "") or getattr(app, "max_body_size", None) is not None:
        return None
    telemetry = getattr(app, "_native_telemetry", None)
    if telemetry is not None and telemetry.enabled():
        return None
    if app.middleware_stack is None:
        app.middleware_stack = app.build_middleware_stack()
    outer = app.middleware_stack
    if type(outer) is not ServerErrorMiddleware:
        return None
    layer: Any = outer.app
    while not isinstance(layer, EmulatorMiddleware):
        if type(layer).__name__ not in _PASSING_LAYERS:
            return None
        layer = getattr(layer, "app", None)
    return ServerErrorMiddleware(layer, handler=outer.handler, debug=outer.debug)


def served_entry(app: Any) -> ASGIApp:
    """What the server calls for ``app`` (the emulator's FastAPI app): the same answers
    as ``app`` itself, through fewer layers where that is known to be the same."""
    lean = _lean_stack(app)
    return app if lean is None else _Entry(app, lean)
