"""Preemption in ``fluidstack atlas run``: ``--preemptible``, ``--on-preempt`` and
``--sync-every``.

A preemptible instance may be stopped at any moment, and a stopped machine may be gone
at once, so nothing can be fetched from it afterwards. So while the command runs, the
``--out`` paths are synced here every ``--sync-every`` seconds (into a staging folder,
then moved into place file by file, so a sync cut short never spoils an earlier one).

A preemption is recognised by the instance's state from the API (``stopping`` or
``stopped`` on a preemptible instance), asked when the command's SSH session dropped or
the command failed: an exit status alone says nothing about why. Then:

- ``fail`` (the default): one last sync is tried (the machine may still answer), the
  instance is deleted and the run exits :data:`~fluidstack.cli.run.EXIT_PREEMPTED` (75).
- ``retry``: the instance is deleted, a new preemptible one of the same type created,
  the working directory uploaded again **and then the outputs synced so far** (over what
  the working directory holds), and the command started again with
  ``FLUIDSTACK_RESUME=1`` and ``FLUIDSTACK_ATTEMPT=<n>`` in its environment.
- ``on-demand``: the same on a non-preemptible instance (which is not preempted again).

One instance at a time: the old one's delete is confirmed before the next is created,
and every one is deleted at the end whatever happens (the same guarantees as a run on
one instance, see :mod:`fluidstack.cli.run`).
"""

from __future__ import annotations

import contextlib
import functools
import os
import shlex
import shutil
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, ContextManager, List, Optional, Tuple

import click

from .run import (
    RESUME_ENV,
    Job,
    _Interrupts,
    download_outputs,
    run_command,
    upload_workdir,
)
from .state import CliState
from .waiting import elapsed_text

__all__ = [
    "ON_PREEMPT",
    "OutputSync",
    "Preemption",
    "check_preempt_options",
    "fetch_outputs",
    "pack_outputs",
    "preempt_options",
    "run_attempts",
    "upload_outputs",
]

ON_PREEMPT = ("fail", "retry", "on-demand")
"""What ``--on-preempt`` may say."""
DEFAULT_SYNC_EVERY = 30.0
"""Seconds between two syncs of the ``--out`` paths while the command runs."""
PREEMPTED_STATES = frozenset({"stopping", "stopped"})
"""States a preemptible instance is preempted into (Atlas: stopped, as a stop would)."""


def preempt_options(func: Any) -> Any:
    """``--preemptible``, ``--on-preempt`` and ``--sync-every``."""
    options: List[Callable[[Any], Any]] = [
        click.option(
            "--preemptible",
            is_flag=True,
            help="Run on a preemptible instance: cheaper, but it may be stopped at any time.",
        ),
        click.option(
            "--on-preempt",
            type=click.Choice(ON_PREEMPT),
            default="fail",
            show_default=True,
            help="When the instance is preempted: fail (exit 75), retry on a new "
            "preemptible instance, or go on on an on-demand one (both upload the "
            "outputs synced so far and start the command again with FLUIDSTACK_RESUME=1).",
        ),
        click.option(
            "--sync-every",
            type=click.FloatRange(min=0, min_open=True),
            default=DEFAULT_SYNC_EVERY,
            show_default=True,
            metavar="S",
            help="With --preemptible: download the --out paths every S seconds while the "
            "command runs (a preempted machine may be gone at once).",
        ),
    ]
    for option in reversed(options):
        func = option(func)
    return func


def check_preempt_options(preemptible: bool, on_preempt: str, keep: bool) -> None:
    """Refuse combinations that cannot mean anything (exit 2)."""
    if on_preempt != "fail" and not preemptible:
        raise click.UsageError(
            f"--on-preempt {on_preempt} applies to a preemptible instance: add --preemptible"
        )
    if on_preempt != "fail" and keep:
        raise click.UsageError(
            f"--keep keeps the run's one instance, but --on-preempt {on_preempt} moves to a "
            "new one after a preemption (deleting the old): use one or the other"
        )


# -- the outputs ---------------------------------------------------------------------------


