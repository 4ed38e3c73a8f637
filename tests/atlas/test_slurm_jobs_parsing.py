"""``atlas.slurm.jobs`` without a cluster: the parsers of Slurm's machine-readable output
(on output captured from Debian's slurm-wlm 22.05, in ``slurm_output/``), the command
lines and batch scripts it builds, and which files a sync takes."""

from __future__ import annotations

import datetime as dt
import os
import shutil
import subprocess
import time
from pathlib import Path
from typing import List

import pytest

from fluidstack.atlas import SlurmJob, SlurmJobState
from fluidstack.atlas.slurm_commands import (
    download_list_command,
    follow_command,
    group_by_folder,
    job_script,
    log_chunk_command,
    relative_to_home,
    split_log_chunk,
    submit_command,
    sync_command,
    time_limit,
)
from fluidstack.atlas.slurm_types import (
    parse_exit_code,
    parse_sacct,
    parse_sbatch,
    parse_scontrol,
    parse_squeue,
)
from fluidstack.core.workdir import pack_directory, workdir_files

OUTPUT = Path(__file__).parent / "slurm_output"


def _read(name: str) -> str:
    return (OUTPUT / name).read_text()


def test_sbatch_parsable_gives_the_job_id_after_any_warning() -> None:
    assert parse_sbatch(_read("sbatch.txt")) == "11"
    assert parse_sbatch("sbatch: warning: something\n42;cluster-a\n") == "42"
    assert parse_sbatch("7_3\n") == "7_3"
    with pytest.raises(ValueError, match="no job id"):
        parse_sbatch("sbatch: error: Batch job submission failed\n")


def test_scontrol_one_line_per_job_with_exit_codes_and_paths() -> None:
    jobs = {j.id: j for j in parse_scontrol(_read("scontrol.txt"), "c1")}
    done, failed, cancelled = jobs["1"], jobs["2"], jobs["3"]
    assert done.name == "my|job name"  # a value with spaces and the delimiter kept whole
    assert done.state is SlurmJobState.COMPLETED
    assert (done.exit_code, done.signal, done.ok, done.finished) == (0, 0, True, True)
    assert done.user == "root"
    assert done.stdout == "/tmp/sdk-slurm/work/slurm-1.out"
    assert done.workdir == "/tmp/sdk-slurm/work"
    assert done.node_list == "vm"
    assert done.end_time == dt.datetime(2026, 12, 7, 9, 25, 55)
    assert failed.state == "FAILED"
    assert (failed.exit_code, failed.ok, failed.reason) == (3, False, "NonZeroExitCode")
    assert cancelled.state is SlurmJobState.CANCELLED
    assert cancelled.node_list is None
    assert parse_scontrol("slurm_load_jobs error: Invalid job id specified\n", "c1") == []
    assert parse_scontrol("No jobs in the system\n", "c1") == []


def test_squeue_with_finished_pending_and_running_jobs() -> None:
    jobs = {j.id: j for j in parse_squeue(_read("squeue.txt"), "c1")}
    assert jobs["1"].name == "my|job name"
    assert jobs["1"].state is SlurmJobState.COMPLETED
    assert jobs["2"].reason == "NonZeroExitCode"
    assert jobs["3"].state is SlurmJobState.CANCELLED
    active = {j.id: j for j in parse_squeue(_read("squeue_active.txt"), "c1")}
    assert active["10"].state is SlurmJobState.PENDING
    assert active["10"].reason == "Resources"
    assert active["10"].start_time is None
    assert active["10"].node_list is None
    assert active["8"].state is SlurmJobState.RUNNING
    assert active["8"].node_list == "vm"
    assert active["8"].start_time == dt.datetime(2026, 12, 7, 9, 30, 45)
    assert not active["8"].finished
    assert all(j.cluster_id == "c1" for j in active.values())


