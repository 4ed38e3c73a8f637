"""``fluidstack atlas slurm submit|run|jobs|logs|cancel``: Slurm jobs on a managed
cluster, through :attr:`atlas.slurm.jobs` (SSH to its first login node, Slurm's own
commands there). ``run`` is submit + follow the log + outputs back, exiting with the
job's exit code.

Only Click is imported at module level: ``fluidstack --help`` stays fast.
"""

from __future__ import annotations

import contextlib
import os
import sys
import warnings
from pathlib import Path
from typing import Any, ContextManager, Dict, Iterator, List, Optional, Sequence, Tuple

import click

from ..remote import (
    REFUSED_HINT,
    identity_option,
    remote_command,
    require_ssh_extra,
    ssh_port_option,
)
from ..remote import ssh_errors as _any_ssh_errors
from ..state import (
    CliError,
    CliState,
    InputError,
    output_options,
    pass_state,
    stdin_is_terminal,
)
from .completion import complete_clusters
from .orchestrators import Kind, cluster_id, explained

__all__ = ["add_job_commands", "job_exit_status"]

KIND = Kind("slurm", "Slurm")
EXIT_TIMEOUT = 124
"""A job that ran past its time limit (``TIMEOUT``) exits as ``timeout(1)`` does."""
EXIT_INTERRUPTED = 130

_LOGIN_KEYS = (
    "a login node lets in the keys registered with `fluidstack atlas keys create` "
    f"before it first booted; or {REFUSED_HINT}"
)


def ssh_errors() -> ContextManager[None]:
    """:func:`~fluidstack.cli.remote.ssh_errors`, a refused login saying which keys a
    login node lets in (not the instance's own, as for an instance)."""
    return _any_ssh_errors(refused=_LOGIN_KEYS)


_cluster_argument = click.argument(
    "cluster", metavar="CLUSTER", shell_complete=complete_clusters("slurm")
)


def job_exit_status(job: Any) -> int:
    """The exit status a finished job gives this command: its own exit code; 128 + N
    when signal N ended it; 124 for ``TIMEOUT``; 1 for any other state but
    ``COMPLETED`` that carries no code (``CANCELLED``, ``NODE_FAIL``, ...)."""
    if job.exit_code:
        return int(job.exit_code)
    if job.signal:
        return 128 + int(job.signal)
    state = str(job.state)
    if state == "COMPLETED":
        return 0
    return EXIT_TIMEOUT if state == "TIMEOUT" else 1


def _jobs(
    state: CliState, cluster: str, port: Optional[int], identity: Optional[str]
) -> Tuple[Any, str]:
    """The SDK's ``atlas.slurm.jobs`` with this command's SSH settings, and the
    cluster's id (CLUSTER may be a name)."""
    from .instances import ssh_client

    require_ssh_extra()
    atlas = ssh_client(state, port)
    ident = cluster_id(state, KIND, cluster)
    with explained(state, KIND, ident):
        atlas.slurm.jobs.login_target(ident)  # the cluster exists and has a login node
    key = os.path.expanduser(identity) if identity else None
    return atlas.slurm.jobs.with_ssh(key_path=key), ident


def _env(pairs: Sequence[str]) -> Dict[str, str]:
    found = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise click.BadParameter(f"{pair!r} is not KEY=VALUE", param_hint="--env")
        found[key] = value
    return found


@contextlib.contextmanager
def _submission() -> Iterator[None]:
    """SSH failures as ``ssh_errors`` reports them; what the SDK refuses before sending
    anything (a missing script, a bad ``--env`` name) as a usage error, exit 2."""
    try:
        with ssh_errors():
            yield
    except FileNotFoundError as exc:
        raise InputError(str(exc)) from exc
    except ValueError as exc:
        raise click.UsageError(str(exc)) from exc


def _job_table(jobs: Sequence[Any]) -> Any:
    from ..render import simple_table

    rows = [
        [
            j.id,
            j.name or "-",
            str(j.state),
            j.user or "-",
            j.partition or "-",
            j.node_list or (f"({j.reason})" if j.reason else "-"),
        ]
        for j in jobs
    ]
    return simple_table(["JOB", "NAME", "STATE", "USER", "PARTITION", "NODES"], rows)


def _follow(state: CliState, jobs: Any, ident: str, job_id: str) -> None:
    """Print the job's log as it is written, until the job ends."""
    for line in jobs.logs(ident, job_id, follow=True):
        click.echo(line)
    sys.stdout.flush()


def _interrupted(state: CliState, jobs: Any, ident: str, job_id: str) -> None:
    """Ctrl-C while following: ask whether to cancel the job (off a terminal: cancel),
    then exit 130."""
    click.echo("", err=True)
    cancel = True
    if stdin_is_terminal():
        cancel = click.confirm(f"Cancel Slurm job {job_id}?", default=True, err=True)
    if cancel:
        with ssh_errors():
            jobs.cancel(ident, job_id)
        state.info(f"Cancelled Slurm job {job_id}.")
    else:
        state.info(
            f"Slurm job {job_id} goes on. Follow it with: fluidstack atlas slurm logs "
            f"{ident} {job_id} -f"
        )
    click.get_current_context().exit(EXIT_INTERRUPTED)


