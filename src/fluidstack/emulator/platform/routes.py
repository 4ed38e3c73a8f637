"""The platform API's routes (``openapi.json`` and its older definitions) and its part
of the control API (accounts, balances, sessions, login codes, GPU capacity)."""

from __future__ import annotations

import json
from typing import Any, Dict, List, Literal, Optional

from fastapi import APIRouter, Header, Query, Request
from pydantic import BaseModel, ConfigDict, Field, StrictInt, field_validator
from starlette.responses import Response

from fluidstack.emulator.platform import operations as ops
from fluidstack.emulator.platform.catalog import OS_TEMPLATES
from fluidstack.emulator.platform.models import (
    AddSSHKeyRequest,
    CreateAPIKeyRequest,
    CreateInstanceRequest,
    CreatePaymentRequest,
    RenameInstanceRequest,
    UpdateCompanyDetailsRequest,
)
from fluidstack.emulator.platform.state import (
    Account,
    BulkGroup,
    PaymentIntent,
    PlatformState,
)
from fluidstack.emulator.platform.stripe import verify_signature
from fluidstack.emulator.responses import ApiError, json_response

__all__ = [
    "ACCOUNT_KEY",
    "PUBLIC_PATHS",
    "SESSION_COOKIE",
    "SESSION_PATH",
    "VIA_KEY",
    "api",
    "control",
]

STRIPE_WEBHOOK_PATH = "/webhooks/stripe/payment_completed"
PUBLIC_PATHS = frozenset({"/healthcheck", "/auth/url", "/auth/callback", STRIPE_WEBHOOK_PATH})
"""Paths answered without an API key or session (besides the control API); Stripe's
webhook is authenticated by its signature instead."""
SESSION_COOKIE = "wos_session"
ACCOUNT_KEY = "fluidstack.account"
"""Scope key under which the middleware leaves the authenticated platform account."""
VIA_KEY = "fluidstack.via"
SESSION_PATH = "/auth/session"
"""Refreshes a browser session: authenticated by the cookie even beside an api-key."""


def _account(request: Request) -> Account:
    account = request.scope.get(ACCOUNT_KEY)
    if not isinstance(account, Account):  # the middleware answers 401 before this
        raise ApiError(401, "Missing API key: send it in the 'api-key' header")
    return account


def _state(request: Request) -> PlatformState:
    state: PlatformState = request.app.state.platform
    return state


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
    return ops.list_instances(_state(request), _account(request), page, include_failed_instances)


@api.post("/instances")
async def create_instance(
    request: Request, body: CreateInstanceRequest, idempotency_key: Optional[str] = IdempotencyKey
) -> Response:
    return ops.create_instance(_state(request), _account(request), body, idempotency_key)


@api.get("/instances/{instance_id}")
async def get_instance(request: Request, instance_id: str) -> Response:
    return ops.get_instance(_state(request), _account(request), instance_id)


@api.delete("/instances/{instance_id}")
async def delete_instance(request: Request, instance_id: str) -> Response:
    return ops.delete_instance(_state(request), _account(request), instance_id)


@api.put("/instances/{instance_id}/stop")
async def stop_instance(request: Request, instance_id: str) -> Response:
    return ops.stop_instance(_state(request), _account(request), instance_id)


@api.put("/instances/{instance_id}/start")
async def start_instance(request: Request, instance_id: str) -> Response:
    return ops.start_instance(_state(request), _account(request), instance_id)


@api.put("/instances/{instance_id}/rename")
async def rename_instance(
    request: Request, instance_id: str, body: RenameInstanceRequest
) -> Response:
    return ops.rename_instance(
        _state(request), _account(request), instance_id, body.new_instance_name
    )


@api.get("/ssh_keys")
async def list_ssh_keys(request: Request, show_all: bool = False) -> Response:
    # One user per account: "all" keys and the user's keys are the same set.
    keys = _state(request).list_ssh_keys(_account(request))
    return json_response(200, [{"name": k.name, "public_key": k.public_key} for k in keys])


@api.post("/ssh_keys")
async def add_ssh_key(
    request: Request, body: AddSSHKeyRequest, idempotency_key: Optional[str] = IdempotencyKey
) -> Response:
    result = _state(request).add_ssh_key(
        _account(request),
        body.name,
        body.public_key,
        idempotency_key,
        ops.fingerprint("POST", "/ssh_keys", body),
    )
    return ops.stored_response(result)


