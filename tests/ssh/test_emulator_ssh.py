"""The emulator's sshd (``--ssh``): who may log in, what a session is, and the lifecycle
that ties it to the instance (stop closes sessions, files survive a restart unless the
Atlas boot disk is ephemeral, delete and reset remove the directory)."""

from __future__ import annotations

import asyncio
import base64
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any, Dict, Tuple

import asyncssh
import httpx
import pytest
from ssh_support import KeyPair, make_key

from fluidstack.testing.handle import EmulatorHandle

pytestmark = pytest.mark.anyio


def _platform(emulator: EmulatorHandle, key: KeyPair, **create: Any) -> Dict[str, Any]:
    """A running platform instance created with ``key`` (through the HTTP API)."""
    api = httpx.Client(base_url=emulator.base_url, headers={"api-key": emulator.api_key})
    with api:
        if api.get("/ssh_keys").json() == []:
            api.post("/ssh_keys", json={"name": "k", "public_key": key.public})
        body = {"gpu_type": "RTX_A4000_16GB", "ssh_key": "k", **create}
        created = api.post("/instances", json=body).json()
        emulator.advance(3600)
        instance: Dict[str, Any] = api.get(f"/instances/{created['id']}").json()
    assert instance["status"] == "running"
    return instance


def _put(emulator: EmulatorHandle, path: str) -> None:
    httpx.put(emulator.base_url + path, headers={"api-key": emulator.api_key}).raise_for_status()


def _delete(emulator: EmulatorHandle, path: str) -> None:
    httpx.delete(emulator.base_url + path, headers={"api-key": emulator.api_key}).raise_for_status()


async def _connect(
    instance: Dict[str, Any], key: KeyPair, **options: Any
) -> asyncssh.SSHClientConnection:
    options.setdefault("username", "ubuntu")
    return await asyncssh.connect(
        "127.0.0.1", port=int(instance["ssh_port"]), client_keys=[str(key.private)],
        known_hosts=None, agent_path=None, config=None, **options,
    )  # fmt: skip


async def _run(instance: Dict[str, Any], key: KeyPair, command: str) -> Tuple[int, str]:
    async with await _connect(instance, key) as conn:
        result = await conn.run(command)
        return int(result.exit_status or 0), str(result.stdout)


async def test_only_the_instances_user_and_key_log_in(
    ssh_emulator: EmulatorHandle, key: KeyPair, tmp_path: Path
) -> None:
    instance = _platform(ssh_emulator, key)
    assert instance["ip_address"] == "127.0.0.1"
    assert instance["username"] == "ubuntu"
    with pytest.raises(asyncssh.PermissionDenied):
        await _connect(instance, key, username="root")
    with pytest.raises(asyncssh.PermissionDenied):
        await _connect(instance, make_key(tmp_path / "x"))
    with pytest.raises(asyncssh.PermissionDenied):
        await asyncssh.connect("127.0.0.1", port=int(instance["ssh_port"]), username="ubuntu",
                               password="guess", client_keys=None, known_hosts=None,
                               agent_path=None, config=None)  # fmt: skip
    assert await _run(instance, key, "echo $USER $HOME") == (
        0, f"ubuntu {ssh_emulator.instance_directory(instance['id'])}/home/ubuntu\n"
    )  # fmt: skip


