"""``fluidstack run``: a command on a new instance of the platform API (the cheapest
offer, or --gpu-type), then the instance deleted. The steps are in :mod:`fluidstack.cli.run`."""

from __future__ import annotations

import contextlib
from typing import Any, ContextManager, Dict, Iterator, List, Optional, Tuple

import click

from ..remote import require_ssh_extra
from ..run import Job, execute, kept, make_job, report, run_options
from ..state import CliError, CliState, pass_state

__all__ = ["run"]


@click.command(context_settings={"ignore_unknown_options": True})
@click.option(
    "--gpu-type",
    "gpu_types",
    multiple=True,
    metavar="TYPE",
    help="Acceptable GPU type (repeatable; default: the cheapest of any type).",
)
@click.option("--gpu-count", type=click.IntRange(min=1), default=1, show_default=True)
@click.option("--region", "regions", multiple=True, metavar="REGION", help="Acceptable region.")
@click.option("--max-price", type=float, metavar="USD", help="Highest price per hour.")
@click.option("--ssh-key", metavar="NAME", help="Account SSH key (default: your only one).")
@click.option("--preemptible", "--on-preempt", "--sync-every", "preempt_option", hidden=True,
              is_flag=False, flag_value="", default=None, expose_value=True,
              help="Atlas only: the platform API has no preemptible instances.")  # fmt: skip
@run_options
@pass_state
def run(
    state: CliState,
    gpu_types: Tuple[str, ...],
    gpu_count: int,
    regions: Tuple[str, ...],
    max_price: Optional[float],
    ssh_key: Optional[str],
    preempt_option: Optional[str],
    command: Tuple[str, ...],
    identity: Optional[str],
    max_runtime: Optional[float],
    outputs: Tuple[str, ...],
    keep: bool,
    timeout: float,
    poll_interval: float,
) -> None:
    """Run a command on a new GPU instance, then delete it.

    Picks the cheapest offer (or --gpu-type), creates the instance, waits until SSH
    answers, uploads the working directory (minus what .gitignore ignores) to
    ~/<its name>, runs COMMAND there with its output streamed here, downloads the --out
    paths and deletes the instance, on success, failure, --max-runtime, Ctrl-C or a lost
    connection, and prints what it cost. Exits with the command's status (124 past
    --max-runtime, 255 when SSH fails, 130 on Ctrl-C, 143 on SIGTERM, 129 on SIGHUP).

    \b
    Examples:
      fluidstack run -- nvidia-smi
      fluidstack run --gpu-type H100_PCIE_80GB --out results -- python train.py
    """
    from fluidstack.core.errors import ApiError, NoCapacityError
    from fluidstack.platform.launch import is_out_of_stock

    from ..render import money
    from .instance_changes import _pick_ssh_key

    if preempt_option is not None:
        raise click.UsageError(
            "the platform API has no preemptible instances, so `fluidstack run` has no "
            "--preemptible, --on-preempt or --sync-every; `fluidstack atlas run` has them"
        )
    require_ssh_extra()
    job = make_job(command, identity, max_runtime, outputs)
    client = state.client
    key_name = ssh_key or _pick_ssh_key(state)
    plan = client.instances.launch(
        gpu_type=list(gpu_types) or None,
        ssh_key=key_name,
        gpu_count=gpu_count,
        regions=list(regions) or None,
        max_price_per_hour=max_price,
        dry_run=True,
    )
    if not plan.options:
        raise CliError(
            "no configuration in the catalog matches (see `fluidstack configurations list`)"
        )
    balance_before = client.user.get_balance().balance
    chosen: List[Any] = []

    def wait_args() -> Dict[str, Any]:
        return {"until": "ssh", "timeout": timeout, "poll_interval": poll_interval}

    @contextlib.contextmanager
    def open_instance() -> Iterator[Any]:
        for option in plan.options:
            state.info(
                f"Creating {option.gpu_count}x {option.gpu_type} in {option.region} "
                f"({money(option.price_per_hour)}/hour) and waiting for SSH ..."
            )
            arguments: Dict[str, Any] = {
                "gpu_type": option.gpu_type,
                "gpu_count": option.gpu_count,
                "region": option.region,
                "ssh_key": key_name,
            }
            manager: ContextManager[Any]
            if keep:
                manager = kept(
                    lambda a=arguments: client.instances.create(**a),  # type: ignore[misc]
                    lambda created: client.instances.wait(created.id, **wait_args()),
                    job,
                )
            else:
                manager = client.instances.ephemeral(**arguments, **wait_args())
            with contextlib.ExitStack() as stack:
                try:
                    instance = stack.enter_context(manager)
                except ApiError as exc:
                    if is_out_of_stock(exc):
                        state.info(f"{option.gpu_type} in {option.region} is out of stock.")
                        continue
                    raise
                chosen.append(option)
                yield instance
                return
        raise NoCapacityError("every matching offer is out of stock")

    def summary(job: Job, seconds: float, kept: bool) -> None:
        cost: Optional[str] = None
        try:
            after = client.user.get_balance().balance
        except ApiError:
            after = None
        if kept and job.instance is not None and chosen:
            cost = f"It costs {money(chosen[0].price_per_hour)}/hour while it runs."
        elif after is not None and job.instance is not None:
            spent = max(balance_before - after, 0)
            cost = f"Cost: {money(spent)} (what the account balance went down by meanwhile)."
        report(state, job, seconds, kept, cost, "fluidstack instances delete")

    execute(state, client.instances, job, open_instance, summary, keep)
