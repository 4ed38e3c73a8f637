"""An emulated instance owns its processes (issue 30): what a session, ``exec`` or the
user data starts -- ``nohup`` jobs and double-forked daemons included -- ends when the
instance stops, is preempted or deleted, and when the emulator itself stops; its files
stay. Both mechanisms are covered: the cgroup (where this machine allows one) and the
environment marker used elsewhere."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Dict, Iterator, List

import pytest
from ssh_support import KeyPair
from test_emulator_ssh import _atlas, _delete, _platform, _put, _run

from fluidstack.emulator.settings import DEV_API_KEY
from fluidstack.emulator.ssh.procs import ProcessTracker, process_alive
from fluidstack.testing.handle import EmulatorHandle

pytestmark = pytest.mark.anyio

# A daemon that forks twice (its parent exits: it is nobody's child, in its own session)
# and a nohup job; each writes its pid to a file in $HOME. Their output goes elsewhere,
# as a daemon's does, so the command that starts them returns at once.
START_BOTH = (
    "sh -c 'setsid sleep 301 </dev/null >/dev/null 2>&1 & echo $! > daemon.pid'; "
    "nohup sleep 302 </dev/null >/dev/null 2>&1 & echo $! > nohup.pid; "
    "sleep 0.2; cat daemon.pid nohup.pid"
)

MECHANISMS = ["cgroup", "marker"]


def _cgroup_usable() -> bool:
    probe = ProcessTracker()
    probe.close()
    return probe.mechanism == "cgroup"


def _pids(text: str) -> List[int]:
    pids = [int(word) for word in text.split()]
    assert len(pids) == 2
    assert all(process_alive(pid) for pid in pids)
    return pids


def _all_end(pids: List[int], seconds: float = 30.0) -> None:
    deadline = time.monotonic() + seconds
    while any(process_alive(pid) for pid in pids):
        assert time.monotonic() < deadline, f"still running: {pids}"
        time.sleep(0.05)


@pytest.fixture
def mechanism(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    name: str = request.param
    if name == "cgroup" and not _cgroup_usable():
        pytest.skip("no writable cgroup v2 on this machine")
    monkeypatch.setenv("FLUIDSTACK_EMULATOR_PROCESSES", name)
    return name


@pytest.mark.parametrize("mechanism", MECHANISMS, indirect=True)
def test_a_tracker_ends_daemons_and_nohup_jobs_it_did_not_start_directly(
    mechanism: str, tmp_path: Path
) -> None:
    tracker = ProcessTracker()
    assert tracker.mechanism == mechanism
    boot = tracker.boot("i-1")
    other = tracker.boot("i-2")  # another instance's: untouched
    started = subprocess.run(
        ["/bin/sh", "-c", START_BOTH], cwd=tmp_path, env={**os.environ, **boot.env},
        preexec_fn=boot.join, capture_output=True, text=True, timeout=30, check=True,
    )  # fmt: skip
    survivor = subprocess.Popen(["sleep", "303"], env={**os.environ, **other.env},
                                preexec_fn=other.join)  # fmt: skip
    stubborn = subprocess.Popen(["/bin/sh", "-c", "trap '' TERM; sleep 307"],
                                env={**os.environ, **other.env}, preexec_fn=other.join)  # fmt: skip
    try:
        pids = _pids(started.stdout)
        assert sorted(pids) == [pid for pid in boot.pids() if pid in pids]
        tracker.end(boot, wait=True)
        _all_end(pids, seconds=1.0)  # ended before end() returned
        assert survivor.poll() is None
        tracker.close(grace=1.0)  # the emulator stops: the rest ends too
        assert survivor.wait(10) == -15  # SIGTERM first
        assert stubborn.wait(10) == -9  # then SIGKILL, after the grace
    finally:
        for process in (survivor, stubborn):
            process.kill()
            process.wait()


async def test_stop_ends_every_process_of_the_instance_and_start_begins_with_none(
    ssh_emulator: EmulatorHandle, key: KeyPair
) -> None:
    instance = _platform(ssh_emulator, key)
    status, out = await _run(instance, key, START_BOTH + "; echo kept > file.txt")
    assert status == 0
    pids = _pids(out)
    _put(ssh_emulator, f"/instances/{instance['id']}/stop")
    ssh_emulator.advance(60)
    _all_end(pids)
    _put(ssh_emulator, f"/instances/{instance['id']}/start")
    ssh_emulator.advance(120)
    # Files stay (same disk); what runs now is the new boot's, and is not ended late.
    status, out = await _run(instance, key, "cat file.txt; sleep 1; echo after")
    assert (status, out) == (0, "kept\nafter\n")


async def test_delete_ends_every_process_of_the_instance(
    ssh_emulator: EmulatorHandle, key: KeyPair
) -> None:
    instance = _platform(ssh_emulator, key)
    _, out = await _run(instance, key, START_BOTH)
    pids = _pids(out)
    _delete(ssh_emulator, f"/instances/{instance['id']}")
    _all_end(pids)


async def test_preemption_ends_what_the_user_data_and_sessions_started(
    ssh_emulator: EmulatorHandle, key: KeyPair
) -> None:
    """User data (cloud-init) starts a daemon too; an Atlas preemption ends all three."""
    user_data = "#!/bin/sh\nsetsid sleep 304 </dev/null >/dev/null 2>&1 &\necho $! > boot.pid\n"
    atlas, instance = await _atlas(ssh_emulator, key, user_data=user_data, preemptible=True)
    try:
        result = await atlas.instances.exec(
            instance.id, "cloud-init status --wait >/dev/null; " + START_BOTH + "; cat boot.pid",
            key_path=key.private,
        )  # fmt: skip
        words = str(result.stdout).split()
        pids = [*_pids(" ".join(words[:2])), int(words[2])]
        assert process_alive(pids[2])
        ssh_emulator.atlas.preempt(str(instance.id))
        _all_end(pids)
    finally:
        await atlas.aclose()


@pytest.fixture
def own_emulator(mechanism: str) -> Iterator[Dict[str, Any]]:
    """An ``--ssh`` emulator of the test's own (it is stopped by the test)."""
    from fluidstack.emulator.server import EmulatorServer
    from fluidstack.emulator.settings import EmulatorSettings

    settings = EmulatorSettings(port=0, manual_clock=True, failure_rate=0.0,
                                log_level="warning", ssh=True, ssh_port=0)  # fmt: skip
    server = EmulatorServer(settings)
    server.start()
    handle = EmulatorHandle(server.base_url, server.api_key, control_token=server.control_token)
    try:
        yield {"server": server, "handle": handle, "mechanism": mechanism}
    finally:
        handle.close()
        server.stop()


