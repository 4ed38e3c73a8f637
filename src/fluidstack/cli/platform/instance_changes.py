"""``fluidstack instances create|wait|start|stop|rename``: the commands that change an
instance or wait for one (imported when one of them is named; see :mod:`.instances`)."""

from __future__ import annotations

import datetime as dt
import shlex
from typing import TYPE_CHECKING, Any, Dict, Optional, Tuple

import click

from ..resolve import platform_instance_id as by_name
from ..spend import to_duration
from ..ssh_config import after_change
from ..state import CliError, CliState, InputError, output_options, pass_state
from ..waiting import wait_for, wait_options
from .completion import complete_gpu_types, complete_instances, complete_os, complete_regions
from .instances import STATUSES, _show_instance, build_ssh_argv, instances

if TYPE_CHECKING:
    from fluidstack.platform.types.instances import InstanceResponse

__all__ = ["create_instance", "rename_instance", "start_instance", "stop_instance", "wait_instance"]


# -- create ------------------------------------------------------------------------


def _pick_ssh_key(state: CliState) -> str:
    keys = state.client.ssh_keys.list()
    if len(keys) == 1:
        state.info(f"Using SSH key {keys[0].name!r}.")
        return keys[0].name
    if not keys:
        raise InputError("your account has no SSH key: add one with `fluidstack ssh-keys add NAME`")
    names = ", ".join(k.name for k in keys)
    raise InputError(f"choose a key with --ssh-key (your keys: {names})")


def _plan_data(plan: Any) -> Dict[str, Any]:
    return {
        "options": [
            {
                "gpu_type": str(o.gpu_type),
                "gpu_count": o.gpu_count,
                "region": str(o.region),
                "price_per_gpu_hour": float(o.price_per_gpu_hour),
                "price_per_hour": float(o.price_per_hour),
            }
            for o in plan.options
        ]
    }


