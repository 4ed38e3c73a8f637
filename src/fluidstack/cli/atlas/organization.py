"""The Atlas organization: ``fluidstack atlas members``, ``invitations``, ``keys``."""

from __future__ import annotations

from typing import Optional

import click

from ..state import (
    AliasedGroup,
    CliState,
    InputError,
    confirm_or_require_yes,
    output_options,
    pass_state,
)
from .listing import emit_listing
from .session import atlas_client

ROLES = ("admin", "editor", "viewer")

__all__ = ["invitations", "keys", "members"]


@click.group(cls=AliasedGroup)
def members() -> None:
    """Members of the organization."""


@members.command("list")
@output_options
@pass_state
def list_members(state: CliState) -> None:
    """List the members and their roles."""
    found = atlas_client(state).members.list()
    emit_listing(state, found, ["ID", "NAME", "EMAIL", "ROLE"],
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
    emit_listing(state, found, ["ID", "EMAIL", "ROLE"], lambda i: [i.id, i.email, str(i.role)],
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
    emit_listing(
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
