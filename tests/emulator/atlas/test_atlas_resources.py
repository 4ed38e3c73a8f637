"""Atlas projects, filesystems, headers, the Management API's resources, orchestrator
listings, and the control API's faults, journal and resets on Atlas paths."""

from __future__ import annotations

import json
from typing import Any, Dict

import httpx
import pytest
from atlas_support import AtlasFactory
from emulator_support import public_key

from fluidstack.testing import EmulatorControlError, EmulatorHandle

UNKNOWN = "7c9e6679-7425-40de-944b-e07fc1f90ae7"
INSTANCE = {"name": "worker", "type": "cpu.2x"}


def test_regions_point_at_each_regional_api(mgmt: httpx.Client, emulator: EmulatorHandle) -> None:
    regions = mgmt.get("/regions").json()
    assert regions == [
        {"name": "eu-north-1", "url": f"{emulator.base_url}/regions/eu-north-1"},
        {"name": "us-east-1", "url": f"{emulator.base_url}/regions/us-east-1"},
    ]
    assert emulator.atlas.regions() == ["eu-north-1", "us-east-1"]
    token = emulator.atlas.token()
    unknown = httpx.get(
        f"{emulator.base_url}/regions/mars-1/api/v1alpha1/projects",
        headers={"authorization": f"Bearer {token}"},
    )
    assert unknown.status_code == 404
    assert "message" in unknown.json()


def test_projects_are_org_wide_and_deleted_only_when_empty(
    atlas_factory: AtlasFactory, emulator: EmulatorHandle
) -> None:
    eu, us = atlas_factory("eu-north-1"), atlas_factory("us-east-1")
    created = eu.post("/projects", json={"name": "p", "tags": {"team": "ml"}})
    assert created.status_code == 201
    project = created.json()
    assert project == {"id": project["id"], "name": "p", "state": "active", "tags": {"team": "ml"}}
    assert us.get(f"/projects/{project['id']}").json() == project  # visible from every region
    assert project in us.get("/projects").json()
    in_us = atlas_factory("us-east-1", project=project["id"])
    instance = in_us.post("/instances", json=INSTANCE).json()["id"]
    refused = eu.delete(f"/projects/{project['id']}")
    assert refused.status_code == 409
    assert "instance" in refused.json()["message"]
    in_us.delete(f"/instances/{instance}")
    assert eu.delete(f"/projects/{project['id']}").status_code == 409  # still deleting
    emulator.advance(30)
    filesystem = in_us.post("/filesystems", json={"name": "d", "size": "10"}).json()["id"]
    assert eu.delete(f"/projects/{project['id']}").status_code == 409  # a filesystem
    in_us.delete(f"/filesystems/{filesystem}")
    assert eu.delete(f"/projects/{project['id']}").status_code == 204
    assert eu.get(f"/projects/{project['id']}").json()["state"] == "deleting"
    assert in_us.get("/instances").status_code == 404  # no longer an active project
    assert eu.delete(f"/projects/{project['id']}").status_code == 204
    emulator.advance(30)
    assert eu.get(f"/projects/{project['id']}").status_code == 404
    assert eu.get("/projects").json() == []
    assert eu.delete(f"/projects/{project['id']}").status_code == 404


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"name": ""},
        {"name": "   "},
        {"name": None},
        {"name": "p", "tags": {"bad key": "x"}},
        {"name": "p", "tags": {"ok": None}},
        {"name": "p", "tags": "x"},
    ],
)
def test_invalid_projects_are_400(atlas_factory: AtlasFactory, body: Dict[str, Any]) -> None:
    eu = atlas_factory("eu-north-1")
    response = eu.post("/projects", json=body)
    assert response.status_code == 400
    assert eu.get("/projects").json() == []


def test_tag_keys_follow_the_spec_rule(atlas_factory: AtlasFactory) -> None:
    eu = atlas_factory("eu-north-1")
    good = {"a": "1", "A.b-c_d": "2", "x" * 63: "3", "9": "", "k8s.io_name-1": "v"}
    assert eu.post("/projects", json={"name": "p", "tags": good}).status_code == 201
    for key in ("", "-a", "a-", ".a", "a b", "x" * 64, "é", "a/b"):
        response = eu.post("/projects", json={"name": "p", "tags": {key: "v"}})
        assert response.status_code == 400, key


