"""A managed OpenSSH client configuration: one file of ``Host`` blocks that fluidstack
owns, ``Include``d once from ``~/.ssh/config``, so that ``ssh``, ``scp``, ``rsync`` and
editors (VS Code, Cursor) reach instances by an alias.

The managed file is ``ssh_config`` in the fluidstack configuration folder
(``$FLUIDSTACK_CONFIG``'s folder, else ``$XDG_CONFIG_HOME/fluidstack``, else
``~/.config/fluidstack``: where ``config.toml`` and the SDK's ``known_hosts`` live). It is
made of *sections*, each owned by one writer and replaced whole by it::

    # >>> fluidstack section platform:default
    Host fs-trainer
        HostName 203.0.113.7
        ...
    # <<< fluidstack section platform:default

so that ``fluidstack ssh-config`` (sections ``platform:PROFILE``, ``atlas:PROFILE``) and
other commands (``slurm:CLUSTER``, say) share the file without undoing each other's work.

The only change ever made to ``~/.ssh/config`` is one line, ``Include /abs/path``, put
first (OpenSSH applies an ``Include`` placed after a ``Host`` or ``Match`` line only to
that block) and taken out again by :func:`remove_include`; every other byte of that file
is kept. Nothing here asks for consent: the caller does, before :func:`add_include`.

Every file is written next to its old self with mode 0600 and moved into place (a
crash never leaves half a file); folders are made 0700; paths written are absolute.

The API takes plain :class:`SshHost` entries (an alias, an address, a port, a user, an
identity file, a known-hosts file, extra options), not instance objects: any command can
write hosts. No CLI imports, no third-party imports.
"""

from __future__ import annotations

import contextlib
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, Iterator, List, Mapping, Optional, Sequence, Set, Tuple, Union

__all__ = [
    "MANAGED_FILE_NAME",
    "SshHost",
    "add_include",
    "config_dir",
    "has_include",
    "include_line",
    "managed_aliases",
    "managed_path",
    "read_sections",
    "remove_all",
    "remove_include",
    "remove_section",
    "render_host",
    "section_settings",
    "user_ssh_config_path",
    "write_section",
]

PathLike = Union[str, "os.PathLike[str]"]

MANAGED_FILE_NAME = "ssh_config"
"""The managed file's name, in :func:`config_dir`."""

_HEADER = (
    "# Managed by fluidstack: rewritten by `fluidstack ssh-config` (and after creates,\n"
    "# starts, stops and deletes made with the fluidstack CLI). Edits here are lost.\n"
    "# Take it all out, with the Include line in ~/.ssh/config: fluidstack ssh-config --remove\n"
)
_BEGIN = "# >>> fluidstack section "
_END = "# <<< fluidstack section "
_SETTING = "#: "
_SETTING_KEY = re.compile(r"^[a-z][a-z0-9_-]*$")
_ALIAS = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
_SECTION = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:@/-]*$")
_OPTION = re.compile(r"^[A-Za-z][A-Za-z0-9]*$")


@dataclass(frozen=True)
class SshHost:
    """One ``Host`` block of the managed file.

    ``alias`` is what users type (``ssh fs-trainer``): letters, digits, ``.``, ``_``
    and ``-``, starting with a letter or digit (no wildcards). ``host`` is the address
    to connect to (``HostName``). Paths are made absolute when written.

    ``known_hosts_file`` with ``host_key_alias`` makes ssh remember the host key under
    that name in that file, trusting it on first use (``StrictHostKeyChecking
    accept-new``, for this host only): the same file and names as the SDK's and
    ``fluidstack instances ssh``, so they all agree about an instance's key.

    ``options`` are further ``ssh_config`` keywords and values, written in order after
    the others (``(("ProxyJump", "fs-login"), ("ForwardAgent", "yes"))``)."""

    alias: str
    host: str
    port: int = 22
    user: Optional[str] = None
    identity_file: Optional[PathLike] = None
    known_hosts_file: Optional[PathLike] = None
    host_key_alias: Optional[str] = None
    options: Sequence[Tuple[str, str]] = ()
    comment: Optional[str] = None
    """One line written above the block (``# instance 1234 (trainer), platform API``)."""


# -- where the files are -------------------------------------------------------------------


def config_dir(environ: Optional[Mapping[str, str]] = None) -> Path:
    """The fluidstack configuration folder, absolute: the folder of ``$FLUIDSTACK_CONFIG``,
    else ``$XDG_CONFIG_HOME/fluidstack``, else ``~/.config/fluidstack`` (the CLI's rule
    for ``config.toml``, and the SDK's for ``known_hosts``)."""
    env = os.environ if environ is None else environ
    override = env.get("FLUIDSTACK_CONFIG")
    if override:
        return _absolute(Path(override).expanduser().parent)
    xdg = env.get("XDG_CONFIG_HOME")
    base = Path(xdg).expanduser() if xdg else Path.home() / ".config"
    return _absolute(base / "fluidstack")