def test_sacct_parsable2_and_states_slurm_adds_later() -> None:
    # Captured from `sacct -c` (the jobcomp/filetxt log): its COMPLETED comes out empty.
    jobs = {j.id: j for j in parse_sacct(_read("sacct_jobcomp.txt"), "c1")}
    assert (jobs["2"].state, jobs["2"].exit_code) == ("FAILED", 3)
    assert jobs["3"].state is SlurmJobState.CANCELLED
    assert not jobs["1"].state.is_known
    line = "5|CANCELLED by 1000|0:15|me|gpu|2|n[1-2]|/home/me|2026-01-01T00:00:00|Unknown|Unknown|a"
    (job,) = parse_sacct(line, "c1")
    assert (job.state, job.signal, job.nodes, job.start_time) == ("CANCELLED", 15, 2, None)
    assert SlurmJobState("RESV_DEL_HOLD") is SlurmJobState.RESV_DEL_HOLD
    later = SlurmJob(cluster_id="c", id="1", state="LAUNCH_FAILED")
    assert str(later.state) == "LAUNCH_FAILED"
    assert not later.state.is_known
    assert not later.finished
    assert parse_exit_code("garbage") == (None, None)


def test_the_batch_script_from_a_file_text_or_command(tmp_path: Path) -> None:
    (tmp_path / "train.sh").write_text("#!/bin/bash\n#SBATCH --nodes=2\necho hi\n")
    built = job_script("train.sh", None, tmp_path)
    assert built.text.startswith("#!/bin/bash\n#SBATCH --nodes=2")
    assert built.default_name == "train.sh"
    assert (built.job_name(None), built.job_name("x")) == ("train.sh", "x")
    assert job_script("#!/bin/sh\n#SBATCH -J mine\n", None, tmp_path).job_name(None) is None
    assert job_script("#!/bin/sh\necho x", None, tmp_path).text == "#!/bin/sh\necho x\n"
    built = job_script(None, ["python", "-c", "print(6*7)"], tmp_path)
    assert built.text == "#!/bin/bash\npython -c 'print(6*7)'\n"
    assert built.default_name == "python"
    with pytest.raises(FileNotFoundError, match="no such script"):
        job_script("missing.sh", None, tmp_path)
    with pytest.raises(ValueError, match="not both"):
        job_script("train.sh", "echo", tmp_path)
    with pytest.raises(ValueError, match="not both"):
        job_script(None, None, tmp_path)


def test_submit_quotes_every_value_and_passes_env_through_sbatch() -> None:
    line = submit_command(remote_dir="~/fluidstack/my dir", name="a b", nodes=2, gpus_per_node=8,
                          time="1:00:00", partition="gpu",
                          env={"TOKEN": "x,y z'"})  # fmt: skip
    assert line.startswith("cd \"$HOME\"/'fluidstack/my dir' && ")
    assert "env TOKEN='x,y z'\"'\"'' sbatch --parsable '--job-name=a b'" in line
    assert "--nodes=2 --gpus-per-node=8 --time=1:00:00 --partition=gpu" in line
    with pytest.raises(ValueError, match="environment variable name"):
        submit_command(remote_dir=None, name="n", nodes=None, gpus_per_node=None, time=None,
                       partition=None, env={"A B": "1"})  # fmt: skip
    assert time_limit(dt.timedelta(seconds=61)) == "2"
    assert time_limit(90) == "90"
    assert time_limit("2-00") == "2-00"
    with pytest.raises(ValueError):
        time_limit(0)


@pytest.mark.skipif(shutil.which("bash") is None, reason="needs bash")
def test_the_log_command_reads_state_then_bytes_from_an_offset(tmp_path: Path) -> None:
    log = tmp_path / "slurm-1.out"
    log.write_bytes(b"one\ntw\xffo\nthree")
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    scontrol = bin_dir / "scontrol"
    scontrol.write_text("#!/bin/sh\necho 'JobId=1 JobName=a JobState=RUNNING Reason=None'\n")
    scontrol.chmod(0o755)
    path = f"{bin_dir}:/usr/bin:/bin"
    done = subprocess.run([str(shutil.which("bash")), "-c", log_chunk_command("1", str(log), 4)],
                          capture_output=True, check=True, env={"PATH": path})  # fmt: skip
    state, data = split_log_chunk(done.stdout)
    assert (state, data) == ("RUNNING", b"tw\xffo\nthree")
    scontrol.write_text("#!/bin/sh\necho 'slurm_load_jobs error: Invalid job id' >&2; exit 1\n")
    done = subprocess.run([str(shutil.which("bash")), "-c", log_chunk_command("1", str(log), 99)],
                          capture_output=True, check=True, env={"PATH": path})  # fmt: skip
    assert split_log_chunk(done.stdout) == (None, b"")  # forgotten: no state
    assert split_log_chunk(b"FLUIDSTACK-STATE:RUNNING\nabc") == ("RUNNING", b"abc")
    with pytest.raises(ValueError, match="unexpected output"):
        split_log_chunk(b"Welcome!\n")
    with pytest.raises(ValueError, match="not a Slurm job id"):
        log_chunk_command("1; rm -rf ~", "x", 0)


