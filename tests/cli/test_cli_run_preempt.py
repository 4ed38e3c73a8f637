"""The parts of ``fluidstack atlas run --preemptible`` that need no instance: the options'
checks, the outputs' packing and merging, the periodic sync, the cost line, and how one
attempt tells a preemption (the API's state) from a failure. End to end, on the
``--ssh`` emulator: tests/ssh/test_cli_run_preemption.py."""

from __future__ import annotations

import contextlib
import datetime as dt
import io
import signal
import tarfile
import threading
from decimal import Decimal
from pathlib import Path
from types import SimpleNamespace
from typing import Any, Iterator, List, Optional

import pytest
from cli_support import Fs

from fluidstack.cli.atlas.run import atlas_cost
from fluidstack.cli.run import Job
from fluidstack.cli.run_preempt import (
    OutputSync,
    Preemption,
    _attempt,
    _merge,
    pack_outputs,
)
from fluidstack.core.ssh import SshError


def test_the_platform_run_has_no_preemption_and_says_so(fs: Fs) -> None:
    for args in (["--preemptible"], ["--on-preempt", "retry"], ["--sync-every", "5"]):
        result = fs("run", *args, "--", "true", expect=2)
        assert "the platform API has no preemptible instances" in result.stderr
        assert "fluidstack atlas run" in result.stderr


def test_on_preempt_needs_preemptible_and_excludes_keep(atlas_fs: Fs) -> None:
    alone = atlas_fs("atlas", "run", "--on-preempt", "retry", "--", "true", expect=2)
    assert "add --preemptible" in alone.stderr
    kept = atlas_fs("atlas", "run", "--preemptible", "--on-preempt", "on-demand", "--keep",
                    "--", "true", expect=2)  # fmt: skip
    assert "--keep" in kept.stderr
    bad = atlas_fs("atlas", "run", "--preemptible", "--on-preempt", "later", "--", "true",
                   expect=2)  # fmt: skip
    assert "later" in bad.stderr


def test_the_outputs_travel_even_when_gitignored_and_missing_ones_are_skipped(
    tmp_path: Path,
) -> None:
    (tmp_path / "out" / "deep").mkdir(parents=True)
    (tmp_path / "out" / "a.txt").write_text("a")
    (tmp_path / "out" / "deep" / "b.txt").write_text("b")
    (tmp_path / "model.pt").write_text("m")
    (tmp_path / ".gitignore").write_text("out/\n*.pt\n")
    archive, count = pack_outputs(tmp_path, ["out", "/model.pt", "missing"])
    with tarfile.open(fileobj=io.BytesIO(archive), mode="r:gz") as tar:
        files = sorted(m.name for m in tar.getmembers() if m.isfile())
    assert files == ["model.pt", "out/a.txt", "out/deep/b.txt"]
    assert count == 3
    assert pack_outputs(tmp_path, ["missing"])[1] == 0


def test_a_sync_merges_over_what_is_here(tmp_path: Path) -> None:
    here, there = tmp_path / "here", tmp_path / "there"
    (here / "out").mkdir(parents=True)
    (here / "out" / "old.txt").write_text("kept")
    (here / "out" / "same.txt").write_text("before")
    (there / "out" / "new").mkdir(parents=True)
    (there / "out" / "same.txt").write_text("after")
    (there / "out" / "new" / "x.txt").write_text("x")
    _merge(there / "out", here / "out")
    assert (here / "out" / "old.txt").read_text() == "kept"  # not on the instance: kept
    assert (here / "out" / "same.txt").read_text() == "after"
    assert (here / "out" / "new" / "x.txt").read_text() == "x"
    assert sorted(p.name for p in (here / "out").iterdir()) == ["new", "old.txt", "same.txt"]
    (there / "file").write_text("f")  # a file where a folder was
    (here / "file").mkdir()
    _merge(there / "file", here / "file")
    assert (here / "file").read_text() == "f"


def test_the_periodic_sync_runs_until_stopped_and_survives_failures() -> None:
    calls: List[int] = []
    twice = threading.Event()

    def fetch() -> None:
        calls.append(1)
        if len(calls) == 1:
            raise SshError("connection lost")  # the next tick tries again
        twice.set()

    with OutputSync(fetch, 0.01) as sync:
        assert twice.wait(10)
    done = len(calls)
    assert sync.synced_at is not None
    assert not sync._thread.is_alive()
    assert len(calls) == done  # stopped


def _job(tmp_path: Path) -> Job:
    return Job(command="train", key_path=None, max_runtime=None, outputs=[],
               local_root=tmp_path, remote_dir="proj",
               instance=SimpleNamespace(id="i-1"))  # fmt: skip


class FakeInstances:
    """The instances resource as a run sees it: exec answers ``status`` for the
    command (or raises ``lost``), and 0 for the upload."""

    def __init__(self, status: int = 0, lost: bool = False) -> None:
        self.status, self.lost = status, lost
        self.commands: List[str] = []

    def exec(self, instance: Any, command: str, **kwargs: Any) -> Any:
        self.commands.append(command)
        if "tar xzf" in command:
            return SimpleNamespace(ok=True, exit_status=0, check=lambda: None)
        if self.lost:
            raise SshError("the connection was lost")
        return SimpleNamespace(ok=self.status == 0, exit_status=self.status)


