"""``fluidstack-emulator --ssh --slurm``: a real Slurm (munged, slurmctld, slurmd of
Debian's ``slurm-wlm``) behind a Slurm cluster's login node.

One emulator with its Slurm serves the whole module (started as a command, as a user
would); each test logs into the login node with the system's ``ssh`` and drives Slurm's
own commands. The last test stops the emulator and checks that no daemon and no job is
left. Skipped only where Slurm is not installed (CI installs it: ``.ci/run``).
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, List, Optional, Set

import asyncssh
import pytest

from fluidstack.emulator.settings import DEV_API_KEY
from fluidstack.emulator.slurm import missing_programs
from fluidstack.testing import EmulatorHandle

MISSING = missing_programs()
needs_slurm = pytest.mark.skipif(
    bool(MISSING),
    reason=f"Slurm is not installed ({', '.join(MISSING)} missing): "
    "apt-get install slurm-wlm munge",
)

TOKEN = "slurm-rehearsal-token"
FINAL = {"COMPLETED", "FAILED", "CANCELLED", "TIMEOUT", "OUT_OF_MEMORY", "NODE_FAIL"}


@dataclass
class Rehearsal:
    """The running emulator, its Slurm cluster's login node and a key that logs in."""

    process: subprocess.Popen[str]
    handle: EmulatorHandle
    login_ip: str
    pool_node_ip: str
    plain_ip: str
    ssh_port: int
    key: Path
    slurm_dir: str
    conf: str

    def ssh(
        self,
        command: str,
        stdin: Optional[str] = None,
        check: bool = True,
        host: str = "",
    ) -> str:
        """Run ``command`` on the login node (or ``host``) with the system's ssh: its
        stdout."""
        done = subprocess.run(
            ["ssh", "-F", "/dev/null", "-i", str(self.key), "-p", str(self.ssh_port),
             "-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=no",
             "-o", "UserKnownHostsFile=/dev/null", "-o", "LogLevel=ERROR",
             "-o", "ConnectTimeout=10", f"ubuntu@{host or self.login_ip}", command],
            input=stdin, capture_output=True, text=True, timeout=60,
        )  # fmt: skip
        if check:
            assert done.returncode == 0, (command, done.returncode, done.stderr)
        return done.stdout

    def submit(self, name: str, script: str) -> str:
        """Write ``script`` in the login node's working directory, ``sbatch`` it: the id."""
        job = self.ssh(f"cat > {name} && sbatch --parsable {name}", stdin=script).strip()
        assert re.fullmatch(r"\d+", job), job
        return job

    def state(self, job: str) -> str:
        return self.ssh(f"squeue --noheader --states=all --jobs={job} --format=%T").strip()

    def wait(self, job: str, states: Set[str] = FINAL, seconds: float = 30.0) -> str:
        deadline = time.monotonic() + seconds
        while True:
            state = self.state(job)
            if state in states:
                return state
            assert time.monotonic() < deadline, f"job {job} still {state!r}"
            time.sleep(0.2)

    def exit_code(self, job: str) -> str:
        shown = self.ssh(f"scontrol show job {job}")
        match = re.search(r"\bExitCode=(\d+:\d+)", shown)
        assert match is not None, shown
        return match.group(1)

    def sacct(self, job: str) -> str:
        """State and exit code as ``sacct -c`` (the job completion log) has them."""
        return self.ssh(f"sacct -c --noheader --parsable2 --jobs={job} "
                        "--format=State,ExitCode").strip()  # fmt: skip


def _emulator_pids_left(slurm_dir: str) -> List[str]:
    """Processes whose command line mentions the rehearsal's directory (daemons, batch
    scripts), as ``pgrep -f`` would list them."""
    left = []
    for name in os.listdir("/proc"):
        if not name.isdigit() or int(name) == os.getpid():
            continue
        try:
            with open(f"/proc/{name}/cmdline", "rb") as cmdline:
                command = cmdline.read().replace(b"\0", b" ").decode(errors="replace")
            with open(f"/proc/{name}/stat", "rb") as stat:
                zombie = stat.read().rsplit(b")", 1)[1].split()[0] == b"Z"
        except (OSError, IndexError):
            continue
        if slurm_dir in command and not zombie:
            left.append(f"{name}: {command}")
    return left


