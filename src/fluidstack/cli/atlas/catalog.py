"""What Atlas regions offer: ``fluidstack atlas regions``, ``instance-types``, ``capacity``,
``capabilities``, and the organization's ``clusters`` in every region."""

from __future__ import annotations

from typing import Any, Dict, List, Optional

import click

from ..state import (
    AliasedGroup,
    CliState,
    output_options,
    pass_state,
)
from .listing import emit_listing, status_cell
from .session import atlas_client

__all__ = ["capabilities", "capacity", "clusters", "instance_types", "regions"]

# -- regions ------------------------------------------------------------------------------


@click.group(cls=AliasedGroup)
def regions() -> None:
    """The regions your organization can use."""


@regions.command("list")
@output_options
@pass_state
def list_regions(state: CliState) -> None:
    """List the regions and their API URLs."""
    found = atlas_client(state).regions.list()
    emit_listing(state, found, ["NAME", "URL"], lambda r: [r.name, r.url], lambda r: r.name,
             "No regions.")  # fmt: skip


# -- what regions offer ---------------------------------------------------------------------


@click.group("instance-types", cls=AliasedGroup)
def instance_types() -> None:
    """The instance types of the regions."""


@instance_types.command("list")
@click.option("--this-region", is_flag=True, help="Only the region in use (default: every region).")
@output_options
@pass_state
def list_instance_types(state: CliState, this_region: bool) -> None:
    """List instance types with each region's capacity side by side.

    Capacity needs a project (it is asked with the project in use); without one, or
    where it cannot be read, the column shows '?'.
    """
    from fluidstack.core.errors import ApiError, ConfigurationError

    atlas = atlas_client(state)
    names = [atlas.region or ""] if this_region else [r.name for r in atlas.regions.list()]
    kinds: Dict[str, Any] = {}
    offered: Dict[str, List[str]] = {}
    capacity: Dict[str, Optional[Dict[str, int]]] = {}
    for name in names:
        here = atlas if this_region else atlas.with_options(region=name)
        listed = here.instance_types.list()
        offered[name] = [k.name for k in listed]
        for kind in listed:
            kinds.setdefault(kind.name, kind)
        try:
            capacity[name] = {c.name: c.capacity for c in here.capacity.list()}
        except (ConfigurationError, ApiError):
            capacity[name] = None
    if any(value is None for value in capacity.values()) and atlas.project_id is None:
        state.info("Capacity needs a project: fluidstack atlas use --project NAME")

    def available(region: str, kind: str) -> Optional[int]:
        known = capacity[region]
        return None if known is None else known.get(kind, 0)

    data = [
        {
            **kind.model_dump(mode="json"),
            "capacity": {
                region: available(region, name) for region in names if name in offered[region]
            },
        }
        for name, kind in kinds.items()
    ]

    def table() -> Any:
        from .render import instance_types_table

        return instance_types_table(list(kinds.values()), names, offered, available)

    state.emit(data, table=table, ids=list(kinds))


@click.command()
@output_options
@pass_state
def capacity(state: CliState) -> None:
    """How many instances of each type the region can create now (needs a project)."""
    found = atlas_client(state).capacity.list()
    emit_listing(state, found, ["TYPE", "AVAILABLE"], lambda c: [c.name, str(c.capacity)],
             lambda c: c.name, "No capacity reported.")  # fmt: skip


@click.command()
@output_options
@pass_state
def capabilities(state: CliState) -> None:
    """What the region supports (e.g. instances:create)."""
    found = atlas_client(state).capabilities.list()
    if state.output == "table" and not state.quiet:
        for item in found:
            click.echo(item)
        return
    state.emit(found, ids=list(found))


# -- managed clusters (a region's own: .kubernetes, .slurm) ---------------------------------


@click.group(cls=AliasedGroup)
def clusters() -> None:
    """Every managed cluster of the organization, in every region."""


@clusters.command("list")
@output_options
@pass_state
def list_clusters(state: CliState) -> None:
    """List the Kubernetes and Slurm clusters."""
    found = atlas_client(state).clusters.list()
    emit_listing(
        state,
        found,
        ["ID", "NAME", "TYPE", "REGION", "PROJECT", "HEALTH"],
        lambda c: [c.id, c.name, str(c.type), c.region, c.project_id or "-",
                   status_cell(c.health) if c.health is not None else "-"],
        lambda c: c.id,
        "No clusters.",
    )  # fmt: skip
