"""The FastAPI application: the FluidStack API routes, the control API, and the middleware
that authenticates, injects faults, limits bodies and keeps the journal."""

from __future__ import annotations

import asyncio
import json
import logging
import time
from typing import Any, Awaitable, Callable, Dict, List, MutableMapping, Optional, Set, Tuple
from urllib.parse import unquote

from fastapi import APIRouter, FastAPI, Header, Query, Request
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ConfigDict, Field, StrictInt
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import cookie_parser
from starlette.responses import Response

from fluidstack.emulator.catalog import OS_TEMPLATES
from fluidstack.emulator.clock import iso
from fluidstack.emulator.encoding import dumps
from fluidstack.emulator.faults import FaultBook, FaultRule, FaultSpec, Journal, redact_headers
from fluidstack.emulator.models import (
    AddSSHKeyRequest,
    CreateAPIKeyRequest,
    CreateInstanceRequest,
    CreatePaymentRequest,
    RenameInstanceRequest,
    UpdateCompanyDetailsRequest,
)
from fluidstack.emulator.settings import DEV_AUTH_CODE, MAX_BODY_BYTES, EmulatorSettings
from fluidstack.emulator.state import Account, ApiError, EmulatorState, Stored

__all__ = ["ConnectionDropped", "Emulator", "create_app"]

logger = logging.getLogger("fluidstack.emulator")

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

PUBLIC_PATHS = frozenset({"/healthcheck", "/auth/url", "/auth/callback"})
"""Paths answered without credentials (besides the control API)."""
BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})
SESSION_COOKIE = "wos_session"
ACCOUNT_KEY = "fluidstack.account"
VIA_KEY = "fluidstack.via"


class ConnectionDropped(Exception):
    """Raised by a ``drop`` fault after starting a response: the server aborts it."""


class Emulator:
    """One emulator: its settings, platform state, fault rules and journal."""

    def __init__(self, settings: EmulatorSettings) -> None:
        self.settings = settings
        self.state = EmulatorState(settings)
        self.faults = FaultBook()
        self.journal = Journal()
        self.generation = 0
        """Bumped by a full reset: requests still in flight from before it are void."""


def json_response(status: int, content: Any, headers: Optional[Dict[str, str]] = None) -> Response:
    """A JSON answer serialised once (no response-model pass: the fast path)."""
    return Response(dumps(content), status, headers, "application/json")


def message_response(status: int, message: str) -> Response:
    return json_response(status, {"message": message})


def _account(request: Request) -> Account:
    account = request.scope.get(ACCOUNT_KEY)
    if not isinstance(account, Account):  # the middleware answers 401 before this
        raise ApiError(401, "Missing API key: send it in the 'api-key' header")
    return account


def _emulator(request: Request) -> Emulator:
    emulator: Emulator = request.app.state.emulator
    return emulator


def _fingerprint(method: str, path: str, model: BaseModel) -> str:
    return f"{method} {path} " + json.dumps(model.model_dump(mode="json"), sort_keys=True)


def _stored(result: Stored) -> Response:
    if result.status == 204:
        return Response(status_code=204)
    return json_response(result.status, result.body)


IdempotencyKey = Header(default=None, alias="Idempotency-Key", include_in_schema=False)


# -- the FluidStack API ---------------------------------------------------------------

api = APIRouter()


@api.api_route("/healthcheck", methods=["GET", "HEAD"])
async def healthcheck() -> Response:
    return json_response(200, {"status": "ok"})


@api.get("/instances")
async def list_instances(
    request: Request,
    page: int = Query(default=1, ge=1),
    include_failed_instances: bool = False,
) -> Response:
    body = _emulator(request).state.list_instances_json(
        _account(request), page, include_failed_instances
    )
    return Response(body, 200, media_type="application/json")


