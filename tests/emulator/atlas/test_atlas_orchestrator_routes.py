"""Kubernetes and Slurm clusters and node pools on a region's API, as
``infrastructure.openapi.yaml`` describes them: every operation and status code, the
node lifecycle in simulated time (each node an instance of the project: listed, holding
capacity), capacity exhaustion, 409s, the kubeconfig, the flat listings older clients
read, resets and ``--db``. Every response is validated against the specs as it arrives
(``atlas_factory``)."""

from __future__ import annotations

import base64
import ipaddress
from typing import Any, Dict, List

import httpx
import pytest
import yaml
from atlas_support import INFRASTRUCTURE, AtlasConformance, AtlasFactory, fetch_token

from fluidstack.emulator import EmulatorServer, EmulatorSettings
from fluidstack.testing import EmulatorHandle

UNKNOWN = "7c9e6679-7425-40de-944b-e07fc1f90ae7"
H100 = "h100-hgx-80gb.8x"


@pytest.fixture
def eu(atlas_factory: AtlasFactory) -> httpx.Client:
    """The eu-north-1 API on a new project."""
    project = atlas_factory("eu-north-1").post("/projects", json={"name": "orch"}).json()
    return atlas_factory("eu-north-1", project=project["id"])


DOCUMENTATION = ("192.0.2.0/24", "198.51.100.0/24", "203.0.113.0/24")


def _tagged(client: httpx.Client, key: str, value: str) -> List[Dict[str, Any]]:
    return [i for i in client.get("/instances").json() if i["tags"].get(key) == value]


def _capacity(client: httpx.Client, type_name: str) -> int:
    return next(c["capacity"] for c in client.get("/capacity").json() if c["name"] == type_name)


def test_a_kubernetes_cluster_and_its_node_pool_end_to_end(
    eu: httpx.Client, emulator: EmulatorHandle
) -> None:
    created = eu.post("/kubernetes/clusters", json={"name": "train", "version": "1.31.4"})
    assert created.status_code == 201
    cluster = created.json()
    assert (cluster["name"], cluster["version"]) == ("train", "1.31.4")
    host = httpx.URL(cluster["endpoint"]).host
    assert ipaddress.ip_address(host) in ipaddress.ip_network("192.0.2.0/24")  # never routed
    assert eu.post("/kubernetes/clusters", json={"name": "train"}).status_code == 409
    assert eu.post("/kubernetes/clusters", json={"version": "1.32.1"}).status_code == 400
    assert eu.get(f"/kubernetes/clusters/{cluster['id']}").json() == cluster
    assert cluster in eu.get("/kubernetes/clusters").json()
    assert eu.get(f"/kubernetes/clusters/{UNKNOWN}").status_code == 404
    assert eu.get("/kubernetes/clusters/not-a-uuid").status_code == 404
    assert eu.get(f"/slurm/clusters/{cluster['id']}").status_code == 404  # another kind

    pools = f"/kubernetes/clusters/{cluster['id']}/node-pools"
    before = _capacity(eu, H100)
    made = eu.post(pools, json={"name": "gpu", "type": H100, "count": 2})
    assert made.status_code == 201
    pool = made.json()
    assert (pool["cluster"], pool["count"], pool["type"]) == ("train", 2, H100)
    assert pool["version"] == "1.31.4"  # the cluster's, when not given
    assert [n["state"] for n in pool["nodes"]] == ["not_ready", "not_ready"]
    assert pool["nodes"][0]["conditions"][0]["reason"] == "NodeProvisioning"
    backing = _tagged(eu, "fluidstack.node-pool", pool["id"])
    assert sorted(i["id"] for i in backing) == sorted(n["instanceID"] for n in pool["nodes"])
    assert all(i["type"] == H100 for i in backing)
    assert _capacity(eu, H100) == before - 2  # nodes hold capacity like any instance

    emulator.advance(60)
    ready = eu.get(f"{pools}/{pool['id']}").json()
    assert [n["state"] for n in ready["nodes"]] == ["ready", "ready"]
    node = ready["nodes"][0]
    assert node["kubeletVersion"] == "v1.31.4"
    assert node["conditions"][0]["status"] == "True"
    assert node["accelerator"] == {
        "type": "nvidia/gpu",
        "product": "NVIDIA-H100-HGX-80GB",
        "driverVersion": "550.127.08",
    }
    assert node["taints"][0]["key"] == "nvidia.com/gpu"
    assert node["labels"]["kubernetes.io/hostname"] == node["name"]
    assert eu.get(pools).json() == [ready]
    assert eu.get(f"{pools}/{UNKNOWN}").status_code == 404
    assert eu.get(f"/kubernetes/clusters/{UNKNOWN}/node-pools").status_code == 404

    assert eu.post(pools, json={"name": "gpu", "type": "cpu.2x", "count": 1}).status_code == 409
    for bad in (
        {"name": "x", "type": "no-such-type", "count": 1},
        {"name": "x", "type": "cpu.2x"},
        {"name": "x", "type": "cpu.2x", "count": -1},
        {"name": "x", "type": "cpu.2x", "count": True},
        {"name": "x", "type": "cpu.2x", "count": 65},
    ):
        assert eu.post(pools, json=bad).status_code == 400, bad

    refused = eu.delete(f"/kubernetes/clusters/{cluster['id']}")
    assert refused.status_code == 409
    assert "node pool" in refused.json()["message"]
    assert eu.delete(f"{pools}/{pool['id']}").status_code == 204
    assert eu.get(f"{pools}/{pool['id']}").status_code == 404
    assert eu.delete(f"{pools}/{pool['id']}").status_code == 404
    states = {i["state"] for i in _tagged(eu, "fluidstack.node-pool", pool["id"])}
    assert states == {"deleting"}  # the pool's instances go with it
    emulator.advance(30)
    assert _tagged(eu, "fluidstack.node-pool", pool["id"]) == []
    assert _capacity(eu, H100) == before
    assert eu.delete(f"/kubernetes/clusters/{cluster['id']}").status_code == 204
    assert eu.get(f"/kubernetes/clusters/{cluster['id']}").status_code == 404
    assert eu.delete(f"/kubernetes/clusters/{cluster['id']}").status_code == 404