@instances.command("create")
@click.option(
    "--gpu-type",
    "gpu_types",
    multiple=True,
    metavar="TYPE",
    shell_complete=complete_gpu_types,
    help="GPU model, e.g. RTX_A5000_24GB (repeatable with --cheapest; see configurations list).",
)
@click.option(
    "--gpu-count",
    type=click.IntRange(min=1),
    default=None,
    metavar="N",
    help="Number of GPUs (default 1).",
)
@click.option(
    "--region",
    "regions",
    multiple=True,
    metavar="REGION",
    shell_complete=complete_regions,
    help="Region (default: any with capacity; repeatable with --cheapest).",
)
@click.option(
    "--os",
    "os_label",
    metavar="LABEL",
    shell_complete=complete_os,
    help="Operating system label (see `fluidstack templates list`).",
)
@click.option(
    "--ssh-key",
    metavar="NAME",
    help="Name of the SSH key to install (default: your only key).",
)
@click.option("--name", metavar="NAME", help="Instance name (default: generated).")
@click.option(
    "--lease",
    callback=to_duration,
    metavar="DURATION",
    help="Let it live this long (e.g. 4h): `instances sweep --expired` deletes it after.",
)
@click.option(
    "--cheapest",
    is_flag=True,
    help="Create the cheapest matching configuration that is in stock.",
)
@click.option(
    "--max-price",
    type=click.FloatRange(min=0, min_open=True),
    metavar="USD",
    help="Highest acceptable price per hour for the whole instance.",
)
@click.option(
    "--dry-run", is_flag=True, help="Print the options --cheapest would try; create nothing."
)
@click.option("--wait", is_flag=True, help="Wait until the instance is running.")
@wait_options
@output_options
@pass_state
def create_instance(
    state: CliState,
    gpu_types: Tuple[str, ...],
    gpu_count: Optional[int],
    regions: Tuple[str, ...],
    os_label: Optional[str],
    ssh_key: Optional[str],
    name: Optional[str],
    lease: Optional[dt.timedelta],
    cheapest: bool,
    max_price: Optional[float],
    dry_run: bool,
    wait: bool,
    timeout: float,
    poll_interval: float,
) -> None:
    """Create an instance; with --wait, wait until it runs and print how to connect.

    \b
    Examples:
      fluidstack instances create --gpu-type RTX_A5000_24GB --wait
      fluidstack instances create --gpu-type H100_PCIE_80GB --gpu-type A100_PCIE_80GB \\
          --cheapest --max-price 4 --dry-run
    """
    planned = cheapest or max_price is not None or dry_run
    if not planned:
        if not gpu_types:
            raise click.UsageError(
                "Missing option '--gpu-type' (or use --cheapest to pick one by price)."
            )
        if len(gpu_types) > 1:
            raise click.UsageError("--gpu-type can be repeated only with --cheapest.")
        if len(regions) > 1:
            raise click.UsageError("--region can be repeated only with --cheapest.")
    if dry_run and wait:
        raise click.UsageError("--dry-run creates nothing, so there is nothing to --wait for.")

    client = state.client
    if dry_run:
        plan = client.instances.launch(
            gpu_type=list(gpu_types) or None,
            ssh_key=ssh_key or "",
            gpu_count=gpu_count or 1,
            regions=list(regions) or None,
            max_price_per_hour=max_price,
            dry_run=True,
        )
        if not plan.options and state.output == "table":
            state.info("No configuration matches (see `fluidstack configurations list`).")
            return

        def plan_table() -> Any:
            from ..render import plan_table

            return plan_table(plan)

        state.emit(
            _plan_data(plan),
            table=plan_table,
            ids=[f"{o.gpu_type}:{o.gpu_count}:{o.region}" for o in plan.options],
        )
        return

    from fluidstack.core.errors import ApiError, NoCapacityError

    key_name = ssh_key or _pick_ssh_key(state)
    try:
        if planned:
            created = client.instances.launch(
                gpu_type=list(gpu_types) or None,
                ssh_key=key_name,
                gpu_count=gpu_count or 1,
                regions=list(regions) or None,
                max_price_per_hour=max_price,
                name=name,
                operating_system_label=os_label,
                lease=lease,
            )
        else:
            created = client.instances.create(
                gpu_type=gpu_types[0],
                ssh_key=key_name,
                name=name,
                gpu_count=gpu_count,
                operating_system_label=os_label,
                region=regions[0] if regions else None,
                lease=lease,
            )
    except NoCapacityError:
        state.info(
            "Nothing matched or everything was out of stock; see what is offered with "
            "`fluidstack configurations list` (it takes --gpu-type, --region, --max-price)."
        )
        raise
    except ApiError as exc:
        if exc.status_code in (400, 422):
            _raise_with_what_is_offered(state, exc)
        raise
    except ValueError as exc:  # a name too long to carry a lease, say
        raise InputError(str(exc)) from exc
    except KeyboardInterrupt:
        state.info(
            "\nInterrupted while creating: the instance may exist. "
            "Check with: fluidstack instances list"
        )
        click.get_current_context().exit(130)

    state.info(f"Created instance {created.id} ({created.name}, {created.gpu_type}).")
    if not wait:
        state.info(f"Wait until it is running with: fluidstack instances wait {created.id}")

        def table() -> Any:
            from ..render import key_value_table

            return key_value_table(
                [
                    ("ID", created.id),
                    ("Name", created.name),
                    ("GPU type", str(created.gpu_type)),
                    ("OS", str(created.operating_system_label or "-")),
                ]
            )

        state.emit(created, table=table, ids=[created.id])
        return

    instance = _wait(state, created.id, "running", timeout, poll_interval)
    _show_instance(state, instance)
    _connect_hint(state, instance)


def _raise_with_what_is_offered(state: CliState, exc: Exception) -> None:
    """After a refused GPU type or region: the server's status and field, then the one
    list of what the catalog offers instead of its enum of every name it knows (a 422
    lists 25 GPU types, most not offered). Returns when the refusal is about another field."""
    text = str(exc)
    field = next((f for f in ("gpu_type", "region") if f"{f}: " in text), None)
    try:
        configurations = state.client.configurations.list() if field else []
    except Exception:  # the list is a courtesy; the refusal is what gets reported
        return
    if field == "gpu_type":
        offered, what = sorted({str(c.gpu_type) for c in configurations}), "GPU types"
    elif field == "region":
        offered, what = sorted({str(r) for c in configurations for r in c.regions}), "regions"
    else:
        return
    raise CliError(
        f"{text.split(f'{field}: ')[0]}{field}: not offered. Offered {what}: "
        f"{', '.join(offered)}. (`fluidstack configurations list` shows prices.)"
    ) from None