def managed_path(environ: Optional[Mapping[str, str]] = None) -> Path:
    """Where the managed file is (it may not exist): ``ssh_config`` in :func:`config_dir`."""
    return config_dir(environ) / MANAGED_FILE_NAME


def user_ssh_config_path() -> Path:
    """``~/.ssh/config`` (``~`` from ``$HOME``, as Python reads it).

    The ``ssh`` program itself takes ``~`` from the password database, not ``$HOME``: with
    a temporary ``HOME`` (tests), pass this file to ssh with ``-F``."""
    return Path.home() / ".ssh" / "config"


def _absolute(path: Path) -> Path:
    return Path(os.path.abspath(os.fspath(path)))


# -- rendering -----------------------------------------------------------------------------


def _value(text: str, what: str) -> str:
    """``text`` as an ssh_config argument: quoted when it holds a space; refused when it
    could end the line or the quoting (a newline, a quote), which would let a value
    (an instance name from the API) inject directives."""
    if not text or any(c in text for c in '"\r\n\x00') or not text.isprintable():
        raise ValueError(f"{what} {text!r} cannot be written to an ssh_config file")
    return f'"{text}"' if any(c.isspace() for c in text) or "#" in text else text


def _path_value(path: PathLike, what: str) -> str:
    return _value(os.fspath(_absolute(Path(os.fspath(path)).expanduser())), what)


def render_host(entry: SshHost) -> str:
    """The ``Host`` block of ``entry`` (ending with a newline); ``ValueError`` when an
    alias, address, option or path cannot be written safely."""
    if not _ALIAS.match(entry.alias):
        raise ValueError(
            f"alias {entry.alias!r}: use letters, digits, '.', '_' and '-' (no spaces or wildcards)"
        )
    if (
        isinstance(entry.port, bool)
        or not isinstance(entry.port, int)
        or not 0 < entry.port < 65536
    ):
        raise ValueError(f"port {entry.port!r} of {entry.alias} is not a TCP port")
    lines: List[str] = []
    if entry.comment:
        lines.append("# " + " ".join(entry.comment.split()))
    lines.append(f"Host {entry.alias}")
    body: List[Tuple[str, str]] = [("HostName", _value(entry.host, "address"))]
    body.append(("Port", str(entry.port)))
    if entry.user:
        body.append(("User", _value(entry.user, "user")))
    if entry.identity_file is not None:
        body.append(("IdentityFile", _path_value(entry.identity_file, "identity file")))
        # Only that key: ssh-agent's others would count against the server's MaxAuthTries.
        body.append(("IdentitiesOnly", "yes"))
    if entry.host_key_alias:
        body.append(("HostKeyAlias", _value(entry.host_key_alias, "host key alias")))
    if entry.known_hosts_file is not None:
        body.append(("UserKnownHostsFile", _path_value(entry.known_hosts_file, "known hosts")))
        # Trust on first use for this host only, as `fluidstack instances ssh` does; a
        # changed key is still refused.
        body.append(("StrictHostKeyChecking", "accept-new"))
    for keyword, value in entry.options:
        if not _OPTION.match(keyword) or keyword.lower() in ("host", "match", "include"):
            raise ValueError(f"{keyword!r} is not an option a Host block can hold")
        body.append((keyword, _value(value, keyword)))
    lines += [f"    {keyword} {value}" for keyword, value in body]
    return "\n".join(lines) + "\n"


# -- the managed file ----------------------------------------------------------------------


def read_sections(path: Optional[Path] = None) -> Dict[str, str]:
    """The managed file's sections, by name, each its text between the markers
    (``{}`` when the file does not exist). Text outside the sections is ignored."""
    path = managed_path() if path is None else path
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return {}
    sections: Dict[str, str] = {}
    current: Optional[str] = None
    body: List[str] = []
    for line in text.splitlines(keepends=True):
        stripped = line.rstrip("\r\n")
        if current is None and stripped.startswith(_BEGIN):
            current, body = stripped[len(_BEGIN) :].strip(), []
        elif current is not None and stripped == _END + current:
            sections[current] = "".join(body)
            current = None
        elif current is not None:
            body.append(line)
    return sections


def managed_aliases(path: Optional[Path] = None, exclude: Optional[str] = None) -> Dict[str, str]:
    """Every alias of the managed file and the section that has it, leaving out section
    ``exclude`` (the one about to be rewritten): what another writer must not reuse."""
    found: Dict[str, str] = {}
    for name, body in read_sections(path).items():
        if name == exclude:
            continue
        for alias in _aliases_in(body):
            found.setdefault(alias, name)
    return found


