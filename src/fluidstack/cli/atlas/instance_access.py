"""``fluidstack atlas instances delete|sweep|ssh|exec|cp``: the commands both APIs share
(:mod:`fluidstack.cli.instance_commands`), bound to Atlas (imported when one of them is
named; see :mod:`.instances`)."""

from __future__ import annotations

from typing import Any, Dict, List, Optional

import click

from ..instance_commands import (
    Deletion,
    InstanceCommands,
    SshTarget,
    add_cp,
    add_delete,
    add_exec,
    add_ssh,
    add_sweep,
)
from ..remote import Endpoint
from ..resolve import atlas_instance_id as by_name
from ..ssh_config import after_change
from ..state import CliError, CliState
from ..waiting import wait_for
from .completion import complete_instances
from .creation import parse_tags
from .instances import STATES, instances, ssh_client
from .session import atlas_client

__all__ = ["copy_files", "delete_instances", "exec_instance", "ssh_instance", "sweep_instances"]


def _instances_resource(state: CliState, port_option: Optional[int]) -> Any:
    return ssh_client(state, port_option).instances


_API = InstanceCommands(
    instances, complete_instances, _instances_resource, ssh_port=True, resolve=by_name
)


def _start_deletion(state: CliState, wait: bool, timeout: float, poll_interval: float) -> Deletion:
    atlas = atlas_client(state)

    def then(deleted: List[str]) -> None:
        if wait:
            for instance_id in deleted:
                # Confirmed: a delete that did not take (or was refused for now) is sent again.
                _confirm_deleted(state, atlas, instance_id, timeout, poll_interval)
        after_change(state, "atlas")

    return Deletion(atlas.instances.delete, "Deleting", then)


def _confirm_deleted(
    state: CliState, atlas: Any, instance_id: str, timeout: float, poll_interval: float
) -> None:
    def delete(on_poll: Any) -> None:
        atlas.instances.delete(instance_id, wait=True, timeout=timeout, poll_interval=poll_interval)

    wait_for(state, instance_id, "deleted", delete, "fluidstack atlas instances")


delete_instances = add_delete(
    _API,
    "Delete instances: irreversible, their boot disks are lost. Asks first unless --yes.",
    "Return only once every instance is gone.",
    _start_deletion,
)


def _sweep_of(state: CliState, options: Dict[str, Any]) -> Any:
    options["tags"] = parse_tags(options["tags"]) or None
    return atlas_client(state).instances.sweep


sweep_instances = add_sweep(
    _API,
    """List the project's instances in the region that nobody meant to keep; delete
    them with --yes. Every criterion given must hold; at least one is required.

    Ages come from the fluidstack.created-at tag this tool's creates carry (Atlas
    records no creation time); costs need the profile's prices (see docs/cli.md).

    \b
    Examples:
      fluidstack atlas instances sweep --older-than 2d --tag team=ci
      fluidstack atlas instances sweep --expired --watch      # the reaper
    """,
    STATES[:-1],
    "fluidstack atlas instances sweep",
    _sweep_of,
    [
        click.option(
            "--tag",
            "tags",
            multiple=True,
            metavar="KEY=VALUE",
            help="Carrying this tag (repeatable).",
        )
    ],
)


def _ssh_target(state: CliState, instance_id: str, port_option: Optional[int]) -> SshTarget:
    atlas = ssh_client(state, port_option)
    instance = atlas.instances.get(instance_id)
    if not instance.ip:
        current = str(instance.state)
        if current in ("creating", "starting"):
            hint = f"wait for it with: fluidstack atlas instances wait {instance.id}"
        elif current in ("stopped", "stopping"):
            hint = f"start it with: fluidstack atlas instances start {instance.id}"
        else:  # deleted, error, out-of-stock...: waiting would not help
            hint = "it will not get one"
        raise CliError(f"instance {instance.id} has no address (state: {current}); {hint}")
    return SshTarget(Endpoint(str(instance.id), instance.ip, atlas.ssh_port, "ubuntu"), atlas.close)


ssh_instance = add_ssh(
    _API,
    """Connect to an instance with ssh, as ubuntu at its address.

    \b
    Examples:
      fluidstack atlas instances ssh ID
      fluidstack atlas instances ssh ID -- -L 8888:localhost:8888
      FLUIDSTACK_SSH_PORT=2222 fluidstack atlas instances ssh ID     (the emulator)
    """,
    _ssh_target,
)
exec_instance = add_exec(_API, "fluidstack atlas instances", command_first=True)
copy_files = add_cp(_API, "fluidstack atlas instances", "ubuntu's")
