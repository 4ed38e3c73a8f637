"""The provider's state file and its naming rules, without an API (and without a cluster)."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import pytest

pytest.importorskip("ray", reason="the [ray] extra (Python 3.10+) is not installed")

from fluidstack.integrations.ray._naming import (
    PlatformName,
    atlas_tag_key,
    from_atlas_tags,
    ray_tag_key,
    to_atlas_tags,
)
from fluidstack.integrations.ray._state import StateFile, default_state_path


def test_platform_names_round_trip_whatever_the_cluster_is_called() -> None:
    for cluster in ["demo", "a.b", "x%2Ey", "échelle 1", "ray.demo.worker", "-"]:
        name = PlatformName(cluster, "worker", "gpu.8x", "ab" * 20, "0123abcd")
        rendered = name.render()
        assert rendered.count(".") == 5
        assert PlatformName.parse(rendered) == name


@pytest.mark.parametrize(
    "name",
    [
        None,
        "",
        "fs-0123456789ab",
        "ray.demo.worker.t.-",
        "ray.demo.WORKER.t.-.0123abcd",
        "ray.demo.worker.t.nothex.0123abcd",
        "ray..worker.t.-.0123abcd",
        "ray.de mo.worker.t.-.0123abcd",
        "ray.%FF.worker.t.-.0123abcd",
    ],
)
def test_names_the_provider_did_not_give_are_not_its_nodes(name: str) -> None:
    assert PlatformName.parse(name) is None


def test_a_name_keeps_the_tags_that_must_survive_the_state_file() -> None:
    tags = {"ray-node-type": "head", "ray-user-node-type": "h", "ray-launch-config": "ab12"}
    name = PlatformName.for_node("demo", tags, "0123abcd")
    assert PlatformName.parse(name.render()) == name
    assert name.tags() == {
        "ray-cluster-name": "demo",
        "ray-node-type": "head",
        "ray-node-name": "ray-demo-head",
        "ray-node-status": "uninitialized",
        "ray-user-node-type": "h",
        "ray-launch-config": "ab12",
    }


def test_atlas_tag_keys_are_rays_or_reversibly_encoded() -> None:
    assert atlas_tag_key("ray-node-status") == "ray-node-status"
    for key in ["example.com/owner", "_hidden", "a b", "ray.x.looks-encoded", "ü"]:
        encoded = atlas_tag_key(key)
        assert encoded is not None
        assert encoded != key
        assert ray_tag_key(encoded) == key
    assert atlas_tag_key("k/" * 40) is None  # no Atlas key can hold it
    atlas, left_out = to_atlas_tags({"ray-node-type": "worker", "k/" * 40: "v"})
    assert atlas == {"ray-node-type": "worker"}
    assert left_out == {"k/" * 40: "v"}
    assert from_atlas_tags({"fluidstack.client-token": "t", **atlas}) == {"ray-node-type": "worker"}


def test_state_file_changes_are_atomic_and_merged(tmp_path: Path) -> None:
    path = tmp_path / "deep" / "state.json"
    state = StateFile(path, api="atlas", cluster="demo")
    assert state.read() == {}

    state.update({"i-1": {"a": "1"}, "i-2": {"a": "2"}})
    state.update({"i-1": {"b": "3"}}, remove=["i-2"])

    assert state.read() == {"i-1": {"a": "1", "b": "3"}}
    document = json.loads(path.read_text())
    assert document == {
        "version": 1,
        "api": "atlas",
        "cluster": "demo",
        "nodes": {"i-1": {"tags": {"a": "1", "b": "3"}}},
    }
    assert sorted(p.name for p in path.parent.iterdir()) == ["state.json", "state.json.lock"]
    assert state.update(keep_only={"i-9"}) == {}


def test_state_file_writers_in_threads_and_processes_lose_nothing(tmp_path: Path) -> None:
    path = tmp_path / "state.json"
    # Two StateFile objects on one path stand for two processes (separate locks in memory).
    writers = [StateFile(path, api="platform", cluster="demo") for _ in range(2)]

    def write(n: int) -> None:
        for i in range(20):
            writers[n % 2].update({f"i-{n}-{i}": {"n": str(i)}})

    threads = [threading.Thread(target=write, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert len(writers[0].read()) == 80


def test_unreadable_or_foreign_state_files_read_as_empty(tmp_path: Path) -> None:
    path = tmp_path / "state.json"
    state = StateFile(path, api="atlas", cluster="demo")
    for text in ["", "[]", "{bad", json.dumps({"version": 2, "nodes": {}})]:
        path.write_text(text)
        assert state.read() == {}
    path.write_text(json.dumps({"version": 1, "api": "atlas", "cluster": "other", "nodes": {}}))
    assert state.read() == {}
    state.update({"i-1": {"a": "1"}})  # rewritten as this cluster's
    assert state.read() == {"i-1": {"a": "1"}}


def test_default_state_path_is_per_api_and_cluster() -> None:
    path = default_state_path("platform", "my cluster/1")
    assert path == Path.home() / ".fluidstack" / "ray" / "platform-my_cluster_1.json"
