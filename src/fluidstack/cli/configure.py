"""``fluidstack configure``: store credentials in the config file, or show where they come from."""

from __future__ import annotations

import sys
from typing import Any, Dict, Optional

import click

from .state import CliError, CliState, InputError, output_options, pass_state, stdin_is_terminal

__all__ = ["configure"]

_SOURCES = {
    "flag": "the command line",
    "env": "the environment",
    "file": "the config file",
    "default": "the default",
}


def _describe(source: Optional[str], env_name: str, profile: str) -> str:
    if source == "env":
        return f"environment variable {env_name}"
    if source == "file":
        return f"config file, profile {profile!r}"
    if source == "flag":
        return "command-line flag"
    return _SOURCES.get(source or "", "nowhere")


def _show(state: CliState) -> None:
    from .config import API_KEY_ENV, BASE_URL_ENV, PROFILE_ENV

    settings = state.resolve(require_profile=False)
    data: Dict[str, Any] = {
        "profile": settings.profile,
        "profile_source": settings.profile_source,
        "config_file": str(settings.path),
        "config_file_exists": settings.path.exists(),
        "config_file_ignored": settings.file_refused,
        "api_key_set": settings.api_key is not None,
        "api_key_source": settings.api_key_source,
        "base_url": settings.base_url,
        "base_url_source": settings.base_url_source,
        "max_hourly_spend": settings.max_hourly_spend,
    }

    def table() -> Any:
        from .render import key_value_table

        profile_from = {
            "flag": "--profile",
            "env": PROFILE_ENV,
            "default": "default",
        }[settings.profile_source]
        file_state = "exists" if data["config_file_exists"] else "does not exist"
        if settings.file_refused:
            file_state = "ignored: readable by others"
        key = (
            f"set, from {_describe(settings.api_key_source, API_KEY_ENV, settings.profile)}"
            if settings.api_key
            else "not set"
        )
        return key_value_table(
            [
                ("Profile", f"{settings.profile} (from {profile_from})"),
                ("Config file", f"{settings.path} ({file_state})"),
                ("API key", key),
                (
                    "Base URL",
                    f"{settings.base_url} (from "
                    f"{_describe(settings.base_url_source, BASE_URL_ENV, settings.profile)})",
                ),
                (
                    "Spend limit",
                    f"${settings.max_hourly_spend}/hour"
                    if settings.max_hourly_spend
                    else "none (fluidstack configure --max-hourly-spend USD)",
                ),
            ]
        )

    state.emit(data, table=table, ids=[settings.profile])


def _prompt_key(profile: str, has_key: bool) -> Optional[str]:
    """The key typed at a hidden prompt (Enter alone keeps the stored one)."""
    prompt = f"API key for profile {profile!r}"
    if has_key:
        prompt += " (Enter keeps the current one)"
    value: str = click.prompt(prompt, hide_input=True, default="", show_default=False, err=True)
    return value.strip() or None


@click.command()
@click.option(
    "--show", is_flag=True, help="Say where the key and base URL come from; change nothing."
)
@click.option(
    "--base-url",
    "new_base_url",
    metavar="URL",
    help="Store this API root in the profile ('' removes it).",
)
@click.option(
    "--max-hourly-spend",
    "new_limit",
    metavar="USD",
    help="Refuse creates and starts that would take the account's hourly spend over "
    "USD ('' removes the limit).",
)
@click.option(
    "--api-key-stdin",
    is_flag=True,
    help="Read the key from standard input even on a terminal.",
)
@output_options
@pass_state
def configure(
    state: CliState,
    show: bool,
    new_base_url: Optional[str],
    new_limit: Optional[str],
    api_key_stdin: bool,
) -> None:
    """Store your API key (and optionally a base URL) in the config file.

    The key is read at a hidden prompt, or from standard input when it is not a
    terminal; `fluidstack --api-key KEY configure` stores KEY. Use --profile to keep
    several accounts. The file is ~/.config/fluidstack/config.toml (or under
    $XDG_CONFIG_HOME, or $FLUIDSTACK_CONFIG), written with mode 0600.

    \b
    Examples:
      fluidstack configure
      echo "$KEY" | fluidstack --profile work configure
      fluidstack --profile emulator configure --base-url http://127.0.0.1:8080
      fluidstack configure --max-hourly-spend 25
      fluidstack configure --show
    """
    if show:
        _show(state)
        return

    from .config import ConfigError, load_config, save_profile

    settings = state.resolve(require_profile=False)
    try:
        existing = load_config(settings.path, ignore_permissions=True)
    except ConfigError as exc:
        raise InputError(str(exc)) from exc
    current = existing.profiles.get(settings.profile, {})

    base_url = new_base_url if new_base_url is not None else state.base_url
    values: Dict[str, Optional[str]] = {}
    if new_limit is not None:
        from fluidstack.core.spend import spend_limit

        new_limit = new_limit.strip()
        if new_limit:
            try:
                spend_limit(new_limit)
            except ValueError as exc:
                raise click.BadParameter(str(exc), param_hint="'--max-hourly-spend'") from exc
        values["max_hourly_spend"] = new_limit
    if state.api_key:
        key: Optional[str] = state.api_key
    elif new_limit is not None and not api_key_stdin:
        key = None  # setting the limit asks for no key
    elif api_key_stdin or not stdin_is_terminal():
        key = sys.stdin.readline().strip() or None
    else:
        key = _prompt_key(settings.profile, "api_key" in current)
    if key is not None:
        values["api_key"] = key
    elif "api_key" not in current and base_url is None and new_limit is None:
        raise InputError("no API key given; nothing was stored")

    if base_url is not None:
        base_url = base_url.strip()
        if base_url and not base_url.startswith(("http://", "https://")):
            raise click.BadParameter(
                "must be an http:// or https:// URL", param_hint="'--base-url'"
            )
        values["base_url"] = base_url.rstrip("/")

    key = values.get("api_key")
    if key is not None and (any(c.isspace() for c in key) or not key.isprintable()):
        raise InputError("that API key contains spaces or control characters")
    if not values:
        state.info("Nothing to change.")
        return
    try:
        save_profile(settings.path, settings.profile, values)
    except OSError as exc:
        raise CliError(f"cannot write {settings.path}: {exc.strerror or exc}") from exc
    names = {"api_key": "API key", "base_url": "base URL", "max_hourly_spend": "spend limit"}
    # An empty value (--max-hourly-spend '') removes the setting: say so, not "Stored".
    stored = " and ".join(names[k] for k, v in values.items() if v)
    removed = " and ".join(names[k] for k, v in values.items() if not v)
    where = f"profile {settings.profile!r} of {settings.path}"
    if stored:
        state.info(f"Stored the {stored} in {where}.")
    if removed:
        state.info(f"Removed the {removed} from {where}.")
    if (
        settings.api_key_source == "env"
        and settings.profile_source != "flag"
        and "api_key" in values
    ):
        state.warn(
            "FLUIDSTACK_API_KEY is set and takes precedence over the file "
            "(unless you pass --profile)"
        )
