"""``fluidstack atlas``: FluidStack Atlas at the terminal (login, regions and projects,
instances, filesystems, capacity, clusters, members, invitations, keys, launch)."""

from __future__ import annotations

from typing import Optional

import click

from ..state import AliasedGroup, CliState, pass_state
from .completion import complete_projects, complete_regions

__all__ = ["atlas"]


@click.group(cls=AliasedGroup)
@click.option(
    "--region",
    metavar="NAME",
    shell_complete=complete_regions,
    help="Region for this command (default: $FLUIDSTACK_REGION, then the profile's).",
)
@click.option(
    "--project",
    metavar="NAME|ID",
    shell_complete=complete_projects,
    help="Project for this command, by name or id (default: $FLUIDSTACK_PROJECT_ID, then "
    "the profile's).",
)
@pass_state
def atlas(state: CliState, region: Optional[str], project: Optional[str]) -> None:
    """FluidStack Atlas: regions, projects, instances, filesystems and more.

    \b
    Get started:
      fluidstack atlas login                     log in (browser, client credentials, token)
      fluidstack atlas use --region eu-north-1 --project training
      fluidstack atlas instance-types list       what each region offers, with capacity
      fluidstack atlas instances create trainer --type h100-hgx-80gb.8x --wait
    """
    state.atlas_region = region
    state.atlas_project = project


def _register() -> None:
    from .catalog import capabilities, capacity, clusters, instance_types, regions
    from .filesystems import filesystems
    from .instances import instances
    from .kubernetes import kubernetes
    from .launch import launch
    from .login import login, logout, use, whoami
    from .organization import invitations, keys, members
    from .ports import jupyter  # and `instances forward`
    from .projects import projects
    from .run import atlas_run
    from .slurm import slurm

    for command in (
        login,
        logout,
        whoami,
        use,
        regions,
        projects,
        instances,
        launch,
        atlas_run,
        jupyter,
        filesystems,
        instance_types,
        capacity,
        capabilities,
        kubernetes,
        slurm,
        clusters,
        members,
        invitations,
        keys,
    ):
        atlas.add_command(command)


_register()
