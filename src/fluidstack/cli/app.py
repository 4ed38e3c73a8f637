"""The ``fluidstack`` command: global options, error handling and exit codes.

Exit codes: 0 success; 1 API, network or other runtime error; 2 usage error (bad
option, bad input file, missing ``--yes``); 130 interrupted with Ctrl-C.
"""

from __future__ import annotations

import errno
import os
import sys
from typing import Any, List, Optional, Sequence

import click

from .._version import __version__
from .state import OUTPUT_FORMATS, CliError, CliState, InputError, LazyGroup

__all__ = ["cli"]

EXIT_OK = 0
EXIT_ERROR = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130

_MISSING_KEY_HINT = (
    "pass --api-key, set FLUIDSTACK_API_KEY, or store one with `fluidstack configure`"
)
_WRONG_KEY_HINT = (
    "check the key: --api-key, else FLUIDSTACK_API_KEY, else the one `fluidstack configure` stored"
)
_TOKEN = "FLUIDSTACK_TOKEN and FLUIDSTACK_CLIENT_ID/_SECRET, when set, come first"
_BASE_URL_HINT = "--base-url, FLUIDSTACK_BASE_URL or the profile (`fluidstack configure`)"
_ATLAS_URL_HINT = "FLUIDSTACK_ATLAS_URL or the profile (`fluidstack atlas login --url URL`)"


