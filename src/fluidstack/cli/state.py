"""What every command shares: the global options, the SDK client, messages and prompts.

Nothing heavy is imported here at module level: the SDK, pydantic and Rich are loaded
inside the functions that need them, so ``fluidstack --help`` stays fast.
"""

from __future__ import annotations

import sys
import warnings
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable, Dict, List, Optional, Tuple

import click

if TYPE_CHECKING:
    from rich.console import Console

    from fluidstack.core.events import ResponseEvent, RetryEvent
    from fluidstack.platform._sync.client import FluidStack

    from .config import Resolved

__all__ = [
    "OUTPUT_FORMATS",
    "AliasedGroup",
    "CliError",
    "CliState",
    "InputError",
    "confirm_or_require_yes",
    "output_options",
    "pass_state",
    "stdin_is_terminal",
]

OUTPUT_FORMATS = ("table", "json", "yaml")


class CliError(click.ClickException):
    """A failure reported as one line, ``error: <message>``; exit code 1."""

    exit_code = 1

    def show(self, file: Any = None) -> None:
        click.echo(f"error: {self.format_message()}", err=True)


class InputError(CliError):
    """Bad input (a file, a setting, a missing choice): one line, exit code 2."""

    exit_code = 2


class AliasedGroup(click.Group):
    """A command group that also answers to the other names people type for its commands
    (``create`` for ``add``, ``rm`` for ``delete``, fluidctl's ``describe`` for ``get``...).
    An unknown command gets the closest spellings as suggestions, on every Click version
    (Click 8.1, the last for Python 3.9, suggests none)."""

    ALIASES = {
        "add": ("create",),
        "create": ("add",),
        "delete": ("remove", "rm"),
        "list": ("ls",),
        "get": ("describe", "show"),
    }

    def get_command(self, ctx: click.Context, cmd_name: str) -> Optional[click.Command]:
        command = super().get_command(ctx, cmd_name)
        if command is not None:
            return command
        for target, aliases in self.ALIASES.items():
            if cmd_name in aliases:
                return super().get_command(ctx, target)
        return None

    def resolve_command(
        self, ctx: click.Context, args: List[str]
    ) -> tuple[Optional[str], Optional[click.Command], List[str]]:
        typed = args[0] if args else ""
        if (
            typed
            and not typed.startswith("-")
            and not ctx.resilient_parsing
            and self.get_command(ctx, typed) is None
        ):
            import difflib  # only for a mistyped command: ~3 M instructions otherwise

            close = difflib.get_close_matches(typed, self.list_commands(ctx), n=2)
            hint = ""
            if close:
                hint = " Did you mean " + " or ".join(repr(c) for c in close) + "?"
            raise click.UsageError(f"No such command {typed!r}.{hint}", ctx)
        name, command, rest = super().resolve_command(ctx, args)
        # Report the command's own name (in usage lines and help), not the alias typed.
        return (command.name if command is not None else name), command, rest


class LazyGroup(AliasedGroup):
    """A command group whose commands' modules are imported when a command is looked
    up, not when the group is built: ``fluidstack instances list`` then loads neither
    the Atlas command tree nor the platform's other commands. Listing the commands
    (``--help``, completion, suggestions) loads them all. ``lazy_commands`` maps each
    name to ``(module, attribute)``, the module relative to ``lazy_package``."""

    lazy_commands: Dict[str, Tuple[str, str]] = {}
    lazy_package: Optional[str] = None

    def list_commands(self, ctx: click.Context) -> List[str]:
        return sorted(set(self.commands) | set(self.lazy_commands))

    def get_command(self, ctx: click.Context, cmd_name: str) -> Optional[click.Command]:
        names = [cmd_name] + [t for t, aliases in self.ALIASES.items() if cmd_name in aliases]
        for name in names:
            if name in self.lazy_commands and name not in self.commands:
                import importlib

                module, attribute = self.lazy_commands[name]
                found = getattr(importlib.import_module(module, self.lazy_package), attribute)
                self.add_command(found, name)
        return super().get_command(ctx, cmd_name)


def stdin_is_terminal() -> bool:
    """Whether a person can answer a prompt (tests replace this)."""
    try:
        return sys.stdin.isatty()
    except (AttributeError, ValueError):
        return False