def _follow_to_end(state: CliState, jobs: Any, ident: str, job_id: str) -> Any:
    """Follow the log, then the finished job (Ctrl-C: see :func:`_interrupted`)."""
    try:
        with ssh_errors():
            _follow(state, jobs, ident, job_id)
            return jobs.wait(ident, job_id)
    except KeyboardInterrupt:
        _interrupted(state, jobs, ident, job_id)
        raise  # not reached: _interrupted exits


def _download(state: CliState, jobs: Any, ident: str, job_id: str, local: Path) -> None:
    with warnings.catch_warnings(record=True) as caught, ssh_errors():
        warnings.simplefilter("always")
        copied = jobs.download(ident, job_id, local=local)
    for warning in caught:
        state.warn(str(warning.message))
    if copied:
        shown = ", ".join(copied[:5]) + (f" and {len(copied) - 5} more" if len(copied) > 5 else "")
        files = "1 file" if len(copied) == 1 else f"{len(copied)} files"
        state.info(f"Downloaded {files} into {local}: {shown}.")


def _submit_options(func: Any) -> Any:
    for option in reversed(
        [
            click.option(
                "--sync",
                "sync_dir",
                type=click.Path(file_okay=False, exists=True),
                default=".",
                show_default=True,
                metavar="DIR",
                help="Local directory copied to the login node (minus what "
                ".gitignore ignores); the job runs in that copy.",
            ),
            click.option(
                "--no-sync", is_flag=True, help="Copy nothing: run in the home directory."
            ),
            click.option("--name", metavar="NAME", help="The job's name."),
            click.option("--nodes", type=click.IntRange(min=1), metavar="N", help="--nodes."),
            click.option(
                "--time",
                "time_limit",
                metavar="TIME",
                help="Time limit, as Slurm takes it (60, 1:00:00, 2-00).",
            ),
            click.option("--partition", metavar="P", help="Partition (default: the cluster's)."),
            click.option(
                "--env",
                "env_pairs",
                multiple=True,
                metavar="KEY=VALUE",
                help="An environment variable for the job (repeatable).",
            ),
            identity_option,
            ssh_port_option,
        ]
    ):
        func = option(func)
    return func