# -- waiting -----------------------------------------------------------------------


def _wait(
    state: CliState, instance_id: str, until: str, timeout: float, poll_interval: float
) -> InstanceResponse:
    """Wait with a live status line; Ctrl-C leaves the instance alone and exits 130."""
    instance: InstanceResponse = wait_for(
        state,
        instance_id,
        until,
        lambda on_poll: state.client.instances.wait(
            instance_id, until=until, timeout=timeout, poll_interval=poll_interval, on_poll=on_poll
        ),
        "fluidstack instances",
    )
    return instance


def _connect_hint(state: CliState, instance: InstanceResponse, hint: bool = True) -> None:
    if hint and str(instance.status) == "running" and instance.ip_address:
        state.info(
            f"Connect with: {shlex.join(build_ssh_argv(instance, connect_timeout=False))}"
            f"  (or: fluidstack instances ssh {instance.id})"
        )
    after_change(state, "platform", instance if hint else None)  # ssh-config: `ssh fs-NAME`


@instances.command("wait")
@click.argument("instance_id", metavar="ID", shell_complete=complete_instances)
@click.option(
    "--until",
    type=click.Choice(STATUSES, case_sensitive=False),
    default="running",
    show_default=True,
    help="Status to wait for.",
)
@wait_options
@output_options
@pass_state
def wait_instance(
    state: CliState, instance_id: str, until: str, timeout: float, poll_interval: float
) -> None:
    """Wait until an instance reaches a status (default: running)."""
    instance = _wait(state, by_name(state, instance_id), until.lower(), timeout, poll_interval)
    _show_instance(state, instance)
    _connect_hint(state, instance)


# -- start / stop / rename ---------------------------------------------------------


def _after_action(
    state: CliState,
    instance: InstanceResponse,
    message: str,
    wait_until: Optional[str],
    timeout: float,
    poll_interval: float,
) -> None:
    state.info(message)
    if wait_until is not None:
        instance = _wait(state, instance.id, wait_until, timeout, poll_interval)
    _show_instance(state, instance)
    _connect_hint(state, instance, hint=wait_until == "running")


@instances.command("start")
@click.argument("instance_id", metavar="ID", shell_complete=complete_instances)
@click.option("--wait", is_flag=True, help="Wait until it is running.")
@wait_options
@output_options
@pass_state
def start_instance(
    state: CliState, instance_id: str, wait: bool, timeout: float, poll_interval: float
) -> None:
    """Start a stopped instance."""
    instance = state.client.instances.start(by_name(state, instance_id))
    _after_action(
        state,
        instance,
        f"Starting {instance.id} (status: {instance.status}).",
        "running" if wait else None,
        timeout,
        poll_interval,
    )


@instances.command("stop")
@click.argument("instance_id", metavar="ID", shell_complete=complete_instances)
@click.option("--wait", is_flag=True, help="Wait until it is stopped.")
@wait_options
@output_options
@pass_state
def stop_instance(
    state: CliState, instance_id: str, wait: bool, timeout: float, poll_interval: float
) -> None:
    """Stop a running instance (it then bills the lower stopped price)."""
    instance = state.client.instances.stop(by_name(state, instance_id))
    _after_action(
        state,
        instance,
        f"Stopping {instance.id} (status: {instance.status}).",
        "stopped" if wait else None,
        timeout,
        poll_interval,
    )


@instances.command("rename")
@click.argument("instance_id", metavar="ID", shell_complete=complete_instances)
@click.argument("name")
@output_options
@pass_state
def rename_instance(state: CliState, instance_id: str, name: str) -> None:
    """Give an instance a new name."""
    if not name.strip():
        raise click.BadParameter("must not be empty", param_hint="NAME")
    instance = state.client.instances.rename(by_name(state, instance_id), name)
    state.info(f"Renamed {instance.id} to {instance.name or name!r}.")
    state.emit(instance, table=None, ids=[instance.id])
    after_change(state, "platform")  # its fs-NAME alias follows the name
