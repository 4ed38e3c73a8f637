"""``fluidstack atlas`` regions, projects, filesystems, instance types, capacity,
capabilities, the organization's clusters, members, invitations and keys. A region's
Kubernetes and Slurm commands are in :mod:`.kubernetes` and :mod:`.slurm`."""

from __future__ import annotations

from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

import click

from ..state import (
    AliasedGroup,
    CliState,
    InputError,
    confirm_or_require_yes,
    output_options,
    pass_state,
)
from .creation import parse_tags
from .session import atlas_client

__all__ = [
    "capabilities",
    "capacity",
    "clusters",
    "filesystems",
    "instance_types",
    "invitations",
    "keys",
    "members",
    "projects",
    "regions",
]

ROLES = ("admin", "editor", "viewer")


def _listing(
    state: CliState,
    items: Sequence[Any],
    headers: Sequence[str],
    row: Callable[[Any], List[Any]],
    ident: Callable[[Any], str],
    empty: str,
) -> None:
    """Emit a listing: a table of ``row(item)`` cells, JSON/YAML of the models, or ids."""
    if not items and state.output == "table":
        state.info(empty)
        return

    def table() -> Any:
        from ..render import simple_table

        return simple_table(list(headers), [row(item) for item in items])

    state.emit(list(items), table=table, ids=[ident(item) for item in items])


def _one(state: CliState, item: Any, rows: Callable[[Any], List[Tuple[str, Any]]]) -> None:
    def table() -> Any:
        from ..render import key_value_table

        return key_value_table(rows(item))

    state.emit(item, table=table, ids=[str(getattr(item, "id", None) or item.name)])


def _state(value: Any) -> Any:
    from ..render import status_text

    return status_text(value)


# -- regions and projects ---------------------------------------------------------------


@click.group(cls=AliasedGroup)
def regions() -> None:
    """The regions your organization can use."""


@regions.command("list")
@output_options
@pass_state
def list_regions(state: CliState) -> None:
    """List the regions and their API URLs."""
    found = atlas_client(state).regions.list()
    _listing(state, found, ["NAME", "URL"], lambda r: [r.name, r.url], lambda r: r.name,
             "No regions.")  # fmt: skip


@click.group(cls=AliasedGroup)
def projects() -> None:
    """Projects: what instances, filesystems and clusters belong to."""


def _project_rows(project: Any) -> List[Tuple[str, Any]]:
    from .render import tags_text

    return [
        ("ID", project.id),
        ("Name", project.name),
        ("State", _state(project.state)),
        ("Tags", tags_text(project.tags)),
    ]


