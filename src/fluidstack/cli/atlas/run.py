"""``fluidstack atlas run``: a command on a new Atlas instance in the region (of --type,
or the smallest type with capacity), then the instance deleted. The steps are in
:mod:`fluidstack.cli.run`."""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Any, ContextManager, Iterator, Optional, Tuple

import click

from ..remote import require_ssh_extra, ssh_port_option
from ..run import Job, execute, kept, make_job, report, run_options
from ..state import CliError, CliState, pass_state
from ..waiting import elapsed_text

__all__ = ["atlas_run"]


def _smallest_type(atlas: Any) -> str:
    """Atlas publishes no prices: the smallest type (fewest GPUs, then CPUs) that the
    region has capacity for stands in for the cheapest."""
    capacity = {c.name: c.capacity for c in atlas.capacity.list()}
    kinds = [k for k in atlas.instance_types.list() if capacity.get(k.name, 0) > 0]
    if not kinds:
        raise CliError("the region has no capacity for any instance type")
    kinds.sort(key=lambda k: (k.gpu_count or 0, k.cpu or 0, k.name))
    return str(kinds[0].name)


@click.command("run", context_settings={"ignore_unknown_options": True})
@click.option(
    "--type",
    "instance_type",
    metavar="TYPE",
    help="Instance type (default: the smallest with capacity).",
)
@click.option(
    "--ssh-key",
    "ssh_keys",
    multiple=True,
    type=click.Path(dir_okay=False, exists=True),
    metavar="FILE.pub",
    help="Public key allowed to log in (repeatable; default ~/.ssh/id_ed25519.pub or "
    "id_rsa.pub, if there).",
)
@ssh_port_option
@run_options
@pass_state
def atlas_run(
    state: CliState,
    instance_type: Optional[str],
    ssh_keys: Tuple[str, ...],
    ssh_port: Optional[int],
    command: Tuple[str, ...],
    identity: Optional[str],
    max_runtime: Optional[float],
    outputs: Tuple[str, ...],
    keep: bool,
    timeout: float,
    poll_interval: float,
) -> None:
    """Run a command on a new Atlas instance in the region, then delete it.

    Like `fluidstack run`: creates an instance of --type (default: the smallest type the
    region has capacity for; Atlas publishes no prices), waits until SSH answers,
    uploads the working directory (minus what .gitignore ignores) to ~/<its name>,
    runs COMMAND with its output streamed here, downloads the --out paths and deletes
    the instance whatever happens. Exits with the command's status (124 past
    --max-runtime, 255 when SSH fails, 130 on Ctrl-C, 143 on SIGTERM, 129 on SIGHUP).

    \b
    Examples:
      fluidstack atlas run --type h100-hgx-80gb.8x -- nvidia-smi
      fluidstack atlas run --out results -- python train.py
    """
    from .creation import build_user_data
    from .instances import ssh_client

    require_ssh_extra()
    job = make_job(command, identity, max_runtime, outputs)
    atlas = ssh_client(state, ssh_port)
    keys = list(ssh_keys)
    if not keys:
        for name in ("id_ed25519.pub", "id_rsa.pub"):
            candidate = Path.home() / ".ssh" / name
            if candidate.exists():
                keys.append(str(candidate))
                break
    if not keys:
        state.info(
            "No --ssh-key: only the keys registered with `fluidstack atlas keys create` can log in."
        )
    user_data = build_user_data(None, keys) if keys else None
    kind = instance_type or _smallest_type(atlas)
    if instance_type is None:
        state.info(
            f"Using {kind}, the smallest type with capacity here (Atlas publishes no prices)."
        )
    arguments = {
        "type": kind,
        "user_data": user_data,
        "name": f"run-{Path.cwd().name or 'work'}"[:60],
    }
    waits = {"until": "ssh", "timeout": timeout, "poll_interval": poll_interval}

    def open_instance() -> ContextManager[Any]:
        state.info(f"Creating a {kind} instance and waiting for SSH ...")
        manager: ContextManager[Any]
        if keep:
            manager = kept(
                lambda: atlas.instances.create(**arguments),
                lambda created: atlas.instances.wait(created.id, **waits),
                job,
            )
        else:
            manager = atlas.instances.disposable(**arguments, **waits)
        return _explain_silence(manager, atlas.ssh_port, port_given=_port_given(ssh_port))

    def summary(job: Job, seconds: float, kept: bool) -> None:
        cost = f"Atlas publishes no prices: {kind} ran for {elapsed_text(seconds)}."
        report(state, job, seconds, kept, cost, "fluidstack atlas instances delete")

    if not _valid_name(arguments["name"]):
        arguments["name"] = "run"
    execute(state, atlas.instances, job, open_instance, summary, keep)


def _port_given(option: Optional[int]) -> bool:
    import os

    from ..remote import ENV_SSH_PORT

    return option is not None or bool(os.environ.get(ENV_SSH_PORT))


@contextlib.contextmanager
def _explain_silence(manager: ContextManager[Any], port: int, port_given: bool) -> Iterator[Any]:
    """``manager``, whose wait for SSH, if it times out on a running instance, says why
    that may be: Atlas reports no SSH port, so a wrong one is the usual cause (the
    emulator's instances answer on its ``--ssh-port``, 2222 by default)."""
    from fluidstack.core.errors import WaitTimeoutError

    with contextlib.ExitStack() as stack:
        try:
            instance = stack.enter_context(manager)
        except WaitTimeoutError as exc:
            seen = exc.instance
            if seen is None or str(getattr(seen, "state", "")) != "running":
                raise
            where = f"{seen.ip}:{port}" if getattr(seen, "ip", None) else f"port {port}"
            origin = "" if port_given else " (the default: Atlas reports no SSH port)"
            raise WaitTimeoutError(
                f"{exc} -- the instance is running but nothing answered SSH at {where}"
                f"{origin}. Give the port its instances answer on with --ssh-port or "
                "$FLUIDSTACK_SSH_PORT; the emulator's is its --ssh-port (default 2222), "
                "and only an emulator started with --ssh has instances to log into.",
                instance=seen,
            ) from None
        yield instance


def _valid_name(name: object) -> bool:
    import re

    return isinstance(name, str) and re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]*", name) is not None
