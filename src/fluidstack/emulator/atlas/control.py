"""The Atlas part of the control API, under ``/_emulator/atlas/`` (JSON in and out).

Like the rest of the control API it needs no credentials, is never journaled, never
faulted, and is off with ``--no-control``. ``client_id`` defaults to the first
(development) client everywhere.
"""

from __future__ import annotations

from typing import List, Literal, Optional

from fastapi import APIRouter, Request
from pydantic import BaseModel, ConfigDict, Field, StrictInt, StrictStr
from starlette.responses import Response

from fluidstack.emulator.atlas.state import AtlasState
from fluidstack.emulator.responses import ApiError, json_response
from fluidstack.emulator.settings import check_password

__all__ = ["control"]

control = APIRouter(prefix="/_emulator/atlas")


def _state(request: Request) -> AtlasState:
    state: AtlasState = request.app.state.atlas
    return state


class _ControlModel(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)


class OrganizationRequest(_ControlModel):
    client_id: StrictStr = Field(min_length=1, max_length=255, pattern=r"^[^\s:]+$")
    client_secret: StrictStr = Field(min_length=1, max_length=1024)
    display_name: Optional[StrictStr] = Field(default=None, min_length=1, max_length=255)


class TokenRequest(_ControlModel):
    client_id: Optional[StrictStr] = None
    ttl_seconds: Optional[float] = Field(default=None, gt=0, le=10 * 365 * 86400)


class CapacityRequest(_ControlModel):
    region: StrictStr
    instance_type: StrictStr
    total: StrictInt = Field(ge=0, le=1_000_000)


class CapabilitiesRequest(_ControlModel):
    capabilities: List[StrictStr] = Field(max_length=100)


class FailuresRequest(_ControlModel):
    region: StrictStr
    instance_type: Optional[StrictStr] = None
    times: StrictInt = Field(default=1, ge=1, le=1_000_000)


class NodePoolRequest(_ControlModel):
    name: StrictStr = Field(min_length=1, max_length=255)
    type: StrictStr = Field(min_length=1, max_length=255)


class ClusterRequest(_ControlModel):
    client_id: Optional[StrictStr] = None
    region: StrictStr
    type: Literal["kubernetes", "slurm"]
    name: StrictStr = Field(min_length=1, max_length=255)
    project_id: Optional[StrictStr] = None
    health: Literal["healthy", "stale", "offline"] = "healthy"
    node_pools: List[NodePoolRequest] = Field(default_factory=list, max_length=100)


class MemberRequest(_ControlModel):
    client_id: Optional[StrictStr] = None
    name: StrictStr = Field(min_length=1, max_length=255)
    email: StrictStr = Field(min_length=3, max_length=320, pattern=r"^[^@\s]+@[^@\s]+$")
    role: Literal["admin", "editor", "member", "viewer"] = "viewer"


class UserRequest(_ControlModel):
    email: StrictStr = Field(min_length=3, max_length=320, pattern=r"^[^@\s:]+@[^@\s:]+$")
    password: Optional[StrictStr] = Field(default=None, min_length=1, max_length=1024)
    client_id: Optional[StrictStr] = None


@control.post("/organizations")
async def create_organization(request: Request, body: OrganizationRequest) -> Response:
    org = _state(request).create_organization(body.client_id, body.client_secret, body.display_name)
    return json_response(201, {**org.view(), "client_id": org.client_id})


@control.get("/organizations")
async def list_organizations(request: Request) -> Response:
    """``[{id, name, display_name, client_id}]``: every organization (never a secret),
    those made with the Management API's ``POST /organizations`` included."""
    return json_response(200, _state(request).organization_views())


@control.post("/tokens")
async def mint_token(request: Request, body: Optional[TokenRequest] = None) -> Response:
    state = _state(request)
    body = body if body is not None else TokenRequest()
    org = state.require_org(body.client_id)
    ttl = body.ttl_seconds if body.ttl_seconds is not None else state.settings.token_ttl
    issuer = str(request.base_url)
    token, expires_in = state.mint_token(org, ttl, issuer)
    return json_response(201, {"access_token": token, "expires_in": expires_in})


@control.post("/tokens/expire")
async def expire_tokens(request: Request) -> Response:
    """Every access token issued so far answers 401 "Access token expired" from now on
    (refresh tokens and client credentials still get new ones): a test of refresh needs
    no waiting, since tokens live in real seconds."""
    return json_response(200, {"generation": _state(request).expire_tokens()})


@control.get("/capacity")
async def get_capacity(request: Request) -> Response:
    return json_response(200, _state(request).capacity_report())


@control.put("/capacity")
async def set_capacity(request: Request, body: CapacityRequest) -> Response:
    entry = _state(request).set_capacity(body.region, body.instance_type, body.total)
    return json_response(200, entry)


@control.put("/regions/{name}/capabilities")
async def set_capabilities(request: Request, name: str, body: CapabilitiesRequest) -> Response:
    return json_response(200, _state(request).set_capabilities(name, body.capabilities))


@control.post("/instances/{instance_id}/preempt")
async def preempt(request: Request, instance_id: str) -> Response:
    return json_response(200, _state(request).preempt(instance_id))


@control.post("/instances/{instance_id}/fail")
async def fail(request: Request, instance_id: str) -> Response:
    return json_response(200, _state(request).fail(instance_id))


@control.post("/provisioning-failures")
async def fail_next(request: Request, body: FailuresRequest) -> Response:
    entry = _state(request).fail_next(body.region, body.instance_type, body.times)
    return json_response(201, entry)


@control.post("/clusters")
async def add_cluster(request: Request, body: ClusterRequest) -> Response:
    cluster = _state(request).add_cluster(
        body.client_id,
        body.region,
        body.type,
        body.name,
        body.project_id,
        body.health,
        [{"name": p.name, "type": p.type} for p in body.node_pools],
    )
    return json_response(201, cluster)


@control.delete("/clusters/{cluster_id}")
async def remove_cluster(request: Request, cluster_id: str) -> Response:
    _state(request).remove_cluster(cluster_id)
    return Response(status_code=204)


@control.post("/members")
async def add_member(request: Request, body: MemberRequest) -> Response:
    member = _state(request).add_member(body.client_id, body.name, body.email, body.role)
    return json_response(201, member)


@control.post("/users")
async def add_user(request: Request, body: UserRequest) -> Response:
    """A user who logs in at ``/authorize``; the password is generated when not given."""
    if body.password is not None:
        try:
            check_password(body.password)
        except ValueError as exc:
            raise ApiError(400, str(exc)) from None
    user, password = _state(request).add_user(body.client_id, body.email, body.password)
    return json_response(201, {"id": user.id, "email": user.email, "password": password})


@control.get("/users")
async def list_users(request: Request) -> Response:
    """``[{id, email, org_id, client_id}]``: every user (never a password)."""
    state = _state(request)
    with state.lock:
        return json_response(200, state.logins.views())


@control.get("/dev-user")
async def dev_user(request: Request) -> Response:
    """The development user and this run's password (404 when ``--atlas-user`` was given)."""
    state = _state(request)
    with state.lock:
        user = state.logins.dev_user
        if user is None:
            raise ApiError(404, "No development user: --atlas-user was given")
        password = state.logins.dev_password
        return json_response(200, {"id": user.id, "email": user.email, "password": password})