@api.delete("/ssh_keys/{ssh_key_name}")
async def delete_ssh_key(request: Request, ssh_key_name: str) -> Response:
    name = _state(request).delete_ssh_key(_account(request), ssh_key_name)
    return json_response(200, {"message": f"SSH key {name!r} deleted"})


# The first definition's routes for the same keys (ids in bodies, 201/204).
@api.get("/list_user_ssh_keys")
async def legacy_list_ssh_keys(request: Request) -> Response:
    keys = _state(request).list_ssh_keys(_account(request))
    return json_response(
        200, [{"id": k.id, "name": k.name, "public_key": k.public_key} for k in keys]
    )


@api.post("/list_user_ssh_keys")
async def legacy_add_ssh_key(
    request: Request, body: AddSSHKeyRequest, idempotency_key: Optional[str] = IdempotencyKey
) -> Response:
    result = _state(request).add_ssh_key(
        _account(request),
        body.name,
        body.public_key,
        idempotency_key,
        ops.fingerprint("POST", "/list_user_ssh_keys", body),
        status=201,
        legacy=True,
    )
    return ops.stored_response(result)


@api.delete("/list_user_ssh_keys/{ssh_key_id}")
async def legacy_delete_ssh_key(request: Request, ssh_key_id: str) -> Response:
    _state(request).delete_ssh_key(_account(request), ssh_key_id, by_id=True)
    return Response(status_code=204)


@api.get("/list_available_configurations")
async def list_configurations(request: Request) -> Response:
    return json_response(200, _state(request).catalog.configurations())


@api.get("/list_available_os_templates")
async def list_os_templates() -> Response:
    return json_response(200, [dict(t) for t in OS_TEMPLATES])


@api.put("/user/company-details")
async def update_company_details(request: Request, body: UpdateCompanyDetailsRequest) -> Response:
    changes = {name: getattr(body, name) for name in body.model_fields_set}
    return json_response(200, _state(request).update_company(_account(request), changes))


@api.get("/user/balance")
async def get_balance(request: Request) -> Response:
    return json_response(200, {"balance": _state(request).balance(_account(request))})


@api.get("/api_keys")
async def list_api_keys(request: Request) -> Response:
    return json_response(200, _state(request).list_api_keys(_account(request)))


@api.post("/api_keys")
async def create_api_key(
    request: Request, body: CreateAPIKeyRequest, idempotency_key: Optional[str] = IdempotencyKey
) -> Response:
    result = _state(request).create_api_key(
        _account(request), body.name, idempotency_key, ops.fingerprint("POST", "/api_keys", body)
    )
    return ops.stored_response(result)


@api.delete("/api_keys/{api_key_id}")
async def delete_api_key(request: Request, api_key_id: str) -> Response:
    _state(request).delete_api_key(_account(request), api_key_id)
    return Response(status_code=204)


@api.post("/payments/create-intent")
async def create_payment_intent(request: Request, body: CreatePaymentRequest) -> Response:
    intent = _state(request).payment_intent(_account(request), body.amount, body.currency)
    return json_response(200, intent)


@api.post(STRIPE_WEBHOOK_PATH)
async def stripe_payment_completed(request: Request) -> Response:
    """Stripe's event for a payment: ``payment_intent.succeeded`` tops up the balance of
    the account whose intent it is (once, however often Stripe delivers it); every
    other event is acknowledged and ignored, as Stripe expects of a webhook."""
    state = _state(request)
    payload = await request.body()
    secret = state.settings.stripe_webhook_secret or ""
    verify_signature(payload, request.headers.get("stripe-signature"), secret)
    try:
        event = json.loads(payload)
    except ValueError:
        raise ApiError(400, "The event is not JSON") from None
    if not isinstance(event, dict) or not isinstance(event.get("type"), str):
        raise ApiError(400, "Not a Stripe event: expected an object with a 'type'")
    if event["type"] != "payment_intent.succeeded":
        return json_response(200, {"received": True, "applied": False})
    data = event.get("data")
    intent = data.get("object") if isinstance(data, dict) else None
    intent_id = intent.get("id") if isinstance(intent, dict) else None
    if not isinstance(intent, dict) or not isinstance(intent_id, str):
        raise ApiError(400, "A payment_intent.succeeded event needs data.object.id")
    received = intent.get("amount_received", intent.get("amount"))
    if received is not None and (
        isinstance(received, bool) or not isinstance(received, int) or received < 0
    ):
        raise ApiError(400, "data.object.amount_received must be a whole number of cents")
    if intent_id not in state.payment_intents:
        # Not ours (another endpoint's, or a test event): acknowledged, so Stripe stops.
        return json_response(200, {"received": True, "applied": False})
    before = state.payment_intents[intent_id].status
    state.complete_payment(intent_id, received)
    return json_response(200, {"received": True, "applied": before != "succeeded"})