@pytest.mark.parametrize("shell", ["sh", "bash"])
def test_the_follow_command_streams_from_an_offset_and_ends_with_the_job_or_its_client(
    tmp_path: Path, shell: str
) -> None:
    """The one command a follow runs on the login node, with a fake scontrol whose state
    is a file: bytes from the offset as written (the file may come late), the end once
    the job has ended, and nothing left running once the client's input closes."""
    log, state = tmp_path / "slurm-1.out", tmp_path / "state"
    state.write_text("PENDING")
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    scontrol = bin_dir / "scontrol"
    scontrol.write_text(f'#!/bin/sh\necho "JobId=1 JobState=$(cat {state}) Reason=None"\n')
    scontrol.chmod(0o755)
    env = {"PATH": f"{bin_dir}:/usr/bin:/bin"}
    command = follow_command("1", str(log), 2, 0.1)

    def start() -> subprocess.Popen[bytes]:
        return subprocess.Popen([str(shutil.which(shell)), "-c", command], env=env,
                                stdin=subprocess.PIPE, stdout=subprocess.PIPE)  # fmt: skip

    follower = start()
    assert follower.stdout is not None
    time.sleep(0.3)
    log.write_bytes(b"0123")  # the job started: its file appears
    state.write_text("RUNNING")
    assert follower.stdout.read(2) == b"23"  # from the offset, while the job runs
    with log.open("ab") as out:
        out.write(b"\nlast\n")
    state.write_text("COMPLETED")
    assert follower.stdout.read() == b"\nlast\n"  # the rest, then the end
    assert follower.wait(timeout=5) == 0
    state.write_text("RUNNING")
    follower = start()  # a client that goes away: its input closes
    assert follower.stdout is not None
    assert follower.stdout.read(2) == b"23"
    assert follower.stdin is not None
    follower.stdin.close()
    assert follower.wait(timeout=5) == 0
    follower.stdout.close()
    with pytest.raises(ValueError, match="not a Slurm job id"):
        follow_command("1; reboot", "x", 0)


def test_download_lists_what_the_job_wrote_relative_to_home() -> None:
    since = dt.datetime(2026, 12, 7, 9, 25, 54)
    line = download_list_command("/home/u/fluidstack/p", since)
    assert "-newermt '2026-12-07 09:25:54'" in line
    assert relative_to_home("/home/u/fluidstack/p", "/home/u") == "fluidstack/p"
    assert relative_to_home("/scratch/p", "/home/u") == "/scratch/p"
    assert group_by_folder(["./a", "./r/b", "./r/c", "./r/s/d"]) == {
        "": ["a"], "r": ["r/b", "r/c"], "r/s": ["r/s/d"]}  # fmt: skip


@pytest.mark.skipif(shutil.which("git") is None, reason="needs git")
def test_a_sync_takes_what_git_counts_in_a_repository(tmp_path: Path) -> None:
    root = tmp_path / "repo"
    (root / "data").mkdir(parents=True)
    (root / ".gitignore").write_text("data/\n*.log\n")
    (root / "train.py").write_text("print(1)\n")
    (root / "run.log").write_text("x\n")
    (root / "data" / "big.bin").write_text("x\n")
    (root / "new.py").write_text("untracked, not ignored\n")
    git = ["git", "-C", str(root), "-c", "user.email=t@t", "-c", "user.name=t"]
    subprocess.run([*git, "init", "-q"], check=True)
    subprocess.run([*git, "add", ".gitignore", "train.py"], check=True)
    subprocess.run([*git, "add", "-f", "run.log"], check=True)  # tracked though ignored
    assert workdir_files(root) == [".gitignore", "new.py", "run.log", "train.py"]
    (root / "train.py").unlink()  # deleted since: not copied
    assert workdir_files(root) == [".gitignore", "new.py", "run.log"]
    # Outside git, the .gitignore files decide.
    shutil.rmtree(root / ".git")
    assert workdir_files(root) == [".gitignore", "new.py"]


