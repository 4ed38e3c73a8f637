"""What ``fluidstack run`` and ``fluidstack atlas run`` share: run a command on a fresh
instance and tear it down. The commands themselves are :mod:`fluidstack.cli.platform.run`
and :mod:`fluidstack.cli.atlas.run`; each gives :func:`execute` the instance to open and
the summary to print.

The steps: choose what to rent (the cheapest offer, or the type asked for), create it,
wait until SSH answers, upload the working directory (minus what ``.gitignore``
ignores), run the command with its output streamed here, download the ``--out`` paths,
and delete the instance. The instance is deleted whatever happens after it was asked
for: success, a failing command, ``--max-runtime``, Ctrl-C, a lost connection, a failed
wait, or an interrupted create (the SDK's ``ephemeral``/``disposable`` find an instance
whose create answer was lost). ``--keep`` keeps it and says how to delete it.

Only Click is imported at module level: ``fluidstack --help`` stays fast.
"""

from __future__ import annotations

import contextlib
import os
import shlex
import signal
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, ContextManager, Dict, Iterator, List, Optional, Tuple

import click

from .remote import (
    EXIT_SSH_FAILED,
    download,
    identity_option,
    remote_command,
)
from .state import CliState
from .waiting import elapsed_text

__all__ = [
    "ATTEMPT_ENV",
    "EXIT_PREEMPTED",
    "EXIT_TIMEOUT",
    "RESUME_ENV",
    "Body",
    "Job",
    "download_outputs",
    "execute",
    "kept",
    "make_job",
    "one_instance",
    "pack_directory",
    "report",
    "run_command",
    "run_options",
    "upload_workdir",
]

EXIT_TIMEOUT = 124
"""Exit status when the command ran past ``--max-runtime`` (as ``timeout(1)``)."""

RESUME_ENV = "FLUIDSTACK_RESUME"
"""Set for the command of every run: ``0`` on its first instance, ``1`` when it starts
again on a new one after a preemption (``--on-preempt retry|on-demand``)."""
ATTEMPT_ENV = "FLUIDSTACK_ATTEMPT"
"""Set for the command of every run: which start of the command this is (1, 2, ...)."""


# -- the working directory ---------------------------------------------------------------


def pack_directory(root: Path) -> Tuple[bytes, int]:
    """The files of ``root`` that ``.gitignore`` does not ignore, as a gzipped tar, and
    how many files it holds: :func:`fluidstack.core.workdir.pack_directory`, which
    ``atlas.slurm.jobs`` shares (imported here on use: ``fluidstack.core`` loads httpx)."""
    from fluidstack.core.workdir import pack_directory as pack

    return pack(root)


# -- the steps (module-level, so that a test can interrupt any one of them) ---------------


@dataclass
class Job:
    """What one run does on its instance, and what it has done so far."""

    command: str
    key_path: Optional[str]
    max_runtime: Optional[float]
    outputs: List[str]
    local_root: Path
    remote_dir: str
    instance: Any = None
    status: Optional[int] = None
    notes: List[str] = field(default_factory=list)
    unsure: bool = False
    """The run ended in a way that leaves the instance's fate unknown (a failed delete,
    the delete abandoned): the report must not claim it is gone."""
    attempt: int = 1
    """Which start of the command this is: more than 1 after a preemption."""
    used: List[str] = field(default_factory=list)
    """The ids of the instances the run used, in order (more than one after a
    preemption; the report names every one)."""
    preempted: bool = False
    """The run ended because its instance was preempted (``--on-preempt fail``)."""
    ran_for: float = 0.0
    """Seconds the command has run on earlier instances (``--max-runtime`` counts them)."""


def upload_workdir(state: CliState, resource: Any, job: Job) -> None:
    """Step 4: the working directory into ``~/<its name>`` on the instance."""
    archive, count = pack_directory(job.local_root)
    files = "1 file" if count == 1 else f"{count} files"
    state.info(f"Uploading {files} from {job.local_root} to ~/{job.remote_dir} ...")
    quoted = shlex.quote(job.remote_dir)
    resource.exec(
        job.instance,
        f"mkdir -p {quoted} && tar xzf - -C {quoted}",
        stdin=archive,
        key_path=job.key_path,
    ).check()


def run_command(state: CliState, resource: Any, job: Job) -> None:
    """Step 5: the command, in the uploaded directory, its output streamed here."""
    import sys

    state.info(f"Running: {job.command}")
    sys.stdout.flush()
    sys.stderr.flush()
    timeout = job.max_runtime
    if timeout is not None:  # the time used on instances preempted before counts too
        timeout = max(timeout - job.ran_for, 0.001)
    resume = f"{RESUME_ENV}={int(job.attempt > 1)} {ATTEMPT_ENV}={job.attempt}"
    started = time.monotonic()
    try:
        result = resource.exec(
            job.instance,
            f"export {resume}; cd {shlex.quote(job.remote_dir)} && {job.command}",
            key_path=job.key_path,
            timeout=timeout,
            stdout=getattr(sys.stdout, "buffer", sys.stdout),
            stderr=getattr(sys.stderr, "buffer", sys.stderr),
        )
    finally:
        job.ran_for += time.monotonic() - started
    job.status = int(result.exit_status)


