"""The pytest plugin as a user's project meets it (issue 29 item 7): a suite of its own,
written as a user would write it, run by pytest in a child process with nothing but the
installed plugin (no conftest of ours). Each test of that suite checks one promise of a
fixture or of the emulator handle; the outcome table below says which must pass."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

USER_SUITE = '''
import httpx
import pytest

from fluidstack import FluidStack
from fluidstack.atlas import Atlas
from fluidstack.core import NotSupportedError, PaymentRequiredError
from fluidstack.testing import EmulatorControlError, EmulatorHandle

KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIMlZrNQiO9x/cSV8+8kF4khUmIupYM4FWj8WT0wfbsoV me@laptop"


@pytest.fixture(scope="session")
def fluidstack_snapshot(fluidstack_emulator):
    """A world built once: one key and one running instance."""
    fluidstack_emulator.reset()
    with FluidStack(api_key=fluidstack_emulator.api_key,
                    base_url=fluidstack_emulator.base_url) as client:
        client.ssh_keys.create(name="laptop", public_key=KEY)
        client.instances.create(gpu_type="RTX_A4000_16GB", ssh_key="laptop", name="world")
    fluidstack_emulator.advance(3600)
    return fluidstack_emulator.snapshot()


def test_1_a_test_leaves_things_behind(fluidstack_client):
    fluidstack_client.ssh_keys.create(name="leftover", public_key=KEY)
    assert [k.name for k in fluidstack_client.ssh_keys.list()] == ["leftover"]


def test_2_the_next_test_starts_clean(fluidstack_client, emulator):
    assert fluidstack_client.ssh_keys.list() == []
    assert emulator.journal()[-1]["path"] == "/ssh_keys"  # only this test's own request


def test_3_snapshot_emulator_restores_the_world_each_time(snapshot_emulator):
    with FluidStack(api_key=snapshot_emulator.api_key,
                    base_url=snapshot_emulator.base_url) as client:
        (world,) = client.instances.list()
        assert world.name == "world" and world.status == "running"
        client.instances.delete(world.id)


def test_4_and_again_after_a_test_deleted_part_of_it(snapshot_emulator):
    with FluidStack(api_key=snapshot_emulator.api_key,
                    base_url=snapshot_emulator.base_url) as client:
        assert [i.status for i in client.instances.list()] == ["running"]


def test_5_the_clock_is_simulated_and_billing_follows_it(fluidstack_client, emulator):
    fluidstack_client.ssh_keys.create(name="laptop", public_key=KEY)
    emulator.set_balance(1000.0)
    fluidstack_client.instances.create(gpu_type="RTX_A4000_16GB", ssh_key="laptop")
    before = emulator.clock()["now"]
    emulator.advance(3600 * 10)
    assert emulator.clock()["now"] > before
    assert fluidstack_client.user.get_balance().balance < 1000.0


def test_6_an_empty_balance_is_the_sdks_typed_error(fluidstack_client, emulator):
    fluidstack_client.ssh_keys.create(name="laptop", public_key=KEY)
    emulator.set_balance(0.0)
    with pytest.raises(PaymentRequiredError):
        fluidstack_client.instances.create(gpu_type="RTX_A4000_16GB", ssh_key="laptop")


def test_7_faults_and_the_journal(fluidstack_client, emulator):
    emulator.add_fault(method="GET", path="/ssh_keys", status=503, retry_after="5")
    assert fluidstack_client.ssh_keys.list() == []  # retried, in simulated time
    assert [e["status"] for e in emulator.journal()] == [503, 200]
    assert emulator.faults() == []  # a one-shot rule is used up
    emulator.add_fault(method="GET", path="/ssh_keys", status=500, times=None)
    emulator.clear_faults()
    assert fluidstack_client.ssh_keys.list() == []


def test_8_capacity_and_bulk_instances(emulator):
    emulator.set_capacity("RTX_A4000_16GB", "NORWAY", 0)
    made = emulator.create_instances({"gpu_type": "RTX_A5000_24GB", "count": 3},
                                     return_ids=True)
    assert len(made["ids"]) == 3


def test_9_a_bad_control_call_is_a_clear_error(emulator):
    with pytest.raises(EmulatorControlError) as caught:
        emulator.advance(-1)
    assert "400" in str(caught.value) or "seconds" in str(caught.value)


def test_10_atlas_fixture_has_a_project_and_a_region(atlas, emulator):
    box = atlas.instances.create(name="box", type="cpu.2x", preemptible=True)
    emulator.advance(600)
    assert atlas.instances.get(box.id).state == "running"
    emulator.atlas.preempt(box.id)
    emulator.advance(600)
    assert atlas.instances.get(box.id).state in ("stopping", "stopped")


def test_11_atlas_tokens_expire_and_the_client_gets_a_new_one(atlas, emulator):
    atlas.instances.list()
    emulator.atlas.expire_tokens()
    assert atlas.instances.list() == []


def test_12_a_withheld_capability_is_the_specs_501(atlas, emulator):
    region = emulator.atlas.regions()[0]
    with pytest.raises(ValueError, match="filesystems:list"):  # names the real ones
        emulator.atlas.withhold_capabilities(region, "filesystems")
    emulator.atlas.withhold_capabilities(region, "filesystems:list")
    with pytest.raises(NotSupportedError):
        atlas.filesystems.list()


def test_13_the_handle_knows_its_urls(emulator):
    assert emulator.base_url.startswith("http://127.0.0.1:")
    assert httpx.get(emulator.base_url + "/instances",
                     headers={"api-key": emulator.api_key}).json() == []
    assert emulator.atlas.management_url.startswith(emulator.base_url)
'''

EXPECTED = 13


def test_a_users_suite_on_the_plugin_passes(tmp_path: Path) -> None:
    (tmp_path / "test_users_project.py").write_text(textwrap.dedent(USER_SUITE))
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "no:randomly",
         str(tmp_path)],
        cwd=tmp_path, capture_output=True, text=True, timeout=600, check=False,
    )  # fmt: skip
    summary = done.stdout.strip().splitlines()[-1] if done.stdout.strip() else done.stderr
    assert done.returncode == 0, done.stdout[-6000:] + done.stderr[-2000:]
    assert f"{EXPECTED} passed" in summary, summary
