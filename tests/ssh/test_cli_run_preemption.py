"""``fluidstack atlas run --preemptible`` against the ``--ssh`` emulator, preempted through
its control API while the command runs: ``--on-preempt retry`` (twice), ``on-demand``
and ``fail``, and Ctrl-C during a resume. Each time: the outputs written before the
preemption are kept (synced while the command ran) and uploaded to the next instance,
and no instance is left.

The preempting happens in a thread of the test, when the command has said it started:
its ``--out`` folder holds a file per attempt, which the run's periodic sync brings
here; the thread waits for that file (a condition, not a delay), then preempts the
instance that runs."""

from __future__ import annotations

import datetime as dt
import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional

import pytest
from cli_support import Fs
from ssh_support import KeyPair

from fluidstack.core._sync.pipeline import Pipeline
from fluidstack.testing.handle import EmulatorHandle

# Attempt N writes out/attempt-N.txt (with what it was told) and out/seen-N.txt (what
# out/ held when it started), then waits to be preempted, except attempt LAST.
SCRIPT = """
n=$FLUIDSTACK_ATTEMPT
mkdir -p out
seen=$(ls out); echo "$seen" > out/seen-$n.txt
echo "attempt $n resume $FLUIDSTACK_RESUME" > out/attempt-$n.txt
echo "started $n"
if [ "$n" -lt "$LAST" ]; then while true; do sleep 0.05; done; fi
echo finished > out/final.txt
echo "finished $n"
"""

PRICE = 36.0
"""USD per hour of cpu.2x in the test profile: a minute is 60 cents, easy to compare."""


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    root = tmp_path / "proj"
    root.mkdir()
    (root / "job.sh").write_text(SCRIPT)
    (root / ".gitignore").write_text("out/\n")  # outputs ignored: they must travel anyway
    monkeypatch.chdir(root)
    return root


@pytest.fixture
def atlas_project(fs: Fs, monkeypatch: pytest.MonkeyPatch, cli_env: Dict[str, str]) -> str:
    """A project for the runs, and the profile's price of cpu.2x."""
    created = fs.json("atlas", "projects", "create", "preempt")
    monkeypatch.setenv("FLUIDSTACK_PROJECT_ID", created["id"])
    config = Path(cli_env["XDG_CONFIG_HOME"]) / "fluidstack" / "config.toml"
    config.parent.mkdir(parents=True, exist_ok=True)
    config.write_text(f'[profiles.default.atlas]\nprices = {{ "cpu.2x" = {PRICE} }}\n')
    os.chmod(config, 0o600)
    return str(created["id"])


def _atlas(ssh_emulator: EmulatorHandle, project_id: str) -> Any:
    from fluidstack.atlas import Atlas

    control = ssh_emulator.atlas
    return Atlas(client_id=control.client_id, client_secret=control.client_secret,
                 management_url=control.management_url, region=control.regions()[0],
                 project_id=project_id, use_environment=False)  # fmt: skip


def _instances(ssh_emulator: EmulatorHandle, project_id: str) -> List[Any]:
    with _atlas(ssh_emulator, project_id) as atlas:
        return [i for i in atlas.instances.list() if str(i.state) != "deleting"]


def _import_before_threads(ssh_emulator: EmulatorHandle, project_id: str) -> None:
    """Make the SDK modules a watching thread uses imported by this thread first.
    pytest rewrites the asserts of every fluidstack module as it is imported (the package
    holds a pytest plugin), with ``ast.parse``; on CPython before 3.11.8 two threads
    parsing at once can fail with "SystemError: AST constructor recursion depth
    mismatch" (python/cpython#106905), which the CLI running here in-process, importing
    its commands lazily, then reports as its own error."""
    _instances(ssh_emulator, project_id)