def download_outputs(state: CliState, resource: Any, job: Job) -> None:
    """Step 6: each ``--out`` path (relative to the remote directory) to the same
    relative place here; a missing one is reported, not fatal."""
    for path in job.outputs:
        relative = path.strip("/") or "."
        remote = f"{job.remote_dir}/{relative}"
        found = resource.exec(job.instance, f"test -e {shlex.quote(remote)}", key_path=job.key_path)
        if not found.ok:
            state.warn(f"--out {path}: not on the instance")
            continue
        local = job.local_root / relative
        local.parent.mkdir(parents=True, exist_ok=True)
        download(state, resource, job.instance, remote, local.parent, job.key_path)
        state.info(f"Downloaded {path}.")


def _on_instance(state: CliState, resource: Any, job: Job) -> None:
    upload_workdir(state, resource, job)
    run_command(state, resource, job)
    # A failed command's outputs (logs, partial results) are worth having too.
    if job.outputs:
        download_outputs(state, resource, job)


class _Interrupts:
    """Ctrl-C, SIGTERM and SIGHUP (a closed terminal) during a run, in the main thread.

    The first one stops the step in progress (as ``KeyboardInterrupt``) and the run goes
    on to delete its instance. Once the instance is being deleted, further ones are told
    to wait rather than cut the delete short (a GPU left billing is worse than a few
    seconds); the third of them gives up and leaves the instance, saying so.
    """

    GIVE_UP_AFTER = 3

    def __init__(self, job: Job) -> None:
        self._job = job
        self.tearing_down = False
        """Set once the instance is (about to be) deleted."""
        self.signal_number: Optional[int] = None
        """The signal that interrupted the run, if one did."""
        self._deferred = 0
        self.gave_up = False
        """Interrupted while deleting, too often: the instance was left as it was."""
        self._previous: Dict[int, Any] = {}

    def __enter__(self) -> _Interrupts:
        import threading

        if threading.current_thread() is threading.main_thread():
            for number in _STOP_SIGNALS:
                # An ignored signal stays ignored (`nohup fluidstack run ...`, `... &`).
                if signal.getsignal(number) is not signal.SIG_IGN:
                    self._previous[number] = signal.signal(number, self._handle)
        return self

    def __exit__(self, *exc_info: object) -> None:
        for number, previous in self._previous.items():
            signal.signal(number, previous)
        self._previous.clear()

    def _handle(self, number: int, frame: object) -> None:
        if not self.tearing_down:
            self.tearing_down = True
            self.signal_number = number
            raise KeyboardInterrupt
        if self.signal_number is None:  # the run stops after this delete (no next instance)
            self.signal_number = number
        self._deferred += 1
        ident = getattr(self._job.instance, "id", None) or "the instance"
        if self._deferred >= self.GIVE_UP_AFTER:
            self.gave_up = True
            click.echo(f"\nLeaving {ident} as it is: delete it yourself.", err=True)
            raise KeyboardInterrupt
        left = self.GIVE_UP_AFTER - self._deferred
        click.echo(
            f"\nStill deleting {ident}, so that it stops billing; interrupt {left} more "
            "time(s) to leave it running.",
            err=True,
        )


_STOP_SIGNALS = tuple(
    getattr(signal, name) for name in ("SIGINT", "SIGTERM", "SIGHUP") if hasattr(signal, name)
)


Body = Callable[[CliState, Any, Job, Callable[..., ContextManager[Any]], _Interrupts], None]
"""What a run does between its start and its report: open the instance(s), work on
them and delete them (:func:`one_instance`, or the preemption loop of
:mod:`fluidstack.cli.run_preempt`)."""


def one_instance(state: CliState, resource: Any, job: Job,
                 open_instance: Callable[..., ContextManager[Any]],
                 interrupts: _Interrupts) -> None:  # fmt: skip
    """The run on one instance: open it, upload, run, download, and delete it."""
    started = time.monotonic()
    with open_instance() as instance:
        try:
            job.instance = instance
            job.used.append(str(instance.id))
            elapsed = elapsed_text(time.monotonic() - started)
            state.info(f"Instance {instance.id} answers SSH ({elapsed}).")
            _on_instance(state, resource, job)
        finally:
            interrupts.tearing_down = True  # the delete comes next


EXIT_PREEMPTED = 75
"""Exit status when the instance was preempted and ``--on-preempt fail`` (the default)
ended the run (``EX_TEMPFAIL``: trying again may work)."""


