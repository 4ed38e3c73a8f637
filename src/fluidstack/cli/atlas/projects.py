"""``fluidstack atlas projects``: list, create, get, delete."""

from __future__ import annotations

from typing import Any, List, Tuple

import click

from ..state import (
    AliasedGroup,
    CliState,
    confirm_or_require_yes,
    output_options,
    pass_state,
)
from .creation import parse_tags
from .listing import emit_listing, emit_one, status_cell
from .session import atlas_client

__all__ = ["projects"]


@click.group(cls=AliasedGroup)
def projects() -> None:
    """Projects: what instances, filesystems and clusters belong to."""


def _project_rows(project: Any) -> List[Tuple[str, Any]]:
    from .render import tags_text

    return [
        ("ID", project.id),
        ("Name", project.name),
        ("State", status_cell(project.state)),
        ("Tags", tags_text(project.tags)),
    ]


@projects.command("list")
@output_options
@pass_state
def list_projects(state: CliState) -> None:
    """List the organization's projects."""
    from .render import tags_text

    found = atlas_client(state).projects.list()
    emit_listing(
        state,
        found,
        ["ID", "NAME", "STATE", "TAGS"],
        lambda p: [p.id, p.name, status_cell(p.state), tags_text(p.tags)],
        lambda p: p.id,
        "No projects. Create one with: fluidstack atlas projects create NAME",
    )


@projects.command("create")
@click.argument("name")
@click.option("--tag", "tags", multiple=True, metavar="KEY=VALUE", help="A tag (repeatable).")
@output_options
@pass_state
def create_project(state: CliState, name: str, tags: Tuple[str, ...]) -> None:
    """Create a project named NAME."""
    project = atlas_client(state).projects.create(name=name, tags=parse_tags(tags) or None)
    state.info(
        f"Created project {project.name} ({project.id}). Use it with: "
        f"fluidstack atlas use --project {project.id}"
    )
    emit_one(state, project, _project_rows)


@projects.command("get")
@click.argument("project_id", metavar="ID")
@output_options
@pass_state
def get_project(state: CliState, project_id: str) -> None:
    """Show one project."""
    emit_one(state, atlas_client(state).projects.get(project_id), _project_rows)


@projects.command("delete")
@click.argument("project_id", metavar="ID")
@click.option("-y", "--yes", is_flag=True, help="Do not ask for confirmation.")
@pass_state
def delete_project(state: CliState, project_id: str, yes: bool) -> None:
    """Delete a project (it must hold no instances or filesystems)."""
    confirm_or_require_yes(state, f"Delete project {project_id}?", yes, "nothing was deleted")
    atlas_client(state).projects.delete(project_id)
    state.info(f"Deleted project {project_id}.")
