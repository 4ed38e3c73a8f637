"""``fluidstack atlas filesystems``: list, create, get, delete."""

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
from .listing import emit_listing, emit_one
from .session import atlas_client

__all__ = ["filesystems"]


@click.group(cls=AliasedGroup)
def filesystems() -> None:
    """Shared filesystems of the project, in the region."""


def _filesystem_rows(fs: Any) -> List[Tuple[str, Any]]:
    return [("ID", fs.id), ("Name", fs.name), ("Size", fs.size)]


@filesystems.command("list")
@output_options
@pass_state
def list_filesystems(state: CliState) -> None:
    """List the project's filesystems."""
    found = atlas_client(state).filesystems.list()
    emit_listing(
        state,
        found,
        ["ID", "NAME", "SIZE"],
        lambda f: [f.id, f.name, f.size],
        lambda f: f.id,
        "No filesystems. Create one with: fluidstack atlas filesystems create NAME --size 512Gi",
    )


@filesystems.command("create")
@click.argument("name")
@click.option("--size", required=True, metavar="SIZE", help="Size, e.g. 512Gi or 1Ti.")
@output_options
@pass_state
def create_filesystem(state: CliState, name: str, size: str) -> None:
    """Create a filesystem named NAME."""
    try:
        fs = atlas_client(state).filesystems.create(name=name, size=size)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="'--size'") from exc
    state.info(f"Created filesystem {fs.name} ({fs.id}, {fs.size}).")
    emit_one(state, fs, _filesystem_rows)


@filesystems.command("get")
@click.argument("filesystem_id", metavar="ID")
@output_options
@pass_state
def get_filesystem(state: CliState, filesystem_id: str) -> None:
    """Show one filesystem."""
    emit_one(state, atlas_client(state).filesystems.get(filesystem_id), _filesystem_rows)


@filesystems.command("delete")
@click.argument("filesystem_id", metavar="ID")
@click.option("-y", "--yes", is_flag=True, help="Do not ask for confirmation.")
@pass_state
def delete_filesystem(state: CliState, filesystem_id: str, yes: bool) -> None:
    """Delete a filesystem and its data (no instance may have it attached)."""
    confirm_or_require_yes(
        state, f"Delete filesystem {filesystem_id} and its data?", yes, "nothing was deleted"
    )
    atlas_client(state).filesystems.delete(filesystem_id)
    state.info(f"Deleted filesystem {filesystem_id}.")