def _aliases_in(body: str) -> List[str]:
    aliases: List[str] = []
    for line in body.splitlines():
        words = line.split()
        if len(words) >= 2 and words[0].lower() == "host":
            aliases += words[1:]
    return aliases


def section_settings(section: str, path: Optional[Path] = None) -> Dict[str, str]:
    """The ``settings`` section ``section`` was last written with (``{}`` if none)."""
    found: Dict[str, str] = {}
    for line in read_sections(path).get(section, "").splitlines():
        if line.startswith(_SETTING):
            key, _, value = line[len(_SETTING) :].partition("=")
            value = value.strip()
            quoted = len(value) >= 2 and value[0] == value[-1] == '"'
            found[key.strip()] = value[1:-1] if quoted else value
    return found


def write_section(
    section: str,
    entries: Sequence[SshHost],
    path: Optional[Path] = None,
    settings: Optional[Mapping[str, str]] = None,
) -> Path:
    """Make section ``section`` of the managed file hold exactly ``entries`` (none and no
    ``settings``: the section is taken out), keeping the other sections; creates the
    file (0600) and its folder (0700) if needed. Returns the file's path.

    ``settings`` (short ``key: value`` texts, kept as ``#: key=value`` comment lines)
    is what the writer needs to rewrite the section alike later, without its options
    (``fluidstack ssh-config --identity``): read them back with :func:`section_settings`.

    ``ValueError``: an entry cannot be written (see :func:`render_host`), two entries
    share an alias, or an alias is another section's (ask :func:`managed_aliases`
    first and choose others)."""
    path = managed_path() if path is None else _absolute(path)
    if not _SECTION.match(section):
        raise ValueError(f"section name {section!r}: letters, digits and . _ : @ / -")
    rendered = [render_host(entry) for entry in entries]  # refuse before any change
    preamble = "".join(
        f"{_SETTING}{key}={_value(value, key)}\n" for key, value in (settings or {}).items()
    )
    if any(not _SETTING_KEY.match(key) for key in settings or {}):
        raise ValueError(f"setting names: lowercase letters, digits, _ and -: {settings}")
    seen: Set[str] = set()
    for entry in entries:
        if entry.alias in seen:
            raise ValueError(f"alias {entry.alias!r} is given twice")
        seen.add(entry.alias)
    with _locked(path):
        sections = read_sections(path)
        taken = {
            alias: name
            for name, body in sections.items()
            if name != section
            for alias in _aliases_in(body)
        }
        clash = sorted(a for a in seen if a in taken)
        if clash:
            raise ValueError(
                f"alias {clash[0]!r} is already in section {taken[clash[0]]!r} of {path}"
            )
        if rendered or preamble:
            sections[section] = preamble + "\n".join(rendered)
        else:
            sections.pop(section, None)
        _write_atomic(path, _document(sections).encode("utf-8"), 0o600)
    return path


def remove_section(section: str, path: Optional[Path] = None) -> bool:
    """Take section ``section`` out of the managed file; whether it was there. The file
    stays (possibly with no hosts): it records that the user set up ssh-config."""
    path = managed_path() if path is None else _absolute(path)
    with _locked(path):
        sections = read_sections(path)
        if section not in sections:
            return False
        del sections[section]
        _write_atomic(path, _document(sections).encode("utf-8"), 0o600)
    return True


def _document(sections: Mapping[str, str]) -> str:
    parts = [_HEADER]
    for name in sorted(sections):
        body = sections[name]
        if body and not body.endswith("\n"):
            body += "\n"
        parts.append(f"\n{_BEGIN}{name}\n{body}{_END}{name}\n")
    return "".join(parts)


# -- the Include line in ~/.ssh/config -----------------------------------------------------


def _managed(managed: Optional[Path]) -> Path:
    """The managed file's absolute path (Include lines are compared by it), by default
    :func:`managed_path`."""
    return managed_path() if managed is None else _absolute(managed)


def _paths(ssh_config: Optional[Path], managed: Optional[Path]) -> Tuple[Path, Path]:
    """``~/.ssh/config`` (or the path given) and :func:`_managed`."""
    return user_ssh_config_path() if ssh_config is None else ssh_config, _managed(managed)


def include_line(managed: Optional[Path] = None) -> str:
    """The line :func:`add_include` puts first in ``~/.ssh/config`` (no newline)."""
    managed = _managed(managed)
    return f"Include {_value(os.fspath(managed), 'managed file path')}"


def _include_targets(line: str, ssh_dir: Path) -> List[Path]:
    """The files an ``Include`` line names (``Include a b``, ``include=a``), resolved as
    OpenSSH does: ``~`` is the home folder, a relative path is in ``~/.ssh``."""
    match = re.match(r"^\s*include(?:\s*=\s*|\s+)(.*)$", line.rstrip("\r\n"), re.IGNORECASE)
    if not match:
        return []
    import shlex

    try:
        words = shlex.split(match.group(1), comments=True)
    except ValueError:
        return []
    targets = []
    for word in words:
        path = Path(word).expanduser()
        targets.append(_absolute(path if path.is_absolute() else ssh_dir / path))
    return targets


