"""The SDK's SSH on both APIs, end to end against the ``--ssh`` emulator, on every
client kind: waiting until sshd answers, exec, upload and download, host keys."""

from __future__ import annotations

import io
import os
import stat
from pathlib import Path
from typing import Any

import pytest
from atlas_client_support import AtlasClients
from ssh_support import KeyPair, make_key

from fluidstack.core import WaitTimeoutError
from fluidstack.core.ssh import CommandTimeoutError, HostKeyChangedError, SshError
from fluidstack.testing.handle import EmulatorHandle
from support import Clients, resolve

pytestmark = pytest.mark.anyio


async def _platform_instance(client: Any, key: KeyPair, **create: Any) -> Any:
    await resolve(client.ssh_keys.create(name="laptop", public_key=key.public))
    return await resolve(
        client.instances.create_and_wait(
            gpu_type=create.pop("gpu_type", "RTX_A4000_16GB"), ssh_key="laptop",
            until="ssh", poll_interval=1, **create
        )
    )  # fmt: skip


async def _atlas_client(clients: AtlasClients, emulator: EmulatorHandle) -> Any:
    client = clients.make(ssh_port=emulator.ssh_port)
    project = await resolve(client.projects.create(name="ssh"))
    return client.with_options(project_id=project.id)


async def test_platform_exec_reports_output_and_exit_status(
    ssh_clients: Clients, key: KeyPair
) -> None:
    client = ssh_clients.make()
    instance = await _platform_instance(client, key)
    assert instance.ip_address == "127.0.0.1"
    result = await resolve(
        client.instances.exec(
            instance.id, "echo out; echo err >&2; pwd; exit 3", key_path=key.private
        )
    )
    assert result.exit_status == 3
    assert not result.ok
    lines = result.stdout.splitlines()
    assert lines[0] == "out"
    assert lines[1].endswith("/home/ubuntu")
    assert result.stderr == "err\n"
    with pytest.raises(SshError, match="exited with status 3"):
        result.check()


async def test_nvidia_smi_reports_the_instances_gpus(ssh_clients: Clients, key: KeyPair) -> None:
    client = ssh_clients.make()
    instance = await _platform_instance(client, key, gpu_type="H100_PCIE_80GB", gpu_count=2)
    csv = await resolve(
        client.instances.exec(
            instance, "nvidia-smi --query-gpu=name,memory.total --format=csv",
            key_path=key.private,
        )
    )  # fmt: skip
    assert csv.stdout == (
        "name, memory.total [MiB]\nNVIDIA H100 PCIe, 81920 MiB\nNVIDIA H100 PCIe, 81920 MiB\n"
    )
    table = await resolve(client.instances.exec(instance, "nvidia-smi", key_path=key.private))
    assert "NVIDIA-SMI" in table.stdout
    assert table.stdout.count("81920MiB") == 2


async def test_exec_streams_output_to_a_file_or_callable(
    ssh_clients: Clients, key: KeyPair
) -> None:
    client = ssh_clients.make()
    instance = await _platform_instance(client, key)
    out = io.BytesIO()
    chunks: list = []
    result = await resolve(
        client.instances.exec(
            instance, "printf 'a\\nb\\n'; printf e >&2", key_path=key.private,
            stdout=out, stderr=chunks.append, stdin=b"ignored",
        )
    )  # fmt: skip
    assert out.getvalue() == b"a\nb\n"
    assert b"".join(chunks) == b"e"
    assert result.stdout == result.stderr == ""
    assert result.ok


async def test_exec_timeout_ends_the_command(ssh_clients: Clients, key: KeyPair) -> None:
    client = ssh_clients.make()
    instance = await _platform_instance(client, key)
    with pytest.raises(CommandTimeoutError):
        await resolve(
            client.instances.exec(instance, "sleep 30", key_path=key.private, timeout=0.5)
        )