@api.post("/instances")
async def create_instance(
    request: Request, body: CreateInstanceRequest, idempotency_key: Optional[str] = IdempotencyKey
) -> Response:
    result = _emulator(request).state.create_instance(
        _account(request),
        name=body.name,
        gpu_type=body.gpu_type.value,
        gpu_count=body.gpu_count,
        ssh_key=body.ssh_key,
        operating_system_label=body.operating_system_label,
        region=body.region.value if body.region is not None else None,
        volumes=[v.model_dump(mode="json") for v in body.volumes],
        idempotency_key=idempotency_key,
        fingerprint=_fingerprint("POST", "/instances", body),
    )
    return _stored(result)


@api.get("/instances/{instance_id}")
async def get_instance(request: Request, instance_id: str) -> Response:
    status, view = _emulator(request).state.get_instance(_account(request), instance_id)
    return json_response(202 if status in ("pending", "provisioning") else 200, view)


@api.delete("/instances/{instance_id}")
async def delete_instance(request: Request, instance_id: str) -> Response:
    return json_response(
        200, _emulator(request).state.delete_instance(_account(request), instance_id)
    )


@api.put("/instances/{instance_id}/stop")
async def stop_instance(request: Request, instance_id: str) -> Response:
    return json_response(
        200, _emulator(request).state.stop_instance(_account(request), instance_id)
    )


@api.put("/instances/{instance_id}/start")
async def start_instance(request: Request, instance_id: str) -> Response:
    return json_response(
        200, _emulator(request).state.start_instance(_account(request), instance_id)
    )


@api.put("/instances/{instance_id}/rename")
async def rename_instance(
    request: Request, instance_id: str, body: RenameInstanceRequest
) -> Response:
    view = _emulator(request).state.rename_instance(
        _account(request), instance_id, body.new_instance_name
    )
    return json_response(200, view)


@api.get("/ssh_keys")
async def list_ssh_keys(request: Request, show_all: bool = False) -> Response:
    # One user per account: "all" keys and the user's keys are the same set.
    keys = _emulator(request).state.list_ssh_keys(_account(request))
    return json_response(200, [{"name": k.name, "public_key": k.public_key} for k in keys])


@api.post("/ssh_keys")
async def add_ssh_key(
    request: Request, body: AddSSHKeyRequest, idempotency_key: Optional[str] = IdempotencyKey
) -> Response:
    result = _emulator(request).state.add_ssh_key(
        _account(request),
        body.name,
        body.public_key,
        idempotency_key,
        _fingerprint("POST", "/ssh_keys", body),
    )
    return _stored(result)


@api.delete("/ssh_keys/{ssh_key_name}")
async def delete_ssh_key(request: Request, ssh_key_name: str) -> Response:
    name = _emulator(request).state.delete_ssh_key(_account(request), ssh_key_name)
    return json_response(200, {"message": f"SSH key {name!r} deleted"})


# The first definition's routes for the same keys (ids in bodies, 201/204).
@api.get("/list_user_ssh_keys")
async def legacy_list_ssh_keys(request: Request) -> Response:
    keys = _emulator(request).state.list_ssh_keys(_account(request))
    return json_response(
        200, [{"id": k.id, "name": k.name, "public_key": k.public_key} for k in keys]
    )


@api.post("/list_user_ssh_keys")
async def legacy_add_ssh_key(
    request: Request, body: AddSSHKeyRequest, idempotency_key: Optional[str] = IdempotencyKey
) -> Response:
    result = _emulator(request).state.add_ssh_key(
        _account(request),
        body.name,
        body.public_key,
        idempotency_key,
        _fingerprint("POST", "/list_user_ssh_keys", body),
        status=201,
        legacy=True,
    )
    return _stored(result)


@api.delete("/list_user_ssh_keys/{ssh_key_id}")
async def legacy_delete_ssh_key(request: Request, ssh_key_id: str) -> Response:
    _emulator(request).state.delete_ssh_key(_account(request), ssh_key_id, by_id=True)
    return Response(status_code=204)


@api.get("/list_available_configurations")
async def list_configurations(request: Request) -> Response:
    return json_response(200, _emulator(request).state.catalog.configurations())


