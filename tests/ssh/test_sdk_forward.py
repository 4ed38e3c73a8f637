"""``instances.forward`` of both APIs against the ``--ssh`` emulator, on every client
kind: a server started on the instance over exec answers an HTTP GET made here through
the forward; the forward listens on loopback only and is closed on leaving the block."""

from __future__ import annotations

import os
import socket
from contextlib import asynccontextmanager
from typing import Any, AsyncIterator, List, Optional

import anyio
import pytest
from atlas_client_support import AtlasClients
from forward_support import SERVER, START, http_get
from ssh_support import KeyPair

from fluidstack.core.addresses import EmulatorAddressError
from fluidstack.core.ssh_forward import LocalPortInUseError, PortForward
from fluidstack.testing.handle import EmulatorHandle
from support import Clients, resolve

pytestmark = pytest.mark.anyio


@asynccontextmanager
async def entered(manager: Any) -> AsyncIterator[PortForward]:
    """``async with`` for the async clients' forward, ``with`` for the sync ones'."""
    if hasattr(manager, "__aenter__"):
        async with manager as forward:
            yield forward
    else:
        with manager as forward:
            yield forward


async def _serve(client: Any, instance: Any, key: KeyPair) -> int:
    started = await resolve(
        client.instances.exec(instance, START, key_path=key.private, stdin=SERVER)
    )
    assert started.ok, started.stderr
    return int(started.stdout.strip())


async def _platform_instance(client: Any, key: KeyPair) -> Any:
    await resolve(client.ssh_keys.create(name="laptop", public_key=key.public))
    return await resolve(
        client.instances.create_and_wait(
            gpu_type="RTX_A4000_16GB", ssh_key="laptop", until="ssh", poll_interval=1
        )
    )


def _listening_addresses(port: int) -> Optional[List[str]]:
    """The (hex, /proc/net/tcp) local addresses listening on ``port``; None off Linux."""
    if not os.path.exists("/proc/net/tcp"):
        return None
    found = []
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(table) as listing:
                lines = listing.read().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            local, state = line.split()[1], line.split()[3]
            address, hex_port = local.split(":")
            if state == "0A" and int(hex_port, 16) == port:
                found.append(address)
    return found


def _refused(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=5).close()
    except OSError:
        return True
    return False


async def test_platform_forward_reaches_a_server_on_the_instance(
    ssh_clients: Clients, key: KeyPair
) -> None:
    client = ssh_clients.make()
    instance = await _platform_instance(client, key)
    remote = await _serve(client, instance, key)
    async with entered(client.instances.forward(instance.id, remote, key_path=key.private)) as fwd:
        assert fwd.local_host == "127.0.0.1"
        assert fwd.local_port != 0
        assert fwd.remote_port == remote
        assert fwd.url == f"http://127.0.0.1:{fwd.local_port}/"
        assert fwd.is_open
        body = await anyio.to_thread.run_sync(http_get, fwd.url + "hello")
        assert body.startswith("served /hello from ")
        assert body.endswith("/home/ubuntu")
        assert _listening_addresses(fwd.local_port) in (None, ["0100007F"])  # loopback only
    assert not fwd.is_open
    assert _refused(fwd.local_port)


async def test_atlas_forward_on_a_chosen_local_port(
    ssh_atlas_clients: AtlasClients, ssh_emulator: EmulatorHandle, key: KeyPair
) -> None:
    atlas = ssh_atlas_clients.make(ssh_port=ssh_emulator.ssh_port)
    project = await resolve(atlas.projects.create(name="fwd"))
    atlas = atlas.with_options(project_id=project.id)
    instance = await resolve(
        atlas.instances.create(
            name="box", type="cpu.2x", user_data=f"#cloud-config\nssh_authorized_keys:\n"
            f"  - {key.public}\n", wait=True, until="ssh", poll_interval=1,
        )
    )  # fmt: skip
    remote = await _serve(atlas, instance, key)
    with socket.socket() as held:  # a port known free: taken here, handed over below
        held.bind(("127.0.0.1", 0))
        wanted = held.getsockname()[1]
        # Taken: a clear error, and nothing left listening or connected.
        with pytest.raises(LocalPortInUseError, match=f"local port {wanted} is already in use"):
            async with entered(atlas.instances.forward(instance, remote, wanted,
                                                       key_path=key.private)):  # fmt: skip
                pass
    async with entered(atlas.instances.forward(instance, remote, wanted,
                                               key_path=key.private)) as fwd:  # fmt: skip
        assert fwd.local_port == wanted
        assert "served /x" in await anyio.to_thread.run_sync(http_get, fwd.url + "x")
    assert _refused(wanted)


async def test_forward_to_a_documentation_address_is_refused_at_once(
    clients: Clients, key: KeyPair
) -> None:
    """The emulator without --ssh: the instance's address is reached by no network."""
    client = clients.make()
    await resolve(client.ssh_keys.create(name="laptop", public_key=key.public))
    instance = await resolve(
        client.instances.create_and_wait(gpu_type="RTX_A4000_16GB", ssh_key="laptop",
                                         poll_interval=1)
    )  # fmt: skip
    with pytest.raises(EmulatorAddressError, match="documentation address"):
        async with entered(client.instances.forward(instance, 8888)):
            pass