def _session_cookie(token: str) -> str:
    return f"{SESSION_COOKIE}={token}; Path=/; HttpOnly; SameSite=Lax; Max-Age=604800"


@api.get("/auth/url")
async def auth_url(request: Request) -> Response:
    # The emulator has no login page: the URL is the callback, to which a code is added
    # (this run's development code, printed at start, or one from the control API). It
    # never carries a code itself: anyone may call /auth/url.
    return json_response(200, f"{request.base_url}auth/callback")


@api.get("/auth/callback")
async def auth_callback(request: Request, code: str = Query(min_length=1)) -> Response:
    state = _state(request)
    account = state.exchange_auth_code(code)
    token = state.new_session(account)
    response = json_response(200, state.user_view(account))
    response.headers["set-cookie"] = _session_cookie(token)
    return response


@api.get(SESSION_PATH)
async def auth_session(request: Request) -> Response:
    if request.scope.get(VIA_KEY) != "session":
        raise ApiError(401, "No session: send the wos_session cookie")
    state = _state(request)
    token = state.new_session(_account(request))
    response = json_response(200, {"message": "Session refreshed"})
    response.headers["set-cookie"] = _session_cookie(token)
    return response


@api.get("/auth/user")
async def auth_user(request: Request) -> Response:
    return json_response(200, _state(request).user_view(_account(request)))


# -- the platform's control API ---------------------------------------------------------

control = APIRouter(prefix="/_emulator")


class _ControlModel(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)


class AccountRequest(_ControlModel):
    api_key: str = Field(min_length=1, max_length=512)
    balance: Optional[float] = None
    auto_terminate_on_depletion: bool = True


class AutoTerminateRequest(_ControlModel):
    enabled: bool


class PaymentCompletion(_ControlModel):
    amount: Optional[StrictInt] = Field(default=None, ge=0)
    """Cents received; the intent's amount by default."""


class InstanceStatusRequest(_ControlModel):
    status: Literal["unhealthy", "shutting_down", "running"]
    seconds: Optional[float] = Field(default=None, ge=0, le=10 * 365 * 86400)
    """``unhealthy``: back to running after this long (default: until healed);
    ``shutting_down``: terminated after this long (default 30)."""


class BalanceRequest(_ControlModel):
    balance: float


class SessionRequest(_ControlModel):
    api_key: str = Field(min_length=1)


class CapacityRequest(_ControlModel):
    gpu_type: str
    region: str
    gpus: StrictInt = Field(ge=0, le=1_000_000)


MAX_BULK_INSTANCES = 1_000_000
"""Most instances one ``POST /_emulator/instances`` creates, all groups together."""

BulkStatus = Literal[
    "pending",
    "provisioning",
    "running",
    "stopping",
    "stopped",
    "starting",
    "unhealthy",
    "shutting_down",
    "terminated",
    "failed",
]


class BulkInstanceGroup(_ControlModel):
    api_key: str = Field(min_length=1, max_length=512)
    count: StrictInt = Field(ge=1, le=MAX_BULK_INSTANCES)
    gpu_type: str = Field(min_length=1, max_length=100)
    gpu_count: StrictInt = Field(default=1, ge=1, le=64)
    region: Optional[str] = Field(default=None, min_length=1, max_length=100)
    status: BulkStatus = "running"
    age_seconds: float = Field(default=0.0, ge=0, le=10 * 365 * 86400)
    name_prefix: Optional[str] = Field(default=None, min_length=1, max_length=200)
    ssh_key: Optional[str] = Field(default=None, min_length=1, max_length=255)
    operating_system_label: str = Field(default="ubuntu_20_04_lts_nvidia", max_length=100)

    @field_validator("name_prefix")
    @classmethod
    def _name_prefix(cls, value: Optional[str]) -> Optional[str]:
        if value is not None and (
            value != value.strip() or any(ord(c) < 32 or ord(c) == 127 for c in value)
        ):
            raise ValueError("must not start or end with whitespace or hold control characters")
        return value


class BulkInstancesRequest(_ControlModel):
    instances: List[BulkInstanceGroup] = Field(min_length=1, max_length=1000)
    return_ids: bool = False


