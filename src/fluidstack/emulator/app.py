"""The emulator as one ASGI app: every API it serves, the shared control API (reset,
clock, faults, journal), error handling, and the middleware in front of it all."""

from __future__ import annotations

import inspect
import json
import logging
from typing import Any, Dict, List, Optional, Set

from fastapi import APIRouter, FastAPI, Query, Request
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ConfigDict, Field
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response

from fluidstack.emulator import recording, snapshot
from fluidstack.emulator.atlas import control as atlas_control
from fluidstack.emulator.clock import iso
from fluidstack.emulator.faults import FaultSpec
from fluidstack.emulator.middleware import ConnectionDropped, EmulatorMiddleware
from fluidstack.emulator.platform import routes as platform_routes
from fluidstack.emulator.responses import (
    ApiError,
    api_error_response,
    json_response,
    message_response,
)
from fluidstack.emulator.runtime import Emulator
from fluidstack.emulator.settings import EmulatorSettings
from fluidstack.emulator.ssh import control as ssh_control

__all__ = ["ConnectionDropped", "Emulator", "create_app"]

logger = logging.getLogger("fluidstack.emulator")


def _emulator(request: Request) -> Emulator:
    emulator: Emulator = request.app.state.emulator
    return emulator


# -- the shared control API -------------------------------------------------------------

control = APIRouter(prefix="/_emulator")


class _ControlModel(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)


class ResetRequest(_ControlModel):
    api_key: Optional[str] = None
    """Reset only this platform account."""
    client_id: Optional[str] = None
    """Reset only this Atlas client's organization."""


class AdvanceRequest(_ControlModel):
    seconds: float = Field(ge=0, le=10 * 365 * 86400)


def _clock_view(emulator: Emulator) -> Dict[str, Any]:
    clock = emulator.clock
    return {"now": iso(clock.now()), "manual": clock.manual, "time_scale": clock.time_scale}


@control.post("/reset")
async def control_reset(request: Request, body: Optional[ResetRequest] = None) -> Response:
    emulator = _emulator(request)
    if body is not None and body.api_key is not None and body.client_id is not None:
        raise ApiError(400, "Reset one platform account (api_key) or one org (client_id)")
    if body is None or (body.api_key is None and body.client_id is None):
        with emulator.lock:
            emulator.generation += 1
            emulator.platform.reset()
            emulator.atlas.reset()
            emulator.faults.clear()
            emulator.journal.clear()
        return json_response(200, {"message": "Emulator reset"})
    if body.client_id is not None:
        org = emulator.atlas.reset(body.client_id)
        assert org is not None
        emulator.faults.clear(org.id)
        emulator.journal.clear(org.name)
        return json_response(200, {"message": f"Organization {org.name} reset"})
    assert body.api_key is not None
    account = emulator.platform.reset(body.api_key)
    assert account is not None
    emulator.faults.clear(account.id)
    emulator.journal.clear(account.label)
    return json_response(200, {"message": f"Account {account.label} reset"})


@control.get("/clock")
async def control_clock(request: Request) -> Response:
    return json_response(200, _clock_view(_emulator(request)))


@control.post("/clock/advance")
async def control_advance(request: Request, body: AdvanceRequest) -> Response:
    emulator = _emulator(request)
    emulator.advance_clock(body.seconds)
    return json_response(200, _clock_view(emulator))


@control.post("/faults")
async def control_add_fault(request: Request, body: FaultSpec) -> Response:
    emulator = _emulator(request)
    account_id = None
    if body.api_key is not None:
        account_id = emulator.platform.require_account_for_key(body.api_key).id
    if body.client_id is not None:
        account_id = emulator.atlas.require_org(body.client_id).id
    rule = emulator.faults.add(body, account_id)
    return json_response(201, rule.view())


@control.get("/faults")
async def control_list_faults(request: Request) -> Response:
    return json_response(200, [r.view() for r in _emulator(request).faults.list()])


@control.delete("/faults")
async def control_clear_faults(request: Request) -> Response:
    _emulator(request).faults.clear()
    return Response(status_code=204)


@control.delete("/faults/{fault_id}")
async def control_remove_fault(request: Request, fault_id: str) -> Response:
    if not _emulator(request).faults.remove(fault_id):
        raise ApiError(404, f"Fault {fault_id[:100]!r} not found")
    return Response(status_code=204)


@control.get("/journal")
async def control_journal(
    request: Request,
    since: Optional[int] = Query(default=None, ge=0),
    format: Optional[str] = Query(default=None, pattern="^replay$"),
) -> Response:
    """The journal; ``?format=replay`` exports it as a replay file (see
    emulator/recording.py and ``fluidstack-emulator replay``)."""
    if format == "replay":
        return json_response(200, recording.export_journal(_emulator(request)))
    return json_response(200, _emulator(request).journal.entries(since))


@control.delete("/journal")
async def control_clear_journal(request: Request) -> Response:
    _emulator(request).journal.clear()
    return Response(status_code=204)


@control.get("/state")
async def control_export_state(request: Request, secrets: bool = Query(default=False)) -> Response:
    """The whole state of every API as a versioned snapshot (see emulator/snapshot.py);
    ``?secrets=true`` includes key hashes, sessions, refresh tokens and the signing key."""
    return json_response(200, snapshot.export_state(_emulator(request), secrets))


