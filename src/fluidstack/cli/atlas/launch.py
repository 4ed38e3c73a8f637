"""``fluidstack atlas launch``: an instance of a type in the first region with capacity
for it (the SDK's ``instances.launch``), with the options of ``atlas instances create``."""

from __future__ import annotations

import datetime as dt
from typing import Optional, Tuple

import click

from ..state import CliError, CliState, output_options, pass_state
from ..waiting import wait_options
from .completion import complete_regions
from .creation import create_arguments, create_options, show
from .session import atlas_client

__all__ = ["launch"]


@click.command()
@click.option("--name", metavar="NAME", help="Instance name (default: generated).")
@click.option(
    "--region",
    "regions",
    multiple=True,
    metavar="NAME",
    shell_complete=complete_regions,
    help="A region to try, in order (repeatable; default: every region).",
)
@create_options
@wait_options
@output_options
@pass_state
def launch(
    state: CliState,
    name: Optional[str],
    regions: Tuple[str, ...],
    instance_type: str,
    image: Optional[str],
    tags: Tuple[str, ...],
    user_data: Optional[str],
    ssh_keys: Tuple[str, ...],
    filesystems: Tuple[str, ...],
    ephemeral: bool,
    preemptible: bool,
    lease: Optional[dt.timedelta],
    timeout: float,
    poll_interval: float,
) -> None:
    """Run an instance of --type in the first region with capacity for it.

    Reads each region's capacity in turn, creates where the type is available and waits
    until it runs; an instance that goes out of stock anyway is deleted and the next
    region tried. The project must exist in the regions tried.

    \b
    Example:
      fluidstack atlas launch --type h100-hgx-80gb.8x --region us-east-1 --region eu-north-1
    """
    from fluidstack.core.errors import NoCapacityError

    arguments = create_arguments(
        tags, user_data, ssh_keys, filesystems, ephemeral, preemptible, image, lease
    )
    atlas = atlas_client(state)
    tried = ", ".join(regions) if regions else "every region"
    state.info(f"Looking for capacity for {instance_type} in {tried}...")
    try:
        instance = atlas.instances.launch(
            type=instance_type,
            regions=list(regions) or None,
            name=name,
            timeout=timeout,
            poll_interval=poll_interval,
            **arguments,
        )
    except NoCapacityError as exc:
        for region, error in exc.attempts:
            click.echo(f"  {region}: {error.message or error}", err=True)
        raise CliError(f"no capacity for {instance_type} in {tried}") from exc
    state.info(f"Instance {instance.id} is running in {instance.region}.")
    show(state, instance)
    from ..ssh_config import after_change

    after_change(state, "atlas")
