"""The pytest plugin's fixtures, used the way a project's own tests would use them."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

from fluidstack.atlas import AsyncAtlas, Atlas
from fluidstack.client import AsyncFluidStack, FluidStack
from fluidstack.testing import EmulatorHandle

PUBLIC_KEY = (
    "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIMlZrNQiO9x/cSV8+8kF4khUmIupYM4FWj8WT0wfbsoV you@laptop"
)


def test_create_and_wait_finishes_at_once_in_simulated_time(
    fluidstack_client: FluidStack, emulator: EmulatorHandle
) -> None:
    fluidstack_client.ssh_keys.create(name="laptop", public_key=PUBLIC_KEY)
    before = emulator.clock()["now"]
    started = time.monotonic()
    instance = fluidstack_client.instances.create_and_wait(
        gpu_type="RTX_A4000_16GB", ssh_key="laptop"
    )
    assert instance.status == "running"
    assert time.monotonic() - started < 5  # the polls' waits cost no real time
    assert emulator.clock()["now"] > before  # ... but simulated time passed


def test_retries_wait_in_simulated_time(
    fluidstack_client: FluidStack, emulator: EmulatorHandle
) -> None:
    emulator.add_fault(path="/instances", status=503, retry_after="30")
    started = time.monotonic()
    assert fluidstack_client.instances.list() == []
    assert time.monotonic() - started < 5
    assert [e["status"] for e in emulator.journal()] == [503, 200]


@pytest.mark.anyio
async def test_async_client_fixture(
    async_fluidstack_client: AsyncFluidStack, emulator: EmulatorHandle
) -> None:
    await async_fluidstack_client.ssh_keys.create(name="laptop", public_key=PUBLIC_KEY)
    async with async_fluidstack_client.instances.ephemeral(
        gpu_type="RTX_A4000_16GB", ssh_key="laptop", name="scratch"
    ) as instance:
        assert instance.status == "running"
    assert (await async_fluidstack_client.instances.get(instance.id)).status == "terminated"


def test_the_session_emulator_serves_atlas(emulator: EmulatorHandle) -> None:
    import httpx

    atlas = emulator.atlas
    assert atlas.client_id == "fs-emulator-client"
    assert atlas.management_url == emulator.base_url
    assert atlas.token_url == emulator.base_url + "/oauth/token"
    assert atlas.regions() == ["eu-north-1", "us-east-1"]
    response = httpx.post(
        atlas.token_url,
        data={
            "grant_type": "client_credentials",
            "client_id": atlas.client_id,
            "client_secret": atlas.client_secret,
        },
    )
    token = response.json()["access_token"]
    region = f"{emulator.base_url}/regions/eu-north-1/api/v1alpha1"
    headers = {"authorization": f"Bearer {token}"}
    created = httpx.post(f"{region}/projects", json={"name": "p"}, headers=headers)
    assert created.status_code == 201
    assert atlas.client_secret not in repr(atlas)


def test_the_emulator_fixture_resets_atlas(emulator: EmulatorHandle) -> None:
    import httpx

    region = f"{emulator.base_url}/regions/eu-north-1/api/v1alpha1"
    headers = {"authorization": f"Bearer {emulator.atlas.token()}"}
    assert httpx.get(f"{region}/projects", headers=headers).json() == []
    assert emulator.atlas.capacity()[0]["used"] == 0


def test_atlas_fixture_is_ready_on_a_fresh_project(atlas: Atlas, emulator: EmulatorHandle) -> None:
    assert atlas.region == "eu-north-1"
    assert [p.id for p in atlas.projects.list()] == [atlas.project_id]
    started = time.monotonic()
    instance = atlas.instances.create(type="cpu.2x", wait=True)
    assert instance.state == "running"
    assert time.monotonic() - started < 5  # the waits moved the simulated clock instead


@pytest.mark.anyio
async def test_async_atlas_fixture(async_atlas: AsyncAtlas) -> None:
    async with async_atlas.instances.disposable(type="cpu.2x", name="scratch") as box:
        assert box.state == "running"
    assert (await async_atlas.instances.get(box.id)).state == "deleting"


_LEAVES_A_DAEMON = """
import asyncio

import asyncssh
import httpx


def test_leave_a_daemon_on_an_instance(ssh_emulator, tmp_path):
    key = asyncssh.generate_private_key("ssh-ed25519")
    headers = {"api-key": ssh_emulator.api_key}
    with httpx.Client(base_url=ssh_emulator.base_url, headers=headers) as api:
        public = key.export_public_key().decode()
        api.post("/ssh_keys", json={"name": "k", "public_key": public}).raise_for_status()
        body = {"gpu_type": "RTX_A4000_16GB", "ssh_key": "k"}
        created = api.post("/instances", json=body).json()
        ssh_emulator.advance(3600)
        port = int(api.get("/instances/" + created["id"]).json()["ssh_port"])

    async def run():
        async with asyncssh.connect("127.0.0.1", port=port, username="ubuntu",
                                    client_keys=[key], known_hosts=None, agent_path=None,
                                    config=None) as conn:
            command = "setsid sleep 305 </dev/null >/dev/null 2>&1 & echo $!"
            return (await conn.run(command)).stdout

    with open(PIDFILE, "w") as out:
        out.write(asyncio.run(run()))
"""


def test_the_plugins_teardown_ends_what_ran_on_the_ssh_emulators_instances(
    tmp_path: Path,
) -> None:
    """A project's test session leaves a daemon on an instance of ``ssh_emulator``: it
    ends with the session (issue 30), not on the developer's machine."""
    pytest.importorskip("asyncssh")
    from fluidstack.emulator.ssh.procs import process_alive

    folder = tmp_path
    pidfile = folder / "daemon.pid"
    (folder / "test_inner.py").write_text(f"PIDFILE = {str(pidfile)!r}\n" + _LEAVES_A_DAEMON)
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-c", "/dev/null",
         "--rootdir", str(folder), str(folder / "test_inner.py")],
        cwd=folder, capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    pid = int(pidfile.read_text())
    deadline = time.monotonic() + 10  # (the session already waited for it to end)
    while process_alive(pid):
        assert time.monotonic() < deadline, f"the daemon {pid} outlived the test session"
        time.sleep(0.05)