def _our_lines(text: str, managed: Path, ssh_dir: Path) -> List[int]:
    """The indexes of the lines of ``text`` that include ``managed``."""
    return [
        index
        for index, line in enumerate(text.splitlines(keepends=True))
        if managed in _include_targets(line, ssh_dir)
    ]


def has_include(ssh_config: Optional[Path] = None, managed: Optional[Path] = None) -> bool:
    """Whether ``~/.ssh/config`` already has a line that includes the managed file
    (whoever wrote it, wherever it is)."""
    ssh_config, managed = _paths(ssh_config, managed)
    try:
        text = ssh_config.read_text(encoding="utf-8", errors="surrogateescape")
    except FileNotFoundError:
        return False
    return bool(_our_lines(text, managed, _absolute(ssh_config).parent))


def add_include(ssh_config: Optional[Path] = None, managed: Optional[Path] = None) -> bool:
    """Put :func:`include_line` first in ``~/.ssh/config`` unless the file already
    includes the managed file; whether the line was added. The rest of the file is
    kept byte for byte, and its mode too (a new file, and ``~/.ssh``, are made 0600 and
    0700). A symlinked ``~/.ssh/config`` is written through, the link kept. Ask the
    user before calling this."""
    ssh_config, managed = _paths(ssh_config, managed)
    target = Path(os.path.realpath(ssh_config))
    with _locked(managed):
        try:
            old = target.read_bytes()
        except FileNotFoundError:
            old = b""
        text = old.decode("utf-8", errors="surrogateescape")
        if _our_lines(text, managed, _absolute(ssh_config).parent):
            return False
        newline = b"\r\n" if old.split(b"\n", 1)[0].endswith(b"\r") else b"\n"
        line = include_line(managed).encode("utf-8") + newline
        _write_atomic(target, line + old, _mode_of(target, 0o600))
    return True


def remove_include(ssh_config: Optional[Path] = None, managed: Optional[Path] = None) -> bool:
    """Take out of ``~/.ssh/config`` every line that includes the managed file, and
    nothing else; whether there was one."""
    ssh_config, managed = _paths(ssh_config, managed)
    target = Path(os.path.realpath(ssh_config))
    with _locked(managed):
        try:
            old = target.read_bytes()
        except FileNotFoundError:
            return False
        lines = old.decode("utf-8", errors="surrogateescape").splitlines(keepends=True)
        ours = set(_our_lines("".join(lines), managed, _absolute(ssh_config).parent))
        if not ours:
            return False
        kept = "".join(line for index, line in enumerate(lines) if index not in ours)
        _write_atomic(
            target, kept.encode("utf-8", errors="surrogateescape"), _mode_of(target, 0o600)
        )
    return True


def remove_all(
    ssh_config: Optional[Path] = None, managed: Optional[Path] = None
) -> Tuple[bool, bool]:
    """Undo everything: the Include line out of ``~/.ssh/config`` first (so ssh never
    names a missing file), then the managed file deleted. Returns ``(include_removed,
    file_removed)``."""
    managed = _managed(managed)
    include_removed = remove_include(ssh_config, managed)
    with _locked(managed):
        try:
            managed.unlink()
            file_removed = True
        except FileNotFoundError:
            file_removed = False
    with contextlib.suppress(OSError):
        _lock_path(managed).unlink()
    return include_removed, file_removed


# -- files ---------------------------------------------------------------------------------


def _mode_of(path: Path, default: int) -> int:
    try:
        return os.stat(path).st_mode & 0o777
    except FileNotFoundError:
        return default


def _write_atomic(path: Path, data: bytes, mode: int) -> None:
    """Write ``data`` to a new file beside ``path`` created with ``mode`` (never wider),
    then move it into place: readers see the old file or the new one, never half."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)
    try:
        fd = os.open(tmp, flags, mode)
    except FileExistsError:
        tmp.unlink()
        fd = os.open(tmp, flags, mode)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        if os.name == "posix":
            os.chmod(tmp, mode)  # the umask may have narrowed a kept 0644
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        raise


def _lock_path(managed: Path) -> Path:
    return managed.with_name(f".{managed.name}.lock")


@contextlib.contextmanager
def _locked(managed: Path) -> Iterator[None]:
    """Hold an exclusive lock beside the managed file while it (or the Include line) is
    read and rewritten: two commands finishing together must not lose an update."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover - Windows: no concurrent writers assumed
        yield
        return
    lock = _lock_path(managed)
    lock.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)