def test_out_of_capacity_nodes_stay_not_ready_and_say_why(
    eu: httpx.Client, emulator: EmulatorHandle
) -> None:
    cluster = eu.post("/kubernetes/clusters", json={"name": "big"}).json()
    pools = f"/kubernetes/clusters/{cluster['id']}/node-pools"
    available = _capacity(eu, H100)
    pool = eu.post(pools, json={"name": "gpu", "type": H100, "count": available + 1}).json()
    emulator.advance(120)
    nodes = eu.get(f"{pools}/{pool['id']}").json()["nodes"]
    assert [n["state"] for n in nodes].count("ready") == available
    (short,) = [n for n in nodes if n["state"] != "ready"]
    condition = short["conditions"][0]
    assert short["state"] == "not_ready"
    assert (condition["status"], condition["reason"]) == ("False", "InsufficientCapacity")
    assert H100 in condition["message"]
    instance = eu.get(f"/instances/{short['instanceID']}").json()
    assert instance["state"] == "out-of-stock"


def test_deleting_an_instance_behind_a_node_leaves_the_node_not_ready(
    eu: httpx.Client, emulator: EmulatorHandle
) -> None:
    """Inferred (docs/emulator.md): the delete is allowed (the contract has no 409 for
    it); the node stays listed, not ready, until its pool is deleted."""
    cluster = eu.post("/kubernetes/clusters", json={"name": "c"}).json()
    pools = f"/kubernetes/clusters/{cluster['id']}/node-pools"
    pool = eu.post(pools, json={"name": "cpu", "type": "cpu.2x", "count": 1}).json()
    emulator.advance(60)
    (node,) = eu.get(f"{pools}/{pool['id']}").json()["nodes"]
    assert eu.delete(f"/instances/{node['instanceID']}").status_code == 204
    emulator.advance(60)
    (node,) = eu.get(f"{pools}/{pool['id']}").json()["nodes"]
    assert node["state"] == "not_ready"
    assert node["conditions"][0]["reason"] == "InstanceDeleted"
    assert eu.delete(f"{pools}/{pool['id']}").status_code == 204