class Preempter(threading.Thread):
    """Preempts the running instance once ``out/attempt-N.txt`` has been synced here, for
    each N in ``attempts``; ``on_preempted(n)`` runs after each (in this thread)."""

    def __init__(self, ssh_emulator: EmulatorHandle, project_id: str, root: Path,
                 attempts: List[int],
                 on_preempted: Optional[Callable[[int], None]] = None) -> None:  # fmt: skip
        super().__init__(daemon=True)
        self.emulator, self.project_id, self.root = ssh_emulator, project_id, root
        self.attempts, self.on_preempted = attempts, on_preempted
        self.preempted: List[Dict[str, Any]] = []
        self.error: Optional[BaseException] = None
        _import_before_threads(ssh_emulator, project_id)

    def run(self) -> None:
        try:
            for n in self.attempts:
                synced = self.root / "out" / f"attempt-{n}.txt"
                deadline = time.monotonic() + 120
                while not synced.exists():  # polled: the run's sync brings it
                    assert time.monotonic() < deadline, f"attempt {n} never synced"
                    time.sleep(0.02)
                (running,) = [i for i in _instances(self.emulator, self.project_id)
                              if str(i.state) == "running"]  # fmt: skip
                assert running.preemptible
                self.preempted.append(self.emulator.atlas.preempt(running.id))
                if self.on_preempted is not None:
                    self.on_preempted(n)
        except BaseException as exc:  # reported by the test
            self.error = exc


def _run_args(key: KeyPair, *extra: str, poll: str = "5") -> List[str]:
    pub = str(key.private.parent / f"{key.private.name}.pub")
    return ["atlas", "run", "--type", "cpu.2x", "--ssh-key", pub, "-i", str(key.private),
            "--poll-interval", poll, "--preemptible", "--sync-every", "0.1", "--out", "out",
            *extra]  # fmt: skip


def _seconds_in_emulator(ssh_emulator: EmulatorHandle, ids: List[str]) -> float:
    """Each instance's time from its create to its delete, as the emulator's journal
    (its own clock) has them; one instance at a time, so creates pair with ids in order."""

    def when(entry: Dict[str, Any]) -> dt.datetime:
        return dt.datetime.fromisoformat(entry["time"].replace("Z", "+00:00"))

    journal = ssh_emulator.journal()
    creates = [e for e in journal if e["method"] == "POST" and e["path"].endswith("/instances")
               and e["status"] in (200, 201, 202)]  # fmt: skip
    assert len(creates) == len(ids), [e["path"] for e in creates]
    total = 0.0
    for create, ident in zip(creates, ids):
        (delete,) = [
            e for e in journal
            if e["method"] == "DELETE" and e["path"].endswith(f"/instances/{ident}")
            and e["status"] < 300
        ]  # fmt: skip
        total += (when(delete) - when(create)).total_seconds()
    return total


def test_retry_preempted_twice_finishes_keeps_outputs_and_bills_every_instance(
    fs: Fs, key: KeyPair, project: Path, atlas_project: str, ssh_emulator: EmulatorHandle
) -> None:
    ssh_emulator.clear_journal()
    preempter = Preempter(ssh_emulator, atlas_project, project, [1, 2])
    preempter.start()
    result = fs(*_run_args(key, "--on-preempt", "retry", "--", "LAST=3 sh job.sh"))
    preempter.join(timeout=60)
    assert preempter.error is None, preempter.error
    assert len(preempter.preempted) == 2

    out = project / "out"
    # Every attempt's output is here, each told which start it was.
    for n in (1, 2, 3):
        assert (out / f"attempt-{n}.txt").read_text() == f"attempt {n} resume {int(n > 1)}\n"
    assert (out / "final.txt").read_text() == "finished\n"
    # The outputs from before each preemption went up to the next instance.
    assert (out / "seen-2.txt").read_text().split() == ["attempt-1.txt", "seen-1.txt"]
    assert set((out / "seen-3.txt").read_text().split()) == {
        "attempt-1.txt",
        "attempt-2.txt",
        "seen-1.txt",
        "seen-2.txt",
    }
    assert result.stdout.splitlines() == ["started 1", "started 2", "started 3", "finished 3"]
    assert result.stderr.count("was preempted while the command ran") == 2
    assert "(attempt 3, with FLUIDSTACK_RESUME=1)" in result.stderr
    assert _instances(ssh_emulator, atlas_project) == []

    # The cost line covers the three instances, and their time is the emulator's.
    (used,) = re.findall(r"Instances used, in order: (.*)\.", result.stderr)
    ids = used.split(", ")
    assert len(ids) == 3
    assert len(set(ids)) == 3
    (cost, count, seconds) = re.findall(
        r"Cost: \$([0-9.]+) \((\d+) instances of cpu\.2x ran .* \((\d+)s\) in all", result.stderr
    )[0]
    assert count == "3"
    measured = _seconds_in_emulator(ssh_emulator, ids)
    assert abs(int(seconds) - measured) <= 3  # the API's Date headers are to the second
    assert abs(float(cost) - PRICE * int(seconds) / 3600) <= 0.005