def _sync(shell: str, archive: bytes, into: Path) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run([str(shutil.which(shell)), "-c", sync_command(str(into))],
                          input=archive, capture_output=True, timeout=60, check=False)  # fmt: skip


@pytest.mark.parametrize("shell", ["sh", "bash"])
def test_a_sync_replaces_its_files_dates_them_back_and_leaves_the_others_alone(
    tmp_path: Path, shell: str
) -> None:
    """What a sync brings is dated two seconds back (so it never looks like a next job's
    output); what it does not bring, like a job's output just written, keeps its
    date: another job's fresh output must still download as that job's."""
    local = tmp_path / "proj"
    (local / "pkg").mkdir(parents=True)
    (local / "input.txt").write_text("new input\n")
    (local / "pkg" / "mod.py").write_text("x = 1\n")
    archive, count = pack_directory(local)
    assert count == 2
    remote = tmp_path / "remote" / "proj"
    remote.mkdir(parents=True)
    (remote / "input.txt").write_text("old input\n")
    (remote / "slurm-7.out").write_text("a job's fresh output\n")
    fresh = (remote / "slurm-7.out").stat().st_mtime
    started = time.time()
    done = _sync(shell, archive, remote)
    ended = time.time()
    assert done.returncode == 0, done.stderr
    assert (remote / "input.txt").read_text() == "new input\n"
    assert (remote / "pkg" / "mod.py").read_text() == "x = 1\n"
    for brought in ("input.txt", "pkg/mod.py"):  # dated 2 s before a moment of the sync
        assert started - 2.05 <= (remote / brought).stat().st_mtime <= ended - 2
    assert (remote / "slurm-7.out").stat().st_mtime == fresh
    assert sorted(p.name for p in remote.iterdir()) == ["input.txt", "pkg", "slurm-7.out"]


def test_two_syncs_into_one_folder_at_once_both_succeed_and_no_file_goes_missing(
    tmp_path: Path,
) -> None:
    """Two submissions from one folder at once sync into one remote folder. Each file is
    renamed into place: never missing for a moment (a reader, a job, the other sync's
    dating would fail on it, as they did when tar unlinked and re-created it)."""
    local = tmp_path / "proj"
    local.mkdir()
    names = [f"f{i}.txt" for i in range(150)]
    for name in names:
        (local / name).write_text(name)
    archive, _ = pack_directory(local)
    remote = tmp_path / "remote"
    assert _sync("sh", archive, remote).returncode == 0
    for _ in range(3):
        command = ["sh", "-c", sync_command(str(remote))]
        pipe = subprocess.PIPE
        syncs = [subprocess.Popen(command, stdin=pipe, stderr=pipe) for _ in range(2)]
        for sync in syncs:
            assert sync.stdin is not None
            sync.stdin.write(archive)
            sync.stdin.close()
        missing = set()
        while any(sync.poll() is None for sync in syncs):
            missing.update(set(names) - set(os.listdir(remote)))
        errors = [sync.stderr.read() for sync in syncs if sync.stderr is not None]
        assert [sync.wait() for sync in syncs] == [0, 0], errors
        assert not missing
    assert sorted(os.listdir(remote)) == sorted(names)  # no private folder left


def _big_project(root: Path, files: int = 40, size: int = 64 * 1024) -> bytes:
    """A working directory of random (incompressible) files, packed: an archive large
    enough that a sync can be caught half-way."""
    root.mkdir(parents=True)
    for i in range(files):
        (root / f"part{i:02}.bin").write_bytes(os.urandom(size))
    archive, count = pack_directory(root)
    assert count == files
    return archive


def _private_folders(remote: Path) -> List[str]:
    return sorted(p.name for p in remote.glob(".fluidstack-sync.*"))


def _default_signals() -> None:
    import signal

    for number in (signal.SIGHUP, signal.SIGINT, signal.SIGTERM):
        signal.signal(number, signal.SIG_DFL)


