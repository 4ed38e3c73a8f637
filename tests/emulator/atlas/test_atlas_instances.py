"""Atlas instances: the eight states in simulated time, capacity, capabilities, the
control API's preemption and failures, and the Management API's view of them."""

from __future__ import annotations

from typing import Any, Dict, List

import httpx
import pytest
from atlas_support import AtlasFactory

from fluidstack.emulator.atlas.capabilities import CAPABILITIES, capability_for
from fluidstack.testing import EmulatorHandle


def create(client: httpx.Client, **fields: Any) -> Dict[str, Any]:
    response = client.post("/instances", json={"name": "worker", "type": "cpu.2x", **fields})
    assert response.status_code == 201, response.text
    body: Dict[str, Any] = response.json()
    return body


def state(client: httpx.Client, instance_id: str) -> str:
    response = client.get(f"/instances/{instance_id}")
    if response.status_code == 404:
        return "gone"
    return str(response.json()["state"])


def test_create_answers_201_creating_with_defaults_and_stores_every_field(
    eu: httpx.Client,
) -> None:
    filesystem = eu.post("/filesystems", json={"name": "data", "size": "1Ti"}).json()
    created = create(
        eu,
        name="train-1",
        type="h100-hgx-80gb.8x",
        preemptible=True,
        ephemeral=True,
        userData="I2Nsb3VkLWNvbmZpZwo=",
        filesystems=[filesystem["id"]],
        tags={"env": "prod", "team.ml_1": "x"},
    )
    assert created["state"] == "creating"
    assert created["ip"] is None
    assert created["image"] == "image://ubuntu22.04"
    assert created["preemptible"] is True
    assert created["ephemeral"] is True
    assert created["userData"] == "I2Nsb3VkLWNvbmZpZwo="
    assert created["filesystems"] == [filesystem["id"]]
    assert created["tags"] == {"env": "prod", "team.ml_1": "x"}
    plain = create(eu, image="image://ubuntu24.04")
    assert plain["preemptible"] is False
    assert plain["ephemeral"] is False
    assert plain["userData"] is None
    assert plain["filesystems"] == []
    assert plain["tags"] == {}
    assert plain["image"] == "image://ubuntu24.04"
    assert eu.get(f"/instances/{created['id']}").json() == created


def test_lifecycle_through_every_state_with_documented_durations(
    eu: httpx.Client, emulator: EmulatorHandle
) -> None:
    instance_id = create(eu)["id"]
    seen: List[str] = [state(eu, instance_id)]
    for seconds in (19, 1, 39, 1):
        emulator.advance(seconds)
        seen.append(state(eu, instance_id))
    assert seen == ["creating", "creating", "starting", "starting", "running"]
    running = eu.get(f"/instances/{instance_id}").json()
    # RFC 5737: an address no network reaches (never a private range someone may use)
    assert running["ip"].rsplit(".", 1)[0] in ("192.0.2", "198.51.100", "203.0.113")
    stop = eu.post(f"/instances/{instance_id}/actions/stop")
    assert (stop.status_code, stop.content) == (202, b"")
    assert state(eu, instance_id) == "stopping"
    assert eu.get(f"/instances/{instance_id}").json()["ip"] is None
    emulator.advance(30)
    assert state(eu, instance_id) == "stopped"
    start = eu.post(f"/instances/{instance_id}/actions/start")
    assert (start.status_code, start.content) == (202, b"")
    assert state(eu, instance_id) == "starting"
    emulator.advance(40)
    assert state(eu, instance_id) == "running"
    assert eu.get(f"/instances/{instance_id}").json()["ip"] == running["ip"]
    delete = eu.delete(f"/instances/{instance_id}")
    assert (delete.status_code, delete.content) == (204, b"")
    assert state(eu, instance_id) == "deleting"
    assert eu.delete(f"/instances/{instance_id}").status_code == 204  # again: no change
    emulator.advance(30)
    assert eu.get(f"/instances/{instance_id}").status_code == 404
    assert eu.get("/instances").json() == []
    assert eu.delete(f"/instances/{instance_id}").status_code == 404


def test_start_and_stop_in_the_wrong_state_conflict(
    eu: httpx.Client, emulator: EmulatorHandle
) -> None:
    instance_id = create(eu)["id"]
    for action in ("start", "stop"):
        response = eu.post(f"/instances/{instance_id}/actions/{action}")
        assert response.status_code == 409, action
        assert "creating" in response.json()["message"]
    emulator.advance(60)
    assert eu.post(f"/instances/{instance_id}/actions/start").status_code == 409
    assert eu.post(f"/instances/{instance_id}/actions/stop").status_code == 202
    assert eu.post(f"/instances/{instance_id}/actions/stop").status_code == 409


