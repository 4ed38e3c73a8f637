"""Fixtures for the CLI tests: an isolated home and config, and a runner bound to the emulator.

No test touches the real home directory: HOME, XDG_CONFIG_HOME and every FLUIDSTACK_*
variable are replaced for each test.
"""

from __future__ import annotations

from pathlib import Path
from typing import Iterator

import pytest
from cli_support import Fs, Home, write_key_pair

from fluidstack.testing import EmulatorHandle

ENV_VARS = (
    "FLUIDSTACK_API_KEY",
    "FLUIDSTACK_BASE_URL",
    "FLUIDSTACK_CLIENT_ID",
    "FLUIDSTACK_CLIENT_SECRET",
    "FLUIDSTACK_TOKEN",
    "FLUIDSTACK_REGION",
    "FLUIDSTACK_PROJECT_ID",
    "FLUIDSTACK_ATLAS_URL",
    "FLUIDSTACK_TOKEN_URL",
    "FLUIDSTACK_REGION_URL",
    "FLUIDSTACK_PROFILE",
    "FLUIDSTACK_CONFIG",
    "FLUIDSTACK_LOG",
    "NO_COLOR",
    "FORCE_COLOR",
)


@pytest.fixture(autouse=True)
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Home:
    """A fresh HOME and XDG_CONFIG_HOME, and no FLUIDSTACK_* variables."""
    home_dir = tmp_path / "home"
    xdg = tmp_path / "xdg"
    home_dir.mkdir()
    for name in ENV_VARS:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HOME", str(home_dir))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(xdg))
    return Home(home_dir, xdg)


@pytest.fixture
def fs(emulator: EmulatorHandle, monkeypatch: pytest.MonkeyPatch) -> Iterator[Fs]:
    """The CLI pointed at the (freshly reset) emulator through the environment variables."""
    monkeypatch.setenv("FLUIDSTACK_API_KEY", emulator.api_key)
    monkeypatch.setenv("FLUIDSTACK_BASE_URL", emulator.base_url)
    return Fs()


@pytest.fixture
def fs_no_creds() -> Fs:
    """The CLI with no credentials anywhere."""
    return Fs()


@pytest.fixture
def ssh_key(fs: Fs, home: Home) -> str:
    """A public key file in ~/.ssh, uploaded as ``laptop``; returns the key's name."""
    write_key_pair(home.path / ".ssh", "id_ed25519")
    fs("ssh-keys", "add", "laptop")
    return "laptop"


@pytest.fixture
def atlas_fs(emulator: EmulatorHandle, monkeypatch: pytest.MonkeyPatch) -> Fs:
    """The CLI logged in to the emulator's Atlas with client credentials (stored in the
    profile by `atlas login`), in its first region, on a new project `work`.

    Where the CLI would sleep (between the polls of `--wait`), the emulator's simulated
    clock moves forward instead, so waits end at once and deterministically."""
    from fluidstack.core._sync.pipeline import Pipeline

    monkeypatch.setitem(Pipeline.__init__.__kwdefaults__, "sleep", emulator.advance)
    fs = Fs()
    control = emulator.atlas
    fs(
        "atlas",
        "login",
        "--url",
        control.management_url,
        "--client-id",
        control.client_id,
        "--client-secret",
        control.client_secret,
    )
    fs("atlas", "--region", "eu-north-1", "projects", "create", "work")
    fs("atlas", "use", "--region", "eu-north-1", "--project", "work")
    return fs