def _relative(path: str) -> str:
    return path.strip("/") or "."


def pack_outputs(root: Path, paths: List[str]) -> Tuple[bytes, int]:
    """The ``--out`` paths under ``root`` that exist, as a gzipped tar (with no
    ``.gitignore`` filter: outputs are often ignored), and how many files it holds."""
    import io
    import tarfile

    buffer = io.BytesIO()
    count = 0
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for path in paths:
            relative = _relative(path)
            local = root / relative
            if not (local.exists() or local.is_symlink()):
                continue
            tar.add(str(local), arcname=relative)
            count += 1 if not local.is_dir() else sum(len(f) for _, _, f in os.walk(local))
    return buffer.getvalue(), count


def upload_outputs(state: CliState, resource: Any, job: Job) -> None:
    """The outputs synced so far, into the uploaded working directory on the new
    instance (over what the working directory itself held)."""
    archive, count = pack_outputs(job.local_root, job.outputs)
    if not count:
        return
    files = "output file" if count == 1 else f"{count} output files"
    state.info(f"Uploading the {files} synced so far ...")
    quoted = shlex.quote(job.remote_dir)
    resource.exec(
        job.instance, f"mkdir -p {quoted} && tar xzf - -C {quoted}", stdin=archive,
        key_path=job.key_path,
    ).check()  # fmt: skip


def _merge(source: Path, target: Path) -> None:
    """``source`` (a file or folder) over ``target``, each file replaced in one step."""
    if source.is_dir() and not source.is_symlink():
        for folder, _, files in os.walk(source):
            for name in files:
                relative = Path(folder, name).relative_to(source)
                _merge(Path(folder, name), target / relative)
        return
    if target.is_dir() and not target.is_symlink():
        shutil.rmtree(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(f".{target.name}.fluidstack-sync")
    if source.is_symlink():
        if partial.is_symlink() or partial.exists():
            partial.unlink()
        os.symlink(os.readlink(source), partial)
    else:
        shutil.copy2(source, partial)
    os.replace(partial, target)


def fetch_outputs(resource: Any, job: Job) -> int:
    """Each ``--out`` path the instance has, downloaded to a staging folder and then
    moved over its place here; how many paths were there. A path cut short by a lost
    connection leaves what an earlier sync brought untouched."""
    import warnings

    found = 0
    with tempfile.TemporaryDirectory(prefix="fluidstack-sync-") as staging:
        for path in job.outputs:
            relative = _relative(path)
            remote = f"{job.remote_dir}/{relative}"
            there = resource.exec(
                job.instance, f"test -e {shlex.quote(remote)}", key_path=job.key_path
            )
            if not there.ok:
                continue
            into = Path(staging, str(found))
            into.mkdir()
            with warnings.catch_warnings():  # links out of the tree: the final download says
                warnings.simplefilter("ignore")
                resource.download(job.instance, remote, into, key_path=job.key_path)
            name = Path(relative).name if relative != "." else Path(job.remote_dir).name
            _merge(into / name, job.local_root / relative)
            found += 1
    return found


class OutputSync:
    """A thread that syncs the ``--out`` paths every ``every`` seconds while the
    command runs. Its failures are silent: a lost connection is the main thread's to
    notice and explain."""

    def __init__(self, fetch: Callable[[], object], every: float) -> None:
        self._fetch = fetch
        self._every = every
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="fluidstack-run-sync", daemon=True)
        self.synced_at: Optional[float] = None
        """When (``time.monotonic()``) the last sync that completed ended."""

    def _loop(self) -> None:
        while not self._stop.wait(self._every):
            try:
                self._fetch()
            except Exception:  # the machine may be gone: see the docstring
                continue
            self.synced_at = time.monotonic()

    def __enter__(self) -> OutputSync:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stop.set()
        self._thread.join()


# -- the loop ------------------------------------------------------------------------------


