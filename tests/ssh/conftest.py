"""Fixtures of the SSH tests: clients of both APIs (sync, async, async on aiohttp) bound
to the ``--ssh`` session emulator, a client key, and a private known_hosts file."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import AsyncIterator

import pytest

# The Atlas clients' helpers live with the Atlas tests.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "atlas"))

from atlas_client_support import AtlasClients
from ssh_support import KeyPair, make_key

from fluidstack.testing.handle import EmulatorHandle
from support import EMULATOR_KINDS, Clients


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(autouse=True)
def known_hosts_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Host keys trusted by a test stay in its own file, never the developer's."""
    path = tmp_path / "config" / "known_hosts"
    monkeypatch.setenv("FLUIDSTACK_KNOWN_HOSTS", str(path))
    for name in ("FLUIDSTACK_CLIENT_ID", "FLUIDSTACK_CLIENT_SECRET", "FLUIDSTACK_TOKEN",
                 "FLUIDSTACK_REGION", "FLUIDSTACK_PROJECT_ID", "FLUIDSTACK_ATLAS_URL",
                 "FLUIDSTACK_SSH_PORT"):  # fmt: skip
        monkeypatch.delenv(name, raising=False)
    return path


@pytest.fixture
def key(tmp_path: Path) -> KeyPair:
    return make_key(tmp_path / "keys")


@pytest.fixture(params=EMULATOR_KINDS)
async def ssh_clients(
    request: pytest.FixtureRequest, ssh_emulator: EmulatorHandle
) -> AsyncIterator[Clients]:
    """Platform clients of the ``--ssh`` emulator (waits move its clock)."""
    made = Clients(request.param, ssh_emulator)
    yield made
    await made.close()


@pytest.fixture(params=EMULATOR_KINDS)
async def ssh_atlas_clients(
    request: pytest.FixtureRequest, ssh_emulator: EmulatorHandle
) -> AsyncIterator[AtlasClients]:
    """Atlas clients of the ``--ssh`` emulator, with its SSH port."""
    made = AtlasClients(request.param, ssh_emulator)
    yield made
    await made.close()
