"""Fixtures of the SSH tests: clients of both APIs (sync, async, async on aiohttp) bound
to the ``--ssh`` session emulator, a client key, and a private known_hosts file."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any, Dict

import pytest

# The Atlas clients' and the CLI's test helpers live with those tests.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "atlas"))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "cli"))

from cli_support import Fs
from ssh_support import KeyPair, make_key

from fluidstack.testing.handle import EmulatorHandle
from support import AtlasClients, Clients


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


@pytest.fixture
def ssh_clients(make_clients: Any, ssh_emulator: EmulatorHandle) -> Clients:
    """Platform clients of the ``--ssh`` emulator (waits move its clock)."""
    made: Clients = make_clients("platform", ssh_emulator)
    return made


@pytest.fixture
def ssh_atlas_clients(make_clients: Any, ssh_emulator: EmulatorHandle) -> AtlasClients:
    """Atlas clients of the ``--ssh`` emulator, with its SSH port."""
    made: AtlasClients = make_clients("atlas", ssh_emulator)
    return made


CLI_ENV = [name for name in os.environ if name.startswith("FLUIDSTACK_")] + ["SSH_AUTH_SOCK"]


@pytest.fixture
def cli_env(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, ssh_emulator: EmulatorHandle
) -> Dict[str, str]:
    """A fresh HOME and config, the CLI pointed at the ``--ssh`` emulator (platform key
    and Atlas client credentials in the environment), waits in simulated time."""
    from fluidstack.core._sync.pipeline import Pipeline

    for name in [*CLI_ENV, "FLUIDSTACK_KNOWN_HOSTS"]:  # the default file, in XDG_CONFIG_HOME
        monkeypatch.delenv(name, raising=False)
    home = tmp_path / "home"
    home.mkdir()
    control = ssh_emulator.atlas
    env = {
        "HOME": str(home),
        "XDG_CONFIG_HOME": str(tmp_path / "xdg"),
        "FLUIDSTACK_API_KEY": ssh_emulator.api_key,
        "FLUIDSTACK_BASE_URL": ssh_emulator.base_url,
        "FLUIDSTACK_CLIENT_ID": control.client_id,
        "FLUIDSTACK_CLIENT_SECRET": control.client_secret,
        "FLUIDSTACK_ATLAS_URL": control.management_url,
        "FLUIDSTACK_REGION": control.regions()[0],
        "FLUIDSTACK_SSH_PORT": str(ssh_emulator.ssh_port),
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setitem(Pipeline.__init__.__kwdefaults__, "sleep", ssh_emulator.advance)
    return env


@pytest.fixture
def fs(cli_env: Dict[str, str]) -> Fs:
    return Fs()