@api.get("/list_available_os_templates")
async def list_os_templates() -> Response:
    return json_response(200, [dict(t) for t in OS_TEMPLATES])


@api.put("/user/company-details")
async def update_company_details(request: Request, body: UpdateCompanyDetailsRequest) -> Response:
    changes = {name: getattr(body, name) for name in body.model_fields_set}
    return json_response(200, _emulator(request).state.update_company(_account(request), changes))


@api.get("/user/balance")
async def get_balance(request: Request) -> Response:
    return json_response(200, {"balance": _emulator(request).state.balance(_account(request))})


@api.get("/api_keys")
async def list_api_keys(request: Request) -> Response:
    return json_response(200, _emulator(request).state.list_api_keys(_account(request)))


@api.post("/api_keys")
async def create_api_key(
    request: Request, body: CreateAPIKeyRequest, idempotency_key: Optional[str] = IdempotencyKey
) -> Response:
    result = _emulator(request).state.create_api_key(
        _account(request), body.name, idempotency_key, _fingerprint("POST", "/api_keys", body)
    )
    return _stored(result)


@api.delete("/api_keys/{api_key_id}")
async def delete_api_key(request: Request, api_key_id: str) -> Response:
    _emulator(request).state.delete_api_key(_account(request), api_key_id)
    return Response(status_code=204)


@api.post("/payments/create-intent")
async def create_payment_intent(request: Request, body: CreatePaymentRequest) -> Response:
    intent = _emulator(request).state.payment_intent(_account(request), body.amount)
    return json_response(200, intent)


def _session_cookie(token: str) -> str:
    return f"{SESSION_COOKIE}={token}; Path=/; HttpOnly; SameSite=Lax; Max-Age=604800"


@api.get("/auth/url")
async def auth_url(request: Request) -> Response:
    # The emulator has no login page: the URL is the callback with the development code.
    return json_response(200, f"{request.base_url}auth/callback?code={DEV_AUTH_CODE}")


@api.get("/auth/callback")
async def auth_callback(request: Request, code: str = Query(min_length=1)) -> Response:
    state = _emulator(request).state
    account = state.exchange_auth_code(code)
    token = state.new_session(account)
    response = json_response(200, state.user_view(account))
    response.headers["set-cookie"] = _session_cookie(token)
    return response


@api.get("/auth/session")
async def auth_session(request: Request) -> Response:
    if request.scope.get(VIA_KEY) != "session":
        raise ApiError(401, "No session: send the wos_session cookie")
    state = _emulator(request).state
    token = state.new_session(_account(request))
    response = json_response(200, {"message": "Session refreshed"})
    response.headers["set-cookie"] = _session_cookie(token)
    return response


@api.get("/auth/user")
async def auth_user(request: Request) -> Response:
    return json_response(200, _emulator(request).state.user_view(_account(request)))


# -- the control API ------------------------------------------------------------------

control = APIRouter(prefix="/_emulator")


class _ControlModel(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)


class ResetRequest(_ControlModel):
    api_key: Optional[str] = None


class AccountRequest(_ControlModel):
    api_key: str = Field(min_length=1, max_length=512)
    balance: Optional[float] = None


class BalanceRequest(_ControlModel):
    balance: float


class AdvanceRequest(_ControlModel):
    seconds: float = Field(ge=0, le=10 * 365 * 86400)


class SessionRequest(_ControlModel):
    api_key: str = Field(min_length=1)


class CapacityRequest(_ControlModel):
    gpu_type: str
    region: str
    gpus: StrictInt = Field(ge=0, le=1_000_000)


def _account_view(emulator: Emulator, account: Account) -> Dict[str, Any]:
    return {
        "account": account.label,
        "user_id": account.user_id,
        "email": account.email,
        "balance": emulator.state.balance(account),
    }


def _clock_view(emulator: Emulator) -> Dict[str, Any]:
    clock = emulator.state.clock
    return {"now": iso(clock.now()), "manual": clock.manual, "time_scale": clock.time_scale}