class FluidStackGroup(LazyGroup):
    """The root group: turns exceptions into one-line errors and the documented exit codes."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except (click.ClickException, click.exceptions.Exit, click.Abort):
            raise
        except OSError as exc:
            if exc.errno == errno.EPIPE:
                raise  # the reader went away; handled quietly in main()
            raise self._failure(ctx, exc) from exc
        except Exception as exc:
            raise self._failure(ctx, exc) from exc

    @staticmethod
    def _failure(ctx: click.Context, exc: Exception) -> CliError:
        """Report ``exc`` as one line (with the traceback first under ``--debug``)."""
        state = ctx.find_object(CliState)
        debug = bool(state and state.debug)
        if debug:
            import traceback

            traceback.print_exception(type(exc), exc, exc.__traceback__, file=sys.stderr)
        return _as_cli_error(exc, debug, atlas=ctx.invoked_subcommand == "atlas")

    def main(
        self,
        args: Optional[Sequence[str]] = None,
        prog_name: Optional[str] = None,
        complete_var: Optional[str] = None,
        standalone_mode: bool = True,
        **extra: Any,
    ) -> Any:
        if not standalone_mode:
            return super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        try:
            result = super().main(
                args, prog_name or "fluidstack", complete_var, standalone_mode=False, **extra
            )
        except click.ClickException as exc:
            exc.show()
            code = exc.exit_code
        except click.Abort as exc:
            if isinstance(exc.__cause__, KeyboardInterrupt):
                click.echo("interrupted", err=True)
                code = EXIT_INTERRUPTED
            else:
                click.echo("aborted", err=True)
                code = EXIT_ERROR
        except KeyboardInterrupt:
            click.echo("\ninterrupted", err=True)
            code = EXIT_INTERRUPTED
        except OSError as exc:
            if exc.errno != errno.EPIPE:
                raise
            # The reader went away (`fluidstack instances list | head -1`): stop quietly.
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
            code = EXIT_ERROR
        else:
            code = result if isinstance(result, int) else EXIT_OK
        sys.exit(code)


def _as_cli_error(exc: Exception, debug: bool, atlas: bool = False) -> CliError:
    """The one-line error for an exception raised by a command (``atlas``: one of
    ``fluidstack atlas``, whose hints name Atlas's settings)."""
    from fluidstack.core.errors import (
        ApiError,
        MissingApiKeyError,
        MissingCredentialsError,
        MissingProjectError,
        MissingRegionError,
        UnknownRegionError,
    )

    # A setting that is missing is a usage error (exit 2), as a bad one is: the fix is
    # the user's, and a script can tell it from an API that failed (exit 1).
    if isinstance(exc, MissingApiKeyError):
        return InputError(f"no API key: {_MISSING_KEY_HINT}")
    if isinstance(exc, MissingCredentialsError):
        return InputError("no Atlas credentials: run `fluidstack atlas login`")
    if isinstance(exc, MissingRegionError):
        return InputError(
            "no region chosen: pass `fluidstack atlas --region NAME ...` or keep one with "
            f"`fluidstack atlas use --region NAME` (regions: {', '.join(exc.known) or 'none'})"
        )
    if isinstance(exc, UnknownRegionError):  # bad input, exit 2 (as `atlas use` says it)
        return InputError(str(exc))
    if isinstance(exc, MissingProjectError):
        return InputError(
            "no project chosen: pass `fluidstack atlas --project NAME ...` or keep one with "
            "`fluidstack atlas use --project NAME` (see `fluidstack atlas projects list`)"
        )
    if isinstance(exc, ApiError):
        return CliError(_with_hint(str(exc) or type(exc).__name__, exc, atlas))
    if isinstance(exc, ImportError):
        from .._extras import missing_extra

        command = missing_extra(exc)
        if command is not None:
            error = InputError(f"this needs an extra ({exc.name} is missing): {command}")
            return error
    hint = "" if debug else " (run with --debug for the traceback)"
    return CliError(f"unexpected {type(exc).__name__}: {exc}{hint}")


def _with_hint(message: str, exc: Exception, atlas: bool = False) -> str:
    """``message`` with the CLI command that fixes it, where the server names an HTTP
    call or gives a bare 404 (issue 28 item 10), and with the setting to check where
    the key or token was refused or the API could not be reached (``atlas``: for a
    command of ``fluidstack atlas``)."""
    import re

    from fluidstack.core.errors import (
        ApiConnectionError,
        ApiTimeoutError,
        AuthenticationError,
        NotFoundError,
        TokenError,
    )

    if isinstance(exc, AuthenticationError) and not isinstance(exc, TokenError):
        if atlas:
            return f"{message}: log in again with `fluidstack atlas login` ({_TOKEN})"
        return f"{message}: {_WRONG_KEY_HINT}"
    if isinstance(exc, ApiConnectionError) and not isinstance(exc, ApiTimeoutError):
        where = _ATLAS_URL_HINT if atlas else _BASE_URL_HINT
        return f"{message}: is the API running at that address? It comes from {where}"

    if "POST /ssh_keys" in message:
        return message.replace("POST /ssh_keys", "`fluidstack ssh-keys add NAME [FILE.pub]`")
    if isinstance(exc, NotFoundError) and re.search(r"\bProject\b.*not found", message):
        return (
            f"{message}: the profile's project may be gone (an emulator forgets its "
            "projects when restarted); choose one with `fluidstack atlas use --project "
            "NAME` (see `fluidstack atlas projects list`)"
        )
    return message


def _version_message() -> str:
    return f"fluidstack {__version__} (Python {sys.version.split()[0]})"


@click.group(
    cls=FluidStackGroup,
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
)
@click.option(
    "--api-key",
    metavar="KEY",
    help="API key (default: $FLUIDSTACK_API_KEY, then the config file).",
)
@click.option(
    "--base-url",
    metavar="URL",
    help="API root (default: $FLUIDSTACK_BASE_URL, the config file, or production).",
)
@click.option(
    "--profile",
    metavar="NAME",
    help="Profile of the config file to use (default: $FLUIDSTACK_PROFILE or 'default').",
)
@click.option(
    "-o",
    "--output",
    type=click.Choice(OUTPUT_FORMATS, case_sensitive=False),
    default="table",
    show_default=True,
    help="Output format; json and yaml print one document on stdout.",
)
@click.option("-q", "--quiet", is_flag=True, help="Print ids only, and no hints.")
@click.option("--no-color", is_flag=True, help="Never use colours (also: $NO_COLOR).")
@click.option("--debug", is_flag=True, help="Log HTTP calls and show tracebacks on errors.")
@click.version_option(
    __version__, "-V", "--version", prog_name="fluidstack", message=_version_message()
)
@click.pass_context
def cli(
    ctx: click.Context,
    api_key: Optional[str],
    base_url: Optional[str],
    profile: Optional[str],
    output: str,
    quiet: bool,
    no_color: bool,
    debug: bool,
) -> None:
    """Rent and manage FluidStack GPU instances from the terminal.

    \b
    Atlas (FluidStack's current API): see `fluidstack atlas --help`.
    Platform API, get started:
      fluidstack configure                      store your API key
      fluidstack configurations list            what you can rent, cheapest first
      fluidstack instances create --gpu-type RTX_A5000_24GB --wait
      fluidstack instances ssh ID

    Tables go to stdout, messages to stderr. Exit codes: 0 ok, 1 API or network
    error, 2 usage error, 130 interrupted.
    """
    ctx.obj = CliState(
        api_key=api_key,
        base_url=base_url,
        profile=profile,
        output=output.lower(),
        quiet=quiet,
        no_color=no_color or bool(os.environ.get("NO_COLOR")),
        debug=debug,
    )


# Each command's module is imported when the command is looked up (see LazyGroup).
cli.lazy_package = __package__
cli.lazy_commands = {
    "atlas": (".atlas", "atlas"),
    "instances": (".platform.instances", "instances"),
    "run": (".platform.run", "run"),
    "jupyter": (".platform.ports", "jupyter"),
    "ssh-keys": (".platform.ssh_keys", "ssh_keys"),
    "ssh-config": (".ssh_config", "ssh_config"),
    "configurations": (".platform.catalog", "configurations"),
    "templates": (".platform.catalog", "templates"),
    "balance": (".platform.account", "balance"),
    "cost": (".platform.cost", "cost"),
    "api-keys": (".platform.account", "api_keys"),
    "configure": (".configure", "configure"),
    "completion": (".extras", "completion"),
    "emulator": (".extras", "emulator"),
}


def run(argv: Optional[List[str]] = None) -> None:
    """Run the command line (``argv`` defaults to ``sys.argv[1:]``); always exits."""
    cli.main(args=argv, prog_name="fluidstack")