@control.put("/state")
async def control_restore_state(request: Request) -> Response:
    """Replace every API's state with a snapshot, atomically: a bad one answers 400
    naming its first bad field and changes nothing."""
    try:
        body = json.loads(await request.body())
        restored = snapshot.restore_state(_emulator(request), body, copy=False)
    except ValueError as exc:  # not JSON, or a SnapshotError (a ValueError)
        field = exc.field if isinstance(exc, snapshot.SnapshotError) else "(body)"
        message = f"Invalid snapshot: {exc}"
        return json_response(400, {"message": message, "field": field})
    return json_response(200, {"message": "State restored", "restored": restored})


ROUTERS = [platform_routes.api, platform_routes.control, control, atlas_control.control]
"""Every router of the app (the 405 handler lists the methods of all their routes)."""


# -- error handling -------------------------------------------------------------------


MAX_ECHO = 256
"""Largest input (as JSON) a 422 repeats back; a larger one is left out of ``input``."""


def _small(value: Any) -> bool:
    try:
        return len(json.dumps(value, allow_nan=False)) <= MAX_ECHO
    except (TypeError, ValueError, RecursionError):
        return False


def validation_detail(errors: Any) -> List[Dict[str, Any]]:
    """FastAPI's 422 ``detail`` list, made JSON-safe whatever the input was, and never
    repeating a large input (a 500 MB body must not come back in the answer)."""
    detail: List[Dict[str, Any]] = []
    for error in errors:
        item: Dict[str, Any] = {
            "loc": [p if isinstance(p, (str, int)) else str(p) for p in error.get("loc", ())],
            "msg": str(error.get("msg", "")),
            "type": str(error.get("type", "")),
        }
        secret = bool(item["loc"]) and item["loc"][-1] == "public_key"
        if "input" in error and not secret and _small(error["input"]):
            item["input"] = error["input"]
        ctx = error.get("ctx")
        if isinstance(ctx, dict):
            item["ctx"] = {k: v if _small(v) else str(v)[:MAX_ECHO] for k, v in ctx.items()}
        detail.append(item)
    return detail


async def _on_api_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ApiError)
    return api_error_response(exc)


async def _on_validation_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    return json_response(422, {"detail": validation_detail(exc.errors())})


async def _on_http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    if exc.status_code in (204, 304):
        return Response(status_code=exc.status_code, headers=exc.headers)
    response = message_response(exc.status_code, str(exc.detail))
    if exc.headers:
        response.headers.update(exc.headers)
    if exc.status_code == 405:
        # Starlette lists only the methods of the one route it matched; a resource
        # served by several routes (GET and POST /instances) must list them all.
        response.headers["allow"] = ", ".join(_allowed_methods(request))
    return response


def _allowed_methods(request: Request) -> List[str]:
    methods: Set[str] = set()
    # The routers' own route lists: how FastAPI wraps included routers varies by version.
    for route in [route for router in ROUTERS for route in router.routes]:
        path_regex = getattr(route, "path_regex", None)
        route_methods = getattr(route, "methods", None)
        if path_regex is not None and route_methods and path_regex.match(request.url.path):
            methods.update(route_methods)
    return sorted(methods)


async def _on_server_error(request: Request, exc: Exception) -> Response:
    if not isinstance(exc, ConnectionDropped):
        logger.error("internal error on %s %s", request.method, request.url.path, exc_info=exc)
    return message_response(500, "Internal emulator error")


def _no_telemetry() -> Dict[str, Any]:
    """FastAPI's OpenTelemetry instrumentation off, where FastAPI has it (0.16x): with it
    on, every request first asks OpenTelemetry whether a provider is configured (a
    tenth of a small request's server time, profiled; issue 15, item 3)."""
    if "telemetry" not in inspect.signature(FastAPI.__init__).parameters:
        return {}
    return {"telemetry": {"tracing": False, "metrics": False, "logs": False}}


def create_app(settings: Optional[EmulatorSettings] = None, *, check_host: bool = False) -> FastAPI:
    """The emulator as an ASGI app (use it in-process with ``httpx.ASGITransport``).

    ``check_host=True`` (what the emulator's own server passes) refuses requests whose
    ``Host`` is not a loopback name, the address listened on or one of
    ``settings.allowed_hosts``: serve the app on a socket only with it on.
    """
    settings = settings if settings is not None else EmulatorSettings()
    app = FastAPI(
        title="FluidStack API emulator",
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
        **_no_telemetry(),
    )
    emulator = Emulator(settings)
    app.state.emulator = emulator
    app.state.platform = emulator.platform
    app.state.atlas = emulator.atlas
    app.include_router(platform_routes.api)
    if settings.control:
        app.include_router(platform_routes.control)
        app.include_router(atlas_control.control)
        app.include_router(control)
        app.include_router(ssh_control.control)
    app.add_exception_handler(ApiError, _on_api_error)
    app.add_exception_handler(RequestValidationError, _on_validation_error)
    app.add_exception_handler(StarletteHTTPException, _on_http_error)
    app.add_exception_handler(Exception, _on_server_error)
    app.add_middleware(EmulatorMiddleware, emulator=emulator, check_host=check_host)
    return app
