"""The node provider when things go wrong, on both APIs of the emulator: no capacity
anywhere or in one region (fallback), failed provisioning, partial launches, dead and
stopped nodes, concurrent calls from Ray's threads; and credentials from the environment,
secrets kept out of logs and reprs. The contract itself: ``test_ray_provider.py``.
"""

from __future__ import annotations

import logging
import threading
from typing import Any, List

import pytest

ray = pytest.importorskip("ray", reason="the [ray] extra (Python 3.10+) is not installed")

from ray.autoscaler.node_launch_exception import NodeLaunchException  # noqa: E402
from ray_support import (  # noqa: E402
    HEAD_CONFIG,
    WORKER_CONFIG,
    Cloud,
    Make,
    head_tags,
    ids_of,
    worker_tags,
)

from fluidstack.integrations.ray import FluidStackNodeProvider  # noqa: E402
from fluidstack.testing.handle import EmulatorHandle  # noqa: E402

# -- failures -----------------------------------------------------------------------------


def no_capacity(api: str, emulator: EmulatorHandle, region: str) -> None:
    if api == "atlas":
        emulator.atlas.set_capacity(region, "cpu.2x", 0)
    else:
        emulator.set_capacity("RTX_A4000_16GB", region, 0)


REGIONS = {"atlas": ["eu-north-1", "us-east-1"], "platform": ["NORWAY", "SWEDEN"]}


def region_of(api: str, instance: Any) -> str:
    if api == "atlas":
        return str(instance.region)
    return str(instance.configuration.region)


def test_out_of_stock_everywhere_is_reported_and_leaves_nothing(
    api: str, make: Make, cloud: Cloud, emulator: EmulatorHandle
) -> None:
    for region in REGIONS[api]:
        no_capacity(api, emulator, region)
    provider = make(regions=REGIONS[api])

    with pytest.raises(NodeLaunchException) as raised:
        provider.create_node(WORKER_CONFIG[api], worker_tags(), 2)

    assert raised.value.category == "NoCapacity"
    assert "2 of 2 node(s)" in raised.value.description
    assert cloud.existing() == []
    assert provider.non_terminated_nodes({}) == []


def test_launch_falls_back_to_the_next_region(
    api: str, make: Make, cloud: Cloud, emulator: EmulatorHandle
) -> None:
    no_capacity(api, emulator, REGIONS[api][0])
    provider = make(regions=REGIONS[api])

    created = provider.create_node(WORKER_CONFIG[api], worker_tags(), 1)

    assert created
    (instance,) = cloud.existing()
    assert region_of(api, instance) == REGIONS[api][1]
    assert created[instance.id]["region"] == REGIONS[api][1]


@pytest.mark.parametrize("api", ["atlas"])
def test_atlas_out_of_stock_after_create_is_deleted_before_falling_back(
    make: Make, cloud: Cloud, emulator: EmulatorHandle, api: str
) -> None:
    # The region says it has room, but the instance goes out-of-stock anyway (the
    # capacity was taken meanwhile).
    emulator.atlas.set_capacity("eu-north-1", "cpu.2x", 0)
    emulator.add_fault(
        method="GET",
        path="/regions/eu-north-1/api/v1alpha1/capacity",
        status=200,
        body=[{"name": "cpu.2x", "capacity": 5}],
        times=1,
    )
    emulator.clear_journal()
    provider = make(regions=REGIONS[api])

    created = provider.create_node(WORKER_CONFIG[api], worker_tags(), 1)

    assert created
    (instance,) = cloud.existing()  # the out-of-stock one is gone, not merely deleting
    assert instance.region == "us-east-1"
    deleted = [e for e in emulator.journal() if e["method"] == "DELETE"]
    assert len(deleted) >= 1
    assert deleted[0]["path"].startswith("/regions/eu-north-1/")


@pytest.mark.parametrize("api", ["atlas"])
def test_atlas_failed_provision_is_deleted_and_retried_in_the_next_region(
    make: Make, cloud: Cloud, emulator: EmulatorHandle, api: str
) -> None:
    emulator.atlas.fail_next("eu-north-1", "cpu.2x", times=1)
    provider = make(regions=REGIONS[api])

    created = provider.create_node(WORKER_CONFIG[api], worker_tags(), 1)

    assert created
    (instance,) = cloud.existing()
    assert instance.region == "us-east-1"
    assert str(instance.state) == "running"


@pytest.mark.parametrize("api", ["atlas"])
def test_atlas_failed_provision_in_the_only_region_is_reported(
    make: Make, cloud: Cloud, emulator: EmulatorHandle, api: str
) -> None:
    emulator.atlas.fail_next("eu-north-1", "cpu.2x", times=1)
    provider = make(regions=["eu-north-1"])

    with pytest.raises(NodeLaunchException) as raised:
        provider.create_node(WORKER_CONFIG[api], worker_tags(), 1)

    assert raised.value.category == "ProvisionFailed"
    assert "went error" in raised.value.description
    assert cloud.existing() == []


