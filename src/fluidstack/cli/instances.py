"""``fluidstack instances``: list, inspect, create, wait for, connect to and delete instances."""

from __future__ import annotations

import datetime as dt
import os
import shlex
from typing import TYPE_CHECKING, Any, Dict, List, Optional, Sequence, Tuple

import click

from .remote import (
    Endpoint,
    copy_and_report,
    exec_and_exit,
    exec_timeout_option,
    identity_option,
    ssh_argv,
    system_ssh,
)
from .spend import run_sweep, sweep_options, to_duration
from .state import (
    AliasedGroup,
    CliError,
    CliState,
    InputError,
    confirm_or_require_yes,
    output_options,
    pass_state,
)
from .waiting import wait_for, wait_options

if TYPE_CHECKING:
    from fluidstack.types.instances import InstanceResponse

__all__ = ["build_ssh_argv", "instances"]

STATUSES = (
    "pending",
    "provisioning",
    "starting",
    "running",
    "stopping",
    "stopped",
    "terminated",
    "failed",
    "unhealthy",
    "shutting_down",
)


def _complete_gpu_types(ctx: click.Context, param: click.Parameter, incomplete: str) -> List[str]:
    from fluidstack.types.enums import GPUType

    return [g.value for g in GPUType if g.value.lower().startswith(incomplete.lower())]


def _complete_regions(ctx: click.Context, param: click.Parameter, incomplete: str) -> List[str]:
    from fluidstack.types.enums import Region

    return [r.value for r in Region if r.value.lower().startswith(incomplete.lower())]


def _complete_os(ctx: click.Context, param: click.Parameter, incomplete: str) -> List[str]:
    from fluidstack.types.enums import SupportedOperatingSystem

    return [o.value for o in SupportedOperatingSystem if o.value.startswith(incomplete)]


def _complete_instance_ids(ctx: click.Context, param: click.Parameter, incomplete: str) -> Any:
    """Instance ids from the API (with name and status as help); nothing on any error."""
    from click.shell_completion import CompletionItem

    try:
        found = _completion_client(ctx).instances.list()
    except Exception:
        return []
    return [
        CompletionItem(i.id, help=f"{i.name or ''} ({i.status})")
        for i in found
        if i.id.startswith(incomplete)
    ]


def _completion_client(ctx: click.Context) -> Any:
    """A short-lived, impatient client built from the root options seen so far."""
    from fluidstack.client import FluidStack

    from .config import resolve

    params = ctx.find_root().params
    settings = resolve(
        api_key=params.get("api_key"),
        base_url=params.get("base_url"),
        profile=params.get("profile"),
    )
    if settings.api_key is None:
        raise LookupError("no API key")
    client = FluidStack(
        api_key=settings.api_key, base_url=settings.base_url, timeout=3.0, max_retries=0
    )
    ctx.call_on_close(client.close)
    return client


@click.group(cls=AliasedGroup)
def instances() -> None:
    """Create, inspect, connect to and delete GPU instances."""


# -- list / get --------------------------------------------------------------------


@instances.command("list")
@click.option(
    "-a", "--all", "show_all", is_flag=True, help="Include instances that failed to provision."
)
@click.option(
    "--status",
    "statuses",
    multiple=True,
    type=click.Choice(STATUSES, case_sensitive=False),
    help="Only instances in this status (repeatable).",
)
@output_options
@pass_state
def list_instances(state: CliState, show_all: bool, statuses: Tuple[str, ...]) -> None:
    """List your instances with their status, address and hourly cost."""
    found = list(state.client.instances.iter(include_failed_instances=show_all or None))
    if statuses:
        wanted = {s.lower() for s in statuses}
        found = [i for i in found if str(i.status) in wanted]
    if not found and state.output == "table":
        state.info(
            "No instances. Create one with: fluidstack instances create --gpu-type TYPE"
            " (see `fluidstack configurations list`)."
        )
        return

    def table() -> Any:
        from decimal import Decimal

        from fluidstack.cost import instance_cost

        from .render import instance_table, money

        rendered = instance_table(found)
        burn = sum((instance_cost(i).hourly or Decimal(0) for i in found), Decimal(0))
        rendered.caption = (
            f"{len(found)} instance{'s' if len(found) != 1 else ''}, {money(burn)}/hour in total"
        )
        return rendered

    state.emit(found, table=table, ids=[i.id for i in found])


