"""The instance commands both APIs register alike: ``delete`` (confirmation, one delete
per id, a report of what failed), ``sweep``, ``ssh``, ``exec`` and ``cp``.

Each API's ``instances`` group (:mod:`fluidstack.cli.platform.instances`,
:mod:`fluidstack.cli.atlas.instances`) calls the ``add_*`` functions with what differs
between the APIs: an :class:`InstanceCommands` (how to complete ids, how to reach the
SDK's instances resource, whether instances need ``--ssh-port``) and each command's help
text. The command's options, messages and exit codes are the same for both.

Only Click is imported at module level: ``fluidstack --help`` stays fast.
"""

from __future__ import annotations

import os
import shlex
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

import click

from .remote import (
    ATLAS_PORT_HINT,
    Endpoint,
    copy_and_report,
    exec_and_exit,
    exec_timeout_option,
    identity_option,
    refuse_unreachable,
    remote_command,
    ssh_argv,
    ssh_port_option,
    system_ssh,
)
from .spend import run_sweep, sweep_options
from .state import CliError, CliState, confirm_or_require_yes, output_options, pass_state
from .waiting import wait_options

__all__ = [
    "Deletion",
    "InstanceCommands",
    "SshTarget",
    "add_cp",
    "add_delete",
    "add_exec",
    "add_ssh",
    "add_sweep",
]

Decorator = Callable[[Any], Any]


# Plain classes, not dataclasses: making a dataclass costs about half a millisecond at
# import, and every `fluidstack --help` imports this module.
class InstanceCommands:
    """What one API's ``instances`` group gives the shared commands."""

    __slots__ = ("complete_ids", "group", "resolve", "resource", "ssh_port")

    def __init__(
        self,
        group: click.Group,
        complete_ids: Callable[..., Any],
        resource: Callable[[CliState, Optional[int]], Any],
        ssh_port: bool = False,
        resolve: Optional[Callable[[CliState, str], str]] = None,
    ) -> None:
        self.group = group
        """The group the commands are added to."""
        self.complete_ids = complete_ids
        """Shell completion of an instance id argument."""
        self.resource = resource
        """The SDK's instances resource for ``exec`` and ``cp``, given the ``--ssh-port``
        option (always ``None`` when :attr:`ssh_port` is false)."""
        self.ssh_port = ssh_port
        """Whether ``ssh``, ``exec`` and ``cp`` take ``--ssh-port`` (Atlas reports no port)."""
        self.resolve: Callable[[CliState, str], str] = resolve or (lambda state, ref: ref)
        """The id of the instance an argument names, by id or by name
        (:mod:`fluidstack.cli.resolve`)."""


# -- delete -------------------------------------------------------------------------------


class Deletion:
    """How one ``delete`` command deletes, made once the user has confirmed."""

    __slots__ = ("delete", "done", "then")

    def __init__(
        self,
        delete: Callable[[str], None],
        done: str,
        then: Optional[Callable[[List[str]], None]] = None,
    ) -> None:
        self.delete = delete
        """Delete one instance; an ``ApiError`` is reported and the next id tried."""
        self.done = done
        """The first word of the line said after each delete ("Deleted", "Deleting")."""
        self.then = then
        """Called with the ids deleted, before the report (Atlas: wait until they are gone)."""