def test_on_demand_after_a_preemption_and_fail_by_default(
    fs: Fs, key: KeyPair, project: Path, atlas_project: str, ssh_emulator: EmulatorHandle
) -> None:
    preempter = Preempter(ssh_emulator, atlas_project, project, [1])
    preempter.start()
    result = fs(*_run_args(key, "--on-preempt", "on-demand", "--", "LAST=2 sh job.sh"))
    preempter.join(timeout=60)
    assert preempter.error is None, preempter.error
    assert "Creating a preemptible cpu.2x instance" in result.stderr
    assert "on a new on-demand instance (attempt 2" in result.stderr
    assert "Creating a cpu.2x instance" in result.stderr  # the second: not preemptible
    assert (project / "out" / "final.txt").exists()
    assert (project / "out" / "seen-2.txt").read_text().split() == ["attempt-1.txt", "seen-1.txt"]
    assert _instances(ssh_emulator, atlas_project) == []

    # The default, fail: the outputs so far kept, the instance deleted, exit 75.
    for path in (project / "out").iterdir():
        path.unlink()
    preempter = Preempter(ssh_emulator, atlas_project, project, [1])
    preempter.start()
    failed = fs(*_run_args(key, "--", "LAST=2 sh job.sh"), expect=75)
    preempter.join(timeout=60)
    assert preempter.error is None, preempter.error
    assert (project / "out" / "attempt-1.txt").read_text() == "attempt 1 resume 0\n"
    assert not (project / "out" / "final.txt").exists()
    assert "was preempted (--on-preempt fail" in failed.stderr
    assert "the command exited with status" not in failed.stderr
    assert "Cost: $" in failed.stderr
    assert "1 instance of cpu.2x" in failed.stderr
    assert _instances(ssh_emulator, atlas_project) == []