def _policy(preempted: bool, asked: Optional[List[Any]] = None) -> Preemption:
    def is_preempted(instance: Any) -> bool:
        if asked is not None:
            asked.append(instance.id)
        return preempted

    return Preemption("retry", 30.0, is_preempted)


def test_an_attempt_asks_the_api_and_tells_the_command_which_start_it_is(
    tmp_path: Path,
) -> None:
    from fluidstack.cli.state import CliState

    state = CliState()
    job = _job(tmp_path)
    job.attempt = 2
    resource = FakeInstances(status=143)
    asked: List[Any] = []
    assert _attempt(state, resource, job, _policy(True, asked)) is True
    assert asked == ["i-1"]
    assert job.status is None  # stopped by the preemption, not a failure of its own
    command = resource.commands[-1]
    assert command.startswith("export FLUIDSTACK_RESUME=1 FLUIDSTACK_ATTEMPT=2; cd proj && ")

    # A failing command on an instance the API says runs: a failure, not a preemption.
    job = _job(tmp_path)
    resource = FakeInstances(status=3)
    assert _attempt(state, resource, job, _policy(False)) is False
    assert job.status == 3
    assert resource.commands[-1].startswith("export FLUIDSTACK_RESUME=0 FLUIDSTACK_ATTEMPT=1;")
    # A lost connection on a running instance is the SSH failure it is.
    with pytest.raises(SshError):
        _attempt(state, FakeInstances(lost=True), _job(tmp_path), _policy(False))
    # ... and on a preempted one, a preemption.
    assert _attempt(state, FakeInstances(lost=True), _job(tmp_path), _policy(True)) is True
    # A command that succeeded is done, whatever happens to its instance afterwards.
    asked = []
    assert _attempt(state, FakeInstances(status=0), _job(tmp_path), _policy(True, asked)) is False
    assert asked == []


def _spans(*seconds: float) -> List[List[Any]]:
    start = dt.datetime(2026, 12, 1, tzinfo=dt.timezone.utc)
    return [[f"i-{n}", start, start + dt.timedelta(seconds=s)] for n, s in enumerate(seconds)]


def test_the_atlas_cost_line_counts_every_instance() -> None:
    priced = SimpleNamespace(instances=SimpleNamespace(
        _scope=SimpleNamespace(prices={"cpu.2x": Decimal("36")})))  # fmt: skip
    line = atlas_cost(priced, "cpu.2x", _spans(60, 120, 30), 999)
    assert line == ("Cost: $2.10 (3 instances of cpu.2x ran 3m 30s (210s) in all, create to "
                    "delete, at the profile's $36.00/hour).")  # fmt: skip
    unpriced = SimpleNamespace(instances=SimpleNamespace(_scope=SimpleNamespace(prices=None)))
    assert atlas_cost(unpriced, "cpu.2x", _spans(42), 999) == (
        "Atlas publishes no prices: 1 instance of cpu.2x ran 42s (42s) in all, create to delete."
    )
    untagged = _spans(42)
    untagged[0][1] = None  # made without this SDK's created-at tag: the run's own time
    assert atlas_cost(priced, "cpu.2x", untagged, 61) == (
        "Atlas publishes no prices: cpu.2x ran for 1m 01s."
    )


def _opener(opened: List[bool], after: Any = None) -> Any:
    @contextlib.contextmanager
    def open_instance(preemptible: bool) -> Iterator[Any]:
        opened.append(preemptible)
        yield SimpleNamespace(id=f"i-{len(opened)}")
        if after is not None:
            after()

    return open_instance


def test_the_loop_moves_to_on_demand_and_stops_at_a_signal_during_a_delete(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from fluidstack.cli import run_preempt
    from fluidstack.cli.run import _Interrupts
    from fluidstack.cli.state import CliState

    outcomes = iter([True, False])  # preempted once, then finished
    monkeypatch.setattr(run_preempt, "_attempt", lambda *args: next(outcomes))
    job, opened = _job(tmp_path), []
    policy = Preemption("on-demand", 30.0, lambda instance: True)
    run_preempt.run_attempts(CliState(), None, job, _opener(opened), _Interrupts(job), policy)
    assert opened == [True, False]  # preemptible, then on-demand
    assert job.used == ["i-1", "i-2"]
    assert job.attempt == 2
    assert not job.preempted

    # A Ctrl-C while the preempted instance was being deleted (deferred, not cutting the
    # delete short): no next instance is created.
    monkeypatch.setattr(run_preempt, "_attempt", lambda *args: True)
    job, opened = _job(tmp_path), []
    interrupts = _Interrupts(job)

    def deferred() -> None:
        interrupts.signal_number = signal.SIGINT

    retry = Preemption("retry", 30.0, lambda instance: True)
    with pytest.raises(KeyboardInterrupt):
        run_preempt.run_attempts(CliState(), None, job, _opener(opened, deferred), interrupts,
                                 retry)  # fmt: skip
    assert opened == [True]

    # fail: one instance, the run marked preempted (exit 75).
    job, opened = _job(tmp_path), []
    fail = Preemption("fail", 30.0, lambda instance: True)
    run_preempt.run_attempts(CliState(), None, job, _opener(opened), _Interrupts(job), fail)
    assert opened == [True]
    assert job.preempted
    assert "was preempted (--on-preempt fail" in job.notes[0]
