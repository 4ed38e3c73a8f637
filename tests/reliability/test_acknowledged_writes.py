"""Every acknowledged write survives ``kill -9``, route by route, deterministically.

For each mutating route of both APIs: prepare what it needs, send it, and the moment its
success answer arrives kill the emulator with SIGKILL (nothing else is written after
it, so no later write can save it by accident), restart on the same ``--db``, and find
the change. ``test_every_mutating_route_is_covered`` lists the routes from the
emulator's own tables, so a new route fails until it has a case here.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from typing import Any, Callable, Dict, Iterator, List, Optional, Tuple

import httpx
import pytest
from acknowledged_support import (
    CLIENT_ID,
    CLIENT_SECRET,
    PUBLIC_KEY,
    REGION,
    WEBHOOK_SECRET,
    Case,
    Emulator,
    assert_that,
    ok,
    platform_call,
    regional_call,
    then,
)

# -- platform ----------------------------------------------------------------------------


def _platform_instance(emu: Emulator, running: bool = True) -> str:
    with emu.platform() as api:
        body = {"gpu_type": "RTX_A4000_16GB", "ssh_key": "base"}
        instance_id = str(ok(api.post("/instances", json=body))["id"])
    if running:
        emu.advance(3600)
    return instance_id


def _platform_status(emu: Emulator, instance_id: str) -> str:
    with emu.platform() as api:
        return str(ok(api.get(f"/instances/{instance_id}"))["status"])


def _platform_key_names(emu: Emulator) -> List[str]:
    with emu.platform() as api:
        return [k["name"] for k in ok(api.get("/ssh_keys"))]


def _legacy_key(emu: Emulator, name: str) -> str:
    with emu.platform() as api:
        ok(api.post("/list_user_ssh_keys", json={"name": name, "public_key": PUBLIC_KEY}))
        (found,) = [k for k in ok(api.get("/list_user_ssh_keys")) if k["name"] == name]
        return str(found["id"])


def _api_key_ids(emu: Emulator) -> List[str]:
    with emu.platform() as api:
        return [k["id"] for k in ok(api.get("/api_keys"))]


def _payment(emu: Emulator, intent: str) -> Dict[str, Any]:
    with emu.control() as control:
        (found,) = [p for p in ok(control.get("/payments")) if p["id"] == intent]
        return dict(found)


def _intent(emu: Emulator) -> str:
    with emu.platform() as api:
        answer = ok(api.post("/payments/create-intent", json={"amount": 1234, "currency": "usd"}))
    return str(answer["client_secret"].split("_secret_")[0])


def _webhook(emu: Emulator, intent: str) -> None:
    event = {
        "id": "evt_ack",
        "object": "event",
        "type": "payment_intent.succeeded",
        "data": {"object": {"id": intent, "object": "payment_intent", "amount": 1234,
                            "amount_received": 1234, "status": "succeeded"}},
    }  # fmt: skip
    payload = json.dumps(event).encode()
    stamp = int(time.time())
    mac = hmac.new(WEBHOOK_SECRET.encode(), f"{stamp}.".encode() + payload, hashlib.sha256)
    headers = {"stripe-signature": f"t={stamp},v1={mac.hexdigest()}"}
    with httpx.Client(base_url=emu.url, timeout=30) as anon:
        answer = ok(anon.post("/webhooks/stripe/payment_completed", content=payload,
                              headers=headers))  # fmt: skip
    assert answer["applied"] is True


def _paid(emu: Emulator, intent: str) -> str:
    _webhook(emu, intent)
    return intent


def _put(path: str, body: Optional[Dict[str, Any]] = None) -> Callable[[Emulator, Any], Any]:
    def act(emu: Emulator, ident: Any) -> Any:
        with emu.platform() as api:
            ok(api.put(path.format(ident), json=body))
        return ident

    return act


PLATFORM = [
    Case(
        "POST /ssh_keys",
        lambda emu, _: platform_call(
            emu, "POST", "/ssh_keys", json={"name": "k-new", "public_key": PUBLIC_KEY}
        ),
        lambda emu, _: assert_that("k-new" in _platform_key_names(emu)),
    ),
    Case(
        "DELETE /ssh_keys/{ssh_key_name}",
        lambda emu, _: platform_call(emu, "DELETE", "/ssh_keys/k-gone"),
        lambda emu, _: assert_that("k-gone" not in _platform_key_names(emu)),
        lambda emu: platform_call(
            emu, "POST", "/ssh_keys", json={"name": "k-gone", "public_key": PUBLIC_KEY}
        ),
    ),
    Case(
        "POST /list_user_ssh_keys",
        lambda emu, _: _legacy_key(emu, "legacy-new"),
        lambda emu, _: assert_that("legacy-new" in _platform_key_names(emu)),
    ),
    Case(
        "DELETE /list_user_ssh_keys/{ssh_key_id}",
        lambda emu, key_id: platform_call(emu, "DELETE", f"/list_user_ssh_keys/{key_id}"),
        lambda emu, _: assert_that("legacy-gone" not in _platform_key_names(emu)),
        lambda emu: _legacy_key(emu, "legacy-gone"),
    ),
    Case(
        "POST /instances",
        lambda emu, _: _platform_instance(emu, running=False),
        lambda emu, ident: assert_that(_platform_status(emu, ident) != "terminated"),
    ),
    Case(
        "DELETE /instances/{instance_id}",
        lambda emu, ident: then(platform_call(emu, "DELETE", f"/instances/{ident}"), ident),
        lambda emu, ident: assert_that(
            _platform_status(emu, ident) in ("terminating", "terminated")
        ),
        _platform_instance,
    ),
    Case(
        "PUT /instances/{instance_id}/stop",
        _put("/instances/{}/stop"),
        lambda emu, ident: assert_that(_platform_status(emu, ident) in ("stopping", "stopped")),
        _platform_instance,
    ),
    Case(
        "PUT /instances/{instance_id}/start",
        _put("/instances/{}/start"),
        lambda emu, ident: assert_that(_platform_status(emu, ident) in ("starting", "running")),
        lambda emu: _stopped_platform_instance(emu),
    ),
    Case(
        "PUT /instances/{instance_id}/rename",
        _put("/instances/{}/rename", {"new_instance_name": "renamed-ack"}),
        lambda emu, ident: assert_that(
            platform_call(emu, "GET", f"/instances/{ident}")["name"] == "renamed-ack"
        ),
        _platform_instance,
    ),
    Case(
        "PUT /user/company-details",
        lambda emu, _: platform_call(
            emu, "PUT", "/user/company-details", json={"company_name": "Ack Ltd"}
        ),
        lambda emu, _: assert_that("Ack Ltd" in json.dumps(_company(emu))),
    ),
    Case(
        "POST /api_keys",
        lambda emu, _: str(platform_call(emu, "POST", "/api_keys", json={"name": "ci"})["id"]),
        lambda emu, ident: assert_that(ident in _api_key_ids(emu)),
    ),
    Case(
        "DELETE /api_keys/{api_key_id}",
        lambda emu, ident: then(platform_call(emu, "DELETE", f"/api_keys/{ident}"), ident),
        lambda emu, ident: assert_that(ident not in _api_key_ids(emu)),
        lambda emu: str(platform_call(emu, "POST", "/api_keys", json={"name": "gone"})["id"]),
    ),
    Case(
        "POST /payments/create-intent",
        lambda emu, _: _intent(emu),
        lambda emu, intent: assert_that(
            _payment(emu, intent)["status"] == "requires_payment_method"
        ),
    ),
    Case(
        "POST /webhooks/stripe/payment_completed",
        _paid,
        lambda emu, intent: assert_that(_payment(emu, intent)["status"] == "succeeded"),
        _intent,
    ),
]


def _stopped_platform_instance(emu: Emulator) -> str:
    instance_id = _platform_instance(emu)
    with emu.platform() as api:
        ok(api.put(f"/instances/{instance_id}/stop"))
    emu.advance(3600)
    return instance_id


def _company(emu: Emulator) -> Any:
    with emu.control() as control:
        return ok(control.get("/state"))["apis"]["platform"]


# -- Atlas ---------------------------------------------------------------------------------


def _regional_post(path: str, body: Dict[str, Any]) -> Callable[[Emulator, Any], Any]:
    def act(emu: Emulator, parent: Any) -> Any:
        with emu.regional() as api:
            return str(ok(api.post(path.format(parent), json=body))["id"])

    return act


def _regional_delete(path: str) -> Callable[[Emulator, Any], Any]:
    def act(emu: Emulator, idents: Any) -> Any:
        with emu.regional() as api:
            ok(api.delete(path.format(*_tuple(idents))))
        return idents

    return act


def _tuple(idents: Any) -> Tuple[Any, ...]:
    return idents if isinstance(idents, tuple) else (idents,)


def _regional_found(path: str) -> Callable[[Emulator, Any], None]:
    def check(emu: Emulator, idents: Any) -> None:
        with emu.regional() as api:
            assert api.get(path.format(*_tuple(idents))).status_code == 200

    return check


def _regional_gone(path: str) -> Callable[[Emulator, Any], None]:
    """Deleted, or being deleted (some deletes take simulated time)."""

    def check(emu: Emulator, idents: Any) -> None:
        with emu.regional() as api:
            answer = api.get(path.format(*_tuple(idents)))
        if answer.status_code == 404:
            return
        doc = ok(answer)
        state = str(doc.get("state") or doc.get("status") or doc.get("health") or "").lower()
        assert "delet" in state or "terminat" in state, doc

    return check


def _cluster(kind: str, with_pool: bool = False) -> Callable[[Emulator], Any]:
    def prepare(emu: Emulator) -> Any:
        name = f"{kind[:4]}-{'pool' if with_pool else 'ack'}"
        cluster = _regional_post(f"/{kind}/clusters", {"name": name})(emu, None)
        emu.advance(3600)
        if not with_pool:
            return cluster
        body = {"name": "pool", "type": "cpu.2x", "count": 1}
        pool = _regional_post(f"/{kind}/clusters/{{}}/node-pools", body)(emu, cluster)
        emu.advance(3600)
        return (cluster, pool)

    return prepare


def _atlas_instance(emu: Emulator, running: bool = True) -> str:
    ident = _regional_post("/instances", {"name": f"ack-{time.monotonic_ns()}",
                                          "type": "cpu.2x"})(emu, None)  # fmt: skip
    if running:
        emu.advance(3600)
    return str(ident)


def _atlas_state(emu: Emulator, ident: str) -> str:
    with emu.regional() as api:
        return str(ok(api.get(f"/instances/{ident}"))["state"])


def _management_names(path: str, field: str) -> Callable[[Emulator], List[str]]:
    def names(emu: Emulator) -> List[str]:
        with emu.management() as api:
            return [str(item[field]) for item in ok(api.get(path))]

    return names


_members = _management_names("/members", "email")
_invitations = _management_names("/invitations", "email")
_user_keys = _management_names("/user/keys", "name")


def _management_call(emu: Emulator, method: str, path: str, json: Any = None) -> Any:
    with emu.management() as api:
        return ok(api.request(method, path, json=json))


def _all_organizations(emu: Emulator) -> List[str]:
    """Every organization's id (the API lists only the caller's own)."""
    with emu.control() as control:
        return [str(org["id"]) for org in ok(control.get("/atlas/organizations"))]


def _member(emu: Emulator, email: str) -> str:
    with emu.control() as control:
        added = ok(control.post("/atlas/members", json={"name": "Ada", "email": email,
                                                        "role": "viewer"}))  # fmt: skip
    return str(added["id"])


def _invite(emu: Emulator, email: str) -> str:
    with emu.management() as api:
        ok(api.post("/invitations", json={"email": email, "role": "viewer"}))
        (found,) = [i for i in ok(api.get("/invitations")) if i["email"] == email]
    return str(found["id"])


def _mgmt(
    method: str, path: str, body: Optional[Dict[str, Any]] = None
) -> Callable[[Emulator, Any], Any]:
    def act(emu: Emulator, ident: Any) -> Any:
        with emu.management() as api:
            ok(api.request(method, path.format(ident), json=body))
        return ident

    return act


ATLAS = [
    Case(
        "POST /api/v1alpha1/organizations",
        lambda emu, _: _management_call(emu, "POST", "/organizations", {"display_name": "Ack"})[
            "id"
        ],
        lambda emu, org_id: assert_that(org_id in _all_organizations(emu)),
    ),
    Case(
        "PATCH /api/v1alpha1/members/{}",
        _mgmt("PATCH", "/members/{}", {"role": "editor"}),
        lambda emu, _: assert_that(_role_of(emu, "patched@example.com") == "editor"),
        lambda emu: _member(emu, "patched@example.com"),
    ),
    Case(
        "DELETE /api/v1alpha1/members/{}",
        _mgmt("DELETE", "/members/{}"),
        lambda emu, _: assert_that("removed@example.com" not in _members(emu)),
        lambda emu: _member(emu, "removed@example.com"),
    ),
    Case(
        "POST /api/v1alpha1/invitations",
        _mgmt("POST", "/invitations", {"email": "invited@example.com", "role": "viewer"}),
        lambda emu, _: assert_that("invited@example.com" in _invitations(emu)),
    ),
    Case(
        "DELETE /api/v1alpha1/invitations/{}",
        _mgmt("DELETE", "/invitations/{}"),
        lambda emu, _: assert_that("uninvited@example.com" not in _invitations(emu)),
        lambda emu: _invite(emu, "uninvited@example.com"),
    ),
    Case(
        "POST /api/v1alpha1/user/keys",
        _mgmt("POST", "/user/keys", {"name": "laptop", "key": PUBLIC_KEY}),
        lambda emu, _: assert_that("laptop" in _user_keys(emu)),
    ),
    Case(
        "DELETE /api/v1alpha1/user/keys/{}",
        _mgmt("DELETE", "/user/keys/old"),
        lambda emu, _: assert_that("old" not in _user_keys(emu)),
        lambda emu: _mgmt("POST", "/user/keys", {"name": "old", "key": PUBLIC_KEY})(emu, None),
    ),
    Case(
        "POST /regions/*/projects",
        _regional_post("/projects", {"name": "made"}),
        _regional_found("/projects/{}"),
    ),
    Case(
        "DELETE /regions/*/projects/{}",
        _regional_delete("/projects/{}"),
        _regional_gone("/projects/{}"),
        lambda emu: _regional_post("/projects", {"name": "doomed"})(emu, None),
    ),
    Case(
        "POST /regions/*/instances",
        lambda emu, _: _atlas_instance(emu, running=False),
        _regional_found("/instances/{}"),
    ),
    Case(
        "DELETE /regions/*/instances/{}",
        _regional_delete("/instances/{}"),
        _regional_gone("/instances/{}"),
        _atlas_instance,
    ),
    Case(
        "POST /regions/*/instances/{}/actions/stop",
        lambda emu, ident: then(
            regional_call(emu, "POST", f"/instances/{ident}/actions/stop"), ident
        ),
        lambda emu, ident: assert_that(_atlas_state(emu, ident) in ("stopping", "stopped")),
        _atlas_instance,
    ),
    Case(
        "POST /regions/*/instances/{}/actions/start",
        lambda emu, ident: then(
            regional_call(emu, "POST", f"/instances/{ident}/actions/start"), ident
        ),
        lambda emu, ident: assert_that(_atlas_state(emu, ident) in ("starting", "running")),
        lambda emu: _stopped_atlas_instance(emu),
    ),
    Case(
        "POST /regions/*/filesystems",
        _regional_post("/filesystems", {"name": "data", "size": "10Gi"}),
        _regional_found("/filesystems/{}"),
    ),
    Case(
        "DELETE /regions/*/filesystems/{}",
        _regional_delete("/filesystems/{}"),
        _regional_gone("/filesystems/{}"),
        lambda emu: _regional_post("/filesystems", {"name": "old-data", "size": "10Gi"})(emu, None),
    ),
]
for _kind in ("kubernetes", "slurm"):
    ATLAS += [
        Case(
            f"POST /regions/*/{_kind}/clusters",
            _regional_post(f"/{_kind}/clusters", {"name": f"{_kind[:4]}-made"}),
            _regional_found(f"/{_kind}/clusters/{{}}"),
        ),
        Case(
            f"DELETE /regions/*/{_kind}/clusters/{{}}",
            _regional_delete(f"/{_kind}/clusters/{{}}"),
            _regional_gone(f"/{_kind}/clusters/{{}}"),
            _cluster(_kind),
        ),
        Case(
            f"POST /regions/*/{_kind}/clusters/{{}}/node-pools",
            lambda emu, cluster, k=_kind: (
                cluster,
                _regional_post(  # type: ignore[misc]
                    f"/{k}/clusters/{{}}/node-pools", {"name": "made", "type": "cpu.2x", "count": 1}
                )(emu, cluster),
            ),
            _regional_found(f"/{_kind}/clusters/{{}}/node-pools/{{}}"),
            _cluster(_kind),
        ),
        Case(
            f"DELETE /regions/*/{_kind}/clusters/{{}}/node-pools/{{}}",
            _regional_delete(f"/{_kind}/clusters/{{}}/node-pools/{{}}"),
            _regional_gone(f"/{_kind}/clusters/{{}}/node-pools/{{}}"),
            _cluster(_kind, with_pool=True),
        ),
    ]


def _stopped_atlas_instance(emu: Emulator) -> str:
    ident = _atlas_instance(emu)
    with emu.regional() as api:
        ok(api.post(f"/instances/{ident}/actions/stop"))
    emu.advance(3600)
    return ident


def _role_of(emu: Emulator, email: str) -> str:
    with emu.management() as api:
        (found,) = [m for m in ok(api.get("/members")) if m["email"] == email]
    return str(found["role"])


# -- the tests -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def emu(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Emulator]:
    emulator = Emulator(tmp_path_factory.mktemp("ack") / "state.db")
    try:
        with emulator.platform() as api:
            ok(api.post("/ssh_keys", json={"name": "base", "public_key": PUBLIC_KEY}))
        form = {"grant_type": "client_credentials", "client_id": CLIENT_ID,
                "client_secret": CLIENT_SECRET}  # fmt: skip
        with httpx.Client(base_url=emulator.url, timeout=30) as anon:
            emulator.token = ok(anon.post("/oauth/token", data=form))["access_token"]
        with emulator.regional() as api:
            emulator.project = ok(api.post("/projects", json={"name": "ack"}))["id"]
        with emulator.control() as control:
            for instance_type in ("cpu.2x",):
                ok(control.put("/atlas/capacity", json={"region": REGION,
                   "instance_type": instance_type, "total": 1000}))  # fmt: skip
        yield emulator
    finally:
        emulator.stop()


@pytest.mark.slow
@pytest.mark.parametrize("case", PLATFORM + ATLAS, ids=lambda case: case.route)
def test_an_acknowledged_write_survives_kill_9(emu: Emulator, case: Case) -> None:
    prepared = case.prepare(emu)
    acted = case.act(emu, prepared)  # its success answer is in: kill at once
    emu.kill_9_and_restart()
    case.check(emu, acted)


def _mutating_routes() -> List[str]:
    from fluidstack.emulator.atlas.management import MANAGEMENT
    from fluidstack.emulator.atlas.regional import REGIONAL
    from fluidstack.emulator.platform.routes import api

    routes = []
    for route in api.routes:
        for method in sorted(getattr(route, "methods", set()) - {"GET", "HEAD"}):
            routes.append(f"{method} {getattr(route, 'path', '')}")
    for prefix, table in (("/api/v1alpha1", MANAGEMENT), ("/regions/*", REGIONAL)):
        for parts, handlers in table.items():
            for method in sorted(set(handlers) - {"GET", "HEAD"}):
                path = "/".join("{}" if p == "{}" else p for p in parts)
                routes.append(f"{method} {prefix}/{path}")
    return routes


def test_every_mutating_route_is_covered() -> None:
    covered = {case.route for case in PLATFORM + ATLAS}
    assert sorted(set(_mutating_routes()) - covered) == []
    assert sorted(covered - set(_mutating_routes())) == []  # no case for a route that is gone