def _start(home: Path) -> Rehearsal:
    key = asyncssh.generate_private_key("ssh-ed25519")
    key_path = home / "id_ed25519"
    key.write_private_key(str(key_path))
    os.chmod(key_path, 0o600)
    errors = open(home / "emulator.err", "w")  # noqa: SIM115 - read on failure
    process = subprocess.Popen(
        [sys.executable, "-m", "fluidstack.emulator", "--port", "0", "--ssh", "--ssh-port", "0",
         "--slurm", "--failure-rate", "0", "--manual-clock", "--log-level", "warning",
         "--control-token", TOKEN],
        stdout=subprocess.PIPE, stderr=errors, text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )  # fmt: skip
    errors.close()
    assert process.stdout is not None
    line = process.stdout.readline()
    if "listening on " not in line:
        process.kill()
        process.wait()
        raise AssertionError(f"{line!r}: {(home / 'emulator.err').read_text()}")
    handle = EmulatorHandle(line.split("listening on ")[1].strip(), DEV_API_KEY,
                            control_token=TOKEN)  # fmt: skip
    info = handle.ssh_info()
    from fluidstack.atlas import Atlas

    control = handle.atlas
    atlas = Atlas(client_id=control.client_id, client_secret=control.client_secret,
                  management_url=control.management_url, region=control.regions()[0],
                  use_environment=False)  # fmt: skip
    try:
        project = atlas.projects.create(name="hpc")
        atlas = atlas.with_options(project_id=project.id)
        atlas.user_keys.create(name="k", key=key.export_public_key().decode().strip())
        cluster = atlas.slurm.clusters.create(name="hpc")
        (login,) = cluster.login_nodes
        assert login.public_ip is not None
        cpu = next(t.name for t in atlas.instance_types.list() if not t.gpu_count)
        atlas.slurm.node_pools.create(cluster.id, name="cpu", type=cpu, count=1)
        atlas.instances.create(type=cpu, name="plain")
        handle.advance(300)  # the instances boot (and have their addresses)
        ips = {i.name: i.ip for i in atlas.instances.list()}
    finally:
        atlas.close()
    node_ip, plain_ip = ips["hpc-cpu-1"], ips["plain"]
    assert node_ip is not None
    assert plain_ip is not None
    rehearsal = Rehearsal(process, handle, login.public_ip, node_ip, plain_ip,
                          int(info["atlas_port"]), key_path, info["slurm"]["directory"],
                          info["slurm"]["conf"])  # fmt: skip
    deadline = time.monotonic() + 30
    while _unreachable(rehearsal):
        assert time.monotonic() < deadline, "the login node never answered SSH"
        time.sleep(0.2)
    return rehearsal


def _unreachable(rehearsal: Rehearsal) -> bool:
    return rehearsal.ssh("echo up", check=False) != "up\n"


def _stop(process: subprocess.Popen[str], signum: int = signal.SIGTERM) -> int:
    if process.poll() is None:
        process.send_signal(signum)
    try:
        return process.wait(60)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
        raise


@pytest.fixture(scope="module")
def rehearsal() -> Iterator[Rehearsal]:
    home = Path(tempfile.mkdtemp(prefix="slurm-rehearsal-"))
    started = _start(home)
    try:
        yield started
    finally:
        _stop(started.process)
        started.handle.close()
        shutil.rmtree(home, ignore_errors=True)


@needs_slurm
def test_the_login_node_shell_reaches_the_real_slurm(rehearsal: Rehearsal) -> None:
    assert rehearsal.ssh("echo $SLURM_CONF").strip() == rehearsal.conf
    assert rehearsal.ssh("command -v sbatch squeue sacct scancel sinfo").count("\n") == 5
    partitions = rehearsal.ssh("sinfo --noheader --format='%P %a %D %T'").split()
    assert partitions[:3] == ["main*", "up", "1"]
    assert partitions[3] in ("idle", "mixed")
    ports = rehearsal.ssh("scontrol show config | grep -E '^Slurm(ctld|d)Port'")
    assert " 6817\n" not in ports, ports
    assert " 6818\n" not in ports, ports


@needs_slurm
def test_a_node_pools_nodes_see_the_slurm_too_other_instances_do_not(
    rehearsal: Rehearsal,
) -> None:
    on_node = rehearsal.ssh(
        "echo $SLURM_CONF; sinfo --noheader --format=%P", host=rehearsal.pool_node_ip
    )
    assert on_node == f"{rehearsal.conf}\nmain*\n"
    assert rehearsal.ssh("echo ${SLURM_CONF:-none}", host=rehearsal.plain_ip) == "none\n"


