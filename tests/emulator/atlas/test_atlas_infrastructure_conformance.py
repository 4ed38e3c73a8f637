"""Every answer of every operation of ``infrastructure.openapi.yaml`` decodes as the
contract says: the operations other than Kubernetes and Slurm (projects, instances,
filesystems, capacity, capabilities, instance types), successes and errors alike,
403s included, validated against the schema each operation declares.

Kubernetes and Slurm are driven by ``test_atlas_orchestrator_routes.py`` (its ``OWNED``
prefixes); between the two files every operation of the contract is exercised.
"""

from __future__ import annotations

import httpx
from atlas_support import INFRASTRUCTURE, AtlasConformance, fetch_token

from fluidstack.testing import EmulatorHandle

UNKNOWN = "7c9e6679-7425-40de-944b-e07fc1f90ae7"
ORCHESTRATORS = ("/kubernetes/", "/slurm/")
REGION = "/regions/eu-north-1/api/v1alpha1"


def _viewer_token(emulator: EmulatorHandle, admin: httpx.Client) -> str:
    added = emulator.atlas.add_user("viewer@example.com")
    members = admin.get(emulator.base_url + "/api/v1alpha1/members").json()
    me = next(m["id"] for m in members if m["email"] == "viewer@example.com")
    answer = admin.patch(emulator.base_url + f"/api/v1alpha1/members/{me}", json={"role": "viewer"})
    assert answer.status_code == 200, answer.text
    tokens = emulator.atlas.login_tokens(email="viewer@example.com", password=added["password"])
    return str(tokens["access_token"])


def test_every_other_answer_conforms_to_the_infrastructure_api(emulator: EmulatorHandle) -> None:
    conformance = AtlasConformance(regional=(INFRASTRUCTURE,))
    token = fetch_token(emulator.base_url, emulator.atlas.client_id, emulator.atlas.client_secret)
    hooks = {"response": [conformance.check_response]}
    base = emulator.base_url + REGION
    with httpx.Client(
        base_url=base, headers={"authorization": f"Bearer {token}"}, event_hooks=hooks
    ) as region:
        region.get("/capabilities")
        region.get("/instance-types")
        region.get("/projects")
        project = region.post("/projects", json={"name": "p"}).json()["id"]
        region.post("/projects", json={})  # 400
        region.get(f"/projects/{project}")
        region.get(f"/projects/{UNKNOWN}")  # 404

        region.headers["x-project-id"] = UNKNOWN
        region.get("/instances")  # 404: an unknown project
        region.post("/instances", json={"name": "x", "type": "cpu.2x"})  # 404
        region.headers["x-project-id"] = project
        region.get("/capacity")
        region.get("/instances")
        instance = region.post("/instances", json={"name": "i", "type": "cpu.2x"}).json()["id"]
        region.post("/instances", json={"name": "i"})  # 400: no type
        emulator.advance(300)
        region.get(f"/instances/{instance}")
        region.get(f"/instances/{UNKNOWN}")  # 404
        region.post(f"/instances/{instance}/actions/start")  # 409: already running
        region.post(f"/instances/{instance}/actions/stop")  # 202
        region.post(f"/instances/{UNKNOWN}/actions/stop")  # 404
        emulator.advance(300)
        region.post(f"/instances/{instance}/actions/start")  # 202
        region.post(f"/instances/{UNKNOWN}/actions/start")  # 404
        region.get("/filesystems")
        filesystem = region.post("/filesystems", json={"name": "f", "size": "1Ti"}).json()["id"]
        region.post("/filesystems", json={"name": "f"})  # 400
        region.get(f"/filesystems/{filesystem}")
        region.get(f"/filesystems/{UNKNOWN}")  # 404

        # A viewer's writes: 403 with the Error body, on every kind of resource.
        viewer = _viewer_token(emulator, region)
        refused = {"authorization": f"Bearer {viewer}"}
        region.post("/projects", json={"name": "v"}, headers=refused)
        region.delete(f"/projects/{project}", headers=refused)
        region.post("/instances", json={"name": "v", "type": "cpu.2x"}, headers=refused)
        region.delete(f"/instances/{instance}", headers=refused)
        region.post(f"/instances/{instance}/actions/stop", headers=refused)
        region.post("/filesystems", json={"name": "v", "size": "1Ti"}, headers=refused)
        region.delete(f"/filesystems/{filesystem}", headers=refused)

        region.delete(f"/filesystems/{filesystem}")
        region.delete(f"/filesystems/{UNKNOWN}")  # 404
        region.delete(f"/instances/{instance}")
        region.delete(f"/instances/{UNKNOWN}")  # 404
        emulator.advance(300)
        region.headers.pop("x-project-id")
        region.delete(f"/projects/{project}")
        region.delete(f"/projects/{UNKNOWN}")  # 404

    covered = {
        (spec, method, template)
        for spec, method, template in conformance.operations((INFRASTRUCTURE,))
        if not template.startswith(ORCHESTRATORS)
    }
    seen = {(o.spec, o.method, o.template) for o in conformance.seen}
    assert covered
    assert not covered - seen, f"never exercised: {sorted(covered - seen)}"
    statuses = {o.status for o in conformance.seen}
    assert {200, 201, 202, 204, 400, 403, 404, 409} <= statuses