def test_the_kubeconfig(eu: httpx.Client) -> None:
    cluster = eu.post("/kubernetes/clusters", json={"name": "kc"}).json()
    answer = eu.get(f"/kubernetes/clusters/{cluster['id']}/credentials")
    assert answer.status_code == 200
    assert answer.headers["content-type"] == "application/yaml"
    assert answer.headers["content-disposition"] == "attachment; filename=kubeconfig"
    assert "no-store" in answer.headers["cache-control"]
    config = yaml.safe_load(base64.b64decode(answer.content, validate=True))  # the contract's
    (entry,) = config["clusters"]
    assert entry["cluster"]["server"] == cluster["endpoint"]
    (user,) = config["users"]
    assert len(user["user"]["token"]) >= 32
    (context,) = config["contexts"]
    assert context["context"] == {"cluster": entry["name"], "user": user["name"]}
    assert config["current-context"] == context["name"]
    again = eu.get(f"/kubernetes/clusters/{cluster['id']}/credentials")
    assert again.content == answer.content  # the same user and token every time
    assert eu.get(f"/kubernetes/clusters/{UNKNOWN}/credentials").status_code == 404


def test_a_slurm_cluster_has_a_login_node_backed_by_an_instance(
    eu: httpx.Client, emulator: EmulatorHandle
) -> None:
    created = eu.post("/slurm/clusters", json={"name": "hpc"})
    assert created.status_code == 201
    cluster = created.json()
    assert cluster["version"] == "24.05.6"
    (login,) = cluster["loginNodes"]
    # Without --ssh: a documentation address, as an instance's (never one that routes).
    address = ipaddress.ip_address(login["publicIP"])
    assert any(address in ipaddress.ip_network(n) for n in DOCUMENTATION), address
    (instance,) = _tagged(eu, "fluidstack.cluster", cluster["id"])
    assert instance["tags"]["fluidstack.role"] == "login"
    assert eu.post("/slurm/clusters", json={"name": "hpc"}).status_code == 400  # the spec's
    pools = f"/slurm/clusters/{cluster['id']}/node-pools"
    pool = eu.post(pools, json={"name": "cpu", "type": "cpu.8x", "count": 2}).json()
    assert set(pool) == {"id", "name", "type", "count", "nodes"}
    assert all("POWERING_UP" in n["states"] for n in pool["nodes"])
    emulator.advance(60)
    pool = eu.get(f"{pools}/{pool['id']}").json()
    assert [n["states"] for n in pool["nodes"]] == [["IDLE"], ["IDLE"]]
    assert pool["nodes"][0]["slurmdVersion"] == "24.05.6"
    assert eu.post(pools, json={"name": "cpu", "type": "cpu.2x", "count": 1}).status_code == 409
    assert eu.get(pools).json() == [pool]
    assert eu.delete(f"/slurm/clusters/{cluster['id']}").status_code == 409
    assert eu.delete(f"{pools}/{pool['id']}").status_code == 204
    assert eu.delete(f"/slurm/clusters/{cluster['id']}").status_code == 204
    assert eu.get(f"/instances/{instance['id']}").json()["state"] == "deleting"
    assert eu.get(f"/slurm/clusters/{cluster['id']}").status_code == 404


def test_the_flat_listings_of_older_clients_show_every_pool(
    eu: httpx.Client, emulator: EmulatorHandle
) -> None:
    (seeded,) = eu.get("/kubernetes/clusters").json()
    flat = eu.get("/kubernetes/node-pools").json()
    assert len(flat) == 1  # the seeded cluster's declared pool
    pools = f"/kubernetes/clusters/{seeded['id']}/node-pools"
    declared = eu.get(pools).json()
    assert [p["count"] for p in declared] == [0]
    pool = eu.post(pools, json={"name": "more", "type": "cpu.2x", "count": 1}).json()
    flat = eu.get("/kubernetes/node-pools").json()
    assert [p["id"] for p in flat] == [declared[0]["id"], pool["id"]]
    assert eu.get("/slurm/node-pools").status_code == 200
    assert eu.delete(f"/kubernetes/clusters/{seeded['id']}").status_code == 409
    assert eu.delete(f"{pools}/{declared[0]['id']}").status_code == 204
    assert eu.delete(f"{pools}/{pool['id']}").status_code == 204
    assert eu.delete(f"/kubernetes/clusters/{seeded['id']}").status_code == 204
    assert eu.get("/kubernetes/node-pools").status_code == 404  # no cluster: the old 404


