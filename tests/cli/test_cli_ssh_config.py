"""``fluidstack ssh-config`` against the ``--ssh`` emulator: the system's ssh, scp and
rsync log in by alias using only the written files, the aliases follow creates, stops,
starts and deletes, and ``~/.ssh/config`` keeps every other byte.

OpenSSH takes ``~`` from the password database, not ``$HOME``: the tests' temporary home
is not where ssh looks, so its ``.ssh/config`` is passed to ssh with ``-F`` (exactly the
file a user's ssh would read from their real home)."""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
from pathlib import Path
from typing import Any, Dict, List

import pytest
from cli_support import Fs, Home

from fluidstack.testing import EmulatorHandle

needs_ssh_client = pytest.mark.skipif(
    shutil.which("ssh") is None and not os.environ.get("CI"),
    reason="the system ssh client is not installed (CI installs openssh-client)",
)

USER_CONFIG = b"# my own settings\nHost work\n    User me\n    Port 2200\n\nHost *\n    ServerAliveInterval 30\n"  # noqa: E501


@pytest.fixture
def env(
    home: Home, ssh_emulator: EmulatorHandle, monkeypatch: pytest.MonkeyPatch
) -> Dict[str, str]:
    """Both APIs' credentials of the ``--ssh`` emulator in the environment, waits in
    simulated time, and a ~/.ssh/config of the user's own."""
    from fluidstack.core._sync.pipeline import Pipeline

    control = ssh_emulator.atlas
    values = {
        "FLUIDSTACK_API_KEY": ssh_emulator.api_key,
        "FLUIDSTACK_BASE_URL": ssh_emulator.base_url,
        "FLUIDSTACK_CLIENT_ID": control.client_id,
        "FLUIDSTACK_CLIENT_SECRET": control.client_secret,
        "FLUIDSTACK_ATLAS_URL": control.management_url,
        "FLUIDSTACK_REGION": control.regions()[0],
        "FLUIDSTACK_SSH_PORT": str(ssh_emulator.ssh_port),
    }
    monkeypatch.delenv("FLUIDSTACK_KNOWN_HOSTS", raising=False)
    monkeypatch.delenv("SSH_AUTH_SOCK", raising=False)  # only the key the config names
    for name, value in values.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setitem(Pipeline.__init__.__kwdefaults__, "sleep", ssh_emulator.advance)
    ssh_dir = home.path / ".ssh"
    ssh_dir.mkdir(mode=0o700)
    (ssh_dir / "config").write_bytes(USER_CONFIG)
    os.chmod(ssh_dir / "config", 0o644)
    return values


@pytest.fixture
def key(tmp_path: Path) -> Path:
    """A private key (ed25519, 0600) with its ``.pub`` beside it."""
    import asyncssh

    folder = tmp_path / "keys"
    folder.mkdir()
    private = folder / "id_ed25519"
    made = asyncssh.generate_private_key("ssh-ed25519")
    made.write_private_key(str(private))
    os.chmod(private, 0o600)
    (folder / "id_ed25519.pub").write_bytes(made.export_public_key())
    return private


@pytest.fixture
def fs(env: Dict[str, str], key: Path) -> Fs:
    runner = Fs()
    runner("ssh-keys", "add", "laptop", f"{key}.pub")
    return runner


def _create(fs: Fs, name: str) -> Dict[str, Any]:
    doc: Dict[str, Any] = fs.json(
        "instances", "create", "--gpu-type", "RTX_A4000_16GB", "--name", name,
        "--wait", "--poll-interval", "5",
    )  # fmt: skip
    return doc


def _aliases(home: Home) -> List[str]:
    from fluidstack.core.ssh_config import managed_aliases

    return sorted(managed_aliases())


def _managed(home: Home) -> Path:
    return home.xdg / "fluidstack" / "ssh_config"


def _user_config(home: Home) -> Path:
    return home.path / ".ssh" / "config"


