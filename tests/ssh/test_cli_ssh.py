"""The CLI's SSH commands against the ``--ssh`` emulator: `instances ssh` with the real
ssh client (both APIs), `exec` (streamed, the remote exit status) and `cp` both ways."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any, Dict, Tuple

import pytest
from cli_support import Fs
from ssh_support import KeyPair

from fluidstack.testing.handle import EmulatorHandle


@pytest.fixture
def platform_instance(fs: Fs, key: KeyPair) -> Dict[str, Any]:
    """A running platform instance whose key is ``key``."""
    pub = key.private.parent / f"{key.private.name}.pub"
    fs("ssh-keys", "add", "laptop", str(pub))
    doc: Dict[str, Any] = fs.json(
        "instances", "create", "--gpu-type", "RTX_A4000_16GB", "--wait", "--poll-interval", "5"
    )
    return doc


@pytest.fixture
def atlas_instance(
    fs: Fs, key: KeyPair, cli_env: Dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> Dict[str, Any]:
    """A running Atlas instance (project ``work``) that ``key`` logs into."""
    project = fs.json("atlas", "projects", "create", "work")
    monkeypatch.setenv("FLUIDSTACK_PROJECT_ID", project["id"])
    cli_env["FLUIDSTACK_PROJECT_ID"] = project["id"]
    pub = key.private.parent / f"{key.private.name}.pub"
    doc = fs.json(
        "atlas", "instances", "create", "box", "--type", "cpu.2x", "--ssh-key", str(pub), "--wait"
    )
    result: Dict[str, Any] = doc
    return result


def _subprocess(args: list, env: Dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "fluidstack", *args],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


needs_ssh_client = pytest.mark.skipif(
    shutil.which("ssh") is None and not os.environ.get("CI"),
    reason="the system ssh client is not installed (CI installs openssh-client)",
)


@needs_ssh_client
def test_instances_ssh_logs_in_with_the_system_ssh_client(
    platform_instance: Dict[str, Any], key: KeyPair, cli_env: Dict[str, str]
) -> None:
    done = _subprocess(
        ["instances", "ssh", platform_instance["id"], "-i", str(key.private), "--",
         "-o", "BatchMode=yes", "echo hello from $USER; nvidia-smi -L; exit 5"],
        cli_env,
    )  # fmt: skip
    assert done.returncode == 5, done.stderr
    assert done.stdout.startswith("hello from ubuntu\nGPU 0: NVIDIA RTX A4000 (UUID: GPU-")
    known = Path(cli_env["XDG_CONFIG_HOME"]) / "fluidstack" / "known_hosts"
    remembered = known.read_text()
    assert len(remembered.splitlines()) == 1  # (hashed, as the system's ssh_config may ask)
    # The SDK trusts what ssh remembered (same file, same per-instance name) ...
    fs = Fs()
    fs("instances", "exec", platform_instance["id"], "-i", str(key.private), "--", "true")
    assert known.read_text() == remembered
    # ... and ssh trusts it the second time, without a prompt.
    again = _subprocess(
        ["instances", "ssh", platform_instance["id"], "-i", str(key.private), "--",
         "-o", "BatchMode=yes", "true"],
        cli_env,
    )  # fmt: skip
    assert again.returncode == 0, again.stderr


@needs_ssh_client
def test_atlas_instances_ssh_logs_in_on_the_shared_port(
    atlas_instance: Dict[str, Any], key: KeyPair, cli_env: Dict[str, str]
) -> None:
    done = _subprocess(
        ["atlas", "instances", "ssh", atlas_instance["id"], "-i", str(key.private), "--",
         "-o", "BatchMode=yes", "pwd"],
        cli_env,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().endswith("/home/ubuntu")


@needs_ssh_client
def test_local_port_forwarding_reaches_a_service_on_the_instance(
    platform_instance: Dict[str, Any], key: KeyPair, cli_env: Dict[str, str], tmp_path: Path
) -> None:
    import socket

    with socket.socket() as service:  # stands for Jupyter on the instance's loopback
        service.bind(("127.0.0.1", 0))
        service.listen(1)
        port = service.getsockname()[1]
        tunnel, _local, client = _open_tunnel(platform_instance["id"], key, cli_env, port)
        try:
            with client:
                client.sendall(b"ping")
                served, _ = service.accept()
                with served:
                    assert served.recv(4) == b"ping"
                    served.sendall(b"pong")
                    assert client.recv(4) == b"pong"
        finally:
            tunnel.terminate()
            tunnel.wait(10)


def _open_tunnel(
    instance_id: str, key: KeyPair, cli_env: Dict[str, str], port: int
) -> Tuple[subprocess.Popen[bytes], int, Any]:
    """``fluidstack instances ssh -L`` on a local port ssh must bind itself: a port found
    free may be taken by another process before ssh binds it, so a tunnel that fails
    with "Address already in use" is tried again on another port (5 tries)."""
    import socket
    import time

    for _ in range(5):
        with socket.socket() as free:
            free.bind(("127.0.0.1", 0))
            local = free.getsockname()[1]
        argv = [sys.executable, "-m", "fluidstack", "instances", "ssh", instance_id,
                "-i", str(key.private), "--", "-o", "BatchMode=yes", "-o",
                "ExitOnForwardFailure=yes", "-N", "-L", f"{local}:127.0.0.1:{port}"]  # fmt: skip
        tunnel = subprocess.Popen(argv, env={**os.environ, **cli_env}, stderr=subprocess.PIPE)
        deadline = time.monotonic() + 60
        while tunnel.poll() is None and time.monotonic() < deadline:
            try:  # until the tunnel listens (ssh -N prints nothing)
                return tunnel, local, socket.create_connection(("127.0.0.1", local), timeout=5)
            except OSError:
                time.sleep(0.05)
        tunnel.terminate()
        tunnel.wait(10)
        error = tunnel.stderr.read().decode(errors="replace") if tunnel.stderr else ""
        if "already in use" not in error:
            raise AssertionError(error or "the tunnel never listened")
    raise AssertionError("five local ports were taken before ssh could bind them")


def test_exec_streams_and_exits_with_the_remote_status(
    fs: Fs, platform_instance: Dict[str, Any], key: KeyPair
) -> None:
    result = fs("instances", "exec", platform_instance["id"], "-i", str(key.private), "--",
                "sh", "-c", "echo out; echo err >&2; exit 7", expect=7)  # fmt: skip
    assert result.stdout == "out\n"
    assert result.stderr == "err\n"


def test_exec_output_arrives_while_the_command_still_runs(
    platform_instance: Dict[str, Any], key: KeyPair, cli_env: Dict[str, str],
    ssh_emulator: EmulatorHandle,
) -> None:  # fmt: skip
    """The command cannot end before its first line was read here: output is streamed."""
    import threading

    home = ssh_emulator.instance_directory(platform_instance["id"]) / "home" / "ubuntu"
    process = subprocess.Popen(
        [sys.executable, "-m", "fluidstack", "instances", "exec", platform_instance["id"],
         "-i", str(key.private), "--",
         "echo first; while [ ! -e go ]; do sleep 0.05; done; echo second; exit 4"],
        env={**os.environ, **cli_env}, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    watchdog = threading.Timer(90, process.kill)  # a buffered "first" would wait forever
    watchdog.start()
    try:
        assert process.stdout is not None
        assert process.stdout.readline() == "first\n"
        (home / "go").touch()
        rest, stderr = process.communicate(timeout=90)
    finally:
        watchdog.cancel()
        if process.poll() is None:
            process.kill()
            process.communicate()
    assert rest == "second\n"
    assert process.returncode == 4, stderr


def test_exec_timeout_exits_124(fs: Fs, platform_instance: Dict[str, Any], key: KeyPair) -> None:
    result = fs("instances", "exec", platform_instance["id"], "-i", str(key.private),
                "--timeout", "0.5", "--", "sleep 30", expect=124)  # fmt: skip
    assert "longer than 0.5s" in result.stderr


def test_exec_with_a_key_the_instance_does_not_know_exits_255(
    fs: Fs, platform_instance: Dict[str, Any], tmp_path: Path
) -> None:
    from ssh_support import make_key

    other = make_key(tmp_path / "other")
    result = fs("instances", "exec", platform_instance["id"], "-i", str(other.private), "--",
                "true", expect=255)  # fmt: skip
    assert "refused the login" in result.stderr


def test_cp_both_ways(
    fs: Fs, platform_instance: Dict[str, Any], key: KeyPair, tmp_path: Path
) -> None:
    ident = platform_instance["id"]
    source = tmp_path / "data"
    (source / "sub").mkdir(parents=True)
    (source / "sub" / "a.txt").write_text("A")
    fs("instances", "cp", str(source), f"{ident}:data", "-i", str(key.private))
    listing = fs("instances", "exec", ident, "-i", str(key.private), "--", "cat data/sub/a.txt")
    assert listing.stdout == "A"
    back = tmp_path / "back"
    back.mkdir()
    fs("instances", "cp", f"{ident}:data", str(back), "-i", str(key.private))
    assert (back / "data" / "sub" / "a.txt").read_text() == "A"


def test_cp_needs_exactly_one_instance_side(fs: Fs) -> None:
    result = fs("instances", "cp", "./a", "./b", expect=2)
    assert "ID:PATH" in result.stderr


def test_atlas_exec_and_cp(
    fs: Fs, atlas_instance: Dict[str, Any], key: KeyPair, tmp_path: Path
) -> None:
    ident = atlas_instance["id"]
    (tmp_path / "f.txt").write_text("atlas")
    fs(
        "atlas",
        "instances",
        "cp",
        str(tmp_path / "f.txt"),
        f"{ident}:f.txt",
        "-i",
        str(key.private),
    )
    result = fs("atlas", "instances", "exec", ident, "-i", str(key.private), "--",
                "cat f.txt; exit 3", expect=3)  # fmt: skip
    assert result.stdout == "atlas"
    fs(
        "atlas",
        "instances",
        "cp",
        f"{ident}:f.txt",
        str(tmp_path / "g.txt"),
        "-i",
        str(key.private),
    )
    assert (tmp_path / "g.txt").read_text() == "atlas"


def test_atlas_ssh_print_uses_the_ssh_port(
    fs: Fs, atlas_instance: Dict[str, Any], ssh_emulator: EmulatorHandle
) -> None:
    result = fs("atlas", "instances", "ssh", atlas_instance["id"], "--print")
    assert f"-p {ssh_emulator.ssh_port} ubuntu@{atlas_instance['ip']}" in result.stdout
    assert f"HostKeyAlias=fluidstack-{atlas_instance['id']}" in result.stdout
    other = fs("atlas", "instances", "ssh", atlas_instance["id"], "--print", "--ssh-port", "2200")
    assert "-p 2200 " in other.stdout


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("ssh", "FLUIDSTACK_SSH_PORT must be a port number, got 'ssh'"),
        ("70000", "ssh_port must be between 1 and 65535, got 70000"),
    ],
)
def test_a_bad_ssh_port_in_the_environment_is_a_clear_error(
    fs: Fs, atlas_instance: Dict[str, Any], monkeypatch: pytest.MonkeyPatch, value: str,
    message: str,
) -> None:  # fmt: skip
    monkeypatch.setenv("FLUIDSTACK_SSH_PORT", value)
    result = fs("atlas", "instances", "ssh", atlas_instance["id"], "--print", expect=2)
    assert f"error: {message}" in result.stderr
    assert "Traceback" not in result.stderr