def execute(
    state: CliState,
    resource: Any,
    job: Job,
    open_instance: Callable[..., ContextManager[Any]],
    summary: Callable[[Job, float, bool], None],
    keep: bool,
    body: Optional[Body] = None,
) -> None:
    """Run the job on the instance ``open_instance`` gives (through ``body``, by default
    :func:`one_instance`), mapping the ways it can end to exit statuses; the instance is
    gone (or kept) before anything is reported."""
    from fluidstack.core.errors import ApiError, InstanceFailedError, WaitTimeoutError
    from fluidstack.core.ssh import CommandTimeoutError, SshError

    started = time.monotonic()
    exit_code = 0
    interrupts = _Interrupts(job)
    try:
        with interrupts:
            (body or one_instance)(state, resource, job, open_instance, interrupts)
        exit_code = EXIT_PREEMPTED if job.preempted else job.status or 0
    except KeyboardInterrupt:
        job.unsure = interrupts.gave_up
        summary(job, time.monotonic() - started, keep)
        if interrupts.signal_number not in (None, signal.SIGINT):
            # SIGTERM, or SIGHUP (the terminal went away): exit as killed by it.
            click.get_current_context().exit(128 + int(interrupts.signal_number))
        raise
    except CommandTimeoutError:
        job.notes.append(f"the command ran longer than --max-runtime {job.max_runtime:g}s")
        exit_code = EXIT_TIMEOUT
    except SshError as exc:
        job.notes.append(f"SSH failed: {exc}")
        exit_code = EXIT_SSH_FAILED
    except (WaitTimeoutError, InstanceFailedError) as exc:
        job.notes.append(str(exc))
        exit_code = 1
    except ApiError:
        # A create refused, or a delete that failed: its error says which, and what to do.
        job.unsure = True
        summary(job, time.monotonic() - started, keep)
        raise
    summary(job, time.monotonic() - started, keep)
    click.get_current_context().exit(exit_code)


def report(state: CliState, job: Job, seconds: float, kept: bool, cost: Optional[str],
           delete_command: str) -> None:  # fmt: skip
    """The end of a run on stderr: its errors, what became of the instance (deleted,
    kept, or perhaps still running, with the ``delete_command`` to run), ``cost`` if
    given, and the command's exit status if it failed."""
    for note in job.notes:
        click.echo(f"error: {note}", err=True)
    ident = getattr(job.instance, "id", None)
    if len(job.used) > 1:  # earlier instances were preempted and deleted on the way
        state.info(f"Instances used, in order: {', '.join(job.used)}.")
    if kept and ident is not None:
        state.info(f"Instance {ident} was kept (--keep). Delete it with: {delete_command} {ident}")
    elif job.unsure:
        if ident is not None:
            click.echo(f"warning: instance {ident} may still be running: {delete_command} {ident}",
                       err=True)  # fmt: skip
    elif ident is not None:
        state.info(f"Instance {ident} was deleted after {elapsed_text(seconds)}.")
    else:
        state.info("No instance is left running.")
    if cost:
        state.info(cost)
    if job.status is not None and job.status != 0:
        click.echo(f"error: the command exited with status {job.status}", err=True)


def run_options(func: Any) -> Any:
    """The options both ``run`` commands take: ``-- COMMAND...``, ``-i``,
    ``--max-runtime``, ``--out``, ``--keep``, ``--timeout`` and ``--poll-interval``."""
    options: List[Callable[[Any], Any]] = [
        click.argument("command", nargs=-1, type=click.UNPROCESSED, metavar="-- COMMAND..."),
        identity_option,
        click.option(
            "--max-runtime",
            type=click.FloatRange(min=0, min_open=True),
            metavar="S",
            help="Stop the command after S seconds (exit 124); the instance is deleted.",
        ),
        click.option(
            "--out",
            "outputs",
            multiple=True,
            metavar="PATH",
            help="A file or folder (relative to the working directory) to download "
            "after the command, to the same place here (repeatable).",
        ),
        click.option(
            "--keep", is_flag=True, help="Keep the instance afterwards (says how to delete it)."
        ),
        click.option(
            "--timeout",
            type=click.FloatRange(min=0, min_open=True),
            default=900.0,
            show_default=True,
            metavar="S",
            help="Give up waiting for the instance to answer SSH after S seconds.",
        ),
        click.option(
            "--poll-interval",
            type=click.FloatRange(min=0, min_open=True),
            default=2.0,
            show_default=True,
            metavar="S",
            help="Seconds between the first status polls.",
        ),
    ]
    for option in reversed(options):
        func = option(func)
    return func


def make_job(command: Tuple[str, ...], identity: Optional[str], max_runtime: Optional[float],
             outputs: Tuple[str, ...]) -> Job:  # fmt: skip
    """The :class:`Job` of a run started in the current directory."""
    root = Path.cwd()
    return Job(
        command=remote_command(command),
        key_path=os.path.expanduser(identity) if identity else None,
        max_runtime=max_runtime,
        outputs=list(outputs),
        local_root=root,
        remote_dir=root.name or "work",
    )


@contextlib.contextmanager
def kept(create: Callable[[], Any], wait: Callable[[Any], Any], job: Job) -> Iterator[Any]:
    """``--keep``: create and wait, and leave the instance as it is whatever happens (the
    report names it even when the wait was interrupted)."""
    job.instance = created = create()
    yield wait(created)
