"""The node provider's contract, method by method, on both APIs of the emulator, and the
cluster config it fills and bootstraps. Failures (capacity, provisioning, dead nodes,
threads) and secrets: ``test_ray_provider_failures.py``.

Each test reads what Ray would see through the provider and checks it against what the
emulator really holds (``cloud``), so a node is never reported that does not exist, nor
left existing after the provider said it was gone.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Callable, Dict

import pytest

ray = pytest.importorskip("ray", reason="the [ray] extra (Python 3.10+) is not installed")

from ray.autoscaler import tags as ray_tags  # noqa: E402
from ray.autoscaler.node_provider import NodeProvider  # noqa: E402
from ray_support import (  # noqa: E402
    HEAD_CONFIG,
    LAUNCH_HASH,
    WORKER_CONFIG,
    Cloud,
    Make,
    head_tags,
    ids_of,
    worker_tags,
)

from fluidstack.integrations.ray import FluidStackNodeProvider, _naming  # noqa: E402
from fluidstack.testing.handle import EmulatorHandle  # noqa: E402

# -- the contract ---------------------------------------------------------------------------


def test_is_a_ray_node_provider_loaded_by_module_path() -> None:
    from ray.autoscaler._private.providers import _get_node_provider_cls

    cls = _get_node_provider_cls(
        {"type": "external", "module": "fluidstack.integrations.ray.FluidStackNodeProvider"}
    )
    assert cls is FluidStackNodeProvider
    assert issubclass(cls, NodeProvider)


def test_tag_names_are_rays_own() -> None:
    assert _naming.TAG_CLUSTER_NAME == ray_tags.TAG_RAY_CLUSTER_NAME
    assert _naming.TAG_NODE_KIND == ray_tags.TAG_RAY_NODE_KIND
    assert _naming.TAG_NODE_NAME == ray_tags.TAG_RAY_NODE_NAME
    assert _naming.TAG_NODE_STATUS == ray_tags.TAG_RAY_NODE_STATUS
    assert _naming.TAG_USER_NODE_TYPE == ray_tags.TAG_RAY_USER_NODE_TYPE
    assert _naming.TAG_LAUNCH_CONFIG == ray_tags.TAG_RAY_LAUNCH_CONFIG
    assert _naming.STATUS_UNINITIALIZED == ray_tags.STATUS_UNINITIALIZED


def test_create_node_returns_once_the_nodes_run(api: str, make: Make, cloud: Cloud) -> None:
    provider = make()
    assert provider.non_terminated_nodes({}) == []

    created = provider.create_node(WORKER_CONFIG[api], worker_tags(), 2)

    assert created is not None
    assert len(created) == 2
    running = cloud.running()
    assert ids_of(running) == sorted(created)
    assert sorted(provider.non_terminated_nodes({})) == sorted(created)
    for instance in running:
        ip = getattr(instance, "ip", None) or instance.ip_address
        assert provider.is_running(instance.id)
        assert not provider.is_terminated(instance.id)
        assert provider.internal_ip(instance.id) == ip
        assert provider.external_ip(instance.id) == ip
        assert provider.get_node_id(ip, use_internal_ip=True) == instance.id
        assert created[instance.id]["ip"] == ip


def test_node_tags_are_rays_tags_and_the_cluster(api: str, make: Make) -> None:
    provider = make()
    created = provider.create_node(WORKER_CONFIG[api], worker_tags(), 1)
    assert created
    (node_id,) = created

    tags = provider.node_tags(node_id)

    assert tags == {**worker_tags(), "ray-cluster-name": "demo"}
    assert "fluidstack.client-token" not in tags


def test_tag_filters_select_kinds_and_types(api: str, make: Make) -> None:
    provider = make()
    head = provider.create_node(HEAD_CONFIG[api], head_tags(), 1)
    cpu = provider.create_node(WORKER_CONFIG[api], worker_tags("cpu_worker"), 2)
    small = provider.create_node(WORKER_CONFIG[api], worker_tags("small_worker"), 1)
    assert head
    assert cpu
    assert small

    assert provider.non_terminated_nodes({"ray-node-type": "head"}) == list(head)
    workers = provider.non_terminated_nodes({"ray-node-type": "worker"})
    assert sorted(workers) == sorted([*cpu, *small])
    assert sorted(provider.non_terminated_nodes({"ray-user-node-type": "cpu_worker"})) == sorted(
        cpu
    )
    assert (
        provider.non_terminated_nodes({"ray-node-type": "worker", "ray-user-node-type": "x"}) == []
    )


@pytest.mark.parametrize("api", ["atlas"])
def test_atlas_keeps_rays_tags_in_instance_tags(make: Make, cloud: Cloud, api: str) -> None:
    provider = make()
    odd_key = "example.com/team owner"  # breaks Atlas's key rule: encoded reversibly
    created = provider.create_node(WORKER_CONFIG[api], {**worker_tags(), odd_key: "ml"}, 1)
    assert created
    (node_id,) = created

    instance = cloud.get(node_id)
    assert instance.tags["ray-cluster-name"] == "demo"
    assert instance.tags["ray-user-node-type"] == "cpu_worker"
    assert instance.tags["ray-launch-config"] == LAUNCH_HASH
    assert odd_key not in instance.tags
    assert instance.tags[_naming.atlas_tag_key(odd_key)] == "ml"
    assert provider.node_tags(node_id)[odd_key] == "ml"


@pytest.mark.parametrize("api", ["platform"])
def test_platform_name_keeps_the_cluster_kind_type_and_launch_hash(
    make: Make, cloud: Cloud, api: str
) -> None:
    provider = make(cluster="demo.v2 (test)")
    created = provider.create_node(WORKER_CONFIG[api], worker_tags(), 1)
    assert created
    (node_id,) = created

    name = cloud.get(node_id).name
    assert name.startswith("ray.demo%2Ev2%20%28test%29.worker.cpu_worker." + LAUNCH_HASH + ".")
    parsed = _naming.PlatformName.parse(name)
    assert parsed is not None
    assert parsed.cluster == "demo.v2 (test)"


def test_set_node_tags_is_kept_in_the_state_file(api: str, make: Make, tmp_path: Path) -> None:
    provider = make()
    created = provider.create_node(WORKER_CONFIG[api], worker_tags(), 1)
    assert created
    (node_id,) = created

    provider.set_node_tags(node_id, {"ray-node-status": "up-to-date", "ray-runtime-config": "r1"})

    assert provider.node_tags(node_id)["ray-node-status"] == "up-to-date"
    document = json.loads((tmp_path / "state.json").read_text())
    assert document["version"] == 1
    assert document["api"] == api
    assert document["cluster"] == "demo"
    assert document["nodes"][node_id]["tags"]["ray-node-status"] == "up-to-date"
    assert document["nodes"][node_id]["tags"]["ray-runtime-config"] == "r1"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["state.json", "state.json.lock"]
    assert provider.non_terminated_nodes({"ray-node-status": "up-to-date"}) == [node_id]


def test_terminate_nodes_returns_once_they_are_gone(
    api: str, make: Make, cloud: Cloud, emulator: EmulatorHandle, tmp_path: Path
) -> None:
    provider = make()
    created = provider.create_node(WORKER_CONFIG[api], worker_tags(), 3)
    assert created
    first, *rest = list(created)
    emulator.clear_journal()

    provider.terminate_node(first)
    provider.terminate_nodes(rest)

    assert cloud.existing() == []
    assert provider.non_terminated_nodes({}) == []
    assert all(provider.is_terminated(node_id) for node_id in created)
    assert json.loads((tmp_path / "state.json").read_text())["nodes"] == {}
    # Confirmed: the last request about each node says it is gone.
    last: Dict[str, Any] = {}
    for entry in emulator.journal():
        for node_id in created:
            if entry["path"].endswith("/instances/" + node_id):
                last[node_id] = entry
    if api == "atlas":
        assert {e["method"] for e in last.values()} == {"GET"}
        assert {e["status"] for e in last.values()} == {404}
    else:
        assert all(str(cloud.get(n).status) == "terminated" for n in created)


def test_a_restarted_provider_rebuilds_its_view_from_the_state_file(
    api: str, make: Make, cloud: Cloud
) -> None:
    first = make()
    head = first.create_node(HEAD_CONFIG[api], head_tags(), 1)
    workers = first.create_node(WORKER_CONFIG[api], worker_tags(), 2)
    assert head
    assert workers
    for node_id in workers:
        first.set_node_tags(node_id, {"ray-node-status": "up-to-date"})

    again = make()  # the autoscaler restarted: a new provider, the same state file

    assert sorted(again.non_terminated_nodes({})) == sorted([*head, *workers])
    assert len(again.non_terminated_nodes({})) == len(cloud.existing()) == 3
    for node_id in workers:
        assert again.node_tags(node_id)["ray-node-status"] == "up-to-date"
        assert again.node_tags(node_id)["ray-launch-config"] == LAUNCH_HASH


def test_without_the_state_file_nodes_are_adopted_from_the_listing(
    api: str, make: Make, cloud: Cloud, tmp_path: Path
) -> None:
    first = make()
    head = first.create_node(HEAD_CONFIG[api], head_tags(), 1)
    workers = first.create_node(WORKER_CONFIG[api], worker_tags(), 2)
    assert head
    assert workers
    first.set_node_tags(next(iter(workers)), {"ray-node-status": "up-to-date"})
    (tmp_path / "state.json").unlink()

    again = make()

    assert sorted(again.non_terminated_nodes({})) == sorted([*head, *workers])
    assert again.non_terminated_nodes({"ray-node-type": "head"}) == list(head)
    assert sorted(again.non_terminated_nodes({"ray-user-node-type": "cpu_worker"})) == sorted(
        workers
    )
    for node_id in workers:
        tags = again.node_tags(node_id)
        # What the API kept survives; what only the file knew restarts from the beginning.
        assert tags["ray-launch-config"] == LAUNCH_HASH
        assert tags["ray-cluster-name"] == "demo"
        assert tags["ray-node-status"] == "uninitialized"
    assert len(cloud.existing()) == 3


def test_a_stale_state_file_is_corrected_by_the_listing(
    api: str, make: Make, cloud: Cloud, tmp_path: Path
) -> None:
    provider = make()
    created = provider.create_node(WORKER_CONFIG[api], worker_tags(), 2)
    assert created
    gone, kept = list(created)
    # Deleted behind the provider's back (by hand, or by another process).
    if api == "atlas":
        cloud.client.with_options(region="eu-north-1").instances.delete(gone, wait=True)
    else:
        cloud.client.instances.delete(gone)

    again = make()

    assert again.non_terminated_nodes({}) == [kept]
    assert list(json.loads((tmp_path / "state.json").read_text())["nodes"]) == [kept]


def test_corrupt_state_file_is_rebuilt(api: str, make: Make, tmp_path: Path) -> None:
    provider = make()
    created = provider.create_node(WORKER_CONFIG[api], worker_tags(), 1)
    assert created
    (tmp_path / "state.json").write_text("{not json")

    again = make()

    assert again.non_terminated_nodes({}) == list(created)
    again.set_node_tags(next(iter(created)), {"ray-node-status": "up-to-date"})
    assert json.loads((tmp_path / "state.json").read_text())["version"] == 1


def test_other_clusters_and_other_instances_are_not_listed(
    api: str, make: Make, cloud: Cloud
) -> None:
    ours = make()
    theirs = make(cluster="other")
    mine = ours.create_node(WORKER_CONFIG[api], worker_tags(), 1)
    other = theirs.create_node(WORKER_CONFIG[api], worker_tags(), 1)
    if api == "atlas":
        cloud.client.instances.create(type="cpu.2x", name="by-hand", tags={"team": "ml"})
    else:
        cloud.client.instances.create(gpu_type="RTX_A4000_16GB", ssh_key="ray", name="by-hand")

    assert ours.non_terminated_nodes({}) == list(mine or {})
    assert theirs.non_terminated_nodes({}) == list(other or {})


def test_a_lost_create_answer_makes_one_instance(
    api: str, make: Make, cloud: Cloud, emulator: EmulatorHandle
) -> None:
    path = "/regions/*/api/v1alpha1/instances" if api == "atlas" else "/instances"
    emulator.add_fault(method="POST", path=path, status=502, perform=True, times=1)
    provider = make()

    created = provider.create_node(WORKER_CONFIG[api], worker_tags(), 1)

    assert created
    assert len(cloud.existing()) == 1
    assert provider.non_terminated_nodes({}) == list(created)


# -- the cluster config ----------------------------------------------------------------------


def cluster_config(api: str, provider: Dict[str, Any], **node_types: Any) -> Dict[str, Any]:
    types = node_types or {
        "head": {"node_config": dict(HEAD_CONFIG[api]), "max_workers": 0},
        "cpu_worker": {"node_config": dict(WORKER_CONFIG[api]), "min_workers": 1},
    }
    return {
        "cluster_name": "demo",
        "max_workers": 4,
        "provider": provider,
        "auth": {"ssh_user": "ubuntu"},
        "available_node_types": types,
        "head_node_type": "head",
    }


def test_resources_are_filled_from_the_catalog(
    api: str, provider_config: Callable[..., Dict[str, Any]]
) -> None:
    if api == "atlas":
        types = {
            "head": {"node_config": {"type": "cpu.8x"}},
            "gpu": {"node_config": {"type": "h100-hgx-80gb.8x"}},
            "given": {"node_config": {"type": "cpu.2x"}, "resources": {"CPU": 1, "custom": 3}},
        }
    else:
        types = {
            "head": {"node_config": {"gpu_type": "RTX_A4000_16GB"}},
            "gpu": {"node_config": {"gpu_type": ["L40_48GB", "A100_PCIE_80GB"], "gpu_count": 8}},
            "given": {"node_config": {"gpu_type": "RTX_A4000_16GB"}, "resources": {"CPU": 1}},
        }
    config = cluster_config(api, provider_config(), **types)

    filled = FluidStackNodeProvider.fillout_available_node_types_resources(config)

    resources = {name: t["resources"] for name, t in filled["available_node_types"].items()}
    if api == "atlas":
        assert resources["head"] == {"CPU": 8, "memory": int(32 * 2**30 * 0.7)}
        assert resources["gpu"] == {"CPU": 208, "GPU": 8, "memory": int(2**40 * 0.7)}
        assert resources["given"] == {"CPU": 1, "custom": 3, "memory": int(8 * 2**30 * 0.7)}
    else:
        assert resources == {"head": {"GPU": 1}, "gpu": {"GPU": 8}, "given": {"GPU": 1, "CPU": 1}}
    assert "resources" not in config["available_node_types"]["head"]  # a copy is filled


def test_unknown_instance_types_and_gpu_counts_are_refused(
    api: str, provider_config: Callable[..., Dict[str, Any]]
) -> None:
    bad = {"type": "cpu.3x"} if api == "atlas" else {"gpu_type": "RTX_A4000_16GB", "gpu_count": 3}
    config = cluster_config(api, provider_config(), head={"node_config": bad})

    with pytest.raises(ValueError, match=r"cpu\.3x|not 3"):
        FluidStackNodeProvider.fillout_available_node_types_resources(config)


def test_bootstrap_refuses_mistakes_before_anything_is_created(
    api: str, provider_config: Callable[..., Dict[str, Any]], cloud: Cloud
) -> None:
    typo = {"instance_type": "cpu.2x"} if api == "atlas" else {"gpu_typ": "RTX_A4000_16GB"}
    config = cluster_config(api, provider_config(), head={"node_config": typo})
    with pytest.raises(
        ValueError, match=r"available_node_types\.head\.node_config\.gpu_typ|instance_type"
    ):
        FluidStackNodeProvider.bootstrap_config(config)

    with pytest.raises(ValueError, match=r"provider\.api must be"):
        FluidStackNodeProvider.bootstrap_config(
            cluster_config(api, {**provider_config(), "api": "aws"})
        )

    other_api = {"api_key": "x"} if api == "atlas" else {"client_id": "x"}
    with pytest.raises(ValueError, match="setting of the other API"):
        FluidStackNodeProvider.bootstrap_config(
            cluster_config(api, {**provider_config(), **other_api})
        )
    assert cloud.existing() == []


@pytest.mark.parametrize("api", ["atlas"])
def test_atlas_bootstrap_finds_or_creates_the_project_and_authorizes_the_key(
    api: str, provider_config: Callable[..., Dict[str, Any]], cloud: Cloud, tmp_path: Path
) -> None:
    from ray_support import PUBLIC_KEY

    (tmp_path / "id.pub").write_text(PUBLIC_KEY + "\n")
    provider = {k: v for k, v in provider_config().items() if k != "project_id"}
    config = cluster_config(api, {**provider, "project": "ray-demo"})
    config["auth"]["ssh_public_key"] = str(tmp_path / "id.pub")

    first = FluidStackNodeProvider.bootstrap_config(config)
    second = FluidStackNodeProvider.bootstrap_config(config)

    project_id = first["provider"]["project_id"]
    assert second["provider"]["project_id"] == project_id
    assert [p.id for p in cloud.client.projects.list() if p.name == "ray-demo"] == [project_id]
    for node_type in first["available_node_types"].values():
        assert node_type["node_config"]["user_data"] == (
            "#cloud-config\nssh_authorized_keys:\n  - " + PUBLIC_KEY + "\n"
        )


@pytest.mark.parametrize("api", ["platform"])
def test_platform_bootstrap_registers_the_public_key(
    api: str,
    provider_config: Callable[..., Dict[str, Any]],
    cloud: Cloud,
    tmp_path: Path,
) -> None:
    from ray_support import PUBLIC_KEY

    (tmp_path / "id.pub").write_text(PUBLIC_KEY + "\n")
    provider = {k: v for k, v in provider_config().items() if k != "ssh_key"}
    config = cluster_config(api, provider)
    with pytest.raises(ValueError, match="need an SSH key"):
        FluidStackNodeProvider.bootstrap_config(config)
    config["auth"]["ssh_public_key"] = str(tmp_path / "id.pub")

    bootstrapped = FluidStackNodeProvider.bootstrap_config(config)
    FluidStackNodeProvider.bootstrap_config(config)  # a second `ray up` reuses it

    assert bootstrapped["provider"]["ssh_key"] == "ray-demo"
    assert sorted(k.name for k in cloud.client.ssh_keys.list()) == ["ray", "ray-demo"]
    with pytest.raises(ValueError, match="'nope' is not in the account"):
        FluidStackNodeProvider.bootstrap_config(
            cluster_config(api, {**provider_config(), "ssh_key": "nope"})
        )
