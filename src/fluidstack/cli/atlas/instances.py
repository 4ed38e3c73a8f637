"""``fluidstack atlas instances``: list, inspect, create, start, stop, wait for, delete,
sweep and log into instances. ``fluidstack atlas launch`` is :mod:`.launch`; the create
options both take are in :mod:`.creation`."""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any, Dict, List, Optional, Tuple

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
from ..remote import ENV_SSH_PORT, Endpoint
from ..resolve import atlas_instance_id as by_name
from ..ssh_config import after_change
from ..state import AliasedGroup, CliError, CliState, InputError, output_options, pass_state
from ..waiting import wait_for, wait_options
from .completion import complete_instances
from .creation import build_user_data, create_arguments, create_options, parse_tags, show
from .launch import launch  # re-exported: `atlas launch` lived here
from .session import atlas_client

if TYPE_CHECKING:
    from fluidstack.atlas import Instance

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


def _state_of(instance: Optional[Instance]) -> str:
    return "deleted" if instance is None else str(instance.state)


def _wait(
    state: CliState,
    instance_id: str,
    until: str,
    timeout: float,
    poll_interval: float,
) -> Optional[Instance]:
    """Wait with a live state line on stderr; Ctrl-C leaves the instance and exits 130."""
    atlas = atlas_client(state)
    found: Optional[Instance] = wait_for(
        state,
        instance_id,
        until,
        lambda on_poll: atlas.instances.wait(
            instance_id,
            until=[until],
            timeout=timeout,
            poll_interval=poll_interval,
            on_poll=on_poll,
        ),
        "fluidstack atlas instances",
        status_of=_state_of,
    )
    return found


@click.group(cls=AliasedGroup)
def instances() -> None:
    """Create, inspect, start, stop, wait for and delete instances."""


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
    show(state, atlas_client(state).instances.get(by_name(state, instance_id)))


@instances.command("create")
@click.argument("name")
@create_options
@click.option("--wait", is_flag=True, help="Wait until it is running (live state on stderr).")
@wait_options
@output_options
@pass_state
def create_instance(
    state: CliState,
    name: str,
    instance_type: str,
    image: Optional[str],
    tags: Tuple[str, ...],
    user_data: Optional[str],
    ssh_keys: Tuple[str, ...],
    filesystems: Tuple[str, ...],
    ephemeral: bool,
    preemptible: bool,
    lease: Optional[dt.timedelta],
    wait: bool,
    timeout: float,
    poll_interval: float,
) -> None:
    """Create an instance named NAME in the project and region.

    \b
    Examples:
      fluidstack atlas instances create trainer --type h100-hgx-80gb.8x \\
          --ssh-key ~/.ssh/id_ed25519.pub --tag team=ml --wait
      fluidstack atlas instances create web --type cpu.2x --user-data cloud-init.yaml
    """
    if not name.strip():
        raise click.BadParameter("must not be empty", param_hint="NAME")
    arguments = create_arguments(
        tags, user_data, ssh_keys, filesystems, ephemeral, preemptible, image, lease
    )
    if arguments["user_data"] is None:
        state.info(
            "No --ssh-key or --user-data: only the keys registered with "
            "`fluidstack atlas keys create` can log in."
        )
    atlas = atlas_client(state)
    try:
        created = atlas.instances.create(name=name, type=instance_type, **arguments)
    except KeyboardInterrupt:
        state.info(
            "\nInterrupted while creating: the instance may exist. "
            "Check with: fluidstack atlas instances list"
        )
        click.get_current_context().exit(130)
    state.info(f"Created instance {created.id} ({created.name}, {created.type}).")
    if not wait:
        state.info(f"Wait until it is running with: fluidstack atlas instances wait {created.id}")
        show(state, created)
        return
    running = _wait(state, created.id, "running", timeout, poll_interval)
    assert running is not None
    show(state, running)
    after_change(state, "atlas", running)  # the ssh-config aliases, and `ssh fs-PROJECT-NAME`


@instances.command("wait")
@click.argument("instance_id", metavar="ID", shell_complete=complete_instances)
@click.option(
    "--until",
    type=click.Choice(STATES, case_sensitive=False),
    default="running",
    show_default=True,
    help="State to wait for ('deleted': until it is gone).",
)
@wait_options
@output_options
@pass_state
def wait_instance(
    state: CliState, instance_id: str, until: str, timeout: float, poll_interval: float
) -> None:
    """Wait until an instance reaches a state (default: running)."""
    found = _wait(state, by_name(state, instance_id), until.lower(), timeout, poll_interval)
    if found is not None:
        show(state, found)
    after_change(state, "atlas")


def _action(
    state: CliState,
    verb: str,
    instance_id: str,
    goal: str,
    wait: bool,
    timeout: float,
    poll_interval: float,
) -> None:
    atlas = atlas_client(state)
    instance_id = by_name(state, instance_id)
    getattr(atlas.instances, verb)(instance_id)
    state.info(f"{'Starting' if verb == 'start' else 'Stopping'} {instance_id}.")
    if wait:
        found = _wait(state, instance_id, goal, timeout, poll_interval)
        assert found is not None
        show(state, found)
    else:
        show(state, atlas.instances.get(instance_id))
    after_change(state, "atlas")


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
    _action(state, "start", instance_id, "running", wait, timeout, poll_interval)


@instances.command("stop")
@click.argument("instance_id", metavar="ID", shell_complete=complete_instances)
@click.option("--wait", is_flag=True, help="Wait until it is stopped.")
@wait_options
@output_options
@pass_state
def stop_instance(
    state: CliState, instance_id: str, wait: bool, timeout: float, poll_interval: float
) -> None:
    """Stop a running instance."""
    _action(state, "stop", instance_id, "stopped", wait, timeout, poll_interval)


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


# -- logging in ----------------------------------------------------------------------------


def ssh_port(option: Optional[int]) -> int:
    """``--ssh-port``, else ``FLUIDSTACK_SSH_PORT``, else 22 (the SDK's rule): Atlas
    reports no port."""
    import os

    from fluidstack.atlas.settings import resolve_ssh_port

    try:
        return resolve_ssh_port(option, os.environ.get(ENV_SSH_PORT) or None)
    except ValueError as exc:
        raise InputError(str(exc)) from None


def ssh_client(state: CliState, port_option: Optional[int]) -> Any:
    """The command's Atlas client, with the SSH port of its instances."""
    return atlas_client(state).with_options(ssh_port=ssh_port(port_option))


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
