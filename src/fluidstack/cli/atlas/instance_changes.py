"""``fluidstack atlas instances create|wait|start|stop``: the commands that change an
instance or wait for one (imported when one of them is named; see :mod:`.instances`)."""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Optional, Tuple

import click

from ..resolve import atlas_instance_id as by_name
from ..ssh_config import after_change
from ..state import CliState, output_options, pass_state
from ..waiting import wait_for, wait_options
from .completion import complete_instances
from .creation import create_arguments, create_options, show
from .instances import STATES, instances
from .session import atlas_client

if TYPE_CHECKING:
    from fluidstack.atlas import Instance

__all__ = ["create_instance", "start_instance", "stop_instance", "wait_instance"]


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