def _account_view(state: PlatformState, account: Account) -> Dict[str, Any]:
    state.settle(account)
    return {
        "account": account.label,
        "user_id": account.user_id,
        "email": account.email,
        "balance": state.balance(account),
        "auto_terminate_on_depletion": account.auto_terminate_on_depletion,
    }


def _intent_view(state: PlatformState, intent: PaymentIntent) -> Dict[str, Any]:
    account = state.accounts.get(intent.account_id)
    return {
        "id": intent.id,
        "account": account.label if account is not None else None,
        "amount": intent.amount,
        "currency": intent.currency,
        "status": intent.status,
    }


@control.post("/accounts")
async def control_create_account(request: Request, body: AccountRequest) -> Response:
    state = _state(request)
    balance = state.settings.initial_balance if body.balance is None else body.balance
    account = state.create_account(body.api_key, balance)
    if not body.auto_terminate_on_depletion:
        account = state.set_auto_terminate(body.api_key, False)
    return json_response(201, _account_view(state, account))


@control.put("/accounts/{api_key}/auto-terminate")
async def control_auto_terminate(
    request: Request, api_key: str, body: AutoTerminateRequest
) -> Response:
    state = _state(request)
    account = state.set_auto_terminate(api_key, body.enabled)
    return json_response(200, _account_view(state, account))


@control.get("/payments")
async def control_payments(request: Request) -> Response:
    state = _state(request)
    return json_response(200, [_intent_view(state, i) for i in state.list_payment_intents()])


@control.get("/payments/webhook-secret")
async def control_webhook_secret(request: Request) -> Response:
    return json_response(200, {"secret": _state(request).settings.stripe_webhook_secret})


@control.post("/payments/{intent_id}/complete")
async def control_complete_payment(
    request: Request, intent_id: str, body: PaymentCompletion
) -> Response:
    """Complete a pending payment as Stripe's webhook would (the same code path)."""
    state = _state(request)
    intent = state.complete_payment(intent_id, body.amount)
    view = _intent_view(state, intent)
    account = state.accounts.get(intent.account_id)
    view["balance"] = state.balance(account) if account is not None else None
    return json_response(200, view)


@control.post("/instances/{instance_id}/status")
async def control_instance_status(
    request: Request, instance_id: str, body: InstanceStatusRequest
) -> Response:
    state = _state(request)
    return json_response(200, state.set_instance_status(instance_id, body.status, body.seconds))


@control.put("/accounts/{api_key}/balance")
async def control_set_balance(request: Request, api_key: str, body: BalanceRequest) -> Response:
    state = _state(request)
    account = state.set_balance(api_key, body.balance)
    return json_response(200, _account_view(state, account))


@control.post("/sessions")
async def control_session(request: Request, body: SessionRequest) -> Response:
    state = _state(request)
    account = state.require_account_for_key(body.api_key)
    return json_response(201, {"wos_session": state.new_session(account)})


@control.post("/auth-codes")
async def control_auth_code(request: Request, body: SessionRequest) -> Response:
    state = _state(request)
    account = state.require_account_for_key(body.api_key)
    return json_response(201, {"code": state.new_auth_code(account)})


@control.get("/dev-login-code")
async def control_dev_login_code(request: Request) -> Response:
    code = _state(request).dev_login_code
    if code is None:
        raise ApiError(404, "The development login is off")
    return json_response(200, {"code": code})


@control.get("/capacity")
async def control_capacity(request: Request) -> Response:
    return json_response(200, _state(request).capacity_report())


@control.put("/capacity")
async def control_set_capacity(request: Request, body: CapacityRequest) -> Response:
    state = _state(request)
    return json_response(200, state.set_capacity(body.gpu_type, body.region, body.gpus))


@control.post("/instances")
async def control_bulk_instances(request: Request, body: BulkInstancesRequest) -> Response:
    total = sum(group.count for group in body.instances)
    if total > MAX_BULK_INSTANCES:
        raise ApiError(
            400, f"{total} instances asked for; one request creates {MAX_BULK_INSTANCES} at most"
        )
    groups = [
        BulkGroup(
            api_key=g.api_key,
            count=g.count,
            gpu_type=g.gpu_type,
            gpu_count=g.gpu_count,
            region=g.region,
            status=g.status,
            age=g.age_seconds,
            name_prefix=g.name_prefix,
            ssh_key=g.ssh_key,
            operating_system_label=g.operating_system_label,
        )
        for g in body.instances
    ]
    ids = _state(request).bulk_create(groups)
    answer: Dict[str, Any] = {"created": len(ids)}
    if body.return_ids:
        answer["ids"] = ids
    return json_response(201, answer)
