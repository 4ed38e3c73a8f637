"""``fluidstack balance`` and ``fluidstack api-keys``."""

from __future__ import annotations

from typing import Any

import click

from ..state import AliasedGroup, CliState, confirm_or_require_yes, output_options, pass_state

__all__ = ["api_keys", "balance"]


@click.command()
@output_options
@pass_state
def balance(state: CliState) -> None:
    """Show the account's credit balance (USD)."""
    result = state.client.user.get_balance()

    def table() -> Any:
        from ..render import money

        return money(result.balance)

    state.emit(result, table=table, ids=[f"{result.balance:.2f}"])


@click.group("api-keys", cls=AliasedGroup)
def api_keys() -> None:
    """Manage the API keys of your account."""


@api_keys.command("list")
@output_options
@pass_state
def list_api_keys(state: CliState) -> None:
    """List API keys (their secrets are never shown again after creation)."""
    keys = state.client.api_keys.list()
    if not keys and state.output == "table":
        state.info("No API keys.")
        return

    def table() -> Any:
        from ..render import simple_table

        return simple_table(["ID", "NAME"], [[k.id, k.name or "-"] for k in keys])

    state.emit(keys, table=table, ids=[k.id for k in keys])


@api_keys.command("create")
@click.argument("name")
@output_options
@pass_state
def create_api_key(state: CliState, name: str) -> None:
    """Create an API key named NAME and print its secret (shown this once only)."""
    if not name.strip():
        raise click.BadParameter("must not be empty", param_hint="NAME")
    created = state.client.api_keys.create(name=name)
    secret = created.api_key or ""
    state.info(
        f"Created API key {created.id} ({created.name or name}). Store the secret now: "
        "it is not shown again."
    )
    # The secret is the whole point of this command, so it is printed, on stdout only.
    if state.output == "table" and not state.quiet:
        click.echo(secret)
    else:
        state.emit(created.model_dump(mode="json"), ids=[created.id])


@api_keys.command("delete")
@click.argument("api_key_id", metavar="ID")
@click.option("-y", "--yes", is_flag=True, help="Do not ask for confirmation.")
@output_options
@pass_state
def delete_api_key(state: CliState, api_key_id: str, yes: bool) -> None:
    """Revoke the API key ID (programs using it stop working)."""
    confirm_or_require_yes(
        state,
        f"Revoke API key {api_key_id}? Programs using it will stop working.",
        yes,
        "no key was revoked",
    )
    state.client.api_keys.delete(api_key_id)
    state.info(f"Revoked API key {api_key_id}.")
    state.emit({"deleted": [api_key_id]}, table=None, ids=[api_key_id])
