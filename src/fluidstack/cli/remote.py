"""Logging into instances, for both APIs' commands: ``ssh`` (the system's ssh client),
``exec`` (a command, its output streamed, its exit status returned) and ``cp`` (files
both ways), built on the SDK's ``instances.exec/upload/download``.

Only Click is imported at module level: ``fluidstack --help`` stays fast.
"""

from __future__ import annotations

import contextlib
import os
import shlex
import sys
import warnings
from dataclasses import dataclass
from typing import Any, Callable, Iterator, List, Optional, Sequence, Tuple

import click

from .state import CliError, CliState, InputError

__all__ = [
    "ENV_SSH_PORT",
    "EXIT_SSH_FAILED",
    "Endpoint",
    "copy_and_report",
    "exec_and_exit",
    "exec_timeout_option",
    "identity_option",
    "parse_copy",
    "refuse_unreachable",
    "remote_command",
    "ssh_argv",
    "ssh_errors",
    "ssh_port_option",
    "system_ssh",
    "unreachable",
]

EXIT_SSH_FAILED = 255
"""Exit status when the SSH connection itself failed (as ``ssh`` exits)."""

SSH_CONNECT_TIMEOUT = 15
"""Seconds ssh may take to connect."""


@dataclass(frozen=True)
class Endpoint:
    """Where an instance answers SSH, and as whom."""

    instance_id: str
    host: str
    port: int
    username: str


def ssh_argv(
    endpoint: Endpoint,
    identity: Optional[str] = None,
    extra: Sequence[str] = (),
    connect_timeout: bool = True,
) -> List[str]:
    """The ``ssh`` command line for an instance.

    Host keys are trusted on first use and remembered per instance (``HostKeyAlias``) in
    the same file as the SDK's, so ``ssh``, ``exec`` and ``cp`` agree about them and a
    reused address or port never trips a "host key changed" warning.
    """
    from fluidstack.core.ssh import default_known_hosts_path, host_key_alias

    argv = ["ssh"]
    if connect_timeout:
        # A bounded connect: an unreachable address fails in seconds instead of hanging.
        argv += ["-o", f"ConnectTimeout={SSH_CONNECT_TIMEOUT}"]
        argv += [
            "-o",
            f"HostKeyAlias={host_key_alias(endpoint.instance_id)}",
            "-o",
            f"UserKnownHostsFile={default_known_hosts_path()}",
            "-o",
            "StrictHostKeyChecking=accept-new",
        ]
    argv += ["-p", str(endpoint.port)]
    if identity:
        argv += ["-i", identity]
    argv.append(f"{endpoint.username}@{endpoint.host}")
    argv += list(extra)
    return argv


def unreachable(address: str) -> bool:
    """Whether ``address`` is one no network reaches (RFC 5737, for documentation: an
    emulator's without ``--ssh``); kept for callers of the old name."""
    from fluidstack.core.addresses import is_documentation_address

    return is_documentation_address(address)


def refuse_unreachable(endpoint: Endpoint) -> None:
    """Stop with the SDK's explanation before ``ssh`` or ``scp`` is started towards a
    documentation address: nothing is there, and the packets would still leave."""
    from fluidstack.core.addresses import is_documentation_address, refusal_message

    if is_documentation_address(endpoint.host):
        raise CliError(refusal_message(endpoint.instance_id, endpoint.host))


ENV_SSH_PORT = "FLUIDSTACK_SSH_PORT"
"""Where Atlas clients find the port instances answer SSH on (Atlas reports none)."""


def identity_option(func: Any) -> Any:
    """``-i/--identity KEY``: the private key to log in with."""
    return click.option(
        "-i",
        "--identity",
        type=click.Path(dir_okay=False, exists=True, resolve_path=False),
        metavar="KEY",
        help="Private key to log in with (default: ssh-agent, then ~/.ssh/id_*).",
    )(func)


def exec_timeout_option(func: Any) -> Any:
    """``--timeout S`` of ``exec``: the command is stopped after S seconds (exit 124)."""
    return click.option(
        "--timeout", type=float, metavar="S", help="Stop the command after S seconds (exit 124)."
    )(func)


def ssh_port_option(func: Any) -> Any:
    """``--ssh-port PORT`` of the Atlas commands (Atlas reports only an address)."""
    return click.option(
        "--ssh-port",
        type=click.IntRange(1, 65535),
        metavar="PORT",
        help=f"Port instances answer SSH on (default: ${ENV_SSH_PORT}, else 22; the "
        "emulator's is 2222).",
    )(func)


def system_ssh(state: CliState, argv: List[str], close: Callable[[], None]) -> None:
    """Replace this process with ``ssh`` (the known_hosts folder made first, 0700)."""
    import shutil
    import subprocess

    from fluidstack.core.ssh import default_known_hosts_path

    if shutil.which(argv[0]) is None:
        raise CliError(f"ssh is not installed or not on PATH; the command is: {shlex.join(argv)}")
    default_known_hosts_path().parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    close()
    sys.stdout.flush()
    sys.stderr.flush()
    if os.name == "nt":  # pragma: no cover - no exec on Windows
        click.get_current_context().exit(subprocess.call(argv))
    os.execvp(argv[0], argv)


def require_ssh_extra() -> None:
    """Fail before anything is sent (or rented) when the ``[ssh]`` extra is missing."""
    # Through the SDK's import, which keeps asyncssh's DSA deprecation warnings quiet.
    from fluidstack.core.ssh import _import_asyncssh

    _import_asyncssh()
    import pathspec  # noqa: F401


