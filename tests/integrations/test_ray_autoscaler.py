"""Ray's own cluster launcher and autoscaler (the real ``ray`` package) on the emulator.

``ray up``'s head creation, the ``StandardAutoscaler`` scaling to ``min_workers``, up on
demand and back down when idle, and ``ray down``, with the instances counted on the
emulator at every step. Only two things are stand-ins: the process runner (no SSH, so
both APIs and scaling on demand run fast; test_ray_up_emulator.py runs the real thing
over SSH) records the commands Ray would run on each node instead of running them, and
the GCS client (there is no Ray runtime)
accepts every drain. The resource load is reported to the autoscaler as the head's GCS
would report it, through Ray's ``LoadMetrics``.
"""

from __future__ import annotations

import copy
import subprocess
import threading
import time
from pathlib import Path
from typing import Any, Callable, Dict, Iterator, List

import pytest

pytest.importorskip("ray", reason="the [ray] extra (Python 3.10+) is not installed")

import yaml
from ray.autoscaler._private import commands
from ray.autoscaler._private.autoscaler import StandardAutoscaler
from ray.autoscaler._private.load_metrics import LoadMetrics
from ray.autoscaler._private.providers import _clear_provider_cache
from ray_support import Cloud

from fluidstack.integrations.ray import FluidStackNodeProvider

pytestmark = pytest.mark.slow


class RecordingRunner:
    """Stands in for ``subprocess`` as Ray's process runner: records every ssh and
    rsync command Ray would run on a node, and answers that it worked."""

    DEVNULL = subprocess.DEVNULL
    PIPE = subprocess.PIPE

    def __init__(self) -> None:
        self.commands: List[List[str]] = []
        self._lock = threading.Lock()

    def check_call(self, cmd: List[str], *args: Any, **kwargs: Any) -> int:
        with self._lock:
            self.commands.append(list(cmd))
        return 0

    def check_output(self, cmd: List[str], *args: Any, **kwargs: Any) -> bytes:
        self.check_call(cmd)
        return b""

    def ran_on(self, ip: str, text: str) -> bool:
        """Whether a command containing ``text`` was sent to ``ip`` over ssh."""
        return any(
            c[0] == "ssh" and any(ip in part for part in c) and any(text in part for part in c)
            for c in self.commands
        )


class AcceptingGcs:
    """Stands in for the GCS client the autoscaler drains nodes through."""

    def __init__(self) -> None:
        self.drained: List[bytes] = []

    def drain_nodes(self, node_ids: Any, timeout: Any = None) -> List[bytes]:
        self.drained.extend(node_ids)
        return list(node_ids)


EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "ray"


@pytest.fixture
def cluster(
    api: str, provider_config: Callable[..., Dict[str, Any]], tmp_path: Path
) -> Iterator[Dict[str, Any]]:
    """The example YAML of ``api`` (examples/ray/), pointed at the emulator: its provider
    section gets the emulator's credentials and URLs, and the credentials file it copies
    to the head node is a file of the test's."""
    config = yaml.safe_load((EXAMPLES / f"{api}.yaml").read_text())
    ours = provider_config()  # the laptop's state file: state.json
    kept = {k: v for k, v in config["provider"].items() if k not in ("project", "regions")}
    config["provider"] = {**kept, **ours}
    env_file = tmp_path / "ray.env"
    env_file.write_text("FLUIDSTACK_LOG=info\n")
    config["file_mounts"] = {"~/.fluidstack/ray.env": str(env_file)}
    config["auth"] = {"ssh_user": "ubuntu"}
    path = tmp_path / "cluster.yaml"
    path.write_text(yaml.safe_dump(config))
    try:
        yield {"config": config, "path": path}
    finally:
        _clear_provider_cache()


def wait_until(condition: Callable[[], bool], what: str, step: Callable[[], None]) -> None:
    deadline = time.monotonic() + 60
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        step()
        time.sleep(0.05)