@dataclass
class Preemption:
    """How a ``--preemptible`` run handles a preemption.

    ``is_preempted(instance)`` asks the API whether the instance was preempted (the
    API's own state, not a guess from an exit status)."""

    on_preempt: str
    sync_every: float
    is_preempted: Callable[[Any], bool]

    def body(self, state: CliState, resource: Any, job: Job,
             open_instance: Callable[..., ContextManager[Any]],
             interrupts: _Interrupts) -> None:  # fmt: skip
        """:func:`run_attempts`, in the shape ``fluidstack.cli.run.execute`` takes."""
        run_attempts(state, resource, job, open_instance, interrupts, self)


def _attempt(state: CliState, resource: Any, job: Job, policy: Preemption) -> bool:
    """One instance's share of the run; whether it ended in a preemption."""
    from fluidstack.core.ssh import CommandTimeoutError, SshError

    lost: Optional[SshError] = None
    sync: Optional[OutputSync] = None
    try:
        upload_workdir(state, resource, job)
        if job.attempt > 1 and job.outputs:
            upload_outputs(state, resource, job)
        with contextlib.ExitStack() as stack:
            if job.outputs:
                fetch = functools.partial(fetch_outputs, resource, job)
                sync = stack.enter_context(OutputSync(fetch, policy.sync_every))
            run_command(state, resource, job)
    except CommandTimeoutError:
        raise
    except SshError as exc:  # the session dropped, or the upload failed: why, the API says
        lost = exc
    if (lost is not None or job.status != 0) and policy.is_preempted(job.instance):
        job.status = None  # the command was stopped, it did not fail
        state.warn(f"instance {job.instance.id} was preempted while the command ran.")
        if job.outputs:
            try:  # what the command wrote since the last sync, if the machine still answers
                fetch_outputs(resource, job)
            except SshError:
                last = "" if sync is None or sync.synced_at is None else (
                    f" ({elapsed_text(time.monotonic() - sync.synced_at)} before the end)"
                )  # fmt: skip
                state.info(f"The instance no longer answers: the outputs are as of the last "
                           f"sync{last}.")  # fmt: skip
        return True
    if lost is not None:
        raise lost
    if job.outputs:  # a failed command's outputs (logs, partial results) are worth having
        download_outputs(state, resource, job)
    return False


def run_attempts(
    state: CliState,
    resource: Any,
    job: Job,
    open_instance: Callable[..., ContextManager[Any]],
    interrupts: _Interrupts,
    policy: Preemption,
) -> None:
    """The run on a preemptible instance, and on the instances that replace it after
    each preemption as ``policy`` says; each one deleted before the next is created."""
    from fluidstack.core.errors import InstancePreemptedError

    preemptible = True
    while True:
        interrupts.tearing_down = False
        started = time.monotonic()
        kind = "preemptible" if preemptible else "on-demand"
        try:
            with open_instance(preemptible=preemptible) as instance:
                try:
                    job.instance = instance
                    job.used.append(str(instance.id))
                    elapsed = elapsed_text(time.monotonic() - started)
                    state.info(f"Instance {instance.id} ({kind}) answers SSH ({elapsed}).")
                    preempted = _attempt(state, resource, job, policy)
                finally:
                    interrupts.tearing_down = True  # the delete comes next
        except InstancePreemptedError as exc:  # before it answered SSH: nothing ran on it
            if exc.instance is None:  # pragma: no cover - the SDK always says which
                raise
            instance, preempted = exc.instance, True
            job.used.append(str(instance.id))
            state.warn(f"instance {instance.id} was preempted before it answered SSH.")
        if not preempted:
            return
        if interrupts.signal_number is not None:
            raise KeyboardInterrupt  # a signal came during the delete: no next instance
        if policy.on_preempt == "fail":
            job.preempted = True
            job.notes.append(
                f"instance {instance.id} was preempted (--on-preempt fail; retry or "
                "on-demand would start the command again on a new instance)"
            )
            return
        preemptible = policy.on_preempt == "retry"
        job.attempt += 1
        state.info(
            f"Instance {instance.id} is deleted. Starting the command again on a new "
            f"{'preemptible' if preemptible else 'on-demand'} instance (attempt "
            f"{job.attempt}, with {RESUME_ENV}=1) ..."
        )