def test_nodes_that_were_made_stay_when_others_fail(
    api: str, make: Make, cloud: Cloud, emulator: EmulatorHandle
) -> None:
    if api == "atlas":
        emulator.atlas.set_capacity("eu-north-1", "cpu.2x", 2)
    else:
        emulator.set_capacity("RTX_A4000_16GB", "NORWAY", 2)
    provider = make(regions=[REGIONS[api][0]])

    with pytest.raises(NodeLaunchException) as raised:
        provider.create_node(WORKER_CONFIG[api], worker_tags(), 3)

    assert "1 of 3 node(s)" in raised.value.description
    made = cloud.running()
    assert len(made) == len(cloud.existing()) == 2
    assert sorted(provider.non_terminated_nodes({})) == ids_of(made)


def test_dead_nodes_are_deleted_so_that_ray_replaces_them(
    api: str, make: Make, cloud: Cloud, emulator: EmulatorHandle
) -> None:
    provider = make()
    created = provider.create_node(WORKER_CONFIG[api], worker_tags(), 2)
    assert created
    broken, stopped = list(created)
    if api == "atlas":
        emulator.atlas.fail(broken)
        cloud.client.instances.stop(stopped, wait=True)  # e.g. preempted
    else:
        cloud.client.instances.stop(stopped)
        emulator.advance(60)
        provider.terminate_node(broken)  # the platform has no way to fail one on demand

    assert provider.non_terminated_nodes({}) == []
    emulator.advance(60)  # Atlas: deleting -> gone
    assert cloud.existing() == []


def test_a_stopped_head_is_left_alone_but_torn_down_by_ray_down(
    api: str, make: Make, cloud: Cloud, emulator: EmulatorHandle
) -> None:
    provider = make()
    head = provider.create_node(HEAD_CONFIG[api], head_tags(), 1)
    assert head
    (head_id,) = head
    if api == "atlas":
        cloud.client.instances.stop(head_id, wait=True)
    else:
        cloud.client.instances.stop(head_id)
        emulator.advance(60)

    assert provider.non_terminated_nodes({}) == []
    assert len(cloud.existing()) == 1  # not deleted: it may hold data
    assert provider.nodes_for_teardown({"ray-node-type": "head"}) == [head_id]
    provider.terminate_nodes(provider.nodes_for_teardown({}))
    assert cloud.existing() == []


def test_concurrent_calls_from_ray_threads(api: str, make: Make, cloud: Cloud) -> None:
    provider = make()
    errors: List[BaseException] = []
    created: List[str] = []

    def launch() -> None:
        try:
            made = provider.create_node(WORKER_CONFIG[api], worker_tags(), 2)
            created.extend(made or {})
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    def watch() -> None:
        try:
            for _ in range(5):
                for node_id in provider.non_terminated_nodes({}):
                    provider.node_tags(node_id)
                    provider.set_node_tags(node_id, {"ray-node-status": "waiting-for-ssh"})
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=launch) for _ in range(3)]
    threads += [threading.Thread(target=watch) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)

    assert errors == []
    assert len(created) == len(set(created)) == 6
    assert sorted(provider.non_terminated_nodes({})) == sorted(created) == ids_of(cloud.existing())


# -- credentials and secrets ---------------------------------------------------------------


def test_credentials_come_from_the_environment_when_the_yaml_has_none(
    api: str,
    make: Make,
    emulator: EmulatorHandle,
    monkeypatch: pytest.MonkeyPatch,
    cloud: Cloud,
) -> None:
    if api == "atlas":
        monkeypatch.setenv("FLUIDSTACK_CLIENT_ID", emulator.atlas.client_id)
        monkeypatch.setenv("FLUIDSTACK_CLIENT_SECRET", emulator.atlas.client_secret)
        monkeypatch.setenv("FLUIDSTACK_ATLAS_URL", emulator.atlas.management_url)
        monkeypatch.setenv("FLUIDSTACK_REGION", "eu-north-1")
        monkeypatch.setenv("FLUIDSTACK_PROJECT_ID", cloud.client.project_id)
        removed = [
            "client_id",
            "client_secret",
            "management_url",
            "token_url",
            "region",
            "project_id",
        ]
    else:
        monkeypatch.setenv("FLUIDSTACK_API_KEY", emulator.api_key)
        monkeypatch.setenv("FLUIDSTACK_BASE_URL", emulator.base_url)
        removed = ["api_key", "base_url"]
    provider = make()
    config = dict(provider.provider_config)
    for key in removed:
        config.pop(key)
    bare = FluidStackNodeProvider(config, "demo")
    try:
        created = bare.create_node(WORKER_CONFIG[api], worker_tags(), 1)
        assert created
        assert bare.non_terminated_nodes({}) == list(created)
    finally:
        bare.backend.close()


def test_secrets_never_reach_a_log_line_or_a_repr(
    api: str, make: Make, emulator: EmulatorHandle, caplog: pytest.LogCaptureFixture
) -> None:
    secret = emulator.atlas.client_secret if api == "atlas" else emulator.api_key
    caplog.set_level(logging.DEBUG)
    provider = make()
    created = provider.create_node(WORKER_CONFIG[api], worker_tags(), 1)
    assert created
    provider.terminate_nodes(list(created))
    for region in REGIONS[api]:
        no_capacity(api, emulator, region)
    with pytest.raises(NodeLaunchException):
        make(regions=REGIONS[api]).create_node(WORKER_CONFIG[api], worker_tags(), 1)

    assert secret not in caplog.text
    assert secret not in repr(provider) + repr(provider.settings)
