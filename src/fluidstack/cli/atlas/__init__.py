"""``fluidstack atlas``: FluidStack Atlas at the terminal (login, regions and projects,
instances, filesystems, capacity, clusters, members, invitations, keys, launch)."""

from __future__ import annotations

from typing import Optional

import click

from ..state import CliState, LazyGroup, pass_state
from .completion import complete_projects, complete_regions

__all__ = ["atlas"]


@click.group(cls=LazyGroup)
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


# Each command's module is imported when the command is looked up (see LazyGroup):
# `fluidstack atlas instances list` loads neither the cluster nor the organization
# commands. Name -> (module, attribute), relative to this package.
atlas.lazy_package = __package__
atlas.lazy_commands = {
    "login": (".login", "login"),
    "logout": (".login", "logout"),
    "whoami": (".login", "whoami"),
    "use": (".login", "use"),
    "regions": (".catalog", "regions"),
    "projects": (".projects", "projects"),
    "instances": (".instances", "instances"),
    "launch": (".launch", "launch"),
    "run": (".run", "atlas_run"),
    "jupyter": (".ports", "jupyter"),
    "filesystems": (".filesystems", "filesystems"),
    "instance-types": (".catalog", "instance_types"),
    "capacity": (".catalog", "capacity"),
    "capabilities": (".catalog", "capabilities"),
    "kubernetes": (".kubernetes", "kubernetes"),
    "slurm": (".slurm", "slurm"),
    "clusters": (".catalog", "clusters"),
    "members": (".organization", "members"),
    "invitations": (".organization", "invitations"),
    "keys": (".organization", "keys"),
}
