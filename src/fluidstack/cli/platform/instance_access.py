"""``fluidstack instances delete|sweep|ssh|exec|cp``: the commands both APIs share
(:mod:`fluidstack.cli.instance_commands`), bound to the platform API (imported when one
of them is named; see :mod:`.instances`)."""

from __future__ import annotations

from typing import Any, Optional

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
from ..resolve import platform_instance_id as by_name
from ..ssh_config import after_delete
from ..state import CliState
from .completion import complete_instances
from .instances import STATUSES, _endpoint, instances

__all__ = ["copy_files", "delete_instances", "exec_instance", "ssh_instance", "sweep_instances"]


# -- delete, sweep ------------------------------------------------------------------


def _instances_resource(state: CliState, ssh_port: Optional[int]) -> Any:
    return state.client.instances


_API = InstanceCommands(instances, complete_instances, _instances_resource, resolve=by_name)


def _start_deletion(state: CliState, wait: bool, timeout: float, poll_interval: float) -> Deletion:
    def delete(instance_id: str) -> None:
        if wait:
            state.client.instances.delete(
                instance_id, wait=True, timeout=timeout, poll_interval=poll_interval
            )
        else:
            state.client.instances.delete(instance_id)

    return Deletion(delete, "Terminated" if wait else "Deleted", after_delete(state, "platform"))


delete_instances = add_delete(
    _API,
    "Delete (terminate) instances. Asks first unless --yes.",
    "Return only once each is terminated, sending the delete again if it did not take.",
    _start_deletion,
)

sweep_instances = add_sweep(
    _API,
    """List the instances nobody meant to keep, with their cost so far; delete them
    with --yes. Every criterion given must hold; at least one is required.

    \b
    Examples:
      fluidstack instances sweep --older-than 2d --name-prefix ci-
      fluidstack instances sweep --status stopped --older-than 1w --yes
      fluidstack instances sweep --expired --watch          # the reaper (docs/guides.md)
    """,
    STATUSES,
    "fluidstack instances sweep",
    lambda state, options: state.client.instances.sweep,
)


def _ssh_target(state: CliState, instance_id: str, ssh_port: Optional[int]) -> SshTarget:
    instance = state.client.instances.get(instance_id)
    warning = None
    if str(instance.status) != "running":
        warning = f"instance {instance.id} is {instance.status}, not running"
    # A documentation address (an emulator without --ssh) is refused by add_ssh.
    return SshTarget(_endpoint(instance), state.client.close, warning)


ssh_instance = add_ssh(
    _API,
    """Connect to an instance with ssh (its user, address and port).

    \b
    Examples:
      fluidstack instances ssh ID
      fluidstack instances ssh ID -i ~/.ssh/work_key -- -L 8888:localhost:8888
      fluidstack instances ssh ID --print
    """,
    _ssh_target,
    identity=click.option(
        "-i",
        "--identity",
        type=click.Path(dir_okay=False, exists=True, resolve_path=False),
        metavar="KEY",
        help="Private key file for ssh -i.",
    ),
)
exec_instance = add_exec(_API, "fluidstack instances", command_first=False)
copy_files = add_cp(_API, "fluidstack instances", "the login user's")
