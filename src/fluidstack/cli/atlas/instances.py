"""``fluidstack atlas instances``: list, inspect, create, start, stop, wait for, delete,
sweep and log into instances. ``fluidstack atlas launch`` is :mod:`.launch`; the create
options both take are in :mod:`.creation`.

This module holds the group, ``list`` and ``get``; the commands that change instances
are :mod:`.instance_changes`, those that delete or reach them :mod:`.instance_access`,
``forward`` :mod:`.ports`. They are imported when named, so that a listing does not
load the SSH, sweep, create and waiting code."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, List, Optional, Tuple

import click

from ..._lazy import lazy_attributes
from ..resolve import atlas_instance_id as by_name
from ..state import CliState, InputError, LazyGroup, output_options, pass_state
from .completion import complete_instances
from .session import atlas_client

if TYPE_CHECKING:
    from .creation import build_user_data, parse_tags
    from .launch import launch

__all__ = ["build_user_data", "instances", "launch", "parse_tags", "ssh_client"]

STATES = (
    "creating",
    "starting",
    "running",
    "stopping",
    "stopped",
    "deleting",
    "out-of-stock",
    "error",
    "deleted",
)


# Names that lived here, imported from their modules on first use.
_MOVED = {
    "build_user_data": ".creation",
    "parse_tags": ".creation",
    "launch": ".launch",
}


__getattr__, __dir__ = lazy_attributes(__name__, _MOVED)


@click.group(cls=LazyGroup)
def instances() -> None:
    """Create, inspect, start, stop, wait for and delete instances."""


# `list` and `get` live here; the other commands' modules (with the SSH, sweep, create and
# waiting code they need) are imported when one of them is looked up (see LazyGroup).
instances.lazy_package = __package__
instances.lazy_commands = {
    "create": (".instance_changes", "create_instance"),
    "wait": (".instance_changes", "wait_instance"),
    "start": (".instance_changes", "start_instance"),
    "stop": (".instance_changes", "stop_instance"),
    "delete": (".instance_access", "delete_instances"),
    "sweep": (".instance_access", "sweep_instances"),
    "ssh": (".instance_access", "ssh_instance"),
    "exec": (".instance_access", "exec_instance"),
    "cp": (".instance_access", "copy_files"),
    "forward": (".ports", "forward_ports"),
}


@instances.command("list")
@click.option(
    "--all-regions",
    is_flag=True,
    help="Every instance of the organization, in every region and project.",
)
@click.option(
    "--state",
    "states",
    multiple=True,
    type=click.Choice(STATES[:-1], case_sensitive=False),
    help="Only instances in this state (repeatable).",
)
@output_options
@pass_state
def list_instances(state: CliState, all_regions: bool, states: Tuple[str, ...]) -> None:
    """List the project's instances in the region (or everywhere, --all-regions)."""
    atlas = atlas_client(state)
    found: List[Any] = list(atlas.instances.list(all_regions=all_regions))
    if states:
        wanted = {s.lower() for s in states}
        found = [i for i in found if str(i.state) in wanted]
    if not found and state.output == "table":
        state.info(
            "No instances. Create one with: fluidstack atlas instances create NAME --type TYPE "
            "(see `fluidstack atlas instance-types list`)."
        )
        return

    def table() -> Any:
        from .render import global_instance_table, instance_table

        return global_instance_table(found) if all_regions else instance_table(found)

    state.emit(found, table=table, ids=[i.id for i in found])


@instances.command("get")
@click.argument("instance_id", metavar="ID", shell_complete=complete_instances)
@output_options
@pass_state
def get_instance(state: CliState, instance_id: str) -> None:
    """Show one instance."""
    from .creation import show

    show(state, atlas_client(state).instances.get(by_name(state, instance_id)))


# -- logging in ----------------------------------------------------------------------------


def ssh_port(option: Optional[int]) -> int:
    """``--ssh-port``, else ``FLUIDSTACK_SSH_PORT``, else 22 (the SDK's rule): Atlas
    reports no port."""
    import os

    from fluidstack.atlas.settings import resolve_ssh_port

    from ..remote import ENV_SSH_PORT

    try:
        return resolve_ssh_port(option, os.environ.get(ENV_SSH_PORT) or None)
    except ValueError as exc:
        raise InputError(str(exc)) from None


def ssh_client(state: CliState, port_option: Optional[int]) -> Any:
    """The command's Atlas client, with the SSH port of its instances."""
    return atlas_client(state).with_options(ssh_port=ssh_port(port_option))