@needs_slurm
def test_a_script_from_the_working_directory_completes(rehearsal: Rehearsal) -> None:
    job = rehearsal.submit("hello.sh", "#!/bin/bash\necho hello from $SLURM_JOB_ID\n")
    assert rehearsal.wait(job) == "COMPLETED"
    assert rehearsal.exit_code(job) == "0:0"
    assert rehearsal.sacct(job) == "COMPLETED|0:0"
    assert rehearsal.ssh(f"cat slurm-{job}.out") == f"hello from {job}\n"


@needs_slurm
def test_a_failing_script_fails_with_its_exit_code(rehearsal: Rehearsal) -> None:
    job = rehearsal.submit("fail.sh", "#!/bin/bash\necho about to fail >&2\nexit 3\n")
    assert rehearsal.wait(job) == "FAILED"
    assert rehearsal.exit_code(job) == "3:0"
    assert rehearsal.sacct(job) == "FAILED|3:0"
    assert rehearsal.ssh(f"cat slurm-{job}.out") == "about to fail\n"


@needs_slurm
def test_scancel_of_a_sleeping_job_cancels_it(rehearsal: Rehearsal) -> None:
    job = rehearsal.submit("sleep.sh", "#!/bin/bash\nsleep 600\n")
    rehearsal.wait(job, {"RUNNING"})
    cancelled = time.monotonic()
    rehearsal.ssh(f"scancel {job}")
    assert rehearsal.wait(job, seconds=10) == "CANCELLED"
    assert time.monotonic() - cancelled < 10
    assert rehearsal.sacct(job).startswith("CANCELLED|")


@needs_slurm
def test_two_jobs_submitted_at_once_both_complete(rehearsal: Rehearsal) -> None:
    jobs = rehearsal.ssh(
        "printf '#!/bin/bash\\nsleep 1\\necho $1\\n' > two.sh && "
        "sbatch --parsable two.sh a && sbatch --parsable two.sh b"
    ).split()
    assert len(jobs) == 2
    assert [rehearsal.wait(job) for job in jobs] == ["COMPLETED", "COMPLETED"]
    assert rehearsal.ssh(f"cat slurm-{jobs[0]}.out slurm-{jobs[1]}.out") == "a\nb\n"


@needs_slurm
def test_stopping_the_emulator_leaves_no_daemon_and_no_job(rehearsal: Rehearsal) -> None:
    """Last: a job still runs when the emulator is told to stop (SIGTERM)."""
    job = rehearsal.submit("long.sh", "#!/bin/bash\nsleep 600\n")
    rehearsal.wait(job, {"RUNNING"})
    run = Path(rehearsal.slurm_dir) / "run"
    pids = [int((run / f"{name}.pid").read_text()) for name in ("munged", "slurmctld", "slurmd")]
    assert _emulator_pids_left(rehearsal.slurm_dir)
    assert _stop(rehearsal.process) == 0
    assert _emulator_pids_left(rehearsal.slurm_dir) == []
    for pid in pids:
        assert not Path(f"/proc/{pid}").exists() or _zombie(pid), pid
    sleepers = subprocess.run(["pgrep", "-f", "sleep 600"], capture_output=True, text=True)
    mine = [p for p in sleepers.stdout.split() if _environ_has(int(p), f"SLURM_JOB_ID={job}")]
    assert mine == []


def _zombie(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat", "rb") as stat:
            return stat.read().rsplit(b")", 1)[1].split()[0] == b"Z"
    except (OSError, IndexError):
        return True


def _environ_has(pid: int, entry: str) -> bool:
    try:
        with open(f"/proc/{pid}/environ", "rb") as environ:
            return entry.encode() in environ.read().split(b"\0")
    except OSError:
        return False


def test_slurm_without_ssh_exits_2() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "fluidstack.emulator", "--port", "0", "--slurm"],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 2
    assert "--slurm needs --ssh" in done.stdout + done.stderr