def test_a_reset_clears_clusters_and_pools(eu: httpx.Client, emulator: EmulatorHandle) -> None:
    cluster = eu.post("/kubernetes/clusters", json={"name": "gone"}).json()
    eu.post(
        f"/kubernetes/clusters/{cluster['id']}/node-pools",
        json={"name": "p", "type": "cpu.2x", "count": 1},
    )
    emulator.reset()
    assert emulator.atlas.token()  # the organization is back, without the cluster
    mgmt = httpx.get(
        emulator.base_url + "/api/v1alpha1/clusters",
        headers={"authorization": f"Bearer {emulator.atlas.token()}"},
    ).json()
    assert cluster["id"] not in {c["id"] for c in mgmt}


def test_clusters_pools_and_their_nodes_survive_a_restart_with_db(tmp_path: Any) -> None:
    db = str(tmp_path / "atlas.db")

    def start() -> EmulatorServer:
        return EmulatorServer(EmulatorSettings(port=0, db_path=db, seed=1, log_level="warning"))

    with start() as server:
        token = fetch_token(server.base_url, *_dev_client())
        region = _region(server, token)
        project = region.post("/projects", json={"name": "p"}).json()["id"]
        region.headers["x-project-id"] = project
        cluster = region.post("/kubernetes/clusters", json={"name": "keep"}).json()
        pools = f"/kubernetes/clusters/{cluster['id']}/node-pools"
        pool = region.post(pools, json={"name": "p", "type": "cpu.2x", "count": 1}).json()
        config = region.get(f"/kubernetes/clusters/{cluster['id']}/credentials").content
        slurm = region.post("/slurm/clusters", json={"name": "hpc"}).json()
    with start() as server:
        token = fetch_token(server.base_url, *_dev_client())
        region = _region(server, token)
        region.headers["x-project-id"] = project
        assert region.get(f"/kubernetes/clusters/{cluster['id']}").json() == cluster
        kept = region.get(f"{pools}/{pool['id']}").json()
        assert [n["instanceID"] for n in kept["nodes"]] == [n["instanceID"] for n in pool["nodes"]]
        assert region.get(f"/kubernetes/clusters/{cluster['id']}/credentials").content == config
        assert region.get(f"/slurm/clusters/{slurm['id']}").json() == slurm


def _dev_client() -> Any:
    from fluidstack.emulator import DEV_ATLAS_CLIENT_ID, DEV_ATLAS_CLIENT_SECRET

    return DEV_ATLAS_CLIENT_ID, DEV_ATLAS_CLIENT_SECRET


def _region(server: EmulatorServer, token: str) -> httpx.Client:
    return httpx.Client(
        base_url=server.base_url + "/regions/eu-north-1/api/v1alpha1",
        headers={"authorization": f"Bearer {token}"},
        timeout=10.0,
    )


# -- every Kubernetes and Slurm operation of the Infrastructure API -------------------------

OWNED = ("/kubernetes/", "/slurm/")
"""The operations this session must cover. Add the prefixes of the other operations
(``/instances``, ``/projects``, ...) here once their session calls are below."""


def test_every_kubernetes_and_slurm_answer_conforms_to_the_infrastructure_api(
    emulator: EmulatorHandle,
) -> None:
    """Each answer of each Kubernetes and Slurm operation of ``infrastructure.openapi.yaml``
    (successes and the errors the emulator gives) is validated against the response
    schema that operation declares (``$ref`` resolved), headers included."""
    conformance = AtlasConformance(regional=(INFRASTRUCTURE,))
    token = fetch_token(emulator.base_url, emulator.atlas.client_id, emulator.atlas.client_secret)
    auth = {"authorization": f"Bearer {token}"}
    hooks = {"response": [conformance.check_response]}
    base = emulator.base_url + "/regions/eu-north-1/api/v1alpha1"
    with httpx.Client(base_url=base, headers=auth, event_hooks=hooks) as region:
        project = region.post("/projects", json={"name": "p"}).json()["id"]
        region.headers["x-project-id"] = project
        for kind in ("kubernetes", "slurm"):
            clusters = f"/{kind}/clusters"
            region.get(clusters)
            cluster = region.post(clusters, json={"name": "c"}).json()
            region.post(clusters, json={"name": "c"})  # 409 (Kubernetes) / 400 (Slurm)
            region.post(clusters, json={})  # 400
            region.get(f"{clusters}/{cluster['id']}")
            region.get(f"{clusters}/{UNKNOWN}")  # 404
            pools = f"{clusters}/{cluster['id']}/node-pools"
            region.get(pools)
            region.get(f"{clusters}/{UNKNOWN}/node-pools")  # 404
            pool = region.post(pools, json={"name": "p", "type": H100, "count": 5}).json()
            region.post(pools, json={"name": "p", "type": H100, "count": 1})  # 409
            region.post(pools, json={"name": "q", "type": H100})  # 400
            emulator.advance(120)  # ready nodes, and one out of capacity
            region.get(pools)
            region.get(f"{pools}/{pool['id']}")
            region.get(f"{pools}/{UNKNOWN}")  # 404
            region.delete(clusters + f"/{cluster['id']}")  # 409 (inferred)
            region.delete(f"{pools}/{pool['id']}")
            region.delete(f"{pools}/{pool['id']}")  # 404
            if kind == "kubernetes":
                region.get(f"{clusters}/{cluster['id']}/credentials")
                region.get(f"{clusters}/{UNKNOWN}/credentials")  # 404
            region.delete(f"{clusters}/{cluster['id']}")
            region.delete(f"{clusters}/{cluster['id']}")  # 404
    covered = {
        (spec, method, template)
        for spec, method, template in conformance.operations((INFRASTRUCTURE,))
        if template.startswith(OWNED)
    }
    seen = {(o.spec, o.method, o.template) for o in conformance.seen}
    assert covered
    assert not covered - seen, f"never exercised: {sorted(covered - seen)}"
    statuses = {o.status for o in conformance.seen if o.template.startswith(OWNED)}
    assert {200, 201, 204, 400, 404, 409} <= statuses