def test_capacity_is_consumed_while_up_and_freed_when_stopped_or_deleted(
    eu: httpx.Client, emulator: EmulatorHandle
) -> None:
    emulator.atlas.set_capacity("eu-north-1", "cpu.8x", 2)

    def capacity() -> int:
        rows = eu.get("/capacity").json()
        return int(next(r["capacity"] for r in rows if r["name"] == "cpu.8x"))

    assert capacity() == 2
    first = create(eu, type="cpu.8x")["id"]
    assert capacity() == 1  # creating holds capacity
    second = create(eu, type="cpu.8x")["id"]
    assert capacity() == 0
    third = create(eu, type="cpu.8x")["id"]  # no capacity: still 201 ...
    emulator.advance(60)
    assert [state(eu, i) for i in (first, second, third)] == ["running", "running", "out-of-stock"]
    assert eu.get(f"/instances/{third}").json()["ip"] is None
    eu.post(f"/instances/{first}/actions/stop")
    assert capacity() == 0  # stopping still holds it
    emulator.advance(30)
    assert capacity() == 1  # stopped frees it
    retry = eu.post(f"/instances/{third}/actions/start")  # out-of-stock: start retries
    assert retry.status_code == 202
    emulator.advance(40)
    assert state(eu, third) == "running"
    assert capacity() == 0
    assert eu.post(f"/instances/{first}/actions/start").status_code == 202
    emulator.advance(40)
    assert state(eu, first) == "out-of-stock"  # no capacity at start time
    eu.delete(f"/instances/{second}")
    assert capacity() == 1  # deleting frees it at once
    report = {(r["region"], r["instance_type"]): r for r in emulator.atlas.capacity()}
    assert report[("eu-north-1", "cpu.8x")] == {
        "region": "eu-north-1",
        "instance_type": "cpu.8x",
        "total": 2,
        "used": 1,
        "available": 1,
    }


def test_regions_differ_and_one_can_run_out_while_the_other_has_room(
    atlas_factory: AtlasFactory, project_id: str, emulator: EmulatorHandle
) -> None:
    eu = atlas_factory("eu-north-1", project=project_id)
    us = atlas_factory("us-east-1", project=project_id)
    eu_types = {t["name"] for t in eu.get("/instance-types").json()}
    us_types = {t["name"] for t in us.get("/instance-types").json()}
    assert eu_types != us_types
    gpu = next(t for t in us.get("/instance-types").json() if t["name"] == "h100-hgx-80gb.8x")
    # The Infrastructure API's spelling, and only it (as the real API answers).
    assert (gpu["gpuCount"], gpu["gpuModel"]) == (8, "H100-HGX-80GB")
    assert not {"gpu_count", "gpu_model"} & set(gpu)
    cpu = next(t for t in us.get("/instance-types").json() if t["name"] == "cpu.2x")
    assert not {"gpuCount", "gpu_count", "gpuModel", "gpu_model"} & set(cpu)
    emulator.atlas.set_capacity("eu-north-1", "h100-hgx-80gb.8x", 0)
    out = create(eu, type="h100-hgx-80gb.8x")["id"]
    fine = create(us, type="h100-hgx-80gb.8x")["id"]
    emulator.advance(60)
    assert (state(eu, out), state(us, fine)) == ("out-of-stock", "running")
    unknown = eu.post("/instances", json={"name": "x", "type": "h200-hgx-141gb.8x"})
    assert unknown.status_code == 400  # a us-east-1 type


def test_capabilities_gate_create_and_delete_with_501(
    eu: httpx.Client, emulator: EmulatorHandle
) -> None:
    # All 31 values of the Infrastructure API's Capability enumeration, in its order.
    assert eu.get("/capabilities").json() == list(CAPABILITIES)
    assert len(CAPABILITIES) == 31
    instance_id = create(eu)["id"]
    withheld = [c for c in CAPABILITIES if c not in ("instances:create", "instances:delete")]
    emulator.atlas.set_capabilities("eu-north-1", [*withheld, "instances:delete"])
    refused = eu.post("/instances", json={"name": "x", "type": "cpu.2x"})
    assert refused.status_code == 501
    assert refused.json() == {"message": "instances:create is not available in region eu-north-1"}
    emulator.atlas.set_capabilities("eu-north-1", withheld)
    assert "instances:delete" not in eu.get("/capabilities").json()
    assert eu.delete(f"/instances/{instance_id}").status_code == 501
    assert state(eu, instance_id) == "creating"
    assert len(eu.get("/instances").json()) == 1
    emulator.atlas.set_capabilities("eu-north-1", [])
    assert eu.get("/capabilities").json() == []
    # Reads need their capability too; what no capability names still answers.
    assert eu.get("/instances").status_code == 501
    assert eu.get(f"/instances/{instance_id}").json() == {
        "message": "instances:read is not available in region eu-north-1"
    }
    assert eu.get("/instance-types").status_code == 200