@dataclass
class CliState:
    """The global options and the lazily built SDK client of one invocation."""

    api_key: Optional[str] = field(default=None, repr=False)
    base_url: Optional[str] = None
    profile: Optional[str] = None
    output: str = "table"
    quiet: bool = False
    no_color: bool = False
    debug: bool = False
    atlas_region: Optional[str] = None
    """``fluidstack atlas --region``: this command's region (over the profile's)."""
    atlas_project: Optional[str] = None
    """``fluidstack atlas --project``: this command's project, by id or name."""
    _client: Optional[FluidStack] = field(default=None, repr=False)
    _atlas: Optional[Any] = field(default=None, repr=False)
    """The Atlas client, built by :func:`fluidstack.cli.atlas.session.atlas_client`."""
    _stdout: Optional[Console] = field(default=None, repr=False)
    _stderr: Optional[Console] = field(default=None, repr=False)

    # -- settings ----------------------------------------------------------------

    def resolve(self, require_profile: bool = True) -> Resolved:
        """Where the key and base URL come from (see :mod:`fluidstack.cli.config`)."""
        from .config import ConfigError, resolve

        try:
            return resolve(
                api_key=self.api_key,
                base_url=self.base_url,
                profile=self.profile,
                warn=self.warn,
                require_profile=require_profile,
            )
        except ConfigError as exc:
            raise InputError(str(exc)) from exc

    @property
    def client(self) -> FluidStack:
        """The SDK client, built on first use and closed when the command ends."""
        if self._client is None:
            from fluidstack.platform._sync.client import FluidStack

            settings = self.resolve()
            hooks = self.debug_hooks()
            if self.debug:
                key_from = settings.api_key_source
                self.debug_line(
                    f"profile {settings.profile} ({settings.profile_source}), "
                    f"base URL {settings.base_url} ({settings.base_url_source}), "
                    f"API key {'from ' + key_from if key_from else 'missing'}"
                )
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                try:
                    client = FluidStack(
                        api_key=settings.api_key,
                        base_url=settings.base_url,
                        event_hooks=hooks,
                        max_hourly_spend=settings.max_hourly_spend,
                    )
                except ValueError as exc:
                    from .config import BASE_URL_ENV

                    where = f"profile {settings.profile!r}"
                    if str(exc).startswith("base_url"):  # name where the URL came from
                        given = {"flag": "--base-url", "env": BASE_URL_ENV}
                        where = given.get(settings.base_url_source, where)
                    raise InputError(f"{exc} ({where})") from exc
            for warning in caught:
                self.warn(str(warning.message))
            ctx = click.get_current_context(silent=True)
            if ctx is not None:
                ctx.call_on_close(client.close)
            self._client = client
        return self._client

    # -- consoles ----------------------------------------------------------------

    @property
    def stdout(self) -> Console:
        """Rich console on stdout: colour only on a terminal, never wrapped when piped."""
        if self._stdout is None:
            self._stdout = self._console(sys.stdout)
        return self._stdout

    @property
    def stderr(self) -> Console:
        """Rich console on stderr, for progress."""
        if self._stderr is None:
            self._stderr = self._console(sys.stderr)
        return self._stderr

    def _console(self, file: Any) -> Console:
        from rich.console import Console

        is_tty = _isatty(file)
        return Console(
            file=file,
            no_color=self.no_color or None,
            color_system="auto" if is_tty and not self.no_color else None,
            highlight=False,
            emoji=False,
            width=None if is_tty else 10_000,
            soft_wrap=not is_tty,
        )

    # -- messages (stderr) -------------------------------------------------------

    def info(self, message: str) -> None:
        """A hint or progress message on stderr (silenced by ``--quiet``)."""
        if not self.quiet:
            click.echo(message, err=True)

    def warn(self, message: str) -> None:
        """A warning on stderr, shown even with ``--quiet``."""
        click.echo(f"warning: {message}", err=True)

    def debug_line(self, message: str) -> None:
        if self.debug:
            click.echo(f"debug: {message}", err=True)

    def debug_hooks(self) -> Any:
        """Event hooks that log each call on stderr under ``--debug`` (none otherwise)."""
        from fluidstack.core.events import EventHooks

        hooks = EventHooks()
        if self.debug:
            hooks.on_response.append(self._debug_response)
            hooks.on_retry.append(self._debug_retry)
        return hooks

    def _debug_response(self, event: ResponseEvent) -> None:
        outcome = event.status_code if event.status_code is not None else event.error
        self.debug_line(
            f"{event.method} {event.path} -> {outcome} "
            f"({event.elapsed * 1000:.0f} ms, attempt {event.attempt})"
        )

    def _debug_retry(self, event: RetryEvent) -> None:
        self.debug_line(
            f"retrying {event.method} {event.path} after {event.reason} in {event.delay:.2f}s"
        )

    # -- output (stdout) ---------------------------------------------------------

    def emit(
        self,
        data: Any,
        *,
        table: Optional[Callable[[], Any]] = None,
        ids: Optional[List[str]] = None,
    ) -> None:
        """Print a command's result on stdout in the chosen format.

        ``data`` is what JSON and YAML show (models are dumped with
        ``model_dump(mode="json")``); ``table`` builds the Rich renderable for table
        output; ``ids`` is what ``--quiet`` prints, one a line.
        """
        if self.quiet:
            for ident in ids or []:
                click.echo(ident)
            return
        if self.output == "json":
            import json

            click.echo(json.dumps(jsonable(data), indent=2, ensure_ascii=False))
        elif self.output == "yaml":
            import yaml

            click.echo(
                yaml.safe_dump(jsonable(data), sort_keys=False, allow_unicode=True).rstrip("\n")
            )
        elif table is not None:
            rendered = table()
            console = self.stdout
            if console.is_terminal:
                console.print(rendered)
                return
            # Piped: no padding at the ends of lines, so the output diffs and greps well.
            with console.capture() as captured:
                console.print(rendered)
            click.echo("\n".join(line.rstrip() for line in captured.get().splitlines()))