def add_job_commands(group: click.Group) -> None:
    """Add ``submit``, ``run``, ``jobs``, ``logs`` and ``cancel`` to ``slurm``."""

    @group.command("submit")
    @_cluster_argument
    @click.argument("script", type=click.Path(dir_okay=False))
    @_submit_options
    @click.option("--gpus", "--gpus-per-node", "gpus", type=click.IntRange(min=1), metavar="N",
                  help="GPUs per node (--gpus-per-node).")  # fmt: skip
    @click.option("-f", "--follow", is_flag=True,
                  help="Print the job's log until it ends; exit with its exit code.")  # fmt: skip
    @output_options
    @pass_state
    def submit(state: CliState, cluster: str, script: str, sync_dir: str, no_sync: bool,
               name: Optional[str], nodes: Optional[int], time_limit: Optional[str],
               partition: Optional[str], env_pairs: Sequence[str], identity: Optional[str],
               ssh_port: Optional[int], gpus: Optional[int], follow: bool) -> None:  # fmt: skip
        """Submit a batch script to a Slurm cluster (sbatch on its login node).

        The directory of --sync (default: here) is copied to ~/fluidstack/<its name> on
        the login node first, and the job runs there; SCRIPT is a file (relative to
        that directory or here). Its #SBATCH lines apply; the options override them.

        \b
        Examples:
          fluidstack atlas slurm submit hpc train.sbatch
          fluidstack atlas slurm submit hpc train.sbatch --nodes 2 --gpus 8 --follow
        """
        jobs, ident = _jobs(state, cluster, ssh_port, identity)
        with _submission():
            job = jobs.submit(ident, script, workdir=sync_dir, sync=not no_sync, name=name,
                              nodes=nodes, gpus_per_node=gpus, time=time_limit,
                              partition=partition, env=_env(env_pairs))  # fmt: skip
        state.info(f"Submitted Slurm job {job.id} to cluster {ident}.")
        if not follow:
            state.emit(job, table=lambda: _job_table([job]), ids=[job.id])
            return
        done = _follow_to_end(state, jobs, ident, job.id)
        state.info(f"Slurm job {job.id} ended {done.state} (exit code {done.exit_code}).")
        click.get_current_context().exit(job_exit_status(done))

    @group.command("run", context_settings={"ignore_unknown_options": True})
    @_cluster_argument
    @click.argument("command", nargs=-1, required=True, type=click.UNPROCESSED)
    @_submit_options
    @click.option("--gpus", "gpus", type=click.IntRange(min=1), metavar="N",
                  help="GPUs per node (--gpus-per-node).")  # fmt: skip
    @click.option("--no-download", is_flag=True, help="Leave the outputs on the cluster.")
    @pass_state
    def run(state: CliState, cluster: str, command: Tuple[str, ...], sync_dir: str,
            no_sync: bool, name: Optional[str], nodes: Optional[int], time_limit: Optional[str],
            partition: Optional[str], env_pairs: Sequence[str], identity: Optional[str],
            ssh_port: Optional[int], gpus: Optional[int], no_download: bool) -> None:  # fmt: skip
        """Run a command as a Slurm job: submit it, print its log as it runs, copy its
        outputs back, and exit with its exit code.

        The directory of --sync (default: here) is copied to the login node, the job
        runs in the copy, and the files it wrote there come back into it. Ctrl-C asks
        whether to cancel the job (without a terminal: cancels it).

        \b
        Examples:
          fluidstack atlas slurm run hpc -- python -c 'print(6*7)'
          fluidstack atlas slurm run hpc --nodes 2 --gpus 8 -- torchrun train.py
        """
        line = remote_command(command)
        jobs, ident = _jobs(state, cluster, ssh_port, identity)
        with _submission():
            job = jobs.submit(ident, command=line, workdir=sync_dir, sync=not no_sync,
                              name=name, nodes=nodes, gpus_per_node=gpus, time=time_limit,
                              partition=partition, env=_env(env_pairs))  # fmt: skip
        state.info(f"Submitted Slurm job {job.id} to cluster {ident}: {line}")
        done = _follow_to_end(state, jobs, ident, job.id)
        if not no_sync and not no_download:
            _download(state, jobs, ident, job.id, Path(sync_dir))
        status = job_exit_status(done)
        if status:
            state.warn(f"Slurm job {job.id} ended {done.state} (exit code {done.exit_code}).")
        click.get_current_context().exit(status)

    @group.command("jobs")
    @_cluster_argument
    @click.option("--all", "everyone", is_flag=True, help="Every user's jobs, not only yours.")
    @identity_option
    @ssh_port_option
    @output_options
    @pass_state
    def list_jobs(state: CliState, cluster: str, everyone: bool, identity: Optional[str],
                  ssh_port: Optional[int]) -> None:  # fmt: skip
        """List the jobs of a Slurm cluster: pending, running and recently finished
        (yours; --all for everyone's)."""
        jobs, ident = _jobs(state, cluster, ssh_port, identity)
        with ssh_errors():
            found: List[Any] = jobs.list(ident, mine=not everyone)
        if not found and state.output == "table":
            state.info(f"No jobs. Submit one with: fluidstack atlas slurm run {cluster} -- CMD")
            return
        state.emit(found, table=lambda: _job_table(found), ids=[j.id for j in found])

    @group.command("logs")
    @_cluster_argument
    @click.argument("job")
    @click.option("-f", "--follow", is_flag=True, help="Keep printing until the job ends.")
    @identity_option
    @ssh_port_option
    @pass_state
    def logs(state: CliState, cluster: str, job: str, follow: bool, identity: Optional[str],
             ssh_port: Optional[int]) -> None:  # fmt: skip
        """Print a Slurm job's output (its slurm-<id>.out); -f follows it to the end."""
        jobs, ident = _jobs(state, cluster, ssh_port, identity)
        if not follow:
            _found(jobs, ident, job)
        try:  # -f looks the job up over the connection it follows with: one login
            with ssh_errors(), _job_errors():
                for line in jobs.logs(ident, job, follow=follow):
                    click.echo(line)
        except KeyboardInterrupt:  # stop following; the job goes on
            click.get_current_context().exit(EXIT_INTERRUPTED)

    @group.command("cancel")
    @_cluster_argument
    @click.argument("job")
    @identity_option
    @ssh_port_option
    @pass_state
    def cancel(state: CliState, cluster: str, job: str, identity: Optional[str],
               ssh_port: Optional[int]) -> None:  # fmt: skip
        """Cancel a Slurm job (scancel): a pending one never starts, a running one is
        stopped."""
        jobs, ident = _jobs(state, cluster, ssh_port, identity)
        _found(jobs, ident, job)
        with ssh_errors():
            jobs.cancel(ident, job)
        state.info(f"Cancelled Slurm job {job}.")


def _found(jobs: Any, ident: str, job: str) -> Any:
    with ssh_errors(), _job_errors():
        return jobs.get(ident, job)


@contextlib.contextmanager
def _job_errors() -> Iterator[None]:
    """A JOB that is no Slurm job id: a usage error; one Slurm does not know: an error."""
    from fluidstack.core.errors import NotFoundError

    try:
        yield
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="JOB") from exc
    except NotFoundError as exc:
        raise CliError(str(exc)) from exc