def test_slurm_missing_exits_2_naming_the_packages(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from fluidstack.emulator import __main__ as command
    from fluidstack.emulator.slurm import daemons

    monkeypatch.setattr(daemons, "find_program", lambda name: None)
    assert command.main(["--port", "0", "--ssh", "--slurm"]) == 2
    err = capsys.readouterr().err
    assert "apt-get install slurm-wlm munge" in err, err


@needs_slurm
def test_ctrl_c_cancels_the_jobs_and_stops_the_daemons(tmp_path: Path) -> None:
    """SIGINT (Ctrl-C at the terminal) takes the same way out as SIGTERM."""
    process = subprocess.Popen(
        [sys.executable, "-m", "fluidstack.emulator", "--port", "0", "--ssh", "--ssh-port", "0",
         "--slurm", "--log-level", "warning", "--control-token", TOKEN],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )  # fmt: skip
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        handle = EmulatorHandle(line.split("listening on ")[1].strip(), DEV_API_KEY,
                                control_token=TOKEN)  # fmt: skip
        slurm = handle.ssh_info()["slurm"]
        handle.close()
        env = {**os.environ, "SLURM_CONF": slurm["conf"]}
        (tmp_path / "long.sh").write_text("#!/bin/bash\nsleep 600\n")
        job = subprocess.run(["sbatch", "--parsable", "long.sh"], cwd=tmp_path, env=env,
                             capture_output=True, text=True, check=True).stdout.strip()  # fmt: skip
        squeue = ["squeue", "--noheader", f"--jobs={job}", "--format=%T"]
        deadline = time.monotonic() + 30
        while subprocess.run(squeue, env=env, capture_output=True, text=True).stdout != "RUNNING\n":
            assert time.monotonic() < deadline
            time.sleep(0.1)
        assert _emulator_pids_left(slurm["directory"])
        assert _stop(process, signal.SIGINT) == 0
        assert _emulator_pids_left(slurm["directory"]) == []
        assert not Path(slurm["directory"]).exists()  # a temporary folder: removed
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


@needs_slurm
def test_in_process_a_reset_cancels_the_jobs_and_stop_ends_everything(tmp_path: Path) -> None:
    """``EmulatorServer`` (the pytest plugin's way) runs the same rehearsal; a reset that
    leaves no Slurm cluster cancels every job, so tests sharing an emulator start with an
    empty queue."""
    from fluidstack.emulator import EmulatorServer, EmulatorSettings

    settings = EmulatorSettings(port=0, manual_clock=True, log_level="warning", ssh=True,
                                ssh_port=0, slurm=True)  # fmt: skip
    with EmulatorServer(settings) as server:
        handle = EmulatorHandle(server.base_url, server.api_key, control_token=server.control_token)
        slurm = handle.ssh_info()["slurm"]
        env = {**os.environ, "SLURM_CONF": slurm["conf"]}
        (tmp_path / "long.sh").write_text("#!/bin/bash\nsleep 600\n")
        job = subprocess.run(["sbatch", "--parsable", "long.sh"], cwd=tmp_path, env=env,
                             capture_output=True, text=True, check=True).stdout.strip()  # fmt: skip
        squeue = ["squeue", "--noheader", "--states=all", f"--jobs={job}", "--format=%T"]
        handle.reset()
        deadline = time.monotonic() + 10
        while subprocess.run(squeue, env=env, capture_output=True, text=True).stdout != (
            "CANCELLED\n"
        ):
            assert time.monotonic() < deadline
            time.sleep(0.1)
        handle.close()
    assert _emulator_pids_left(slurm["directory"]) == []


@needs_slurm
def test_a_port_taken_before_slurmctld_binds_it_is_retried_with_new_ports(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Ports are probed free, then bound by the daemon: another program may take one in
    between (two emulators starting at once). The start is tried again with new ports."""
    from fluidstack.emulator.slurm import daemons
    from fluidstack.emulator.slurm.conf import free_loopback_port as real
    from fluidstack.emulator.ssh.procs import ProcessTracker

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        ports = [taken.getsockname()[1]]  # the first port handed out: slurmctld's
        monkeypatch.setattr(
            daemons, "free_loopback_port", lambda avoid=None: ports.pop() if ports else real(avoid)
        )
        tracker = ProcessTracker()
        rehearsal = daemons.SlurmRehearsal(tracker).start()
        try:
            assert rehearsal.client(["sinfo", "--noheader", "--format=%P"]) == "main*\n"
            assert f"SlurmctldPort={taken.getsockname()[1]}\n" not in rehearsal.conf.read_text()
        finally:
            rehearsal.close()
            tracker.close()
    assert _emulator_pids_left(str(rehearsal.root)) == []