def test_project_header_is_required_and_must_be_the_callers(
    atlas_factory: AtlasFactory, project_id: str
) -> None:
    no_header = atlas_factory("eu-north-1")
    paths = [
        ("GET", "/capacity"),
        ("GET", "/instances"),
        ("POST", "/instances"),
        ("GET", f"/instances/{UNKNOWN}"),
        ("GET", "/filesystems"),
        ("POST", "/filesystems"),
        ("GET", "/kubernetes/clusters"),
        ("GET", "/kubernetes/node-pools"),
        ("GET", "/slurm/clusters"),
        ("GET", "/slurm/node-pools"),
    ]
    for method, path in paths:
        assert no_header.request(method, path, json={}).status_code == 400, path
        bad = no_header.request(method, path, json={}, headers={"X-PROJECT-ID": "nope"})
        assert bad.status_code == 400, path
        unknown = no_header.request(method, path, json={}, headers={"X-PROJECT-ID": UNKNOWN})
        assert unknown.status_code == 404, path
    for path in ("/capabilities", "/instance-types", "/projects"):
        assert no_header.get(path).status_code == 200


def test_filesystem_sizes_and_deletion_while_attached(
    eu: httpx.Client, emulator: EmulatorHandle
) -> None:
    for size in ("512Gi", "1Ti", "100G", "2T", "1024"):
        response = eu.post("/filesystems", json={"name": f"fs-{size}", "size": size})
        assert response.status_code == 201, size
        assert response.json()["size"] == size
    for size in ("0", "0Gi", "-1Gi", "1.5Ti", "10Mi", "Gi", "", "1 Ti", 512, None):
        response = eu.post("/filesystems", json={"name": "bad", "size": size})
        assert response.status_code == 400, size
    assert eu.post("/filesystems", json={"size": "1Ti"}).status_code == 400
    listed = eu.get("/filesystems").json()
    assert len(listed) == 5
    filesystem = listed[0]
    assert eu.get(f"/filesystems/{filesystem['id']}").json() == filesystem
    instance = eu.post("/instances", json={**INSTANCE, "filesystems": [filesystem["id"]]})
    instance_id = instance.json()["id"]
    conflict = eu.delete(f"/filesystems/{filesystem['id']}")
    assert conflict.status_code == 409
    assert instance_id in conflict.json()["message"]
    eu.delete(f"/instances/{instance_id}")
    assert eu.delete(f"/filesystems/{filesystem['id']}").status_code == 409  # deleting
    emulator.advance(30)
    assert eu.delete(f"/filesystems/{filesystem['id']}").status_code == 204
    assert eu.get(f"/filesystems/{filesystem['id']}").status_code == 404
    assert eu.delete(f"/filesystems/{filesystem['id']}").status_code == 404
    assert eu.get("/filesystems/not-a-uuid").status_code == 404


def test_filesystems_are_per_region(atlas_factory: AtlasFactory, project_id: str) -> None:
    eu = atlas_factory("eu-north-1", project=project_id)
    us = atlas_factory("us-east-1", project=project_id)
    filesystem = eu.post("/filesystems", json={"name": "d", "size": "1Ti"}).json()["id"]
    assert us.get(f"/filesystems/{filesystem}").status_code == 404
    assert us.get("/filesystems").json() == []
    attach = us.post("/instances", json={**INSTANCE, "filesystems": [filesystem]})
    assert attach.status_code == 400


