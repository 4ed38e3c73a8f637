"""``fluidstack atlas slurm ssh-config``: a Host entry for a Slurm cluster's login node in
fluidstack's managed ssh config (with consent for the Include line), and with
``--skypilot`` in ``~/.slurm/config``, the file SkyPilot reads its Slurm clusters from."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Dict

import pytest
from cli_support import Fs, Home

SLURM = ("atlas", "slurm")


def _cluster(fs: Fs) -> Dict[str, str]:
    doc: Dict[str, str] = fs.json(*SLURM, "clusters", "create", "hpc", "--wait")
    return doc


def _key(home: Home) -> Path:
    key = home.path / "keys" / "slurm_key"
    key.parent.mkdir(parents=True)
    key.write_text("not a real key\n")
    return key


def test_print_shows_the_host_entry_and_writes_nothing(atlas_fs: Fs, home: Home) -> None:
    cluster = _cluster(atlas_fs)
    printed = atlas_fs(*SLURM, "ssh-config", "hpc", "--ssh-port", "2222", "--print").stdout
    (login,) = cluster["loginNodes"]  # type: ignore[misc]
    assert "Host fs-slurm-hpc\n" in printed
    assert f"    HostName {login['publicIP']}\n" in printed  # type: ignore[index]
    assert "    Port 2222\n    User ubuntu\n" in printed
    assert f"HostKeyAlias fluidstack-slurm-{cluster['id']}-login-01" in printed
    # An emulator without --ssh: a documentation address, which nothing answers.
    warned = atlas_fs(*SLURM, "ssh-config", "hpc", "--print").stderr
    assert "documentation address" in warned
    assert "--ssh" in warned
    assert not (home.xdg / "fluidstack" / "ssh_config").exists()
    assert not (home.path / ".ssh").exists()


def test_off_a_terminal_without_yes_nothing_is_written(atlas_fs: Fs, home: Home) -> None:
    _cluster(atlas_fs)
    result = atlas_fs(*SLURM, "ssh-config", "hpc", expect=2)
    assert "pass --yes" in result.stderr
    assert not (home.xdg / "fluidstack" / "ssh_config").exists()
    assert not (home.path / ".ssh" / "config").exists()


def test_on_a_terminal_it_asks_and_a_no_leaves_everything_as_it_was(
    atlas_fs: Fs, home: Home, monkeypatch: pytest.MonkeyPatch
) -> None:
    _cluster(atlas_fs)
    monkeypatch.setattr("fluidstack.cli.state.stdin_is_terminal", lambda: True)
    result = atlas_fs(*SLURM, "ssh-config", "hpc", input="n\n", expect=1)
    assert "Add the line `Include " in result.stderr
    assert not (home.xdg / "fluidstack" / "ssh_config").exists()
    assert not (home.path / ".ssh" / "config").exists()


def test_the_entry_joins_the_managed_file_and_ssh_resolves_it(atlas_fs: Fs, home: Home) -> None:
    cluster = _cluster(atlas_fs)
    atlas_fs(*SLURM, "ssh-config", "hpc", "--yes", "--ssh-port", "2222")
    managed = (home.xdg / "fluidstack" / "ssh_config").read_text()
    assert f"# >>> fluidstack section slurm:{cluster['id']}\n" in managed
    assert "Host fs-slurm-hpc\n" in managed
    user_config = home.path / ".ssh" / "config"
    assert user_config.read_text().startswith("Include ")
    if shutil.which("ssh") is None:
        pytest.skip("no ssh client to resolve the alias with")
    resolved = subprocess.run(["ssh", "-G", "-F", str(user_config), "fs-slurm-hpc"],
                              capture_output=True, text=True, check=True).stdout  # fmt: skip
    (login,) = cluster["loginNodes"]  # type: ignore[misc]
    assert f"hostname {login['publicIP']}\n" in resolved  # type: ignore[index]
    assert "port 2222\n" in resolved
    assert "user ubuntu\n" in resolved


def test_skypilot_gets_its_block_in_slurm_config_other_lines_kept(atlas_fs: Fs, home: Home) -> None:
    cluster = _cluster(atlas_fs)
    result = atlas_fs(*SLURM, "ssh-config", "hpc", "--skypilot", "--yes", expect=2)
    assert "pass -i KEY" in result.stderr  # SkyPilot needs an IdentityFile; none in ~/.ssh
    slurm_config = home.path / ".slurm" / "config"
    slurm_config.parent.mkdir()
    mine = "Host other\n    HostName login.example.org\n    User me\n"
    slurm_config.write_text(mine)
    key = _key(home)
    for _ in range(2):  # a second run replaces the block, never adds another
        atlas_fs(*SLURM, "ssh-config", "hpc", "--skypilot", "--yes", "-i", str(key),
                 "--ssh-port", "2222")  # fmt: skip
    text = slurm_config.read_text()
    assert text.startswith(mine)
    assert text.count("Host fs-slurm-hpc\n") == 1
    assert f"# >>> fluidstack slurm {cluster['id']}\n" in text
    assert f"    IdentityFile {key}\n" in text
    assert slurm_config.stat().st_mode & 0o777 == 0o600
    paramiko = pytest.importorskip("paramiko.config")  # SkyPilot's own parser
    parsed = paramiko.SSHConfig.from_path(str(slurm_config))
    assert sorted(h for h in parsed.get_hostnames() if h != "*") == ["fs-slurm-hpc", "other"]
    found = parsed.lookup("fs-slurm-hpc")
    (login,) = cluster["loginNodes"]  # type: ignore[misc]
    assert found["hostname"] == login["publicIP"]  # type: ignore[index]
    assert (found["user"], found["port"], found["identityfile"]) == ("ubuntu", "2222", [str(key)])