@projects.command("list")
@output_options
@pass_state
def list_projects(state: CliState) -> None:
    """List the organization's projects."""
    from .render import tags_text

    found = atlas_client(state).projects.list()
    _listing(
        state,
        found,
        ["ID", "NAME", "STATE", "TAGS"],
        lambda p: [p.id, p.name, _state(p.state), tags_text(p.tags)],
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
    _one(state, project, _project_rows)


@projects.command("get")
@click.argument("project_id", metavar="ID")
@output_options
@pass_state
def get_project(state: CliState, project_id: str) -> None:
    """Show one project."""
    _one(state, atlas_client(state).projects.get(project_id), _project_rows)


@projects.command("delete")
@click.argument("project_id", metavar="ID")
@click.option("-y", "--yes", is_flag=True, help="Do not ask for confirmation.")
@pass_state
def delete_project(state: CliState, project_id: str, yes: bool) -> None:
    """Delete a project (it must hold no instances or filesystems)."""
    confirm_or_require_yes(state, f"Delete project {project_id}?", yes, "nothing was deleted")
    atlas_client(state).projects.delete(project_id)
    state.info(f"Deleted project {project_id}.")


# -- filesystems --------------------------------------------------------------------------


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
    _listing(
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
    _one(state, fs, _filesystem_rows)


@filesystems.command("get")
@click.argument("filesystem_id", metavar="ID")
@output_options
@pass_state
def get_filesystem(state: CliState, filesystem_id: str) -> None:
    """Show one filesystem."""
    _one(state, atlas_client(state).filesystems.get(filesystem_id), _filesystem_rows)


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
    _listing(state, found, ["TYPE", "AVAILABLE"], lambda c: [c.name, str(c.capacity)],
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
    _listing(
        state,
        found,
        ["ID", "NAME", "TYPE", "REGION", "PROJECT", "HEALTH"],
        lambda c: [c.id, c.name, str(c.type), c.region, c.project_id or "-",
                   _state(c.health) if c.health is not None else "-"],
        lambda c: c.id,
        "No clusters.",
    )  # fmt: skip


# -- the organization -----------------------------------------------------------------------


@click.group(cls=AliasedGroup)
def members() -> None:
    """Members of the organization."""


@members.command("list")
@output_options
@pass_state
def list_members(state: CliState) -> None:
    """List the members and their roles."""
    found = atlas_client(state).members.list()
    _listing(state, found, ["ID", "NAME", "EMAIL", "ROLE"],
             lambda m: [m.id, m.name, m.email, str(m.role)], lambda m: m.id,
             "No members.")  # fmt: skip


@members.command("update")
@click.argument("member_id", metavar="ID")
@click.option("--role", required=True, type=click.Choice(ROLES), help="The new role.")
@pass_state
def update_member(state: CliState, member_id: str, role: str) -> None:
    """Give a member another role."""
    atlas_client(state).members.update(member_id, role=role)
    state.info(f"Member {member_id} is now {role}.")


@members.command("delete")
@click.argument("member_id", metavar="ID")
@click.option("-y", "--yes", is_flag=True, help="Do not ask for confirmation.")
@pass_state
def delete_member(state: CliState, member_id: str, yes: bool) -> None:
    """Remove a member from the organization."""
    confirm_or_require_yes(state, f"Remove member {member_id}?", yes, "nobody was removed")
    atlas_client(state).members.delete(member_id)
    state.info(f"Removed member {member_id}.")


@click.group(cls=AliasedGroup)
def invitations() -> None:
    """Invitations to join the organization."""


@invitations.command("list")
@output_options
@pass_state
def list_invitations(state: CliState) -> None:
    """List pending invitations."""
    found = atlas_client(state).invitations.list()
    _listing(state, found, ["ID", "EMAIL", "ROLE"], lambda i: [i.id, i.email, str(i.role)],
             lambda i: i.id, "No invitations.")  # fmt: skip


@invitations.command("create")
@click.argument("email")
@click.option("--role", type=click.Choice(ROLES), help="Their role (default: the server's).")
@pass_state
def create_invitation(state: CliState, email: str, role: Optional[str]) -> None:
    """Invite EMAIL to the organization."""
    try:
        atlas_client(state).invitations.create(email=email, role=role)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="EMAIL") from exc
    state.info(f"Invited {email}. See it with: fluidstack atlas invitations list")


@invitations.command("delete")
@click.argument("invitation_id", metavar="ID")
@pass_state
def delete_invitation(state: CliState, invitation_id: str) -> None:
    """Withdraw an invitation."""
    atlas_client(state).invitations.delete(invitation_id)
    state.info(f"Withdrew invitation {invitation_id}.")


@click.group(cls=AliasedGroup)
def keys() -> None:
    """The public SSH keys registered for your user."""


@keys.command("list")
@output_options
@pass_state
def list_keys(state: CliState) -> None:
    """List your SSH keys."""
    found = atlas_client(state).user_keys.list()
    _listing(
        state,
        found,
        ["NAME", "KEY"],
        lambda k: [k.name, _short_key(k.key)],
        lambda k: k.name,
        "No keys. Add one with: fluidstack atlas keys create NAME",
    )


def _short_key(key: str) -> str:
    parts = key.split()
    if len(parts) >= 2 and len(parts[1]) > 24:
        parts[1] = parts[1][:12] + "…" + parts[1][-8:]
    return " ".join(parts)


@keys.command("create")
@click.argument("name")
@click.option(
    "--key",
    "key_file",
    metavar="FILE",
    help="Public key file (default: ~/.ssh/id_ed25519.pub, else ~/.ssh/id_rsa.pub).",
)
@output_options
@pass_state
def create_key(state: CliState, name: str, key_file: Optional[str]) -> None:
    """Register a public SSH key under NAME."""
    from pathlib import Path

    candidates = (
        [Path(key_file).expanduser()]
        if key_file
        else [Path.home() / ".ssh" / f for f in ("id_ed25519.pub", "id_rsa.pub")]
    )
    path = next((p for p in candidates if p.is_file()), None)
    if path is None:
        raise InputError(
            f"no public key at {', '.join(str(c) for c in candidates)}: pass --key FILE"
        )
    text = path.read_text(encoding="utf-8", errors="replace").strip()
    if "PRIVATE KEY" in text:
        raise InputError(f"{path} is a private key: pass the public one (the .pub file)")
    key = atlas_client(state).user_keys.create(name=name, key=text)
    state.info(f"Registered {path} as {name!r}.")
    state.emit(key, table=None, ids=[key.name])


@keys.command("delete")
@click.argument("name")
@pass_state
def delete_key(state: CliState, name: str) -> None:
    """Remove the SSH key registered as NAME."""
    atlas_client(state).user_keys.delete(name)
    state.info(f"Removed SSH key {name!r}.")