def jsonable(data: Any) -> Any:
    """Models to plain JSON values with the API's field names (``model_dump(mode="json",
    by_alias=True)``: Atlas's ``userData``), recursively."""
    dump = getattr(data, "model_dump", None)
    if callable(dump):
        return dump(mode="json", by_alias=True)
    if isinstance(data, dict):
        return {str(k): jsonable(v) for k, v in data.items()}
    if isinstance(data, (list, tuple)):
        return [jsonable(v) for v in data]
    from decimal import Decimal

    if isinstance(data, Decimal):
        return float(data)
    return data


def _isatty(file: Any) -> bool:
    try:
        return bool(file.isatty())
    except (AttributeError, ValueError):
        return False


pass_state = click.make_pass_decorator(CliState, ensure=True)


def _set_output(ctx: click.Context, param: click.Parameter, value: Optional[str]) -> None:
    if value is not None:
        ctx.ensure_object(CliState).output = value.lower()


def _set_quiet(ctx: click.Context, param: click.Parameter, value: bool) -> None:
    if value:
        ctx.ensure_object(CliState).quiet = True


def output_options(func: Callable[..., Any]) -> Callable[..., Any]:
    """``-o/--output`` and ``-q/--quiet`` on a command, as well as on ``fluidstack`` itself."""
    func = click.option(
        "-q",
        "--quiet",
        is_flag=True,
        default=False,
        expose_value=False,
        callback=_set_quiet,
        help="Print ids only.",
    )(func)
    func = click.option(
        "-o",
        "--output",
        type=click.Choice(OUTPUT_FORMATS, case_sensitive=False),
        default=None,
        expose_value=False,
        callback=_set_output,
        help="Output format (default: table).",
    )(func)
    return func


def confirm_or_require_yes(state: CliState, question: str, yes: bool, what: str) -> None:
    """Ask ``question`` on a terminal unless ``--yes``; without a terminal, demand ``--yes``.

    Declining ends the command with exit code 1 and ``what`` (e.g. "nothing was deleted").
    """
    if yes:
        return
    if not stdin_is_terminal():
        raise click.UsageError("no terminal to confirm on: pass --yes to proceed")
    if not click.confirm(question, default=False, err=True):
        raise CliError(f"cancelled: {what}")
