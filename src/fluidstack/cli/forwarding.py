"""``instances forward INSTANCE [LOCAL:]REMOTE ...`` of both APIs: local ports that lead
to ports on an instance over SSH (the SDK's ``instances.forward``), held open until
Ctrl-C. :mod:`fluidstack.cli.jupyter` forwards the same way.

Only Click is imported at module level: ``fluidstack --help`` stays fast.
"""

from __future__ import annotations

import contextlib
import os
import sys
import time
from typing import Any, Iterator, List, Optional, Sequence, Tuple

import click

from .instance_commands import InstanceCommands, _decorate, _with_ssh_port
from .remote import EXIT_SSH_FAILED, identity_option, ssh_errors
from .state import CliError, CliState, InputError, pass_state

__all__ = ["add_forward", "hold_until_interrupted", "open_forwards", "parse_port_spec"]

Spec = Tuple[int, int]
"""``(local_port, remote_port)``; a local port of 0 is any free one."""


def parse_port_spec(text: str) -> Spec:
    """``REMOTE`` (the same port here) or ``LOCAL:REMOTE`` (``0:REMOTE``: any free local
    port) as ``(local, remote)``; anything else is a usage error."""
    local_text, sep, remote_text = text.partition(":")
    if not sep:
        local_text = remote_text = text
    try:
        local, remote = int(local_text), int(remote_text)
    except ValueError:
        local = remote = -1
    if not (0 <= local <= 65535 and 0 < remote <= 65535):
        raise click.BadParameter(
            f"{text!r} is not [LOCAL:]REMOTE (ports, e.g. 8888 or 18888:8888; LOCAL 0 "
            "picks a free port)",
            param_hint="[LOCAL:]REMOTE",
        )
    return local, remote


@contextlib.contextmanager
def open_forwards(
    resource: Any, instance: Any, specs: Sequence[Spec], identity: Optional[str]
) -> Iterator[List[Any]]:
    """Open one SDK forward per spec on ``instance`` (all closed on leaving); a local
    port that is taken is one line and exit 1, an SSH failure exit 255."""
    from fluidstack.core.ssh_forward import LocalPortInUseError

    key = os.path.expanduser(identity) if identity else None
    with contextlib.ExitStack() as stack:
        opened: List[Any] = []
        for local, remote in specs:
            with ssh_errors():  # a taken port is not an SSH failure: caught first
                try:
                    forward = resource.forward(instance, remote, local, key_path=key)
                    opened.append(stack.enter_context(forward))
                except LocalPortInUseError as exc:
                    raise CliError(
                        f"local port {exc.port} is already in use: give another as "
                        f"LOCAL:{remote} (or 0:{remote} for any free port)"
                    ) from None
        yield opened


def hold_until_interrupted(state: CliState, forwards: Sequence[Any], poll: float = 0.2) -> None:
    """Keep the forwards open until Ctrl-C or SIGTERM (then return: the command exits 0)
    or until the SSH connection is lost (exit 255)."""
    import signal
    import threading

    def terminated(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt  # SIGTERM (a supervisor, `kill`) stops it as Ctrl-C does

    main = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGTERM, terminated) if main else None
    state.info("Forwarding; press Ctrl-C to stop.")
    try:
        while all(f.is_open for f in forwards):
            time.sleep(poll)
    except KeyboardInterrupt:
        state.info("Stopped forwarding.")
        return
    finally:
        if main:
            signal.signal(signal.SIGTERM, previous)
    lost = next(f for f in forwards if not f.is_open)
    click.echo(
        f"error: the SSH connection to instance {lost.instance_id} was lost (was it stopped "
        "or deleted?)",
        err=True,
    )
    click.get_current_context().exit(EXIT_SSH_FAILED)


def announce(forward: Any, what: str) -> None:
    """One line on stdout per forward: its local URL, and where it leads."""
    click.echo(f"{forward.url}  ->  {what}:{forward.remote_port}")
    sys.stdout.flush()


def add_forward(api: InstanceCommands, prog: str) -> click.Command:
    """``instances forward INSTANCE [LOCAL:]REMOTE ...``: forward until Ctrl-C."""

    def forward_ports(
        state: CliState,
        instance_id: str,
        ports: Tuple[str, ...],
        identity: Optional[str],
        ssh_port: Optional[int] = None,
    ) -> None:
        if not ports:
            raise InputError(f"give the ports to forward, e.g. `{prog} forward {instance_id} 8888`")
        specs = [parse_port_spec(p) for p in ports]
        resource = api.resource(state, ssh_port)
        instance = resource.get(api.resolve(state, instance_id))
        with open_forwards(resource, instance, specs, identity) as forwards:
            for forward in forwards:
                announce(forward, instance_id)
            hold_until_interrupted(state, forwards)

    help_text = f"""Forward local ports to ports on an instance over SSH, until Ctrl-C.

    INSTANCE is an id or a name. Each port is REMOTE (the same port here) or LOCAL:REMOTE;
    LOCAL 0 picks a free port. Local ports listen on 127.0.0.1 only; the instance side
    connects to its own loopback. The local URLs are printed, one a line.

    \b
    Examples:
      {prog} forward trainer 8888
      {prog} forward trainer 18888:8888 6006
    """
    decorators: List[Any] = [
        api.group.command("forward", help=help_text),
        click.argument("instance_id", metavar="INSTANCE", shell_complete=api.complete_ids),
        click.argument("ports", nargs=-1, metavar="[LOCAL:]REMOTE..."),
        *_with_ssh_port(api, [identity_option]),
        pass_state,
    ]
    return _decorate(forward_ports, decorators)