@control.post("/reset")
async def control_reset(request: Request, body: Optional[ResetRequest] = None) -> Response:
    emulator = _emulator(request)
    if body is None or body.api_key is None:
        emulator.generation += 1
        emulator.state.reset()
        emulator.faults.clear()
        emulator.journal.clear()
        return json_response(200, {"message": "Emulator reset"})
    account = emulator.state.reset(body.api_key)
    assert account is not None
    emulator.faults.clear(account.id)
    emulator.journal.clear(account.label)
    return json_response(200, {"message": f"Account {account.label} reset"})


@control.post("/accounts")
async def control_create_account(request: Request, body: AccountRequest) -> Response:
    emulator = _emulator(request)
    balance = emulator.settings.initial_balance if body.balance is None else body.balance
    account = emulator.state.create_account(body.api_key, balance)
    return json_response(201, _account_view(emulator, account))


@control.put("/accounts/{api_key}/balance")
async def control_set_balance(request: Request, api_key: str, body: BalanceRequest) -> Response:
    emulator = _emulator(request)
    account = emulator.state.set_balance(api_key, body.balance)
    return json_response(200, _account_view(emulator, account))


@control.get("/clock")
async def control_clock(request: Request) -> Response:
    return json_response(200, _clock_view(_emulator(request)))


@control.post("/clock/advance")
async def control_advance(request: Request, body: AdvanceRequest) -> Response:
    emulator = _emulator(request)
    emulator.state.advance_clock(body.seconds)
    return json_response(200, _clock_view(emulator))


@control.post("/faults")
async def control_add_fault(request: Request, body: FaultSpec) -> Response:
    emulator = _emulator(request)
    account_id = None
    if body.api_key is not None:
        account_id = emulator.state.require_account_for_key(body.api_key).id
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
    request: Request, since: Optional[int] = Query(default=None, ge=0)
) -> Response:
    return json_response(200, _emulator(request).journal.entries(since))


@control.delete("/journal")
async def control_clear_journal(request: Request) -> Response:
    _emulator(request).journal.clear()
    return Response(status_code=204)


@control.post("/sessions")
async def control_session(request: Request, body: SessionRequest) -> Response:
    state = _emulator(request).state
    account = state.require_account_for_key(body.api_key)
    return json_response(201, {"wos_session": state.new_session(account)})


@control.post("/auth-codes")
async def control_auth_code(request: Request, body: SessionRequest) -> Response:
    state = _emulator(request).state
    account = state.require_account_for_key(body.api_key)
    return json_response(201, {"code": state.new_auth_code(account)})


@control.get("/capacity")
async def control_capacity(request: Request) -> Response:
    return json_response(200, _emulator(request).state.capacity_report())


@control.put("/capacity")
async def control_set_capacity(request: Request, body: CapacityRequest) -> Response:
    state = _emulator(request).state
    return json_response(200, state.set_capacity(body.gpu_type, body.region, body.gpus))


# -- error handling -------------------------------------------------------------------


def _json_safe(value: Any) -> bool:
    try:
        json.dumps(value, allow_nan=False)
    except (TypeError, ValueError):
        return False
    return True


def validation_detail(errors: Any) -> List[Dict[str, Any]]:
    """FastAPI's 422 ``detail`` list, made JSON-safe whatever the input was."""
    detail: List[Dict[str, Any]] = []
    for error in errors:
        item: Dict[str, Any] = {
            "loc": [p if isinstance(p, (str, int)) else str(p) for p in error.get("loc", ())],
            "msg": str(error.get("msg", "")),
            "type": str(error.get("type", "")),
        }
        secret = bool(item["loc"]) and item["loc"][-1] == "public_key"
        if "input" in error and not secret and _json_safe(error["input"]):
            item["input"] = error["input"]
        ctx = error.get("ctx")
        if isinstance(ctx, dict):
            item["ctx"] = {k: v if _json_safe(v) else str(v) for k, v in ctx.items()}
        detail.append(item)
    return detail