def test_members_and_invitations(mgmt: httpx.Client, emulator: EmulatorHandle) -> None:
    members = mgmt.get("/members").json()
    # The seeded admin, and the development user (users are members of their org).
    assert [m["email"] for m in members] == ["admin@org-1.example.com", "dev@emulator.local"]
    admin = members[0]
    assert admin["role"] == "admin"
    added = emulator.atlas.add_member("Ada", "ada@example.com", role="editor")
    assert set(added) == {"id", "name", "email", "role"}
    update = mgmt.patch(f"/members/{added['id']}", json={"role": "viewer"})
    assert (update.status_code, update.content) == (200, b"")
    assert {m["id"]: m["role"] for m in mgmt.get("/members").json()}[added["id"]] == "viewer"
    assert mgmt.patch(f"/members/{added['id']}", json={"role": "owner"}).status_code == 400
    assert mgmt.patch(f"/members/{added['id']}", json={"role": None}).status_code == 400
    assert mgmt.patch(f"/members/{added['id']}", content=b"[]").status_code == 400
    assert mgmt.patch(f"/members/{added['id']}", json={}).status_code == 200
    assert mgmt.patch("/members/nobody", json={"role": "admin"}).status_code == 404
    assert mgmt.delete(f"/members/{added['id']}").status_code == 204
    assert mgmt.delete(f"/members/{added['id']}").status_code == 404
    assert mgmt.get("/members").json() == members

    invited = mgmt.post("/invitations", json={"email": "bob@example.com"})
    assert (invited.status_code, invited.content) == (201, b"")
    [invitation] = mgmt.get("/invitations").json()
    assert invitation["email"] == "bob@example.com"
    assert invitation["role"] == "viewer"
    again = mgmt.post("/invitations", json={"email": "bob@example.com", "role": "admin"})
    assert again.status_code == 201
    assert mgmt.get("/invitations").json() == [{**invitation, "role": "admin"}]
    for bad in ({}, {"email": "not-an-email"}, {"email": 3}, {"email": "a@b.c", "role": "god"}):
        assert mgmt.post("/invitations", json=bad).status_code == 400, bad
    assert mgmt.delete(f"/invitations/{invitation['id']}").status_code == 204
    assert mgmt.delete(f"/invitations/{invitation['id']}").status_code == 404
    assert mgmt.get("/invitations").json() == []


def test_create_organization(emulator: EmulatorHandle) -> None:
    # Not in management.openapi.yaml (the docs show it, NOTES.md section 7), so a plain
    # client rather than the conformance-checked ``mgmt``; the shape is checked here.
    mgmt = httpx.Client(
        base_url=emulator.base_url + "/api/v1alpha1",
        headers={"authorization": f"Bearer {emulator.atlas.token()}"},
    )
    created = mgmt.post("/organizations", json={"display_name": "Research"})
    assert created.status_code == 201
    org = created.json()
    assert set(org) == {"id", "name", "display_name"}
    assert org["display_name"] == "Research"
    for bad in ({}, {"display_name": ""}, {"display_name": 3}):
        assert mgmt.post("/organizations", json=bad).status_code == 400, bad
    # The caller still sees its own organization only; the new one is its own tenant.
    assert org["id"] not in [o["id"] for o in mgmt.get("/organizations").json()]
    listed = {o["id"]: o for o in emulator.atlas.organizations()}
    client_id = listed[org["id"]]["client_id"]
    token = emulator.atlas.token(client_id=client_id)
    theirs = httpx.get(
        emulator.base_url + "/api/v1alpha1/organizations",
        headers={"authorization": f"Bearer {token}"},
    ).json()
    assert theirs == [org]
    emulator.reset()  # made at runtime: gone after a full reset
    assert org["id"] not in [o["id"] for o in emulator.atlas.organizations()]
    mgmt.close()


def test_user_ssh_keys(mgmt: httpx.Client) -> None:
    key = public_key()
    assert mgmt.get("/user/keys").json() == []
    added = mgmt.post("/user/keys", json={"name": "laptop", "key": key})
    assert (added.status_code, added.content) == (200, b"")
    assert mgmt.get("/user/keys").json() == [{"name": "laptop", "key": key}]
    duplicate = mgmt.post("/user/keys", json={"name": "laptop", "key": public_key("ssh-rsa")})
    assert duplicate.status_code == 409
    for bad in (
        {"name": "x", "key": "not a key"},
        {"name": "x", "key": "-----BEGIN OPENSSH PRIVATE KEY-----"},
        {"name": "x"},
        {"key": key},
        {"name": "a/b", "key": key},
        {"name": "", "key": key},
    ):
        response = mgmt.post("/user/keys", json=bad)
        assert response.status_code == 400, bad
        assert "PRIVATE" not in response.text
    assert mgmt.delete("/user/keys/laptop").status_code == 204
    assert mgmt.delete("/user/keys/laptop").status_code == 404
    assert mgmt.get("/user/keys").json() == []


