"""``fluidstack ssh-config``: one ``Host`` alias per instance in a file fluidstack owns,
``Include``d from ``~/.ssh/config``, so that ``ssh fs-trainer``, ``scp``, ``rsync`` and
``code --remote ssh-remote+fs-trainer /`` work (the file itself:
:mod:`fluidstack.core.ssh_config`).

Aliases: ``fs-NAME`` for a platform instance, ``fs-PROJECT-NAME`` for an Atlas one
(names lowercased, anything but letters, digits, ``.``, ``_`` and ``-`` made ``-``); an
alias two instances would share (or one another section has) gets ``-`` and the first 8
characters of the instance's id appended. Instances that are running or on their way up
and have an address get one; stopped and deleted ones do not.

Each API's instances are one section of the managed file, per profile
(``platform:PROFILE``, ``atlas:PROFILE``). The instance commands of this CLI call
:func:`refresh_after_change` after a create, start, stop or delete: it rewrites that
API's section, only when the user has set ssh-config up (the managed file exists), and
never touches ``~/.ssh/config``.

For other commands that write hosts into the managed file (``atlas slurm ssh-config``):
:func:`ensure_included` asks for consent and adds the ``Include`` line; the entries go
through :func:`fluidstack.core.ssh_config.write_section` with a section of their own.

Only Click is imported at module level: ``fluidstack --help`` stays fast.
"""

from __future__ import annotations

import os
import re
from typing import TYPE_CHECKING, Any, Callable, Dict, List, Optional, Sequence, Tuple

import click

from . import state as cli_state
from .state import CliError, CliState, InputError, output_options, pass_state

if TYPE_CHECKING:
    from fluidstack.core.ssh_config import SshHost

__all__ = [
    "after_change",
    "after_delete",
    "alias_hint",
    "ensure_included",
    "refresh_after_change",
    "ssh_config",
]

PLATFORM = "platform"
ATLAS = "atlas"

_DOWN_PLATFORM = {"stopping", "stopped", "terminated", "failed", "shutting_down"}
_UP_ATLAS = {"creating", "starting", "running"}


class _Host:
    """One instance's would-be entry, before its alias is made unique."""

    __slots__ = ("api", "base", "host", "instance_id", "name", "port", "user")

    def __init__(
        self, api: str, base: str, instance_id: str, name: str, host: str, port: int, user: str
    ) -> None:
        self.api = api
        self.base = base
        self.instance_id = instance_id
        self.name = name
        self.host = host
        self.port = port
        self.user = user


def _slug(text: str) -> str:
    """``text`` as part of an alias: lowercase (OpenSSH matches ``Host`` patterns on the
    lowercased name typed), runs of other characters made one ``-``."""
    return re.sub(r"[^a-z0-9._]+", "-", text.lower()).strip("-.")


def platform_alias(name: Optional[str], instance_id: str) -> str:
    """``fs-NAME`` (before any collision suffix)."""
    return f"fs-{_slug(name or '') or _slug(instance_id)}"


def atlas_alias(project: str, name: Optional[str], instance_id: str) -> str:
    """``fs-PROJECT-NAME`` (before any collision suffix)."""
    return f"fs-{_slug(project) or 'project'}-{_slug(name or '') or _slug(instance_id)}"


def _section(api: str, profile: str) -> str:
    return f"{api}:{_slug(profile) or 'default'}"


# -- what each API has ----------------------------------------------------------------------


def _profile(state: CliState) -> str:
    return state.resolve(require_profile=False).profile


def _platform_hosts(state: CliState) -> Optional[List[_Host]]:
    """The platform instances of the active profile that can be logged into; ``None``
    when the profile has no API key (nothing to list)."""
    if state.resolve().api_key is None:
        return None
    found = []
    for instance in state.client.instances.iter():
        if not instance.ip_address or str(instance.status) in _DOWN_PLATFORM:
            continue
        try:
            port = int(instance.ssh_port or 22)
        except ValueError:
            port = 22
        found.append(
            _Host(
                PLATFORM,
                platform_alias(instance.name, instance.id),
                instance.id,
                instance.name or "",
                instance.ip_address,
                port,
                instance.username or "ubuntu",
            )
        )
    return found