async def _on_api_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ApiError)
    return message_response(exc.status, exc.message)


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
    for route in [*api.routes, *control.routes]:
        path_regex = getattr(route, "path_regex", None)
        route_methods = getattr(route, "methods", None)
        if path_regex is not None and route_methods and path_regex.match(request.url.path):
            methods.update(route_methods)
    return sorted(methods)


async def _on_server_error(request: Request, exc: Exception) -> Response:
    if not isinstance(exc, ConnectionDropped):
        logger.error("internal error on %s %s", request.method, request.url.path, exc_info=exc)
    return message_response(500, "Internal emulator error")


# -- middleware -----------------------------------------------------------------------


async def _send_json(
    send: Send, status: int, content: Any, extra: Optional[List[Tuple[bytes, bytes]]] = None
) -> None:
    body = dumps(content)
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    await send(
        {"type": "http.response.start", "status": status, "headers": headers + (extra or [])}
    )
    await send({"type": "http.response.body", "body": body, "more_body": False})


async def _drop(send: Send) -> None:
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
    spec = rule.spec
    body = spec.body if spec.body is not None else {"message": "Injected fault"}
    extra: List[Tuple[bytes, bytes]] = []
    if spec.retry_after is not None:
        extra.append((b"retry-after", spec.retry_after.encode("ascii")))
    if spec.retry_after_ms is not None:
        extra.append((b"retry-after-ms", str(spec.retry_after_ms).encode("ascii")))
    return spec.status, body, extra