@pytest.mark.parametrize(
    ("method", "path", "capability"),
    [
        ("GET", "/projects", "projects:list"),
        ("POST", "/projects", "projects:create"),
        ("GET", "/filesystems", "filesystems:list"),
        ("POST", "/filesystems", "filesystems:create"),
        ("POST", "/instances/{id}/actions/start", "instances:start"),
        ("POST", "/instances/{id}/actions/stop", "instances:stop"),
        ("GET", "/kubernetes/clusters", "kubernetes:clusters:list"),
        ("GET", "/slurm/clusters", "slurm:clusters:list"),
    ],
)
def test_each_operation_answers_501_without_its_capability(
    eu: httpx.Client, emulator: EmulatorHandle, method: str, path: str, capability: str
) -> None:
    instance_id = create(eu)["id"]
    before = eu.get("/projects").json()
    emulator.atlas.set_capabilities("eu-north-1", [c for c in CAPABILITIES if c != capability])
    answer = eu.request(method, path.format(id=instance_id), json={"name": "x", "size": "1Ti"})
    assert answer.status_code == 501
    assert answer.json() == {"message": f"{capability} is not available in region eu-north-1"}
    emulator.atlas.set_capabilities("eu-north-1", list(CAPABILITIES))
    assert eu.get("/projects").json() == before  # nothing was created
    assert state(eu, instance_id) == "creating"


def test_capability_for_maps_the_infrastructure_operations() -> None:
    cases = {
        ("GET", ("instances",)): "instances:list",
        ("DELETE", ("instances", "x")): "instances:delete",
        ("GET", ("projects", "x")): "projects:read",
        ("DELETE", ("filesystems", "x")): "filesystems:delete",
        ("POST", ("kubernetes", "clusters")): "kubernetes:clusters:create",
        ("GET", ("kubernetes", "clusters", "c")): "kubernetes:clusters:read",
        ("GET", ("kubernetes", "clusters", "c", "credentials")): "kubernetes:credentials:read",
        ("POST", ("kubernetes", "clusters", "c", "node-pools")): "kubernetes:node-pools:create",
        ("DELETE", ("kubernetes", "clusters", "c", "node-pools", "p")): (
            "kubernetes:node-pools:delete"
        ),
        ("GET", ("kubernetes", "node-pools")): "kubernetes:node-pools:list",
        ("GET", ("slurm", "clusters", "c", "node-pools", "p")): "slurm:node-pools:read",
        # The enumeration names no capability for these: always allowed.
        ("POST", ("slurm", "clusters")): None,
        ("GET", ("capabilities",)): None,
        ("GET", ("capacity",)): None,
        ("GET", ("instance-types",)): None,
    }
    for (method, parts), expected in cases.items():
        assert capability_for(method, parts) == expected, (method, parts)


def test_preemption_and_failures_from_the_control_api(
    eu: httpx.Client, emulator: EmulatorHandle
) -> None:
    spot = create(eu, preemptible=True)["id"]
    normal = create(eu)["id"]
    with pytest.raises(Exception, match="409"):
        emulator.atlas.preempt(spot)  # not running yet
    emulator.advance(60)
    with pytest.raises(Exception, match="409"):
        emulator.atlas.preempt(normal)  # not preemptible
    assert emulator.atlas.preempt(spot)["state"] == "stopping"
    emulator.advance(30)
    assert state(eu, spot) == "stopped"
    assert emulator.atlas.fail(normal)["state"] == "error"
    assert state(eu, normal) == "error"
    assert eu.post(f"/instances/{normal}/actions/start").status_code == 409
    emulator.atlas.fail_next("eu-north-1", "cpu.2x", times=1)
    doomed = create(eu)["id"]
    lucky = create(eu)["id"]
    emulator.advance(20)
    assert state(eu, doomed) == "starting"
    emulator.advance(40)
    assert (state(eu, doomed), state(eu, lucky)) == ("error", "running")
    assert eu.delete(f"/instances/{normal}").status_code == 204


