"""``fluidstack instances``: list, inspect, create, wait for, connect to and delete instances.

This module holds the group, ``list`` and ``get``; the commands that change instances
are :mod:`.instance_changes`, those that delete or reach them :mod:`.instance_access`,
``forward`` :mod:`.ports`. They are imported when named, so that a listing does not
load the SSH, sweep and waiting code."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, List, Optional, Sequence, Tuple

import click

from ..resolve import platform_instance_id as by_name
from ..state import CliError, CliState, LazyGroup, output_options, pass_state
from .completion import complete_instances

if TYPE_CHECKING:
    from fluidstack.platform.types.instances import InstanceResponse

    from ..remote import Endpoint

__all__ = ["STATUSES", "build_ssh_argv", "instances"]

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


@click.group(cls=LazyGroup)
def instances() -> None:
    """Create, inspect, connect to and delete GPU instances."""


# `list` and `get` live here; the other commands' modules (with the SSH, sweep, spend and
# waiting code they need) are imported when one of them is looked up (see LazyGroup).
instances.lazy_package = __package__
instances.lazy_commands = {
    "create": (".instance_changes", "create_instance"),
    "wait": (".instance_changes", "wait_instance"),
    "start": (".instance_changes", "start_instance"),
    "stop": (".instance_changes", "stop_instance"),
    "rename": (".instance_changes", "rename_instance"),
    "delete": (".instance_access", "delete_instances"),
    "sweep": (".instance_access", "sweep_instances"),
    "ssh": (".instance_access", "ssh_instance"),
    "exec": (".instance_access", "exec_instance"),
    "cp": (".instance_access", "copy_files"),
    "forward": (".ports", "forward_ports"),
}


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

        from fluidstack.platform.cost import instance_cost

        from ..render import instance_table, money

        rendered = instance_table(found)
        burn = sum((instance_cost(i).hourly or Decimal(0) for i in found), Decimal(0))
        rendered.caption = (
            f"{len(found)} instance{'s' if len(found) != 1 else ''}, {money(burn)}/hour in total"
        )
        return rendered

    state.emit(found, table=table, ids=[i.id for i in found])


def _show_instance(state: CliState, instance: InstanceResponse) -> None:
    def table() -> Any:
        from ..render import instance_detail

        return instance_detail(instance, state.client.server_time())

    state.emit(instance, table=table, ids=[instance.id])


@instances.command("get")
@click.argument("instance_id", metavar="ID", shell_complete=complete_instances)
@output_options
@pass_state
def get_instance(state: CliState, instance_id: str) -> None:
    """Show one instance: status, hardware, address, SSH command and cost."""
    _show_instance(state, state.client.instances.get(by_name(state, instance_id)))


# -- ssh, exec, cp -----------------------------------------------------------------


def build_ssh_argv(
    instance: InstanceResponse,
    identity: Optional[str] = None,
    extra: Sequence[str] = (),
    connect_timeout: bool = True,
) -> List[str]:
    """``["ssh", "-o", "ConnectTimeout=15", (host-key options), "-p", port, ("-i", key),
    "user@address", *extra]`` for ``instance`` (``connect_timeout=False`` leaves the
    ``-o`` options out, for a hint)."""
    from ..remote import ssh_argv

    return ssh_argv(_endpoint(instance), identity, extra, connect_timeout)


def _endpoint(instance: InstanceResponse) -> Endpoint:
    from ..remote import Endpoint

    if not instance.ip_address:
        raise CliError(_no_address(instance.id, str(instance.status)))
    try:
        port = int(instance.ssh_port or 22)
    except ValueError:
        port = 22
    return Endpoint(instance.id, instance.ip_address, port, instance.username or "ubuntu")


def _no_address(ident: str, status: str) -> str:
    """Why an instance has no address, and what to do: waiting helps only on the way up."""
    if status in ("terminated", "failed", "shutting_down"):
        return f"instance {ident} is {status}: it has no address and will not get one"
    if status in ("stopped", "stopping"):
        return f"instance {ident} is {status}: start it with fluidstack instances start {ident}"
    wait = f"wait for it with: fluidstack instances wait {ident}"
    return f"instance {ident} has no address yet (status: {status}); {wait}"
