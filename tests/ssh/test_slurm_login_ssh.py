"""A Slurm cluster's login node answers SSH under ``--ssh``: it is backed by an instance
of the project, so its ``publicIP`` (loopback) is where that instance's sshd listens,
with the organization's ``/user/keys`` authorized."""

from __future__ import annotations

import ipaddress

import asyncssh
import pytest
from ssh_support import KeyPair

from fluidstack.testing.handle import EmulatorHandle

pytestmark = pytest.mark.anyio


async def test_a_slurm_login_node_answers_ssh(ssh_emulator: EmulatorHandle, key: KeyPair) -> None:
    from fluidstack.atlas import AsyncAtlas

    control = ssh_emulator.atlas
    atlas = AsyncAtlas(client_id=control.client_id, client_secret=control.client_secret,
                       management_url=control.management_url, region=control.regions()[0],
                       ssh_port=ssh_emulator.ssh_port, use_environment=False)  # fmt: skip
    try:
        project = await atlas.projects.create(name="hpc")
        atlas = atlas.with_options(project_id=project.id)
        await atlas.user_keys.create(name="k", key=key.public)
        cluster = await atlas.slurm.clusters.create(name="hpc")
        (login,) = cluster.login_nodes
        assert login.public_ip is not None
        assert ipaddress.ip_address(login.public_ip).is_loopback
        (instance,) = [
            i for i in await atlas.instances.list() if i.tags.get("fluidstack.role") == "login"
        ]
        ssh_emulator.advance(120)
        await atlas.instances.wait(instance.id, until="ssh", poll_interval=10)
        async with asyncssh.connect(
            login.public_ip, port=ssh_emulator.ssh_port, username="ubuntu",
            client_keys=[str(key.private)], known_hosts=None, agent_path=None, config=None,
            connect_timeout=30,
        ) as connection:  # fmt: skip
            done = await connection.run("echo login", check=True)
        assert done.stdout == "login\n"
        await atlas.slurm.clusters.delete(cluster.id)
    finally:
        await atlas.aclose()