def _atlas_hosts(state: CliState, port: int) -> Optional[List[_Host]]:
    """The organization's Atlas instances (every region and project) that can be logged
    into; ``None`` when there is no Atlas session."""
    from .atlas.session import atlas_client, resolve_atlas

    if resolve_atlas(state).credentials_source is None:
        return None
    atlas = atlas_client(state)
    projects = {p.id: p.name for p in atlas.projects.list()}
    found = []
    for instance in atlas.instances.list(all_regions=True):
        if not instance.ip or str(instance.state) not in _UP_ATLAS:
            continue
        project = projects.get(instance.project_id or "") or (instance.project_id or "")[:8]
        found.append(
            _Host(
                ATLAS,
                atlas_alias(project, instance.name, str(instance.id)),
                str(instance.id),
                instance.name,
                instance.ip,
                port,
                "ubuntu",  # as `atlas instances ssh` logs in
            )
        )
    return found


def _atlas_port(option: Optional[int], stored: Dict[str, str]) -> int:
    """``--ssh-port``, else ``$FLUIDSTACK_SSH_PORT``, else the port the section was last
    written with, else 22 (Atlas reports no port; the rule of ``atlas instances ssh``)."""
    from fluidstack.atlas.settings import resolve_ssh_port

    from .remote import ENV_SSH_PORT

    env = os.environ.get(ENV_SSH_PORT) or None
    if option is None and env is None and stored.get("ssh-port", "").isdigit():
        option = int(stored["ssh-port"])
    try:
        return resolve_ssh_port(option, env)
    except ValueError as exc:
        raise InputError(str(exc)) from None


# -- writing ---------------------------------------------------------------------------------


def _unique(hosts: Sequence[_Host], taken: Dict[str, str]) -> List[Tuple[_Host, str]]:
    """Each host with its alias: the plain one when no other host here and no other
    section has it, else with ``-`` and the id's first 8 characters (then the whole id)."""
    counts: Dict[str, int] = {}
    for host in hosts:
        counts[host.base] = counts.get(host.base, 0) + 1
    chosen: List[Tuple[_Host, str]] = []
    used = set(taken)
    for host in sorted(hosts, key=lambda h: (h.base, h.instance_id)):
        alias = host.base
        if counts[alias] > 1 or alias in used:
            alias = f"{host.base}-{_slug(host.instance_id)[:8]}"
            if alias in used:
                alias = f"{host.base}-{_slug(host.instance_id)}"
        used.add(alias)
        chosen.append((host, alias))
    return chosen


def _entries(chosen: Sequence[Tuple[_Host, str]], identity: Optional[str]) -> List[SshHost]:
    from fluidstack.core.ssh import default_known_hosts_path, host_key_alias
    from fluidstack.core.ssh_config import SshHost

    known_hosts = default_known_hosts_path()
    # ssh cannot remember a key in a folder that does not exist (as `instances ssh`).
    known_hosts.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    return [
        SshHost(
            alias=alias,
            host=host.host,
            port=host.port,
            user=host.user,
            identity_file=identity,
            # The same file and per-instance name as the SDK and `instances ssh`.
            known_hosts_file=known_hosts,
            host_key_alias=host_key_alias(host.instance_id),
            comment=f"{host.api} instance {host.instance_id}"
            + (f" ({host.name})" if host.name else ""),
        )
        for host, alias in chosen
    ]


def _refresh(
    state: CliState,
    apis: Sequence[str],
    identity: Optional[str],
    atlas_port: Optional[int],
) -> List[Tuple[_Host, str]]:
    """Rewrite the sections of ``apis`` for the active profile; returns what was written.
    ``identity``/``atlas_port``: ``None`` keeps what the section was written with."""
    from fluidstack.core import ssh_config as files

    profile = _profile(state)
    sections = {api: _section(api, profile) for api in apis}
    settings = {api: files.section_settings(sections[api]) for api in apis}
    gathered: Dict[str, Optional[List[_Host]]] = {}
    for api in apis:
        if api == PLATFORM:
            gathered[api] = _platform_hosts(state)
        else:
            port = _atlas_port(atlas_port, settings[api])
            settings[api]["ssh-port"] = str(port)
            gathered[api] = _atlas_hosts(state, port)
    if all(hosts is None for hosts in gathered.values()):
        state.warn(
            "no platform API key and no Atlas session: no instances to write "
            "(see `fluidstack configure` and `fluidstack atlas login`)"
        )
    taken = {
        alias: section
        for alias, section in files.managed_aliases().items()
        if section not in sections.values()
    }
    everything = [host for hosts in gathered.values() for host in hosts or []]
    chosen = _unique(everything, taken)
    for api in apis:
        keep = dict(settings[api])
        if identity is not None:
            keep["identity"] = identity
        ours = [(host, alias) for host, alias in chosen if host.api == api]
        files.write_section(
            sections[api], _entries(ours, keep.get("identity")), settings=keep or None
        )
    return chosen