def remote_command(words: Sequence[str]) -> str:
    """The command line to run: one word is taken as a shell command line as it is
    (``exec ID -- 'make && ./train'``); several are quoted so that each stays one word."""
    if not words:
        raise click.UsageError("give the command after --, e.g. `exec ID -- nvidia-smi`")
    return words[0] if len(words) == 1 else shlex.join(words)


_SDK_REFUSED_HINT = "(pass key_path=, or load it into ssh-agent)"
"""How the SDK's refused-login error ends (``fluidstack.core.ssh``): SDK words, which
the CLI replaces with its own option."""
REFUSED_HINT = "pass -i KEY, or load it into ssh-agent"


ATLAS_PORT_HINT = (
    "Atlas reports no SSH port: pass --ssh-port PORT or set FLUIDSTACK_SSH_PORT (the "
    "emulator prints its port at start, 2222 by default)"
)
"""What to check when an Atlas instance's SSH cannot be reached: the port is a guess."""


@contextlib.contextmanager
def ssh_errors(refused: str = REFUSED_HINT, no_connection: Optional[str] = None) -> Iterator[None]:
    """Turn an SSH failure into one line on stderr and exit status 255 (as ``ssh``);
    a refused login ends with ``refused``, what to do in this command, and a connection
    that could not be made with ``no_connection``, when given."""
    from fluidstack.core.ssh import CommandTimeoutError, SshError

    try:
        yield
    except CommandTimeoutError:
        raise  # the command's own limit: the caller says so (exit 124)
    except SshError as exc:
        message = str(exc).replace(_SDK_REFUSED_HINT, f"({refused})")
        if no_connection and message.startswith("could not connect to instance"):
            message = f"{message}. {no_connection}"
        click.echo(f"error: {message}", err=True)
        click.get_current_context().exit(EXIT_SSH_FAILED)


def exec_and_exit(
    resource: Any,
    instance_id: str,
    words: Sequence[str],
    identity: Optional[str],
    timeout: Optional[float],
    no_connection: Optional[str] = None,
) -> None:
    """``instances exec`` of either API: run the command on the instance with
    ``resource.exec`` (an SDK instances resource), its output streamed to this process's
    stdout and stderr, and exit with its status (124 past ``timeout``, 255 when SSH
    itself failed; ``no_connection``: what to check when it could not connect)."""
    from fluidstack.core.ssh import CommandTimeoutError

    command = remote_command(words)
    instance = resource.get(instance_id)
    sys.stdout.flush()
    sys.stderr.flush()
    stdout: Any = getattr(sys.stdout, "buffer", sys.stdout)
    stderr: Any = getattr(sys.stderr, "buffer", sys.stderr)
    try:
        with ssh_errors(no_connection=no_connection):
            result = resource.exec(
                instance,
                command,
                key_path=os.path.expanduser(identity) if identity else None,
                timeout=timeout,
                stdout=stdout,
                stderr=stderr,
            )
    except CommandTimeoutError as exc:
        click.echo(f"error: {exc}", err=True)
        click.get_current_context().exit(124)
    click.get_current_context().exit(int(result.exit_status))


def copy_and_report(
    state: CliState,
    resource: Callable[[], Any],
    source: str,
    destination: str,
    identity: Optional[str],
    resolve: Callable[[str], str] = str,
    no_connection: Optional[str] = None,
) -> None:
    """``instances cp`` of either API: one side is ``ID:PATH`` (or ``NAME:PATH``); files
    and folders go over SFTP with the instances resource that ``resource()`` gives (made
    only once the arguments are known to be right); ``resolve`` turns a name into an id."""
    direction, instance_ref, remote, local = parse_copy(source, destination)
    if direction == "up" and not os.path.exists(local):
        # Checked before any call, like a missing script of `slurm submit`: bad input.
        raise InputError(f"no such file or directory: {local}")
    key = os.path.expanduser(identity) if identity else None
    instances = resource()
    instance = instances.get(resolve(instance_ref))
    with ssh_errors(no_connection=no_connection):
        if direction == "up":
            instances.upload(instance, local, remote, key_path=key)
        else:
            download(state, instances, instance, remote, local, key)
    state.info(f"Copied {source} to {destination}.")


def download(state: CliState, instances: Any, instance: Any, remote: str, local: Any,
             key: Optional[str]) -> None:  # fmt: skip
    """``instances.download``, with each entry it left out (a symlink leading outside
    the tree, ...) as a ``warning:`` line rather than a Python warning."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        instances.download(instance, remote, local, key_path=key)
    for warning in caught:
        state.warn(str(warning.message))


def parse_copy(source: str, destination: str) -> Tuple[str, str, str, str]:
    """``(direction, instance_id, remote_path, local_path)`` of a ``cp SOURCE DEST``,
    where exactly one side is ``ID:PATH``; direction is ``up`` or ``down``."""

    def remote(text: str) -> Optional[Tuple[str, str]]:
        # A local path may hold a colon after a slash (./a:b); an instance id never does.
        head, sep, tail = text.partition(":")
        if not sep or not head or "/" in head or head.startswith("."):
            return None
        return head, tail or "."

    up, down = remote(destination), remote(source)
    if (up is None) == (down is None):
        raise click.UsageError(
            "one of SOURCE and DEST must be ID:PATH (the instance side) and the other a "
            "local path, e.g. `cp ./data ID:data` or `cp ID:results ./results`"
        )
    if up is not None:
        return "up", up[0], up[1], source
    assert down is not None
    return "down", down[0], down[1], destination