def test_a_project_with_a_cluster_is_not_deleted_and_the_control_api_removes_it_all(
    atlas_factory: AtlasFactory, emulator: EmulatorHandle
) -> None:
    """Inferred: a project keeps its clusters from a delete (409), as it keeps its
    instances and filesystems; the control API's removal takes the pools and their
    instances with the cluster."""
    anywhere = atlas_factory("eu-north-1")
    project = anywhere.post("/projects", json={"name": "p"}).json()["id"]
    eu = atlas_factory("eu-north-1", project=project)
    cluster = eu.post("/kubernetes/clusters", json={"name": "c"}).json()
    refused = anywhere.delete(f"/projects/{project}")
    assert refused.status_code == 409
    assert "cluster" in refused.json()["message"]
    pools = f"/kubernetes/clusters/{cluster['id']}/node-pools"
    pool = eu.post(pools, json={"name": "p", "type": "cpu.2x", "count": 2}).json()
    emulator.atlas.remove_cluster(cluster["id"])
    assert eu.get(f"/kubernetes/clusters/{cluster['id']}").status_code == 404
    states = {i["state"] for i in _tagged(eu, "fluidstack.node-pool", pool["id"])}
    assert states == {"deleting"}
    emulator.advance(30)
    assert anywhere.delete(f"/projects/{project}").status_code == 204


def test_clusters_and_pools_come_back_from_a_snapshot_without_their_token(
    eu: httpx.Client, emulator: EmulatorHandle
) -> None:
    """A snapshot carries clusters and node pools like any record; without secrets the
    kubeconfig's bearer token is left out, and a new one is made when next asked."""
    cluster = eu.post("/kubernetes/clusters", json={"name": "snap"}).json()
    pools = f"/kubernetes/clusters/{cluster['id']}/node-pools"
    pool = eu.post(pools, json={"name": "p", "type": "cpu.2x", "count": 1}).json()
    token = _token(eu, cluster["id"])
    shared = emulator.snapshot(secrets=False)
    assert token not in str(shared)
    kept = emulator.snapshot()
    eu.delete(f"{pools}/{pool['id']}")
    emulator.restore(kept)
    eu.headers["authorization"] = f"Bearer {emulator.atlas.token()}"
    assert eu.get(f"{pools}/{pool['id']}").json()["nodes"] == pool["nodes"]
    assert _token(eu, cluster["id"]) == token  # with secrets: the same kubeconfig
    emulator.restore(shared)
    eu.headers["authorization"] = f"Bearer {emulator.atlas.token()}"
    assert eu.get(f"/kubernetes/clusters/{cluster['id']}").json() == cluster
    fresh = _token(eu, cluster["id"])
    assert fresh
    assert fresh != token


def _token(client: httpx.Client, cluster_id: str) -> str:
    answer = client.get(f"/kubernetes/clusters/{cluster_id}/credentials")
    config = yaml.safe_load(base64.b64decode(answer.content))
    return str(config["users"][0]["user"]["token"])