def _start_half_way(shell: str, archive: bytes, remote: Path) -> subprocess.Popen[bytes]:
    """A sync in its own process group that has unpacked part of ``archive`` into its
    private folder and waits for the rest (standard input still open)."""
    # As sshd starts a session: default signal handling, even when the tests run under
    # `nohup` (which ignores SIGHUP, and an ignored signal cannot be trapped).
    sync = subprocess.Popen([str(shutil.which(shell)), "-c", sync_command(str(remote))],
                            stdin=subprocess.PIPE, stderr=subprocess.PIPE,
                            start_new_session=True, preexec_fn=_default_signals)  # fmt: skip
    assert sync.stdin is not None
    sync.stdin.write(archive[: len(archive) // 2])
    sync.stdin.flush()
    until = time.monotonic() + 30
    while time.monotonic() < until:
        folders = list(remote.glob(".fluidstack-sync.*"))
        if folders and any(folders[0].iterdir()):
            return sync
        assert sync.poll() is None, sync.stderr.read() if sync.stderr else b""
        time.sleep(0.02)
    raise AssertionError("the sync never unpacked its first files")


@pytest.mark.parametrize("shell", ["dash", "bash"])
@pytest.mark.parametrize("how", ["HUP", "INT", "TERM", "cut"])
def test_a_sync_killed_or_cut_half_way_removes_its_private_folder(
    tmp_path: Path, shell: str, how: str
) -> None:
    """A hang-up, an interrupt or a termination of the session's process group (the
    login node's sshd, a shutdown), or an archive cut short (the connection dropped:
    standard input ends), half-way through the unpacking: the private folder goes
    with the sync, and nothing it brought half-way is placed."""
    import signal

    if shutil.which(shell) is None:
        pytest.skip(f"{shell} is not installed")
    archive = _big_project(tmp_path / "proj")
    remote = tmp_path / "remote"
    remote.mkdir()
    (remote / "keep.txt").write_text("a job's file\n")
    sync = _start_half_way(shell, archive, remote)
    assert sync.stdin is not None
    if how == "cut":
        sync.stdin.close()
        expected = None  # tar's own failure status
    else:
        number = getattr(signal, f"SIG{how}")
        os.killpg(sync.pid, number)
        expected = 128 + number
    status = sync.wait(timeout=30)
    if how != "cut":
        sync.stdin.close()
    assert status != 0
    if expected is not None:
        assert status == expected
    assert _private_folders(remote) == []
    assert sorted(os.listdir(remote)) == ["keep.txt"]


def test_a_later_sync_removes_an_abandoned_private_folder_but_never_a_fresh_one(
    tmp_path: Path,
) -> None:
    """``SIGKILL`` runs no trap: the folder stays. A later sync removes it once nothing
    in it has changed (inode change time) for ``stale_minutes``, not before, whatever
    the modification times (tar copies them from the archive: an hour old means
    nothing); the folder of a sync still running (fresh) is never touched."""
    import signal

    archive = _big_project(tmp_path / "proj")
    remote = tmp_path / "remote"
    remote.mkdir()
    killed = _start_half_way("sh", archive, remote)
    os.killpg(killed.pid, signal.SIGKILL)
    killed.wait(timeout=30)
    assert killed.stdin is not None
    killed.stdin.close()
    left = _private_folders(remote)
    assert len(left) == 1
    two_hours_ago = time.time() - 7200  # an hour-old mtime alone does not make it stale
    for path in (remote / left[0]).rglob("*"):
        os.utime(path, (two_hours_ago, two_hours_ago))
    os.utime(remote / left[0], (two_hours_ago, two_hours_ago))
    small = tmp_path / "small"
    small.mkdir()
    (small / "a.txt").write_text("a\n")
    packed, _ = pack_directory(small)

    # Another sync still running alongside (its folder fresh), and the default age.
    running = _start_half_way("sh", archive, remote)
    try:
        assert len(_private_folders(remote)) == 2
        assert _sync("sh", packed, remote).returncode == 0  # stale_minutes=60
        assert len(_private_folders(remote)) == 2  # both changed within the hour
    finally:
        assert running.stdin is not None
        running.stdin.write(archive[len(archive) // 2 :])
        running.stdin.close()
        assert running.wait(timeout=60) == 0
    assert _private_folders(remote) == left  # the running one removed its own
    # As if the abandoned folder had been left an hour ago (a change time cannot be set
    # back): with a threshold of 0 minutes, nothing counts as recent.
    command = sync_command(str(remote), stale_minutes=0)
    done = subprocess.run(["sh", "-c", command], input=packed, capture_output=True,
                          timeout=60, check=False)  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert _private_folders(remote) == []
    assert (remote / "a.txt").read_text() == "a\n"
    assert (remote / "part00.bin").exists()  # the completed sync's files
