"""``fluidstack atlas run``: a command on a new Atlas instance in the region (of --type,
or the smallest type with capacity), then the instance deleted. The steps are in
:mod:`fluidstack.cli.run`."""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Any, ContextManager, Iterator, List, Optional, Tuple

import click

from ..remote import require_ssh_extra, ssh_port_option
from ..run import Job, execute, kept, make_job, report, run_options
from ..run_preempt import PREEMPTED_STATES, Preemption, check_preempt_options, preempt_options
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
@preempt_options
@run_options
@pass_state
def atlas_run(
    state: CliState,
    instance_type: Optional[str],
    ssh_keys: Tuple[str, ...],
    ssh_port: Optional[int],
    preemptible: bool,
    on_preempt: str,
    sync_every: float,
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
    --max-runtime, 255 when SSH fails, 75 when a --preemptible instance was preempted
    and --on-preempt is fail, 130 on Ctrl-C, 143 on SIGTERM, 129 on SIGHUP).

    With --preemptible, the --out paths are synced every --sync-every seconds while the
    command runs; after a preemption, --on-preempt retry (or on-demand) deletes the
    instance, creates a new preemptible (or on-demand) one, uploads the working
    directory and the outputs synced so far, and starts COMMAND again with
    FLUIDSTACK_RESUME=1 and FLUIDSTACK_ATTEMPT=<n> in its environment.

    \b
    Examples:
      fluidstack atlas run --type h100-hgx-80gb.8x -- nvidia-smi
      fluidstack atlas run --out results -- python train.py
      fluidstack atlas run --preemptible --on-preempt retry --out ckpt -- python train.py
    """
    from .creation import build_user_data
    from .instances import ssh_client

    require_ssh_extra()
    check_preempt_options(preemptible, on_preempt, keep)
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
    spans: List[Span] = []

    def open_instance(preemptible: bool = preemptible) -> ContextManager[Any]:
        flavour = "preemptible " if preemptible else ""
        state.info(f"Creating a {flavour}{kind} instance and waiting for SSH ...")
        created = {**arguments, "preemptible": True} if preemptible else arguments
        manager: ContextManager[Any]
        if keep:
            manager = kept(
                lambda: atlas.instances.create(**created),
                lambda made: atlas.instances.wait(made.id, **waits),
                job,
            )
        else:
            manager = atlas.instances.disposable(**created, **waits)
        explained = _explain_silence(manager, atlas.ssh_port, port_given=_port_given(ssh_port))
        return _timed(explained, atlas, spans)

    def summary(job: Job, seconds: float, kept: bool) -> None:
        report(state, job, seconds, kept, atlas_cost(atlas, kind, spans, seconds),
               "fluidstack atlas instances delete")  # fmt: skip

    def is_preempted(instance: Any) -> bool:
        from fluidstack.core.errors import NotFoundError

        try:
            now = atlas.instances.get(instance.id)
        except NotFoundError:
            return False
        return bool(now.preemptible) and str(now.state) in PREEMPTED_STATES

    if not _valid_name(arguments["name"]):
        arguments["name"] = "run"
    body = Preemption(on_preempt, sync_every, is_preempted).body if preemptible else None
    execute(state, atlas.instances, job, open_instance, summary, keep, body=body)


Span = List[Any]
"""``[instance id, created (server time), deleted (server time) or None]``."""


@contextlib.contextmanager
def _timed(manager: ContextManager[Any], atlas: Any, spans: List[Span]) -> Iterator[Any]:
    """``manager``, noting its instance's life by the server's clock: from the create
    (the instance's ``fluidstack.created-at`` tag, the server's time) to the answer to
    its delete. What a run reports as its instances' time comes from these."""
    from fluidstack.atlas.spend import created_at_of
    from fluidstack.core.errors import InstanceFailedError

    entered = False
    try:
        with manager as instance:
            entered = True
            span: Span = [instance.id, created_at_of(instance.tags), None]
            spans.append(span)
            try:
                yield instance
            finally:
                span[2] = _server_now(atlas)
    except InstanceFailedError as exc:
        # Its wait ended (an error, a preemption): it existed, and was billed until the
        # manager deleted it on the way out, which it has done by now.
        if not entered and exc.instance is not None:
            tags = exc.instance.tags
            spans.append([exc.instance.id, created_at_of(tags), _server_now(atlas)])
        raise
    span[2] = _server_now(atlas)  # after the delete's answer


def _server_now(atlas: Any) -> Any:
    # Atlas has no public server_time() as the platform client has; its pipeline keeps
    # the latest Date the API sent, which is what a bill would be measured by.
    return atlas._pipeline.server_time()


def atlas_cost(atlas: Any, kind: str, spans: List[Span], seconds: float) -> str:
    """The cost line of an Atlas run: every instance's time from create to delete, by the
    server's clock, and what it cost at the profile's price for the type (Atlas
    publishes no prices)."""
    from ..render import money

    total = 0.0
    measured = [s for s in spans if s[1] is not None and s[2] is not None]
    for _, created, deleted in measured:
        total += max((deleted - created).total_seconds(), 0.0)
    if len(measured) != len(spans) or not spans:  # no tag (an old instance): the run's time
        return f"Atlas publishes no prices: {kind} ran for {elapsed_text(seconds)}."
    count = f"{len(spans)} instances" if len(spans) > 1 else "1 instance"
    ran = f"{count} of {kind} ran {elapsed_text(total)} ({total:.0f}s) in all, create to delete"
    prices = getattr(getattr(atlas.instances, "_scope", None), "prices", None) or {}
    price = prices.get(kind)
    if price is None:
        return f"Atlas publishes no prices: {ran}."
    cost = float(price) * total / 3600
    return f"Cost: {money(cost)} ({ran}, at the profile's {money(price)}/hour)."


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