@pytest.mark.skipif(shutil.which("ssh") is None, reason="needs the ssh client")
def test_a_refused_login_names_publickey_as_openssh_does(
    ssh_emulator: EmulatorHandle, key: KeyPair
) -> None:
    """A user no key may log in as got "Permission denied ()" (no method offered), which
    reads like a broken server; OpenSSH's sshd offers publickey and refuses the key."""
    instance = _platform(ssh_emulator, key)
    done = subprocess.run(
        ["ssh", "-F", "none", "-i", str(key.private), "-o", "BatchMode=yes",
         "-o", "IdentitiesOnly=yes", "-o", "IdentityAgent=none",
         "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
         "-p", str(instance["ssh_port"]), "root@127.0.0.1", "true"],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 255, done
    assert "root@127.0.0.1: Permission denied (publickey)." in done.stderr


async def test_a_pty_shell(ssh_emulator: EmulatorHandle, key: KeyPair) -> None:
    instance = _platform(ssh_emulator, key)
    async with await _connect(instance, key) as conn:
        process = await conn.create_process(term_type="xterm", term_size=(100, 30))
        process.stdin.write("tty; stty size; echo $TERM; exit 4\n")
        result = await asyncio.wait_for(process.wait(), 60)
    assert result.exit_status == 4
    output = str(result.stdout)
    assert "/dev/pts/" in output
    assert "30 100" in output
    assert "xterm" in output


async def test_a_pty_session_ends_with_its_shell_and_knows_its_addresses(
    ssh_emulator: EmulatorHandle, key: KeyPair
) -> None:
    """As under OpenSSH's sshd: a daemon left holding the terminal (``ray start``'s) does
    not keep the session open, and ``SSH_CONNECTION`` names the address reached."""
    instance = _platform(ssh_emulator, key)
    async with await _connect(instance, key) as conn:
        command = "setsid sleep 30 & echo $SSH_CONNECTION; exit 3"
        result = await asyncio.wait_for(conn.run(command, term_type="xterm"), 20)
    assert result.exit_status == 3
    client, _, server, port = str(result.stdout).split()
    assert (server, port) == ("127.0.0.1", str(instance["ssh_port"]))
    assert client == "127.0.0.1"


async def test_stop_closes_sessions_and_sshd_comes_back_with_the_files(
    ssh_emulator: EmulatorHandle, key: KeyPair
) -> None:
    instance = _platform(ssh_emulator, key)
    ident = instance["id"]
    assert (await _run(instance, key, "echo kept > file.txt"))[0] == 0
    async with await _connect(instance, key) as conn:
        process = await conn.create_process("echo up; sleep 120")
        assert await process.stdout.readline() == "up\n"
        _put(ssh_emulator, f"/instances/{ident}/stop")
        # The session ends when the instance stops (no exit status: it was cut).
        result = await asyncio.wait_for(process.wait(), 60)
        assert result.exit_status is None or result.exit_status != 0
    ssh_emulator.advance(60)  # stopped
    with pytest.raises((OSError, asyncssh.Error)):  # no sshd while stopped: reset at once
        await _connect(instance, key, connect_timeout=30)
    _put(ssh_emulator, f"/instances/{ident}/start")
    ssh_emulator.advance(120)
    assert await _run(instance, key, "cat file.txt") == (0, "kept\n")


async def test_delete_and_reset_remove_the_instance_directory(
    ssh_emulator: EmulatorHandle, key: KeyPair
) -> None:
    first = _platform(ssh_emulator, key)
    second = _platform(ssh_emulator, key)
    one = ssh_emulator.instance_directory(first["id"])
    two = ssh_emulator.instance_directory(second["id"])
    assert (await _run(first, key, "true"))[0] == 0  # booted (at the latest) by a login
    assert (one / "home" / "ubuntu" / ".ssh" / "authorized_keys").read_text().strip() == key.public
    _delete(ssh_emulator, f"/instances/{first['id']}")
    assert not one.exists()
    assert two.exists()
    ssh_emulator.reset()
    assert not two.exists()


async def _atlas(emulator: EmulatorHandle, key: KeyPair, **create: Any) -> Tuple[Any, Any]:
    from fluidstack.atlas import AsyncAtlas

    control = emulator.atlas
    atlas = AsyncAtlas(client_id=control.client_id, client_secret=control.client_secret,
                       management_url=control.management_url, region=control.regions()[0],
                       ssh_port=emulator.ssh_port, use_environment=False)  # fmt: skip

    async def sleep(seconds: float) -> None:
        emulator.advance(seconds)

    atlas._pipeline.sleep = sleep
    project = await atlas.projects.create(name="p")
    atlas = atlas.with_options(project_id=project.id)
    await atlas.user_keys.create(name="k", key=key.public)
    until = create.pop("until", "ssh")
    instance = await atlas.instances.create(type="cpu.2x", wait=True, until=until, **create)
    return atlas, instance


async def test_an_sshd_delay_rule_makes_atlas_ready_come_later_than_running(
    ssh_emulator: EmulatorHandle, key: KeyPair
) -> None:
    """A rule as in docs/emulator.md: every Atlas instance's sshd starts 600 simulated
    seconds after ``running``; until then its port resets connections."""
    import datetime as dt

    ssh_emulator.add_fault(action="sshd_delay", path="/regions/*/instances/*", seconds=600,
                           times=None)  # fmt: skip
    atlas, instance = await _atlas(ssh_emulator, key, until="running")
    try:
        assert str(instance.state) == "running"
        with pytest.raises((OSError, asyncssh.Error)):
            await asyncssh.connect(instance.ip, port=ssh_emulator.ssh_port, username="ubuntu",
                                   client_keys=[str(key.private)], known_hosts=None,
                                   agent_path=None, config=None, connect_timeout=30)  # fmt: skip
        before = dt.datetime.fromisoformat(ssh_emulator.clock()["now"].replace("Z", "+00:00"))
        await atlas.instances.wait(instance.id, until="ssh", poll_interval=10)
        after = dt.datetime.fromisoformat(ssh_emulator.clock()["now"].replace("Z", "+00:00"))
        assert (after - before).total_seconds() >= 500  # (it had been running a little)
        ok = await atlas.instances.exec(instance.id, "echo up", key_path=key.private)
        assert ok.stdout == "up\n"
    finally:
        await atlas.aclose()


@pytest.mark.parametrize("ephemeral", [False, True])
async def test_atlas_boot_disk_survives_a_restart_unless_ephemeral(
    ssh_emulator: EmulatorHandle, key: KeyPair, ephemeral: bool
) -> None:
    atlas, instance = await _atlas(
        ssh_emulator, key, ephemeral=ephemeral,
        user_data="#!/bin/sh\necho booted >> boots.txt\necho first-boot-output\n",
    )  # fmt: skip
    try:
        run = lambda command: atlas.instances.exec(instance.id, command, key_path=key.private)  # noqa: E731
        first = await run("cloud-init status --wait >/dev/null; cat boots.txt; touch mine")
        assert first.stdout == "booted\n"
        await atlas.instances.stop(instance.id, wait=True)
        await atlas.instances.start(instance.id, wait=True)
        await atlas.instances.wait(instance.id, until="ssh")
        # An ephemeral disk is new: the user data runs again, the file is gone.
        after = await run("cloud-init status --wait >/dev/null; cat boots.txt; ls mine")
        log = await run('cat "$FLUIDSTACK_INSTANCE_ROOT/var/log/cloud-init-output.log"')
        # User data runs once per boot disk, its output in the disk's cloud-init log.
        assert log.stdout.count("first-boot-output\n") == 1
        if ephemeral:
            assert after.stdout == "booted\n"
            assert after.exit_status != 0
        else:
            assert after.stdout == "booted\nmine\n"
        await atlas.instances.delete(instance.id)
        assert not ssh_emulator.instance_directory(str(instance.id)).exists()
    finally:
        await atlas.aclose()


def test_write_files_land_under_the_instance_root_with_their_mode(tmp_path: Path) -> None:
    from fluidstack.emulator.ssh.tools import InstanceDisk, parse_user_data

    data = parse_user_data(
        b"#cloud-config\nwrite_files:\n"
        b"  - path: /etc/motd\n    encoding: b64\n    permissions: '0600'\n    content: "
        + base64.b64encode(b"hi")
        + b"\n  - path: /home/ubuntu/notes.txt\n    content: one\n"
        b"  - path: /home/ubuntu/notes.txt\n    content: ' two'\n    append: true\n"
        b"  - path: /../../outside.txt\n    content: no\n"
        b"  - path: relative.txt\n    content: no\n"
    )
    disk = InstanceDisk(tmp_path / "i-1")
    disk.create()
    assert disk.first_boot_script(data) is None  # no runcmd: nothing to run
    assert (disk.root / "etc" / "motd").read_bytes() == b"hi"
    assert oct((disk.root / "etc" / "motd").stat().st_mode & 0o777) == "0o600"
    assert (disk.home / "notes.txt").read_text() == "one two"
    assert not (tmp_path / "outside.txt").exists()
    log = disk.log_path.read_text()
    assert "'/../../outside.txt' leaves the instance: skipped" in log
    assert "'relative.txt' is not absolute: skipped" in log


def _first_boot(disk: Any, user_data: bytes) -> int:
    """What the emulator does at an instance's first boot, waited for."""
    from fluidstack.emulator.ssh.tools import parse_user_data, run_first_boot

    process = run_first_boot(disk, disk.first_boot_script(parse_user_data(user_data)), "i-1")
    code = 0 if process is None else process.wait(60)
    if process is not None:
        disk.finish_boot(code)
    return code


@pytest.mark.parametrize(
    ("user_data", "status"),
    [
        (b"#!/bin/sh\necho out-line\necho err-line >&2\nexit 3\n", "error"),
        (b"#cloud-config\nruncmd:\n  - echo out-line\n  - [sh, -c, 'echo err-line >&2']\n",
         "done"),
    ],
)  # fmt: skip
def test_user_data_output_goes_to_the_cloud_init_log_and_status(
    tmp_path: Path, user_data: bytes, status: str
) -> None:
    from fluidstack.emulator.ssh.tools import InstanceDisk

    disk = InstanceDisk(tmp_path / "i-1")
    disk.create()
    disk.install_tools(None, "i-1")
    code = _first_boot(disk, user_data)
    log = disk.log_path.read_text()
    assert "out-line\nerr-line\n" in log  # stdout and stderr, in order, in one log
    assert f"user data exit status {code}" in log
    shown = subprocess.run([str(disk.bin / "cloud-init"), "status"], capture_output=True,
                           text=True, check=False)  # fmt: skip
    assert shown.stdout == f"status: {status}\n"
    assert shown.returncode == (0 if status == "done" else 1)


def test_nvidia_smi_prints_its_table_csv_and_list_formats(tmp_path: Path) -> None:
    from fluidstack.emulator.ssh.tools import InstanceDisk, gpu_spec

    disk = InstanceDisk(tmp_path / "i-1")
    disk.create()
    disk.install_tools(gpu_spec("H100_PCIE_80GB", 2, None), "i-1")

    def smi(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([str(disk.bin / "nvidia-smi"), *args], capture_output=True,
                              text=True, check=False)  # fmt: skip

    table = smi().stdout.splitlines()
    framed = [line for line in table[1:] if line]
    assert {len(line) for line in framed} == {91}  # nvidia-smi 550's frame, every line
    assert "| NVIDIA-SMI 550.90.07" in table[2]
    rows = [line for line in framed if "NVIDIA H100 PCIe" in line]
    assert [row[:6] for row in rows] == ["|   0 ", "|   1 "]
    assert sum("0MiB / 81920MiB" in line for line in framed) == 2
    assert smi("--query-gpu=name,memory.total", "--format=csv").stdout == (
        "name, memory.total [MiB]\nNVIDIA H100 PCIe, 81920 MiB\nNVIDIA H100 PCIe, 81920 MiB\n"
    )
    assert smi("--query-gpu=index,memory.total", "--format=csv,noheader,nounits").stdout == (
        "0, 81920\n1, 81920\n"
    )
    listed = smi("-L").stdout.splitlines()
    assert [line[:25] for line in listed] == [
        "GPU 0: NVIDIA H100 PCIe (",
        "GPU 1: NVIDIA H100 PCIe (",
    ]
    assert listed[0] != listed[1]  # each GPU its own UUID
    wrong = smi("--query-gpu=colour", "--format=csv")
    assert wrong.returncode == 2
    assert 'Field "colour" is not a valid field to query.' in wrong.stderr
    disk.install_tools(None, "i-1")  # a CPU type: no nvidia-smi at all
    assert not (disk.bin / "nvidia-smi").exists()


@pytest.mark.skipif(shutil.which("scp") is None and not os.environ.get("CI"),
                    reason="the system scp client is not installed")  # fmt: skip
def test_scp_both_ways(ssh_emulator: EmulatorHandle, key: KeyPair, tmp_path: Path) -> None:
    instance = _platform(ssh_emulator, key)
    source = tmp_path / "up.txt"
    source.write_text("scp")
    options = ["-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=no",
               "-o", f"UserKnownHostsFile={tmp_path / 'kh'}", "-i", str(key.private),
               "-P", str(instance["ssh_port"])]  # fmt: skip
    up = subprocess.run(["scp", *options, str(source), "ubuntu@127.0.0.1:up.txt"],
                        capture_output=True, text=True, timeout=60, check=False)  # fmt: skip
    assert up.returncode == 0, up.stderr
    home = ssh_emulator.instance_directory(instance["id"]) / "home" / "ubuntu"
    assert (home / "up.txt").read_text() == "scp"
    down = subprocess.run(["scp", *options, "ubuntu@127.0.0.1:up.txt", str(tmp_path / "d.txt")],
                          capture_output=True, text=True, timeout=60, check=False)  # fmt: skip
    assert down.returncode == 0, down.stderr
    assert (tmp_path / "d.txt").read_text() == "scp"


def test_the_command_line_starts_sshd_and_says_where(tmp_path: Path) -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", "fluidstack.emulator", "--port", "0", "--ssh", "--ssh-port", "0",
         "--manual-clock", "--failure-rate", "0", "--log-level", "warning"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert process.stdout is not None
        assert "listening on" in process.stdout.readline()
    finally:
        process.terminate()
        _, stderr = process.communicate(timeout=30)
    assert process.returncode == 0
    assert "SSH (--ssh): platform instances answer on 127.0.0.1" in stderr
    assert "export FLUIDSTACK_SSH_PORT=" in stderr