async def test_upload_and_download_files_and_directories(
    ssh_clients: Clients, key: KeyPair, tmp_path: Path
) -> None:
    client = ssh_clients.make()
    instance = await _platform_instance(client, key)
    project = tmp_path / "project"
    (project / "data").mkdir(parents=True)
    (project / "train.py").write_text("print('hi')\n")
    (project / "data" / "x.bin").write_bytes(bytes(range(256)))
    await resolve(client.instances.upload(instance, project, "work", key_path=key.private))
    listing = await resolve(
        client.instances.exec(instance, "cd work && find . -type f | sort", key_path=key.private)
    )
    assert listing.stdout.split() == ["./data/x.bin", "./train.py"]
    await resolve(
        client.instances.exec(instance, "mkdir -p out && echo 42 > out/result.txt",
                              key_path=key.private)
    )  # fmt: skip
    back = tmp_path / "back"
    back.mkdir()
    await resolve(client.instances.download(instance, ["out", "work/data/x.bin"], back,
                                            key_path=key.private))  # fmt: skip
    assert (back / "out" / "result.txt").read_text() == "42\n"
    assert (back / "x.bin").read_bytes() == bytes(range(256))


async def test_only_the_instances_key_logs_in(
    ssh_clients: Clients, key: KeyPair, tmp_path: Path
) -> None:
    client = ssh_clients.make()
    instance = await _platform_instance(client, key)
    stranger = make_key(tmp_path / "other")
    with pytest.raises(SshError, match="refused the login"):
        await resolve(client.instances.exec(instance, "true", key_path=stranger.private))


async def test_host_keys_are_trusted_on_first_use_and_a_change_is_refused(
    ssh_clients: Clients, key: KeyPair, known_hosts_file: Path
) -> None:
    client = ssh_clients.make()
    instance = await _platform_instance(client, key)
    await resolve(client.instances.exec(instance, "true", key_path=key.private))
    text = known_hosts_file.read_text()
    assert text.startswith(f"fluidstack-{instance.id} ssh-ed25519 ")
    assert stat.S_IMODE(os.stat(known_hosts_file).st_mode) == 0o600
    await resolve(client.instances.exec(instance, "true", key_path=key.private))
    assert known_hosts_file.read_text() == text  # trusted, not added again
    other = make_key(known_hosts_file.parent / "k")
    known_hosts_file.write_text(f"fluidstack-{instance.id} {other.public}\n")
    with pytest.raises(HostKeyChangedError, match="not the one trusted"):
        await resolve(client.instances.exec(instance, "true", key_path=key.private))
    ok = await resolve(
        client.instances.exec(instance, "true", key_path=key.private, known_hosts=False)
    )
    assert ok.ok


async def test_wait_for_ssh_waits_out_a_delayed_sshd(
    ssh_clients: Clients, ssh_emulator: EmulatorHandle, key: KeyPair
) -> None:
    client = ssh_clients.make()
    await resolve(client.ssh_keys.create(name="laptop", public_key=key.public))
    created = await resolve(client.instances.create(gpu_type="RTX_A4000_16GB", ssh_key="laptop"))
    ssh_emulator.add_sshd_delay(120, path=f"/instances/{created.id}")
    running = await resolve(client.instances.wait(created.id, until="running", poll_interval=1))
    assert str(running.status) == "running"
    before = ssh_emulator.clock()["now"]
    ready = await resolve(client.instances.wait(created.id, until="ssh", poll_interval=5))
    assert str(ready.status) == "running"
    assert ssh_emulator.clock()["now"] > before  # it took simulated time: sshd came later
    result = await resolve(client.instances.exec(ready, "echo up", key_path=key.private))
    assert result.stdout == "up\n"


async def test_wait_for_ssh_times_out_when_sshd_never_answers(
    ssh_clients: Clients, ssh_emulator: EmulatorHandle, key: KeyPair
) -> None:
    client = ssh_clients.make()
    await resolve(client.ssh_keys.create(name="laptop", public_key=key.public))
    ssh_emulator.add_sshd_delay(600)
    created = await resolve(client.instances.create(gpu_type="RTX_A4000_16GB", ssh_key="laptop"))
    await resolve(client.instances.wait(created.id, until="running", poll_interval=1))
    with pytest.raises(WaitTimeoutError, match="did not become ssh"):
        await resolve(client.instances.wait(created.id, until="ssh", timeout=0.5,
                                            poll_interval=0.1))  # fmt: skip