def test_orchestrators_seeded_and_configurable(
    atlas_factory: AtlasFactory, emulator: EmulatorHandle, project_id: str
) -> None:
    mgmt = atlas_factory()
    eu = atlas_factory("eu-north-1", project=project_id)
    us = atlas_factory("us-east-1", project=project_id)
    clusters = mgmt.get("/clusters").json()
    assert sorted(c["type"] for c in clusters) == ["kubernetes", "slurm"]
    assert all(c["region"] == "eu-north-1" and c["health"] == "healthy" for c in clusters)
    [kubernetes] = eu.get("/kubernetes/clusters").json()
    # The Infrastructure API's KubernetesCluster (NOTES.md section 10).
    assert set(kubernetes) == {"id", "name", "version", "endpoint"}
    pools = eu.get("/kubernetes/node-pools").json()
    assert [p["type"] for p in pools] == ["h100-hgx-80gb.8x"]
    assert len(eu.get("/slurm/clusters").json()) == 1
    assert len(eu.get("/slurm/node-pools").json()) == 1
    assert us.get("/kubernetes/clusters").json() == []
    missing = us.get("/slurm/node-pools")
    assert missing.status_code == 404
    assert "slurm" in missing.json()["message"]
    other = atlas_factory("us-east-1").post("/projects", json={"name": "o"}).json()["id"]
    added = emulator.atlas.add_cluster(
        "us-east-1",
        "slurm",
        "hpc",
        node_pools=[{"name": "gpu", "type": "h200-hgx-141gb.8x"}],
        project_id=other,
        health="stale",
    )
    assert added["project_id"] == other
    assert us.get("/slurm/clusters").json() == []  # another project's cluster
    in_other = atlas_factory("us-east-1", project=other)
    assert in_other.get("/slurm/clusters").json() == [
        {"id": added["id"], "name": "hpc", "version": "24.05.6", "loginNodes": []}
    ]
    assert in_other.get("/slurm/node-pools").json()[0]["type"] == "h200-hgx-141gb.8x"
    listed = {c["id"]: c for c in mgmt.get("/clusters").json()}
    assert listed[added["id"]]["health"] == "stale"
    emulator.atlas.remove_cluster(added["id"])
    assert in_other.get("/slurm/node-pools").status_code == 404
    with pytest.raises(EmulatorControlError):
        emulator.atlas.remove_cluster(added["id"])
    with pytest.raises(EmulatorControlError):
        emulator.atlas.add_cluster(
            "us-east-1", "slurm", "x", node_pools=[{"name": "p", "type": "?"}]
        )


def test_organizations_lists_only_the_callers(mgmt: httpx.Client, emulator: EmulatorHandle) -> None:
    emulator.atlas.create_organization("tenant-b", "secret-b", display_name="Tenant B")
    [org] = mgmt.get("/organizations").json()
    assert org["name"] == "org-1"
    b_token = emulator.atlas.token(client_id="tenant-b")
    b = httpx.get(
        f"{emulator.base_url}/api/v1alpha1/organizations",
        headers={"authorization": f"Bearer {b_token}"},
    ).json()
    assert [o["display_name"] for o in b] == ["Tenant B"]
    assert b[0]["id"] != org["id"]


def test_faults_match_atlas_paths_and_perform_then_fail(
    eu: httpx.Client, emulator: EmulatorHandle
) -> None:
    path = "/regions/eu-north-1/api/v1alpha1/instances"
    emulator.add_fault(method="POST", path=path, status=503, perform=True)
    failed = eu.post("/instances", json=INSTANCE)
    assert failed.status_code == 503
    [instance] = eu.get("/instances").json()  # ... but it was created
    emulator.add_fault(method="POST", path=path, action="drop", perform=True)
    with pytest.raises(httpx.HTTPError):
        eu.post("/instances", json=INSTANCE)
    assert len(eu.get("/instances").json()) == 2
    emulator.add_fault(path="/oauth/token", status=500)
    token = httpx.post(
        emulator.base_url + "/oauth/token",
        data={
            "grant_type": "client_credentials",
            "client_id": emulator.atlas.client_id,
            "client_secret": emulator.atlas.client_secret,
        },
    )
    assert token.status_code == 500
    journal = emulator.journal()
    atlas_entries = [e for e in journal if e["path"] == path]
    assert [e["status"] for e in atlas_entries if e["method"] == "POST"] == [503, None]
    assert all(e["account"] == "org-1" for e in atlas_entries)
    text = json.dumps(journal)
    assert "authorization" not in text.lower()
    assert emulator.atlas.client_secret not in text
    assert instance["id"]