def _show_instance(state: CliState, instance: InstanceResponse) -> None:
    def table() -> Any:
        from .render import instance_detail

        return instance_detail(instance, state.client.server_time())

    state.emit(instance, table=table, ids=[instance.id])


@instances.command("get")
@click.argument("instance_id", metavar="ID", shell_complete=_complete_instance_ids)
@output_options
@pass_state
def get_instance(state: CliState, instance_id: str) -> None:
    """Show one instance: status, hardware, address, SSH command and cost."""
    _show_instance(state, state.client.instances.get(instance_id))


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


def _plan_table(plan: Any) -> Any:
    from .render import money, simple_table

    return simple_table(
        ["#", "GPU TYPE", "GPUS", "REGION", "$/GPU-HOUR", "$/HOUR"],
        [
            [
                str(n),
                str(o.gpu_type),
                str(o.gpu_count),
                str(o.region),
                money(o.price_per_gpu_hour),
                money(o.price_per_hour),
            ]
            for n, o in enumerate(plan.options, start=1)
        ],
    )


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
    shell_complete=_complete_gpu_types,
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
    shell_complete=_complete_regions,
    help="Region (default: any with capacity; repeatable with --cheapest).",
)
@click.option(
    "--os",
    "os_label",
    metavar="LABEL",
    shell_complete=_complete_os,
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
        state.emit(
            _plan_data(plan),
            table=lambda: _plan_table(plan),
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
        if exc.status_code in (400, 422) and "gpu_type" in str(exc).lower():
            _say_what_is_offered(state)
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
            from .render import key_value_table

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


def _say_what_is_offered(state: CliState) -> None:
    """After a refused GPU type: the types the catalog offers (not every known name)."""
    try:
        offered = sorted({str(c.gpu_type) for c in state.client.configurations.list()})
    except Exception:  # the hint is a courtesy; the refusal is what gets reported
        return
    state.info(f"Offered GPU types: {', '.join(offered)}.")


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


def _connect_hint(state: CliState, instance: InstanceResponse) -> None:
    if str(instance.status) == "running" and instance.ip_address:
        state.info(
            f"Connect with: {shlex.join(build_ssh_argv(instance, connect_timeout=False))}"
            f"  (or: fluidstack instances ssh {instance.id})"
        )


@instances.command("wait")
@click.argument("instance_id", metavar="ID", shell_complete=_complete_instance_ids)
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
    instance = _wait(state, instance_id, until.lower(), timeout, poll_interval)
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
    if wait_until == "running":
        _connect_hint(state, instance)


@instances.command("start")
@click.argument("instance_id", metavar="ID", shell_complete=_complete_instance_ids)
@click.option("--wait", is_flag=True, help="Wait until it is running.")
@wait_options
@output_options
@pass_state
def start_instance(
    state: CliState, instance_id: str, wait: bool, timeout: float, poll_interval: float
) -> None:
    """Start a stopped instance."""
    instance = state.client.instances.start(instance_id)
    _after_action(
        state,
        instance,
        f"Starting {instance.id} (status: {instance.status}).",
        "running" if wait else None,
        timeout,
        poll_interval,
    )


@instances.command("stop")
@click.argument("instance_id", metavar="ID", shell_complete=_complete_instance_ids)
@click.option("--wait", is_flag=True, help="Wait until it is stopped.")
@wait_options
@output_options
@pass_state
def stop_instance(
    state: CliState, instance_id: str, wait: bool, timeout: float, poll_interval: float
) -> None:
    """Stop a running instance (it then bills the lower stopped price)."""
    instance = state.client.instances.stop(instance_id)
    _after_action(
        state,
        instance,
        f"Stopping {instance.id} (status: {instance.status}).",
        "stopped" if wait else None,
        timeout,
        poll_interval,
    )


@instances.command("rename")
@click.argument("instance_id", metavar="ID", shell_complete=_complete_instance_ids)
@click.argument("name")
@output_options
@pass_state
def rename_instance(state: CliState, instance_id: str, name: str) -> None:
    """Give an instance a new name."""
    if not name.strip():
        raise click.BadParameter("must not be empty", param_hint="NAME")
    instance = state.client.instances.rename(instance_id, name)
    state.info(f"Renamed {instance.id} to {instance.name or name!r}.")
    state.emit(instance, table=None, ids=[instance.id])


# -- delete ------------------------------------------------------------------------


@instances.command("delete")
@click.argument(
    "instance_ids",
    metavar="ID...",
    nargs=-1,
    required=True,
    shell_complete=_complete_instance_ids,
)
@click.option("-y", "--yes", is_flag=True, help="Do not ask for confirmation.")
@click.option(
    "--wait",
    is_flag=True,
    help="Return only once each is terminated, sending the delete again if it did not take.",
)
@wait_options
@output_options
@pass_state
def delete_instances(
    state: CliState,
    instance_ids: Tuple[str, ...],
    yes: bool,
    wait: bool,
    timeout: float,
    poll_interval: float,
) -> None:
    """Delete (terminate) instances. Asks first unless --yes."""
    from fluidstack.core.errors import ApiError

    ids = list(dict.fromkeys(instance_ids))
    what = f"instance {ids[0]}" if len(ids) == 1 else f"{len(ids)} instances ({', '.join(ids)})"
    confirm_or_require_yes(
        state, f"Delete {what}? This cannot be undone.", yes, "nothing was deleted"
    )
    deleted: List[str] = []
    failed: List[Dict[str, Any]] = []
    for instance_id in ids:
        try:
            if wait:
                state.client.instances.delete(
                    instance_id, wait=True, timeout=timeout, poll_interval=poll_interval
                )
            else:
                state.client.instances.delete(instance_id)
        except ApiError as exc:
            failed.append({"id": instance_id, "error": str(exc), "status_code": exc.status_code})
            click.echo(f"error: {instance_id}: {exc}", err=True)
            continue
        deleted.append(instance_id)
        state.info(f"{'Terminated' if wait else 'Deleted'} instance {instance_id}.")
    if state.output != "table" or state.quiet:
        state.emit({"deleted": deleted, "failed": failed}, ids=deleted)
    if failed:
        click.get_current_context().exit(1)


@instances.command("sweep")
@sweep_options(STATUSES)
@output_options
@pass_state
def sweep_instances(state: CliState, /, **options: Any) -> None:
    """List the instances nobody meant to keep, with their cost so far; delete them
    with --yes. Every criterion given must hold; at least one is required.

    \b
    Examples:
      fluidstack instances sweep --older-than 2d --name-prefix ci-
      fluidstack instances sweep --status stopped --older-than 1w --yes
      fluidstack instances sweep --expired --watch          # the reaper (docs/guides.md)
    """
    run_sweep(state, state.client.instances.sweep, options, "fluidstack instances sweep")


# -- ssh ---------------------------------------------------------------------------


SSH_CONNECT_TIMEOUT = 15
"""Seconds ssh may take to connect."""

_DOCUMENTATION_NETWORKS = ("192.0.2.0/24", "198.51.100.0/24", "203.0.113.0/24")
"""RFC 5737 addresses: reserved for examples, never reachable (the emulator's)."""


def _unreachable(address: str) -> bool:
    import ipaddress

    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in ipaddress.ip_network(net) for net in _DOCUMENTATION_NETWORKS)


def build_ssh_argv(
    instance: InstanceResponse,
    identity: Optional[str] = None,
    extra: Sequence[str] = (),
    connect_timeout: bool = True,
) -> List[str]:
    """``["ssh", "-o", "ConnectTimeout=15", (host-key options), "-p", port, ("-i", key),
    "user@address", *extra]`` for ``instance`` (``connect_timeout=False`` leaves the
    ``-o`` options out, for a hint)."""
    return ssh_argv(_endpoint(instance), identity, extra, connect_timeout)


def _endpoint(instance: InstanceResponse) -> Endpoint:
    if not instance.ip_address:
        raise CliError(
            f"instance {instance.id} has no address yet (status: {instance.status}); "
            f"wait for it with: fluidstack instances wait {instance.id}"
        )
    try:
        port = int(instance.ssh_port or 22)
    except ValueError:
        port = 22
    return Endpoint(instance.id, instance.ip_address, port, instance.username or "ubuntu")


@instances.command("ssh")
@click.argument("instance_id", metavar="ID", shell_complete=_complete_instance_ids)
@click.argument("ssh_args", nargs=-1, type=click.UNPROCESSED, metavar="[-- SSH ARGS...]")
@click.option(
    "-i",
    "--identity",
    type=click.Path(dir_okay=False, exists=True, resolve_path=False),
    metavar="KEY",
    help="Private key file for ssh -i.",
)
@click.option("--print", "print_only", is_flag=True, help="Print the ssh command; do not run it.")
@pass_state
def ssh_instance(
    state: CliState,
    instance_id: str,
    ssh_args: Tuple[str, ...],
    identity: Optional[str],
    print_only: bool,
) -> None:
    """Connect to an instance with ssh (its user, address and port).

    \b
    Examples:
      fluidstack instances ssh ID
      fluidstack instances ssh ID -i ~/.ssh/work_key -- -L 8888:localhost:8888
      fluidstack instances ssh ID --print
    """
    instance = state.client.instances.get(instance_id)
    argv = build_ssh_argv(instance, os.path.expanduser(identity) if identity else None, ssh_args)
    if str(instance.status) != "running":
        state.warn(f"instance {instance.id} is {instance.status}, not running")
    if print_only:
        click.echo(shlex.join(argv))
        return
    if instance.ip_address and _unreachable(instance.ip_address):
        raise CliError(
            f"instance {instance.id} has the documentation address {instance.ip_address} "
            "(RFC 5737), which no network reaches: the emulator's instances cannot be "
            "logged into yet. `--print` shows the command a real instance would take."
        )
    system_ssh(state, argv, state.client.close)


@instances.command("exec", context_settings={"ignore_unknown_options": True})
@click.argument("instance_id", metavar="ID", shell_complete=_complete_instance_ids)
@click.argument("command", nargs=-1, type=click.UNPROCESSED, metavar="-- COMMAND...")
@identity_option
@exec_timeout_option
@pass_state
def exec_instance(
    state: CliState,
    instance_id: str,
    command: Tuple[str, ...],
    identity: Optional[str],
    timeout: Optional[float],
) -> None:
    """Run a command on an instance over SSH: its output streams here, and this exits
    with its exit status (255 when SSH itself fails).

    \b
    Examples:
      fluidstack instances exec ID -- nvidia-smi
      fluidstack instances exec ID -- 'cd work && python train.py'
    """
    exec_and_exit(state.client.instances, instance_id, command, identity, timeout)


@instances.command("cp")
@click.argument("source", metavar="SOURCE")
@click.argument("destination", metavar="DEST")
@identity_option
@pass_state
def copy_files(state: CliState, source: str, destination: str, identity: Optional[str]) -> None:
    """Copy files or directories (recursively) to or from an instance, over SFTP.
    The instance side is ID:PATH; a relative PATH is in the login user's home.

    \b
    Examples:
      fluidstack instances cp ./data ID:data
      fluidstack instances cp ID:results ./results
    """
    copy_and_report(state, lambda: state.client.instances, source, destination, identity)