def refresh_after_change(state: CliState, api: str) -> None:
    """After this CLI created, started, stopped or deleted instances of ``api``
    (``"platform"`` or ``"atlas"``): rewrite that API's section of the managed file, if
    the user set ssh-config up; a failure is a warning, never the command's failure."""
    from fluidstack.core.ssh_config import managed_path

    if not managed_path().exists():
        return  # never set up: nothing is written unasked
    try:
        _refresh(state, [api], None, None)
    except Exception as exc:  # the command itself succeeded; say how to catch up
        state.warn(f"ssh config not updated ({exc}); run `fluidstack ssh-config --refresh`")


def after_change(state: CliState, api: str, created: Any = None) -> None:
    """What the instance commands of ``api`` call after a create, start, stop, wait,
    rename or delete: :func:`refresh_after_change`, then, given the instance a
    ``create --wait`` (or a ``wait``, a ``start --wait``) brought up (``created``),
    :func:`alias_hint` for it."""
    refresh_after_change(state, api)
    if created is None:
        return
    if api == PLATFORM:
        if str(created.status) == "running":
            alias_hint(state, api, created.id, lambda: platform_alias(created.name, created.id))
        return

    def atlas_default() -> str:
        from .atlas.session import atlas_client

        atlas = atlas_client(state)
        projects = {p.id: p.name for p in atlas.projects.list()}
        project = projects.get(atlas.project_id or "") or (atlas.project_id or "")[:8]
        return atlas_alias(project, created.name, str(created.id))

    alias_hint(state, api, str(created.id), atlas_default)


def after_delete(state: CliState, api: str) -> Callable[[List[str]], None]:
    """The ``then`` of a delete command of ``api``: :func:`after_change` once the
    instances are deleted."""

    def then(deleted: List[str]) -> None:
        after_change(state, api)

    return then


def alias_hint(state: CliState, api: str, instance_id: str, default: Callable[[], str]) -> None:
    """After a create with ``--wait``: how to log in by alias. The instance's alias in
    the managed file; before ssh-config is set up, the alias ``default()`` gives, with
    how to set it up (a failure there only drops the hint)."""
    from fluidstack.core.errors import ApiError
    from fluidstack.core.ssh_config import managed_path, read_sections

    if state.quiet:
        return  # a hint, and --quiet prints none
    if managed_path().exists():
        body = read_sections().get(_section(api, _profile(state)), "")
        match = re.search(rf"# {api} instance {re.escape(instance_id)}\b.*\nHost (\S+)", body)
        if match:
            alias = match.group(1)
            state.info(
                f"Log in with: ssh {alias}  (scp and rsync too; VS Code or Cursor: "
                f"code --remote ssh-remote+{alias} /)"
            )
        return
    try:
        alias = default()
    except ApiError:
        return
    state.info(
        f"For `ssh {alias}`, scp, rsync and `code --remote ssh-remote+{alias} /`, "
        "run once: fluidstack ssh-config"
    )


def ensure_included(state: CliState, yes: bool) -> bool:
    """Make ``~/.ssh/config`` include the managed file, asking first on a terminal
    (``yes``: consent given); off a terminal without ``yes``, exit 2 saying so; declined,
    exit 1 with nothing changed. Whether the line was added now."""
    from fluidstack.core import ssh_config as files

    if files.has_include():
        return False
    _require_consent(yes)
    added = files.add_include()
    if added:
        state.info(f"Added `{files.include_line()}` at the top of {files.user_ssh_config_path()}.")
    return added


# -- the command ------------------------------------------------------------------------------


def _table(chosen: Sequence[Tuple[_Host, str]]) -> Any:
    from .render import simple_table

    return simple_table(
        ["ALIAS", "API", "INSTANCE", "NAME", "LOGIN"],
        [
            (
                alias,
                host.api,
                host.instance_id,
                host.name or "-",
                f"{host.user}@{host.host}:{host.port}",
            )
            for host, alias in chosen
        ],
    )