def test_fault_rules_scoped_to_one_organization(
    atlas_factory: AtlasFactory, emulator: EmulatorHandle
) -> None:
    emulator.atlas.create_organization("tenant-b", "secret-b")
    emulator.add_fault(path="/api/v1alpha1/regions", client_id="tenant-b", status=502, times=None)
    assert atlas_factory().get("/regions").status_code == 200
    b = atlas_factory(token=emulator.atlas.token(client_id="tenant-b"), validate=False)
    assert b.get("/regions").status_code == 502
    assert emulator.faults()[0]["client_id"] == "tenant-b"
    with pytest.raises(EmulatorControlError):
        emulator.add_fault(path="/x", client_id="nobody")
    with pytest.raises(EmulatorControlError):
        emulator.add_fault(path="/x", client_id="tenant-b", api_key="fs-emulator-dev-key")


def test_reset_of_one_org_keeps_the_others(
    atlas_factory: AtlasFactory, emulator: EmulatorHandle
) -> None:
    emulator.atlas.create_organization("tenant-b", "secret-b")
    a = atlas_factory("eu-north-1")
    b = atlas_factory("eu-north-1", token=emulator.atlas.token(client_id="tenant-b"))
    a.post("/projects", json={"name": "a"})
    b.post("/projects", json={"name": "b"})
    emulator.reset(client_id="tenant-b")
    assert b.get("/projects").json() == []
    assert [p["name"] for p in a.get("/projects").json()] == ["a"]
    b_mgmt = atlas_factory(token=emulator.atlas.token(client_id="tenant-b"))
    assert len(b_mgmt.get("/members").json()) == 1  # the seeds come back
    assert len(b_mgmt.get("/clusters").json()) == 2
    emulator.reset()
    assert a.get("/projects").json() == []


def test_limits_and_methods(eu: httpx.Client, mgmt: httpx.Client) -> None:
    big = eu.post("/projects", content=b"x" * (1024 * 1024 + 1))
    assert big.status_code == 413
    assert len(eu.get("/projects").json()) == 1  # only the fixture's
    not_allowed = eu.put("/instances")
    assert not_allowed.status_code == 405
    assert not_allowed.headers["allow"] == "GET, POST"
    assert mgmt.get("/nothing-here").status_code == 404
    assert mgmt.get("").status_code == 404
    assert eu.get("/instances/x/actions/reboot").status_code == 404


def test_control_api_validation(emulator: EmulatorHandle) -> None:
    http = httpx.Client(headers=emulator.control_headers)
    control = emulator.base_url + "/_emulator/atlas"
    assert (
        http.put(
            control + "/capacity", json={"region": "mars", "instance_type": "cpu.2x", "total": 1}
        ).status_code
        == 404
    )
    assert (
        http.put(
            control + "/capacity", json={"region": "eu-north-1", "instance_type": "x", "total": 1}
        ).status_code
        == 400
    )
    assert (
        http.put(
            control + "/capacity",
            json={"region": "eu-north-1", "instance_type": "cpu.2x", "total": -1},
        ).status_code
        == 422
    )
    assert http.post(control + "/instances/nope/preempt", json={}).status_code == 404
    assert http.post(control + "/instances/nope/fail", json={}).status_code == 404
    assert http.post(control + "/tokens", json={"client_id": "nobody"}).status_code == 404
    assert (
        http.post(
            control + "/provisioning-failures", json={"region": "eu-north-1", "times": 0}
        ).status_code
        == 422
    )
    assert (
        http.put(control + "/regions/mars/capabilities", json={"capabilities": []}).status_code
        == 404
    )