def add_delete(
    api: InstanceCommands,
    help_text: str,
    wait_help: str,
    start: Callable[[CliState, bool, float, float], Deletion],
) -> click.Command:
    """``instances delete ID...``: ask (unless ``--yes``), delete each id with the
    :class:`Deletion` that ``start(state, wait, timeout, poll_interval)`` gives, print
    ``{"deleted": [...], "failed": [...]}`` for ``-o json|yaml`` or ``-q``, and exit 1
    if any delete failed. Each ``add_*`` returns the command it added to the group."""

    @api.group.command("delete", help=help_text)
    @click.argument(
        "instance_ids",
        metavar="ID...",
        nargs=-1,
        required=True,
        shell_complete=api.complete_ids,
    )
    @click.option("-y", "--yes", is_flag=True, help="Do not ask for confirmation.")
    @click.option("--wait", is_flag=True, help=wait_help)
    @wait_options
    @output_options
    @pass_state
    def delete_instances(
        state: CliState,
        instance_ids: Tuple[str, ...],
        yes: bool,
        wait: bool,
        timeout: float,
        poll_interval: float,
    ) -> None:
        from fluidstack.core.errors import ApiError

        ids = list(dict.fromkeys(api.resolve(state, ref) for ref in instance_ids))
        what = f"instance {ids[0]}" if len(ids) == 1 else f"{len(ids)} instances ({', '.join(ids)})"
        confirm_or_require_yes(
            state, f"Delete {what}? This cannot be undone.", yes, "nothing was deleted"
        )
        deletion = start(state, wait, timeout, poll_interval)
        deleted: List[str] = []
        failed: List[Dict[str, Any]] = []
        for instance_id in ids:
            try:
                deletion.delete(instance_id)
            except ApiError as exc:
                failed.append(
                    {"id": instance_id, "error": str(exc), "status_code": exc.status_code}
                )
                click.echo(f"error: {instance_id}: {exc}", err=True)
                continue
            deleted.append(instance_id)
            state.info(f"{deletion.done} instance {instance_id}.")
        if deletion.then is not None:
            deletion.then(deleted)
        if state.output != "table" or state.quiet:
            state.emit({"deleted": deleted, "failed": failed}, ids=deleted)
        if failed:
            click.get_current_context().exit(1)

    return delete_instances


# -- sweep --------------------------------------------------------------------------------


def add_sweep(
    api: InstanceCommands,
    help_text: str,
    statuses: Sequence[str],
    command: str,
    sweep_of: Callable[[CliState, Dict[str, Any]], Callable[..., Any]],
    extra_options: Sequence[Decorator] = (),
) -> click.Command:
    """``instances sweep``: :func:`fluidstack.cli.spend.run_sweep` with the SDK sweep
    that ``sweep_of(state, options)`` gives (it may rewrite its own ``extra_options``
    in ``options`` into the SDK's keywords)."""

    def sweep_instances(state: CliState, /, **options: Any) -> None:
        sweep = sweep_of(state, options)
        run_sweep(state, sweep, options, command)

    decorated: Any = pass_state(sweep_instances)
    decorated = output_options(decorated)
    for option in reversed(extra_options):
        decorated = option(decorated)
    decorated = sweep_options(statuses)(decorated)
    command_object: click.Command = api.group.command("sweep", help=help_text)(decorated)
    return command_object


# -- ssh, exec, cp ------------------------------------------------------------------------


class SshTarget:
    """Where ``instances ssh`` logs in, found by one API."""

    __slots__ = ("close", "endpoint", "refusal", "warning")

    def __init__(
        self,
        endpoint: Endpoint,
        close: Callable[[], None],
        warning: Optional[str] = None,
        refusal: Optional[str] = None,
    ) -> None:
        self.endpoint = endpoint
        self.close = close
        """Closes the API client before this process becomes ``ssh``."""
        self.warning = warning
        """Said before anything else (the instance is not running, say)."""
        self.refusal = refusal
        """Why ``ssh`` cannot work (``--print`` still prints the command)."""


def _with_ssh_port(api: InstanceCommands, options: List[Decorator]) -> List[Decorator]:
    # --ssh-port comes right after the identity option, as `--help` lists it.
    return [*options[:1], ssh_port_option, *options[1:]] if api.ssh_port else options


def _decorate(func: Any, decorators: Sequence[Decorator]) -> click.Command:
    for decorator in reversed(decorators):
        func = decorator(func)
    command: click.Command = func
    return command