async def test_exec_on_an_instance_that_is_not_running_says_so(
    ssh_clients: Clients, key: KeyPair
) -> None:
    client = ssh_clients.make()
    await resolve(client.ssh_keys.create(name="laptop", public_key=key.public))
    created = await resolve(client.instances.create(gpu_type="RTX_A4000_16GB", ssh_key="laptop"))
    with pytest.raises(SshError, match="until='ssh'"):
        await resolve(client.instances.exec(created.id, "true", key_path=key.private))


async def test_atlas_exec_upload_download_with_cloud_init(
    ssh_atlas_clients: AtlasClients, ssh_emulator: EmulatorHandle, key: KeyPair, tmp_path: Path
) -> None:
    atlas = await _atlas_client(ssh_atlas_clients, ssh_emulator)
    user_data = (
        "#cloud-config\n"
        f"ssh_authorized_keys:\n  - {key.public}\n"
        "write_files:\n  - path: /home/ubuntu/hello.txt\n    content: hello from cloud-init\n"
        "runcmd:\n  - echo ran-at-first-boot\n  - [sh, -c, 'echo $HOME > boot-home.txt']\n"
    )
    instance = await resolve(
        atlas.instances.create(type="h100-hgx-80gb.8x", user_data=user_data, wait=True,
                               until="ssh", poll_interval=1)
    )  # fmt: skip
    assert instance.ip.startswith("127.77.")
    result = await resolve(
        atlas.instances.exec(
            instance,
            "cloud-init status --wait && cat hello.txt && echo && cat boot-home.txt && "
            'cat "$FLUIDSTACK_INSTANCE_ROOT/var/log/cloud-init-output.log" && nvidia-smi -L',
            key_path=key.private,
        )
    )
    assert result.ok, result.stderr
    assert result.stdout.startswith("status: done\nhello from cloud-init\n")
    assert "/home/ubuntu\n" in result.stdout
    assert "ran-at-first-boot" in result.stdout
    assert result.stdout.count("NVIDIA H100 HGX (UUID: GPU-") == 8
    source = tmp_path / "in.txt"
    source.write_text("payload")
    await resolve(atlas.instances.upload(instance.id, source, "in.txt", key_path=key.private))
    await resolve(atlas.instances.download(instance.id, "in.txt", tmp_path / "out.txt",
                                           key_path=key.private))  # fmt: skip
    assert (tmp_path / "out.txt").read_text() == "payload"


async def test_atlas_user_keys_log_in_and_cpu_types_have_no_nvidia_smi(
    ssh_atlas_clients: AtlasClients, ssh_emulator: EmulatorHandle, key: KeyPair
) -> None:
    atlas = await _atlas_client(ssh_atlas_clients, ssh_emulator)
    await resolve(atlas.user_keys.create(name="laptop", key=key.public))
    instance = await resolve(atlas.instances.launch(type="cpu.2x", until="ssh", poll_interval=1))
    result = await resolve(
        atlas.instances.exec(instance, "command -v nvidia-smi || echo none", key_path=key.private)
    )
    assert result.stdout == "none\n"


async def test_atlas_wait_for_ssh_on_the_wrong_port_times_out(
    ssh_atlas_clients: AtlasClients, ssh_emulator: EmulatorHandle
) -> None:
    atlas = await _atlas_client(ssh_atlas_clients, ssh_emulator)
    atlas_wrong = ssh_atlas_clients.make(ssh_port=1).with_options(project_id=atlas.project_id)
    created = await resolve(atlas.instances.create(type="cpu.2x"))
    with pytest.raises(WaitTimeoutError):
        await resolve(atlas_wrong.instances.wait(created.id, until="ssh", timeout=300,
                                                 poll_interval=1))  # fmt: skip


async def test_platform_launch_waits_for_ssh_when_asked(ssh_clients: Clients, key: KeyPair) -> None:
    client = ssh_clients.make()
    await resolve(client.ssh_keys.create(name="laptop", public_key=key.public))
    created = await resolve(client.instances.launch(gpu_type="RTX_A4000_16GB", ssh_key="laptop"))
    assert not hasattr(created, "status")  # the create's answer, at once
    ready = await resolve(
        client.instances.launch(gpu_type="RTX_A4000_16GB", ssh_key="laptop", until="ssh",
                                poll_interval=1)
    )  # fmt: skip
    assert str(ready.status) == "running"
    assert (await resolve(client.instances.exec(ready, "echo ok", key_path=key.private))).ok