@pytest.mark.parametrize("mechanism", MECHANISMS, indirect=True)
async def test_no_process_of_any_instance_outlives_the_emulator(
    own_emulator: Dict[str, Any], key: KeyPair
) -> None:
    handle: EmulatorHandle = own_emulator["handle"]
    assert handle.ssh_info()["enabled"]
    emulator = own_emulator["server"].app.state.emulator
    assert emulator.ssh.processes.mechanism == own_emulator["mechanism"]
    pids: List[int] = []
    for _ in range(2):
        instance = _platform(handle, key)
        pids += _pids((await _run(instance, key, START_BOTH))[1])
    own_emulator["server"].stop()
    _all_end(pids, seconds=1.0)  # ended before stop() returned


@pytest.mark.parametrize("name", ["SIGTERM", "SIGINT", "SIGHUP"])
def test_the_command_line_emulator_ends_its_instances_processes_when_it_stops(
    name: str, key: KeyPair, tmp_path: Path
) -> None:
    """Ctrl-C, a kill, or the terminal closing: it exits 0, ending every process."""
    token = "t" * 32
    process = subprocess.Popen(
        [sys.executable, "-m", "fluidstack.emulator", "--port", "0", "--ssh", "--ssh-port", "0",
         "--manual-clock", "--failure-rate", "0", "--log-level", "warning",
         "--control-token", token],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
        preexec_fn=lambda: signal.signal(getattr(signal, name), signal.SIG_DFL),
    )  # fmt: skip
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        base_url = line.split("listening on ")[1].strip()
        handle = EmulatorHandle(base_url, DEV_API_KEY, control_token=token)
        try:
            instance = _platform(handle, key)
        finally:
            handle.close()
        pids = _pids(asyncio.run(_run(instance, key, START_BOTH))[1])
        process.send_signal(getattr(signal, name))
        assert process.wait(30) == 0
        _all_end(pids, seconds=1.0)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


async def test_sshd_answers_while_many_first_boots_run_for_long(
    ssh_emulator: EmulatorHandle, key: KeyPair
) -> None:
    """Issue 28: an instance's port listened with connections queued and never accepted.
    Each first boot was waited for in a thread of the SSH loop's default executor (6
    threads on 2 cores), which asyncssh also needs to serve a port and to log anyone
    in: user data that runs for long, on a few instances, stopped every new sshd."""
    user_data = "#!/bin/sh\nsleep 600\n"
    atlas, _ = await _atlas(ssh_emulator, key, user_data=user_data)
    try:
        for _ in range(8):
            await atlas.instances.create(type="cpu.2x", wait=True, until="ssh",
                                         user_data=user_data)  # fmt: skip
        last = await atlas.instances.create(type="cpu.2x", wait=True, until="ssh")
        result = await asyncio.wait_for(
            atlas.instances.exec(last.id, "echo served", key_path=key.private), 60
        )
        assert result.stdout == "served\n"
    finally:
        await atlas.aclose()


def test_a_port_that_listens_unserved_is_reported(
    key: KeyPair, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """The watchdog of issue 28: whatever keeps a listening port from being served, the
    emulator says so instead of letting connections queue in silence."""
    from fluidstack.emulator.server import EmulatorServer
    from fluidstack.emulator.settings import EmulatorSettings
    from fluidstack.emulator.ssh import machines

    async def never(self: Any, machine: Any) -> None:
        return None

    monkeypatch.setattr(machines.SshMachines, "_serve", never)
    monkeypatch.setattr(machines, "SERVE_DEADLINE_SECONDS", 0.2)
    settings = EmulatorSettings(port=0, manual_clock=True, failure_rate=0.0,
                                log_level="warning", ssh=True, ssh_port=0)  # fmt: skip
    with EmulatorServer(settings) as server:
        handle = EmulatorHandle(server.base_url, server.api_key, control_token=server.control_token)
        try:
            instance = _platform(handle, key)
            deadline = time.monotonic() + 10
            while "listens but has not been served" not in caplog.text:
                assert time.monotonic() < deadline, caplog.text
                time.sleep(0.05)
        finally:
            handle.close()
    assert f"instance {instance['id']}: its sshd on 127.0.0.1:" in caplog.text
