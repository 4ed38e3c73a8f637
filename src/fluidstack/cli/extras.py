"""``fluidstack completion`` and ``fluidstack emulator``."""

from __future__ import annotations

import sys
from typing import Tuple

import click

from .state import InputError

__all__ = ["completion", "emulator"]

SHELLS = ("bash", "zsh", "fish")
_COMPLETE_VAR = "_FLUIDSTACK_COMPLETE"
_INSTALL = {
    "bash": 'eval "$(fluidstack completion bash)"     # in ~/.bashrc',
    "zsh": 'eval "$(fluidstack completion zsh)"      # in ~/.zshrc',
    "fish": "fluidstack completion fish > ~/.config/fish/completions/fluidstack.fish",
}


@click.command()
@click.argument("shell", type=click.Choice(SHELLS))
@click.pass_context
def completion(ctx: click.Context, shell: str) -> None:
    """Print the shell completion script for bash, zsh or fish.

    \b
    Install it with:
      bash:  eval "$(fluidstack completion bash)"     # in ~/.bashrc
      zsh:   eval "$(fluidstack completion zsh)"      # in ~/.zshrc
      fish:  fluidstack completion fish > ~/.config/fish/completions/fluidstack.fish
    """
    from click.shell_completion import get_completion_class

    root = ctx.find_root().command
    completion_class = get_completion_class(shell)
    if completion_class is None:  # pragma: no cover - the Choice above prevents it
        raise click.BadParameter(f"unsupported shell {shell!r}")
    script = completion_class(root, {}, "fluidstack", _COMPLETE_VAR).source()
    click.echo(script)


@click.command(
    context_settings={"ignore_unknown_options": True, "allow_extra_args": True},
    add_help_option=False,
)
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
@click.pass_context
def emulator(ctx: click.Context, args: Tuple[str, ...]) -> None:
    """Start the bundled FluidStack API emulator (same flags as fluidstack-emulator).

    Run `fluidstack emulator --help` for its flags. Needs the emulator extra:
    pip install 'fluidstack[emulator]'.
    """
    from fluidstack.emulator.__main__ import build_parser, run_from_args

    try:
        parsed = build_parser(prog="fluidstack emulator").parse_args(list(args))
    finally:
        sys.stdout.flush()  # argparse prints --help or a usage error and exits
        sys.stderr.flush()
    try:
        code = run_from_args(parsed)
    except ImportError as exc:
        from .._extras import missing_extra

        command = missing_extra(exc)
        if command is None:
            raise
        raise InputError(
            f"the emulator needs its extra ({exc.name} is missing): {command}"
        ) from exc
    ctx.exit(code)