def test_ctrl_c_during_a_resume_leaves_no_instance(
    fs: Fs, key: KeyPair, project: Path, atlas_project: str, ssh_emulator: EmulatorHandle,
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    """Interrupted while the second instance is being set up (its upload of the outputs
    so far): the run stops there, deletes it, and exits 130."""
    import fluidstack.cli.run_preempt as run_preempt

    real = run_preempt.upload_outputs

    def interrupted(*args: Any) -> None:
        real(*args)
        raise KeyboardInterrupt

    monkeypatch.setattr(run_preempt, "upload_outputs", interrupted)
    preempter = Preempter(ssh_emulator, atlas_project, project, [1])
    preempter.start()
    result = fs(*_run_args(key, "--on-preempt", "retry", "--", "LAST=3 sh job.sh"), expect=130)
    preempter.join(timeout=60)
    assert preempter.error is None, preempter.error
    assert "(attempt 2, with FLUIDSTACK_RESUME=1)" in result.stderr
    (used,) = re.findall(r"Instances used, in order: (.*)\.", result.stderr)
    assert len(used.split(", ")) == 2
    assert "was deleted after" in result.stderr
    assert _instances(ssh_emulator, atlas_project) == []


def test_a_real_ctrl_c_while_the_resumed_command_runs_deletes_its_instance(
    cli_env: Dict[str, str], key: KeyPair, project: Path, atlas_project: str,
    ssh_emulator: EmulatorHandle,
) -> None:  # fmt: skip
    """``fluidstack atlas run`` as its own process, preempted once, then SIGINT while the
    command runs again on the second instance: that one is deleted too, exit 130."""
    args = _run_args(key, "--on-preempt", "retry", "--", "LAST=9 sh job.sh", poll="0.2")
    process = subprocess.Popen(
        [sys.executable, "-m", "fluidstack", *args], cwd=project, env={**os.environ, **cli_env},
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )  # fmt: skip

    def until_synced(n: int) -> None:
        deadline = time.monotonic() + 120
        while not (project / "out" / f"attempt-{n}.txt").exists():
            assert process.poll() is None, process.communicate()
            assert time.monotonic() < deadline, f"attempt {n} never synced"
            ssh_emulator.advance(30)  # the run waits in simulated time: move it along
            time.sleep(0.05)

    try:
        until_synced(1)
        (running,) = [i for i in _instances(ssh_emulator, atlas_project)
                      if str(i.state) == "running"]  # fmt: skip
        ssh_emulator.atlas.preempt(running.id)
        until_synced(2)
        process.send_signal(signal.SIGINT)
        _, stderr = process.communicate(timeout=120)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    assert process.returncode == 130, stderr
    (used,) = re.findall(r"Instances used, in order: (.*)\.", stderr)
    assert len(used.split(", ")) == 2
    assert "was deleted after" in stderr
    assert _instances(ssh_emulator, atlas_project) == []


def test_preempted_before_it_answers_ssh_the_run_moves_on_at_once(
    fs: Fs,
    key: KeyPair,
    project: Path,
    atlas_project: str,
    ssh_emulator: EmulatorHandle,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Preempted while the run waits for SSH: the wait ends at once (it would otherwise
    poll until --timeout), the instance is deleted and billed, and retry starts over."""
    ssh_emulator.add_sshd_delay(600)  # the first boot's sshd: ten minutes after running
    preempted: List[Dict[str, Any]] = []

    # The run's waits move the emulator's clock (tests/ssh/conftest.py); the preemption
    # comes at the first move after the instance is running, in the run's own thread.
    # (A watching thread lost the race under load: the run's polls moved the clock past
    # the sshd delay before the thread saw the instance running.)
    def preempt_once_running_then_advance(seconds: float) -> None:
        if not preempted:
            running = [i for i in _instances(ssh_emulator, atlas_project)
                       if str(i.state) == "running"]  # fmt: skip
            if running:
                preempted.append(ssh_emulator.atlas.preempt(running[0].id))
        ssh_emulator.advance(seconds)

    monkeypatch.setitem(Pipeline.__init__.__kwdefaults__, "sleep",
                        preempt_once_running_then_advance)  # fmt: skip
    result = fs(*_run_args(key, "--on-preempt", "retry", "--timeout", "3600", "--",
                           "LAST=1 sh job.sh"))  # fmt: skip
    assert len(preempted) == 1
    assert "was preempted before it answered SSH" in result.stderr
    assert (project / "out" / "final.txt").read_text() == "finished\n"
    assert (project / "out" / "attempt-2.txt").read_text() == "attempt 2 resume 1\n"
    assert _instances(ssh_emulator, atlas_project) == []
    (used,) = re.findall(r"Instances used, in order: (.*)\.", result.stderr)
    assert len(used.split(", ")) == 2  # the preempted one is on the bill too
    assert "2 instances of cpu.2x" in result.stderr