def test_ray_up_autoscale_and_ray_down_on_the_emulator(
    api: str,
    cluster: Dict[str, Any],
    cloud: Cloud,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    runner = RecordingRunner()

    # -- ray up: Ray bootstraps the YAML through the provider, then creates the head ---
    config = commands._bootstrap_config(copy.deepcopy(cluster["config"]), no_config_cache=True)
    worker_type = "cpu_worker" if api == "atlas" else "gpu_worker"
    worker_resources = config["available_node_types"][worker_type]["resources"]
    assert worker_resources["CPU"] == 2  # Atlas: from the catalog (cpu.2x); platform: the YAML
    if api == "platform":
        assert worker_resources["GPU"] == 1  # from gpu_count
    commands.get_or_create_head_node(
        config,
        printable_config_file=str(cluster["path"]),
        no_restart=False,
        restart_only=False,
        yes=True,
        override_cluster_name=None,
        _runner=runner,  # type: ignore[arg-type]
    )
    (head,) = cloud.running()
    head_ip = getattr(head, "ip", None) or head.ip_address
    assert runner.ran_on(head_ip, "ray start --head")
    laptop = commands._get_node_provider(config["provider"], "demo")
    assert laptop.node_tags(head.id)["ray-node-status"] == "up-to-date"

    # -- the head's autoscaler: its own provider and state file, as on the head node ----
    head_config = copy.deepcopy(config)
    head_config["provider"]["state_file"] = str(tmp_path / "head-state.json")
    head_config["provider"]["foreground_node_launch"] = True
    load = LoadMetrics()
    gcs = AcceptingGcs()
    autoscaler = StandardAutoscaler(
        lambda: copy.deepcopy(head_config),
        load,
        gcs,  # type: ignore[arg-type]
        process_runner=runner,
        update_interval_s=0,
    )
    provider = autoscaler.provider
    assert isinstance(provider, FluidStackNodeProvider)

    def workers() -> List[str]:
        return list(provider.non_terminated_nodes({"ray-node-type": "worker"}))

    def up_to_date() -> bool:
        ids = workers()
        return all(provider.node_tags(n)["ray-node-status"] == "up-to-date" for n in ids)

    def report(*, busy: bool, demand: int = 0, idle_s: float = 0) -> None:
        """What the GCS reports: each node's resources, use, idle time, waiting tasks."""
        load.update(head_ip, b"head", {"CPU": 0}, {"CPU": 0}, 0)
        for node_id in workers():
            ip = provider.internal_ip(node_id)
            free = 0.0 if busy else 2.0
            load.update(ip, node_id.encode(), {"CPU": 2}, {"CPU": free}, idle_s)
        load.update(
            head_ip, b"head", {"CPU": 0}, {"CPU": 0}, 0, waiting_bundles=[{"CPU": 2}] * demand
        )

    # 1. min_workers: two workers are launched and set up.
    autoscaler.update()
    assert len(workers()) == 2
    assert len(cloud.running()) == 3
    wait_until(up_to_date, "the workers' setup", autoscaler.update)
    for node_id in workers():
        assert runner.ran_on(provider.internal_ip(node_id), "ray start --address")
    assert len(cloud.existing()) == 3

    # 2. Demand for two more workers' worth of CPUs: scaled up to max_workers.
    report(busy=True, demand=2)
    autoscaler.update()
    assert len(workers()) == 4
    assert len(cloud.running()) == len(cloud.existing()) == 5
    wait_until(up_to_date, "the new workers' setup", autoscaler.update)

    # 3. The work is done and every worker has been idle for an hour: back to min_workers.
    report(busy=False, idle_s=3600)
    autoscaler.update()
    assert len(workers()) == 2
    assert len(cloud.existing()) == 3  # the two others are gone, not merely deleting
    assert len(gcs.drained) == 2

    # 4. A restart of the autoscaler (a new provider, the same state file) finds the
    #    same cluster: nothing orphaned, nothing counted twice, nothing launched.
    _clear_provider_cache()
    restarted = StandardAutoscaler(
        lambda: copy.deepcopy(head_config),
        load,
        gcs,  # type: ignore[arg-type]
        process_runner=runner,
        update_interval_s=0,
    )
    assert restarted.provider is not provider
    report(busy=False)
    restarted.update()
    assert sorted(restarted.provider.non_terminated_nodes({"ray-node-type": "worker"})) == sorted(
        workers()
    )
    assert all(
        restarted.provider.node_tags(n)["ray-node-status"] == "up-to-date" for n in workers()
    )
    assert len(cloud.existing()) == 3

    # -- ray down: Ray's teardown through the provider (its `ray stop` over ssh skipped) --
    monkeypatch.setattr(commands, "exec_cluster", lambda *args, **kwargs: None)
    commands.teardown_cluster(
        str(cluster["path"]),
        yes=True,
        workers_only=False,
        override_cluster_name=None,
        keep_min_workers=False,
    )
    assert cloud.existing() == []