class EmulatorMiddleware:
    """Pure ASGI (no per-request task or thread): auth, faults, limits, journal."""

    def __init__(self, app: ASGIApp, emulator: Emulator) -> None:
        self.app = app
        self.emulator = emulator

    def _authenticate(
        self, api_key: Optional[str], cookie: Optional[str]
    ) -> Tuple[Optional[Account], Optional[str]]:
        state = self.emulator.state
        if api_key is not None:
            return state.account_for_key(api_key), "api-key"
        if cookie is not None:
            token = cookie_parser(cookie).get(SESSION_COOKIE)
            if token is not None:
                return state.account_for_session(token), "session"
        return None, None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"].startswith("/_emulator"):
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        method: str = scope["method"]
        path: str = scope["path"]
        api_key = cookie = idem = content_type = content_length = None
        for name, value in scope["headers"]:
            if name == b"api-key":
                api_key = value.decode("latin-1")
            elif name == b"cookie":
                cookie = value.decode("latin-1")
            elif name == b"idempotency-key":
                idem = value.decode("latin-1")
            elif name == b"content-type":
                content_type = value.decode("latin-1")
            elif name == b"content-length":
                content_length = value
        account, via = self._authenticate(api_key, cookie)
        scope[ACCOUNT_KEY] = account
        scope[VIA_KEY] = via if account is not None else None
        rule = self.emulator.faults.take(method, path, account.id if account else None)
        generation = self.emulator.generation

        status_seen: List[Optional[int]] = [None]

        async def tracking_send(message: Message) -> None:
            if message["type"] == "http.response.start":
                status_seen[0] = message["status"]
            await send(message)

        try:
            await self._serve(
                scope, receive, tracking_send, rule, account, api_key, path, content_type,
                content_length, generation,
            )  # fmt: skip
        finally:
            if rule is not None and rule.spec.action == "drop":
                status_seen[0] = None
            # A request that began before a reset (a delayed one, say) belongs to a
            # world that no longer exists: it must not show in the new journal.
            if generation == self.emulator.generation:
                self._record(scope, method, path, status_seen[0], account, idem, rule, started)

    def _record(
        self,
        scope: Scope,
        method: str,
        path: str,
        status: Optional[int],
        account: Optional[Account],
        idem: Optional[str],
        rule: Optional[FaultRule],
        started: float,
    ) -> None:
        """Add one served request to the journal (and the debug log)."""
        self.emulator.journal.append(
            {
                "time": iso(self.emulator.state.clock.now()),
                "method": method,
                "path": path,
                "query": unquote(scope.get("query_string", b"").decode("latin-1")),
                "status": status,
                "account": account.label if account is not None else None,
                "headers": redact_headers(scope["headers"]),
                "idempotency_key": idem,
                "fault": rule.id if rule is not None else None,
                "duration_ms": round((time.perf_counter() - started) * 1000, 3),
            }
        )
        if logger.isEnabledFor(logging.DEBUG):
            logger.debug(
                "%s %s -> %s (%s)",
                method,
                path,
                status,
                account.label if account else "anonymous",
            )

    async def _serve(
        self,
        scope: Scope,
        receive: Receive,
        send: Send,
        rule: Optional[FaultRule],
        account: Optional[Account],
        api_key: Optional[str],
        path: str,
        content_type: Optional[str],
        content_length: Optional[bytes],
        generation: int,
    ) -> None:
        spec = rule.spec if rule is not None else None
        if rule is not None and spec is not None and not spec.perform:
            if spec.action == "error":
                status, body, extra = _fault_error(rule)
                await _send_json(send, status, body, extra)
                return
            if spec.action == "drop":
                await _drop(send)
                return
            await asyncio.sleep(spec.seconds)
            if generation != self.emulator.generation:
                # Reset while this request was delayed: performing it now would leak
                # it into the fresh state.
                await _drop(send)
                return
        if spec is not None and spec.perform:
            captured = _Captured()
            await self._perform(
                scope, receive, captured.send, account, api_key, path, content_type,
                content_length,
            )  # fmt: skip
            if spec.action == "error":
                status, body, extra = _fault_error(rule)  # type: ignore[arg-type]
                await _send_json(send, status, body, extra)
            elif spec.action == "drop":
                await _drop(send)
            else:
                await asyncio.sleep(spec.seconds)
                await captured.replay(send)
            return
        await self._perform(
            scope, receive, send, account, api_key, path, content_type, content_length
        )

    async def _perform(
        self,
        scope: Scope,
        receive: Receive,
        send: Send,
        account: Optional[Account],
        api_key: Optional[str],
        path: str,
        content_type: Optional[str],
        content_length: Optional[bytes],
    ) -> None:
        if content_length is not None:
            try:
                declared = int(content_length)
            except ValueError:
                declared = 0
            if declared > MAX_BODY_BYTES:
                await _send_json(send, 413, {"message": "Request body larger than 1 MiB"})
                return
        if account is None and path not in PUBLIC_PATHS:
            if api_key is not None:
                text = "Invalid API key"
            elif any(n == b"cookie" for n, _ in scope["headers"]):
                text = "Invalid or expired session: send the 'api-key' header or log in again"
            else:
                text = "Missing API key: send it in the 'api-key' header"
            await _send_json(send, 401, {"message": text})
            return
        chunks: List[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                return  # the client went away
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > MAX_BODY_BYTES:
                await _send_json(send, 413, {"message": "Request body larger than 1 MiB"})
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        if body and scope["method"] in BODY_METHODS and content_type is not None:
            media = content_type.split(";", 1)[0].strip().lower()
            if media != "application/json" and not media.endswith("+json"):
                await _send_json(
                    send, 415, {"message": "Unsupported Content-Type: send application/json"}
                )
                return
        replayed = False

        async def replay_receive() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay_receive, send)


def create_app(settings: Optional[EmulatorSettings] = None) -> FastAPI:
    """The emulator as an ASGI app (use it in-process with ``httpx.ASGITransport``)."""
    settings = settings if settings is not None else EmulatorSettings()
    app = FastAPI(
        title="FluidStack API emulator",
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
    )
    app.state.emulator = Emulator(settings)
    app.include_router(api)
    if settings.control:
        app.include_router(control)
    app.add_exception_handler(ApiError, _on_api_error)
    app.add_exception_handler(RequestValidationError, _on_validation_error)
    app.add_exception_handler(StarletteHTTPException, _on_http_error)
    app.add_exception_handler(Exception, _on_server_error)
    app.add_middleware(EmulatorMiddleware, emulator=app.state.emulator)
    return app