def add_ssh(
    api: InstanceCommands,
    help_text: str,
    target: Callable[[CliState, str, Optional[int]], SshTarget],
    identity: Decorator = identity_option,
) -> click.Command:
    """``instances ssh ID [-- SSH ARGS...]``: replace this process with ``ssh`` to the
    :class:`SshTarget` that ``target(state, instance_id, ssh_port)`` finds (or print
    the command, ``--print``)."""

    def ssh_instance(
        state: CliState,
        instance_id: str,
        ssh_args: Tuple[str, ...],
        identity: Optional[str],
        print_only: bool,
        ssh_port: Optional[int] = None,
    ) -> None:
        found = target(state, api.resolve(state, instance_id), ssh_port)
        key = os.path.expanduser(identity) if identity else None
        argv = ssh_argv(found.endpoint, key, ssh_args)
        if found.warning is not None:
            state.warn(found.warning)
        if print_only:
            click.echo(shlex.join(argv))
            return
        if found.refusal is not None:
            raise CliError(found.refusal)
        try:  # before ssh is started: not one packet towards a documentation address
            refuse_unreachable(found.endpoint)
        except CliError as exc:
            raise CliError(f"{exc.message} `--print` shows the ssh command.") from None
        system_ssh(state, argv, found.close)

    decorators: List[Decorator] = [
        api.group.command("ssh", help=help_text),
        click.argument("instance_id", metavar="ID", shell_complete=api.complete_ids),
        click.argument("ssh_args", nargs=-1, type=click.UNPROCESSED, metavar="[-- SSH ARGS...]"),
        *_with_ssh_port(
            api,
            [
                identity,
                click.option(
                    "--print",
                    "print_only",
                    is_flag=True,
                    help="Print the ssh command; do not run it.",
                ),
            ],
        ),
        pass_state,
    ]
    return _decorate(ssh_instance, decorators)


def add_exec(api: InstanceCommands, prog: str, command_first: bool) -> click.Command:
    """``instances exec ID -- COMMAND...``: run it over SSH, output streamed here, and
    exit with its status. ``command_first``: a missing COMMAND is reported before the
    client is made (as Atlas's command always did)."""

    def exec_instance(
        state: CliState,
        instance_id: str,
        command: Tuple[str, ...],
        identity: Optional[str],
        timeout: Optional[float],
        ssh_port: Optional[int] = None,
    ) -> None:
        if command_first:
            remote_command(command)  # a usage error before anything is sent
        resource = api.resource(state, ssh_port)
        no_connection = ATLAS_PORT_HINT if api.ssh_port else None
        exec_and_exit(
            resource, api.resolve(state, instance_id), command, identity, timeout, no_connection
        )

    help_text = f"""Run a command on an instance over SSH: its output streams here, and this exits
    with its exit status (255 when SSH itself fails).

    \b
    Examples:
      {prog} exec ID -- nvidia-smi
      {prog} exec ID -- 'cd work && python train.py'
    """
    decorators: List[Decorator] = [
        api.group.command(
            "exec", help=help_text, context_settings={"ignore_unknown_options": True}
        ),
        click.argument("instance_id", metavar="ID", shell_complete=api.complete_ids),
        click.argument("command", nargs=-1, type=click.UNPROCESSED, metavar="-- COMMAND..."),
        *_with_ssh_port(api, [identity_option, exec_timeout_option]),
        pass_state,
    ]
    return _decorate(exec_instance, decorators)


def add_cp(api: InstanceCommands, prog: str, home: str) -> click.Command:
    """``instances cp SOURCE DEST``: files or folders to or from an instance over SFTP
    (``home``: whose home a relative instance path is in, for the help)."""

    def copy_files(
        state: CliState,
        source: str,
        destination: str,
        identity: Optional[str],
        ssh_port: Optional[int] = None,
    ) -> None:
        def resource() -> Any:
            return api.resource(state, ssh_port)

        copy_and_report(
            state, resource, source, destination, identity, lambda ref: api.resolve(state, ref),
            no_connection=ATLAS_PORT_HINT if api.ssh_port else None,
        )  # fmt: skip

    help_text = f"""Copy files or directories (recursively) to or from an instance, over SFTP.
    The instance side is ID:PATH; a relative PATH is in {home} home.

    \b
    Examples:
      {prog} cp ./data ID:data
      {prog} cp ID:results ./results
    """
    decorators: List[Decorator] = [
        api.group.command("cp", help=help_text),
        click.argument("source", metavar="SOURCE"),
        click.argument("destination", metavar="DEST"),
        *_with_ssh_port(api, [identity_option]),
        pass_state,
    ]
    return _decorate(copy_files, decorators)