def test_invalid_instance_bodies_answer_400_and_create_nothing(eu: httpx.Client) -> None:
    bad_bodies = [
        {"type": "cpu.2x"},
        {"name": "x"},
        {"name": "", "type": "cpu.2x"},
        {"name": 1, "type": "cpu.2x"},
        {"name": "x", "type": "nope.1x"},
        {"name": "x", "type": "cpu.2x", "preemptible": "yes"},
        {"name": "x", "type": "cpu.2x", "ephemeral": None},
        {"name": "x", "type": "cpu.2x", "userData": "not base64!"},
        {"name": "x", "type": "cpu.2x", "userData": 5},
        {"name": "x", "type": "cpu.2x", "filesystems": ["not-a-uuid"]},
        {"name": "x", "type": "cpu.2x", "filesystems": ["7c9e6679-7425-40de-944b-e07fc1f90ae7"]},
        {"name": "x", "type": "cpu.2x", "filesystems": "x"},
        {"name": "x", "type": "cpu.2x", "tags": {"-bad": "x"}},
        {"name": "x", "type": "cpu.2x", "tags": {"a" * 64: "x"}},
        {"name": "x", "type": "cpu.2x", "tags": {"ok": 1}},
        {"name": "x", "type": "cpu.2x", "tags": []},
        {"name": "x", "type": "cpu.2x", "image": 3},
    ]
    for body in bad_bodies:
        response = eu.post("/instances", json=body)
        assert response.status_code == 400, (body, response.text)
        assert response.json()["message"]
    for raw in (b"", b"{", b"[]", b"null", b'{"name": NaN}', b"\xff"):
        response = eu.post("/instances", content=raw, headers={"content-type": "application/json"})
        assert response.status_code == 400, raw
    wrong_type = eu.post("/instances", content=b"name=x", headers={"content-type": "text/plain"})
    assert wrong_type.status_code == 400
    deep = b"[" * 100_000 + b"]" * 100_000
    assert eu.post("/instances", content=deep).status_code == 400
    assert eu.get("/instances").json() == []


def test_management_lists_instances_across_regions_with_health(
    atlas_factory: AtlasFactory, project_id: str, emulator: EmulatorHandle
) -> None:
    eu = atlas_factory("eu-north-1", project=project_id)
    us = atlas_factory("us-east-1", project=project_id)
    mgmt = atlas_factory()
    other = atlas_factory("eu-north-1").post("/projects", json={"name": "other"}).json()["id"]
    in_other = create(atlas_factory("eu-north-1", project=other))["id"]
    a, b = create(eu)["id"], create(us)["id"]
    listed = {i["id"]: i for i in mgmt.get("/instances").json()}
    assert set(listed) == {a, b, in_other}
    assert listed[a]["region"] == "eu-north-1"
    assert listed[b]["region"] == "us-east-1"
    assert listed[a]["project_id"] == project_id
    assert listed[a]["health"] == "stale"
    emulator.advance(60)
    assert mgmt.get(f"/instances/{a}").json()["health"] == "healthy"
    eu.post(f"/instances/{a}/actions/stop")
    emulator.advance(30)
    assert mgmt.get(f"/instances/{a}").json()["health"] == "offline"
    only = mgmt.get("/instances", headers={"X-PROJECT-ID": project_id}).json()
    assert {i["id"] for i in only} == {a, b}
    assert mgmt.get("/instances", headers={"X-PROJECT-ID": "garbage"}).json() == []
    unknown = "7c9e6679-7425-40de-944b-e07fc1f90ae7"
    assert mgmt.get("/instances", headers={"X-PROJECT-ID": unknown}).json() == []
    assert mgmt.get(f"/instances/{unknown}").status_code == 404
    assert mgmt.get("/instances/not-a-uuid").status_code == 404
    us.delete(f"/instances/{b}")
    emulator.advance(30)
    assert {i["id"] for i in mgmt.get("/instances").json()} == {a, in_other}
    assert mgmt.get(f"/instances/{b}").status_code == 404


def test_another_projects_or_regions_instance_is_not_found(
    atlas_factory: AtlasFactory, project_id: str
) -> None:
    eu = atlas_factory("eu-north-1", project=project_id)
    instance_id = create(eu)["id"]
    us = atlas_factory("us-east-1", project=project_id)
    other = atlas_factory("eu-north-1").post("/projects", json={"name": "o"}).json()["id"]
    elsewhere = atlas_factory("eu-north-1", project=other)
    for client in (us, elsewhere):
        assert client.get(f"/instances/{instance_id}").status_code == 404
        assert client.delete(f"/instances/{instance_id}").status_code == 404
        assert client.post(f"/instances/{instance_id}/actions/stop").status_code == 404
    assert eu.get("/instances/not-a-uuid").status_code == 404
    assert state(eu, instance_id) == "creating"