def _ssh(home: Home, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [args[0], "-F", str(_user_config(home)), "-o", "BatchMode=yes", *args[1:]],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


# -- consent and the user's file -------------------------------------------------------------


def test_off_a_terminal_without_yes_it_exits_2_and_writes_nothing(fs: Fs, home: Home) -> None:
    result = fs("ssh-config", expect=2)
    assert "--yes" in result.stderr
    assert "no terminal" in result.stderr
    assert _user_config(home).read_bytes() == USER_CONFIG
    assert not _managed(home).exists()


def test_on_a_terminal_it_asks_and_a_no_changes_nothing(
    fs: Fs, home: Home, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("fluidstack.cli.state.stdin_is_terminal", lambda: True)
    result = fs("ssh-config", input="n\n", expect=1)
    assert f"Include {_managed(home)}" in result.stderr
    assert "cancelled" in result.stderr
    assert _user_config(home).read_bytes() == USER_CONFIG
    assert not _managed(home).exists()
    fs("ssh-config", input="y\n")
    assert _user_config(home).read_bytes() == f"Include {_managed(home)}\n".encode() + USER_CONFIG


def test_the_include_line_is_added_once_first_and_removed_alone(fs: Fs, home: Home) -> None:
    fs("ssh-config", "--yes")
    fs("ssh-config", "--yes")
    fs("ssh-config")  # already included: no consent needed
    expected = f"Include {_managed(home)}\n".encode() + USER_CONFIG
    assert _user_config(home).read_bytes() == expected
    assert stat.S_IMODE(_user_config(home).stat().st_mode) == 0o644  # the user's mode
    assert stat.S_IMODE(_managed(home).stat().st_mode) == 0o600
    assert stat.S_IMODE(_managed(home).parent.stat().st_mode) == 0o700
    result = fs("ssh-config", "--remove")
    assert "Removed the Include line" in result.stderr
    assert _user_config(home).read_bytes() == USER_CONFIG
    assert not _managed(home).exists()


def test_refresh_writes_only_fluidstacks_file(fs: Fs, home: Home) -> None:
    _create(fs, "trainer")
    result = fs("ssh-config", "--refresh")
    assert "does not include it" in result.stderr
    assert _user_config(home).read_bytes() == USER_CONFIG
    assert _aliases(home) == ["fs-trainer"]


def test_nothing_is_written_unless_the_user_set_it_up(fs: Fs, home: Home) -> None:
    instance = _create(fs, "trainer")
    fs("instances", "stop", instance["id"])
    fs("instances", "delete", instance["id"], "--yes")
    assert not _managed(home).exists()
    assert _user_config(home).read_bytes() == USER_CONFIG


# -- aliases -----------------------------------------------------------------------------------


def test_aliases_follow_create_stop_start_and_delete(fs: Fs, home: Home) -> None:
    fs("ssh-config", "--yes")
    assert _aliases(home) == []
    result = fs(
        "instances", "create", "--gpu-type", "RTX_A4000_16GB", "--name", "Trainer",
        "--wait", "--poll-interval", "5",
    )  # fmt: skip
    assert "Log in with: ssh fs-trainer" in result.stderr
    assert "code --remote ssh-remote+fs-trainer /" in result.stderr
    instance_id = fs.json("instances", "list")[0]["id"]
    assert _aliases(home) == ["fs-trainer"]
    fs("instances", "stop", instance_id, "--wait", "--poll-interval", "5")
    assert _aliases(home) == []
    fs("instances", "start", instance_id, "--wait", "--poll-interval", "5")
    assert _aliases(home) == ["fs-trainer"]
    fs("instances", "rename", instance_id, "Trainer 2")
    assert _aliases(home) == ["fs-trainer-2"]
    fs("instances", "delete", instance_id, "--yes")
    assert _aliases(home) == []
    assert _user_config(home).read_bytes() == f"Include {_managed(home)}\n".encode() + USER_CONFIG


def test_the_hint_before_set_up_says_how(fs: Fs) -> None:
    result = fs(
        "instances", "create", "--gpu-type", "RTX_A4000_16GB", "--name", "box", "--wait",
        "--poll-interval", "5",
    )  # fmt: skip
    assert "For `ssh fs-box`" in result.stderr
    assert "run once: fluidstack ssh-config" in result.stderr


def test_names_two_instances_share_get_the_id_appended(fs: Fs, home: Home) -> None:
    first = _create(fs, "twin")["id"]
    second = _create(fs, "twin")["id"]
    _create(fs, "solo")
    doc = fs.json("ssh-config", "--yes")
    assert sorted(row["alias"] for row in doc) == sorted(
        ["fs-solo", f"fs-twin-{first[:8].lower()}", f"fs-twin-{second[:8].lower()}"]
    )
    assert {row["api"] for row in doc} == {"platform"}


def test_an_alias_another_writer_has_is_left_to_it(fs: Fs, home: Home) -> None:
    from fluidstack.core.ssh_config import SshHost, write_section

    write_section("slurm:hpc", [SshHost("fs-trainer", "10.0.0.9", user="root")])
    instance_id = _create(fs, "trainer")["id"]
    fs("ssh-config", "--yes")
    assert _aliases(home) == sorted(["fs-trainer", f"fs-trainer-{instance_id[:8].lower()}"])
    assert "10.0.0.9" in _managed(home).read_text()  # the other section is kept


# -- logging in with the system's tools ----------------------------------------------------------


@needs_ssh_client
def test_ssh_scp_and_rsync_log_in_by_alias_with_only_the_written_config(
    fs: Fs, home: Home, key: Path, tmp_path: Path, ssh_emulator: EmulatorHandle
) -> None:
    instance = _create(fs, "trainer")
    fs("ssh-config", "--yes", "--identity", str(key))
    managed = _managed(home).read_text()
    print("MANAGED>>>\n" + managed)
    print(fs("ssh-config", "--refresh").stdout)
    assert f"IdentityFile {key}" in managed
    assert f"UserKnownHostsFile {home.xdg / 'fluidstack' / 'known_hosts'}" in managed

    done = _ssh(home, "ssh", "fs-trainer", "echo $USER; true")
    assert done.returncode == 0, done.stderr
    assert done.stdout == "ubuntu\n"

    local = tmp_path / "data.txt"
    local.write_text("weights\n")
    copied = _ssh(home, "scp", str(local), "fs-trainer:data.txt")
    assert copied.returncode == 0, copied.stderr
    remote_home = ssh_emulator.instance_directory(instance["id"]) / "home" / "ubuntu"
    assert (remote_home / "data.txt").read_text() == "weights\n"

    if shutil.which("rsync") is not None:
        (tmp_path / "out").mkdir()
        synced = subprocess.run(
            ["rsync", "-a", "-e", f"ssh -F {_user_config(home)} -o BatchMode=yes",
             "fs-trainer:data.txt", str(tmp_path / "out") + "/"],
            capture_output=True, text=True, timeout=60, check=False,
        )  # fmt: skip
        assert synced.returncode == 0, synced.stderr
        assert (tmp_path / "out" / "data.txt").read_text() == "weights\n"

    # The host key ssh remembered is the one the SDK trusts (same file, same name).
    fs("instances", "exec", instance["id"], "-i", str(key), "--", "true")

    fs("instances", "delete", instance["id"], "--yes")
    assert "fs-trainer" not in _managed(home).read_text()
    gone = _ssh(home, "ssh", "fs-trainer", "true")
    assert gone.returncode == 255
    # Later updates keep the identity file given once.
    _create(fs, "second")
    assert f"IdentityFile {key}" in _managed(home).read_text()
    assert _user_config(home).read_bytes() == f"Include {_managed(home)}\n".encode() + USER_CONFIG


@needs_ssh_client
def test_atlas_instances_get_project_aliases_that_log_in(
    fs: Fs, home: Home, key: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    project = fs.json("atlas", "projects", "create", "work")
    monkeypatch.setenv("FLUIDSTACK_PROJECT_ID", project["id"])
    fs("ssh-config", "--yes", "--identity", str(key))
    result = fs(
        "atlas", "instances", "create", "box", "--type", "cpu.2x", "--ssh-key", f"{key}.pub",
        "--wait",
    )  # fmt: skip
    assert "Log in with: ssh fs-work-box" in result.stderr
    assert _aliases(home) == ["fs-work-box"]
    done = _ssh(home, "ssh", "fs-work-box", "pwd")
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().endswith("/home/ubuntu")
    instance_id = fs.json("atlas", "instances", "list")[0]["id"]
    fs("atlas", "instances", "stop", instance_id, "--wait")
    assert _aliases(home) == []
    fs("atlas", "instances", "start", instance_id, "--wait")
    assert _aliases(home) == ["fs-work-box"]
    fs("atlas", "instances", "delete", instance_id, "--yes", "--wait")
    assert _aliases(home) == []
    assert _user_config(home).read_bytes() == f"Include {_managed(home)}\n".encode() + USER_CONFIG


def test_help_and_no_credentials(fs_no_creds: Fs, home: Home) -> None:
    assert "ssh-config" in fs_no_creds("--help").stdout
    assert "fs-PROJECT-NAME" in fs_no_creds("ssh-config", "--help").stdout
    result = fs_no_creds("ssh-config", "--yes")
    assert "no platform API key and no Atlas session" in result.stderr
    assert fs_no_creds("ssh-config", "--remove", "--refresh", expect=2).exit_code == 2


# -- the documentation's blocks, as written -------------------------------------------------------


def _doc_blocks(name: str) -> List[str]:
    import re

    text = (Path(__file__).resolve().parents[2] / "docs" / name).read_text()
    start = text.index("### SSH config")
    end = text.find("\n## ", start)
    section = text[start : end if end != -1 else len(text)]
    section = section.split("\n### ", 1)[0]  # up to the next subsection
    return re.findall(r"```bash\n(.*?)```", section, flags=re.S)


@needs_ssh_client
def test_the_docs_blocks_run_as_written(
    fs: Fs, home: Home, key: Path, tmp_path: Path, ssh_emulator: EmulatorHandle
) -> None:
    """The "SSH config" blocks of docs/guides.md and docs/cli.md, run by bash. Two
    stand-ins only: ``ssh`` and ``scp`` on PATH add ``-F $HOME/.ssh/config`` (OpenSSH
    takes ``~`` from the password database; this HOME is a temporary one), and the
    emulator's clock moves on while ``--wait`` polls."""
    import sys
    import threading

    ssh_dir = home.path / ".ssh"
    shutil.copy(key, ssh_dir / "id_ed25519")
    shutil.copy(f"{key}.pub", ssh_dir / "id_ed25519.pub")
    shims = tmp_path / "shims"
    shims.mkdir()
    for tool in ("ssh", "scp"):
        real = shutil.which(tool)
        assert real is not None
        shim = shims / tool
        shim.write_text(f'#!/bin/sh\nexec {real} -F "$HOME/.ssh/config" -o BatchMode=yes "$@"\n')
        shim.chmod(0o755)
    path = os.pathsep.join([str(shims), str(Path(sys.executable).parent), os.environ["PATH"]])
    blocks = _doc_blocks("guides.md") + _doc_blocks("cli.md")
    assert len(blocks) == 2
    stop = threading.Event()

    def tick() -> None:
        while not stop.wait(0.2):
            ssh_emulator.advance(60)

    ticker = threading.Thread(target=tick, daemon=True)
    ticker.start()
    try:
        for number, block in enumerate(blocks, 1):
            work = tmp_path / f"work{number}"
            work.mkdir()
            (work / "train.py").write_text("print('hi')\n")
            done = subprocess.run(
                ["bash", "-euo", "pipefail", "-c", block],
                cwd=work, env={**os.environ, "PATH": path}, capture_output=True, text=True,
                timeout=300, check=False,
            )  # fmt: skip
            assert done.returncode == 0, f"block {number}:\n{block}\n{done.stdout}{done.stderr}"
            assert (work / "back" / "train.py").read_text() == "print('hi')\n"
    finally:
        stop.set()
        ticker.join(10)
    assert _user_config(home).read_bytes() == USER_CONFIG  # the last block removed it all
    assert not _managed(home).exists()
