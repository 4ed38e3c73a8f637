"""Isolation of Atlas organizations over the whole route table of both specs.

Organization A has one of everything (project, instance, filesystem, invitation,
member, SSH key, clusters). Organization B, a wrong token and no token each call every
operation of both specs with A's real ids in the path and A's project in
``X-PROJECT-ID``: the first gets 400/404 wherever A's resources are named (exactly as
unknown ids) and acts only on its own empty organization elsewhere; the others get 401.
A snapshot of everything A can read is unchanged after every request.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Dict, Iterator, List, Optional, Tuple

import httpx
import pytest
import yaml

from fluidstack.testing.handle import EmulatorHandle

SPEC_DIR = (
    Path(__file__).resolve().parents[2] / "src" / "fluidstack" / "emulator" / "atlas" / "spec"
)
PUBLIC_KEY = (
    "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIMlZrNQiO9x/cSV8+8kF4khUmIupYM4FWj8WT0wfbsoV you@laptop"
)
REGION = "eu-north-1"
BODIES: Dict[Tuple[str, str], Any] = {
    ("regional", "/projects"): {"name": "b-project"},
    ("regional", "/instances"): {"name": "b-instance", "type": "cpu.2x"},
    ("regional", "/filesystems"): {"name": "b-fs", "size": "1Ti"},
    ("management", "/members/{id}"): {"role": "viewer"},
    ("management", "/invitations"): {"email": "b@example.com", "role": "admin"},
    ("management", "/user/keys"): {"name": "a-key", "key": PUBLIC_KEY},
}


def spec_routes() -> List[Tuple[str, str, str]]:
    routes = []
    for api, name in (("regional", "regional"), ("management", "management")):
        spec = yaml.safe_load((SPEC_DIR / f"{name}.openapi.yaml").read_text())
        for path, item in spec["paths"].items():
            for method in item:
                if method in ("get", "post", "put", "patch", "delete"):
                    routes.append((api, method.upper(), path))
    return sorted(routes)


ROUTES = spec_routes()


def test_the_route_table_is_both_specs() -> None:
    assert len([r for r in ROUTES if r[0] == "regional"]) == 21
    assert len([r for r in ROUTES if r[0] == "management"]) == 14


class World:
    """Organization A with one of everything; organization B with nothing of its own."""

    def __init__(self, emulator: EmulatorHandle) -> None:
        self.emulator = emulator
        base = emulator.base_url
        self.a_token = emulator.atlas.token()
        emulator.atlas.create_organization("tenant-b", "b-secret")
        self.b_token = emulator.atlas.token(client_id="tenant-b")
        auth = {"authorization": f"Bearer {self.a_token}"}
        self.mgmt = httpx.Client(base_url=base + "/api/v1alpha1", headers=auth)
        self.region = httpx.Client(base_url=f"{base}/regions/{REGION}/api/v1alpha1", headers=auth)
        self.project_id = self.region.post("/projects", json={"name": "a"}).json()["id"]
        scoped = {"X-PROJECT-ID": self.project_id}
        self.filesystem_id = self.region.post(
            "/filesystems", json={"name": "a-fs", "size": "1Ti"}, headers=scoped
        ).json()["id"]
        self.instance_id = self.region.post(
            "/instances",
            json={"name": "a-instance", "type": "cpu.2x", "filesystems": [self.filesystem_id]},
            headers=scoped,
        ).json()["id"]
        # A second project with nothing in it, that only a delete could remove.
        self.empty_project = self.region.post("/projects", json={"name": "empty"}).json()["id"]
        self.mgmt.post("/invitations", json={"email": "a@example.com"}).raise_for_status()
        self.invitation_id = self.mgmt.get("/invitations").json()[0]["id"]
        self.member_id = emulator.atlas.add_member("A2", "a2@example.com", "editor")["id"]
        self.mgmt.post("/user/keys", json={"name": "a-key", "key": PUBLIC_KEY}).raise_for_status()
        emulator.advance(60)

    def path(self, template: str) -> str:
        values = {
            "/projects/{id}": self.empty_project,
            "/instances/{id}": self.instance_id,
            "/filesystems/{id}": self.filesystem_id,
            "/members/{id}": self.member_id,
            "/invitations/{id}": self.invitation_id,
            "/user/keys/{name}": "a-key",
        }
        for prefix, value in values.items():
            if template.startswith(prefix):
                return template.replace(prefix, prefix.split("{")[0] + value, 1)
        return template

    def snapshot(self) -> Dict[str, Any]:
        scoped = {"X-PROJECT-ID": self.project_id}
        get = self.region.get
        return {
            "projects": get("/projects").json(),
            "instances": get("/instances", headers=scoped).json(),
            "filesystems": get("/filesystems", headers=scoped).json(),
            "clusters": self.mgmt.get("/clusters").json(),
            "members": self.mgmt.get("/members").json(),
            "invitations": self.mgmt.get("/invitations").json(),
            "keys": self.mgmt.get("/user/keys").json(),
            "all": self.mgmt.get("/instances").json(),
            "organizations": self.mgmt.get("/organizations").json(),
        }

    def close(self) -> None:
        self.mgmt.close()
        self.region.close()


@pytest.fixture
def world(emulator: EmulatorHandle) -> Iterator[World]:
    made = World(emulator)
    yield made
    made.close()


@pytest.mark.parametrize(("api", "method", "template"), ROUTES)
@pytest.mark.parametrize("who", ["no-token", "wrong-token", "other-org"], ids=str)
def test_no_one_else_can_touch_organization_a(
    world: World, api: str, method: str, template: str, who: str
) -> None:
    token: Optional[str] = {
        "no-token": None,
        "wrong-token": world.a_token[:-4] + "AAAA",
        "other-org": world.b_token,
    }[who]
    headers = {"X-PROJECT-ID": world.project_id}
    if token is not None:
        headers["authorization"] = f"Bearer {token}"
    prefix = "/api/v1alpha1" if api == "management" else f"/regions/{REGION}/api/v1alpha1"
    body = BODIES.get((api, template)) if method in ("POST", "PATCH") else None
    before = world.snapshot()
    response = httpx.request(
        method, world.emulator.base_url + prefix + world.path(template), json=body, headers=headers
    )
    after = world.snapshot()
    assert after == before, f"{who} changed organization A with {method} {template}"
    assert response.status_code < 500
    if who != "other-org":
        assert response.status_code == 401, (who, method, template, response.text)
        return
    if api == "regional" and template not in (
        "/capabilities",
        "/instance-types",
        "/projects",
    ):
        # A's project (in X-PROJECT-ID) or A's resource (in the path) is unknown to B.
        assert response.status_code == 404, (method, template, response.text)
    elif "{" in template:
        assert response.status_code == 404, (method, template, response.text)
    if method == "GET" and response.status_code == 200:
        assert world.project_id not in response.text
        assert world.instance_id not in response.text
        assert "a-key" not in response.text
        assert "a@example.com" not in response.text


def test_a_token_cannot_name_another_org_in_x_org_id(world: World) -> None:
    a_org = world.mgmt.get("/organizations").json()[0]["id"]
    response = httpx.get(
        f"{world.emulator.base_url}/regions/{REGION}/api/v1alpha1/projects",
        headers={"authorization": f"Bearer {world.b_token}", "X-ORG-ID": a_org},
    )
    assert response.status_code == 403
