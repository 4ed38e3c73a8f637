"""Isolation over the whole route table, generated from the spec files.

No key, a wrong key and another account's key each get 401 or 404 on every
authenticated route, and account A's state never changes. New routes in the spec
are covered without touching this file.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any, Dict, Iterator, List, Optional, Set, Tuple

import httpx
import pytest

from fluidstack.testing.handle import EmulatorHandle

SPEC_DIR = (
    Path(__file__).resolve().parents[2] / "src" / "fluidstack" / "emulator" / "platform" / "spec"
)
PUBLIC_KEY = (
    "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIMlZrNQiO9x/cSV8+8kF4khUmIupYM4FWj8WT0wfbsoV you@laptop"
)
# Used by existing clients of the real API but absent from the definitions.
EXTRA_ROUTES = [("PUT", "/instances/{instance_id}/rename")]
BODIES: Dict[str, Any] = {
    "/instances": {"gpu_type": "RTX_A4000_16GB", "ssh_key": "a-key"},
    "/instances/{instance_id}/rename": {"new_instance_name": "pwned"},
    "/ssh_keys": {"name": "b-key", "public_key": PUBLIC_KEY},
    "/list_user_ssh_keys": {"name": "b-key", "public_key": PUBLIC_KEY},
    "/api_keys": {"name": "b-api-key"},
    "/user/company-details": {"company_name": "pwned"},
    "/payments/create-intent": {"amount": 100, "currency": "usd"},
}
B_KEY = "account-b-key"


def spec_routes() -> List[Tuple[str, str]]:
    """Every (method, path) of every spec file whose operation takes credentials."""
    routes: Set[Tuple[str, str]] = set(EXTRA_ROUTES)
    for spec_file in sorted(SPEC_DIR.glob("openapi*.json")):
        spec = json.loads(spec_file.read_text())
        for path, operations in spec["paths"].items():
            for method, operation in operations.items():
                if method.upper() in ("HEAD", "OPTIONS"):
                    continue
                names = {p["name"] for p in operation.get("parameters", [])}
                if names & {"api-key", "wos_session"}:
                    routes.add((method.upper(), path))
    return sorted(routes)


ROUTES = spec_routes()


def test_the_route_table_is_the_whole_surface() -> None:
    paths = {path for _, path in ROUTES}
    for expected in (
        "/instances/{instance_id}/stop",
        "/ssh_keys/{ssh_key_name}",
        "/api_keys/{api_key_id}",
        "/user/balance",
        "/auth/user",
        "/payments/create-intent",
    ):
        assert expected in paths
    assert len(ROUTES) >= 20


class World:
    """Account A with one of everything; account B with nothing."""

    def __init__(self, emulator: EmulatorHandle) -> None:
        self.emulator = emulator
        self.a = httpx.Client(base_url=emulator.base_url, headers={"api-key": emulator.api_key})
        emulator.create_account(B_KEY)
        self.a.post(
            "/ssh_keys", json={"name": "a-key", "public_key": PUBLIC_KEY}
        ).raise_for_status()
        created = self.a.post("/instances", json={"gpu_type": "RTX_A4000_16GB", "ssh_key": "a-key"})
        created.raise_for_status()
        self.instance_id = created.json()["id"]
        api_key = self.a.post("/api_keys", json={"name": "a-api-key"})
        api_key.raise_for_status()
        self.api_key_id = api_key.json()["id"]
        emulator.advance(3600)

    def path(self, template: str) -> str:
        values = {
            "instance_id": self.instance_id,
            "ssh_key_name": "a-key",
            "ssh_key_id": "a-key",
            "api_key_id": self.api_key_id,
        }
        return re.sub(r"\{(\w+)\}", lambda m: values[m.group(1)], template)

    def snapshot(self) -> Dict[str, Any]:
        get = self.a.get
        return {
            "instances": get("/instances", params={"include_failed_instances": "true"}).json(),
            "ssh_keys": get("/ssh_keys").json(),
            "api_keys": get("/api_keys").json(),
            "balance": get("/user/balance").json(),
        }


@pytest.fixture
def world(emulator: EmulatorHandle) -> Iterator[World]:
    made = World(emulator)
    yield made
    made.a.close()


def send(world: World, method: str, template: str, headers: Dict[str, str]) -> httpx.Response:
    body: Optional[Any] = BODIES.get(template) if method in ("POST", "PUT") else None
    with httpx.Client(base_url=world.emulator.base_url) as anon:
        return anon.request(method, world.path(template), json=body, headers=headers)


@pytest.mark.parametrize(("method", "template"), ROUTES)
@pytest.mark.parametrize("who", ["no-key", "wrong-key", "forged-session", "other-account"], ids=str)
def test_no_one_else_can_touch_account_a(
    world: World, method: str, template: str, who: str
) -> None:
    headers = {
        "no-key": {},
        "wrong-key": {"api-key": "not-a-real-key"},
        "forged-session": {"cookie": "wos_session=forged"},
        "other-account": {"api-key": B_KEY},
    }[who]
    before = world.snapshot()
    response = send(world, method, template, headers)
    after = world.snapshot()
    assert after == before, f"{who} changed account A with {method} {template}"
    if who != "other-account":
        assert response.status_code == 401, (who, method, template, response.text)
        assert "message" in response.json()
    elif "{" in template:
        assert response.status_code in (401, 403, 404), (method, template, response.text)
    else:
        # A collection route acts on B's own account: fine, as long as A is untouched.
        assert response.status_code < 500