@click.command("ssh-config")
@click.option(
    "--refresh",
    is_flag=True,
    help="Only rewrite fluidstack's file (never ~/.ssh/config): what creates, starts, stops "
    "and deletes made here do by themselves.",
)
@click.option(
    "--remove",
    is_flag=True,
    help="Take it all out: fluidstack's file and the Include line in ~/.ssh/config.",
)
@click.option(
    "-y", "--yes", is_flag=True, help="Add the Include line to ~/.ssh/config without asking."
)
@click.option(
    "-i",
    "--identity",
    type=click.Path(dir_okay=False, exists=True, resolve_path=True),
    metavar="KEY",
    help="Private key the aliases log in with (kept for later updates; default: "
    "ssh-agent, then ~/.ssh/id_*).",
)
@click.option(
    "--ssh-port",
    type=click.IntRange(1, 65535),
    metavar="PORT",
    help="Port Atlas instances answer SSH on (default: $FLUIDSTACK_SSH_PORT, else the "
    "last one given, else 22; the emulator's is 2222).",
)
@output_options
@pass_state
def ssh_config(
    state: CliState,
    refresh: bool,
    remove: bool,
    yes: bool,
    identity: Optional[str],
    ssh_port: Optional[int],
) -> None:
    """SSH aliases for your instances (ssh fs-NAME, VS Code).

    One alias per instance, `fs-NAME` (platform) and `fs-PROJECT-NAME` (Atlas), for
    ssh, scp, rsync and VS Code or Cursor (`code --remote ssh-remote+fs-NAME /`).

    The hosts go to fluidstack's own file (ssh_config beside the CLI's config.toml),
    which one line at the top of ~/.ssh/config includes: added the first time, with your
    consent (asked on a terminal; --yes elsewhere), and nothing else in ~/.ssh/config is
    ever changed. Creates, starts, stops and deletes made with this CLI keep the file up
    to date; --remove takes it all out.

    \b
    Examples:
      fluidstack ssh-config --yes
      ssh fs-trainer nvidia-smi
      rsync -a ./data/ fs-trainer:data/
      code --remote ssh-remote+fs-trainer /home/ubuntu
      fluidstack ssh-config --remove
    """
    from fluidstack.core import ssh_config as files

    if remove:
        if refresh or identity or ssh_port:
            raise click.UsageError("--remove takes no other option")
        include_removed, file_removed = files.remove_all()
        user, managed = files.user_ssh_config_path(), files.managed_path()
        state.info(
            (f"Removed the Include line from {user}. " if include_removed else "")
            + (f"Deleted {managed}." if file_removed else f"{managed} was not there.")
        )
        if state.output != "table":
            state.emit({"include_removed": include_removed, "file_removed": file_removed})
        return
    include = not refresh and not files.has_include()
    if include:
        _require_consent(yes)  # before anything is listed or written
    chosen = _refresh(state, [PLATFORM, ATLAS], identity, ssh_port)
    if include:  # after the file exists: ssh never reads an Include of a missing file
        ensure_included(state, yes=True)
    managed = files.managed_path()
    state.info(f"Wrote {len(chosen)} host{'s' if len(chosen) != 1 else ''} to {managed}.")
    if not files.has_include():
        state.info(
            f"{files.user_ssh_config_path()} does not include it: run `fluidstack ssh-config` "
            "(without --refresh) to add the line, or pass `-F` to ssh."
        )
    elif chosen and state.output == "table":
        alias = chosen[0][1]
        state.info(f"Log in with: ssh {alias}  (VS Code: code --remote ssh-remote+{alias} /)")
    data = [
        {
            "alias": alias,
            "api": host.api,
            "instance_id": host.instance_id,
            "name": host.name,
            "host": host.host,
            "port": host.port,
            "user": host.user,
        }
        for host, alias in chosen
    ]
    if chosen or state.output != "table":
        state.emit(data, table=lambda: _table(chosen), ids=[alias for _, alias in chosen])


def _require_consent(yes: bool) -> None:
    """Ask now whether the Include line may be added (it is added once the file is written)."""
    from fluidstack.core import ssh_config as files

    if yes:
        return
    user, line = files.user_ssh_config_path(), files.include_line()
    if not cli_state.stdin_is_terminal():  # (tests replace it there)
        raise InputError(
            f"{user} does not include fluidstack's hosts yet, and there is no terminal "
            f"to ask on: pass --yes to let fluidstack add the line `{line}` at its top"
        )
    question = (
        f"Add the line `{line}` at the top of {user}? Nothing else in it changes; "
        "`fluidstack ssh-config --remove` takes it out"
    )
    if not click.confirm(question, default=False, err=True):
        raise CliError(f"cancelled: {user} is unchanged")
