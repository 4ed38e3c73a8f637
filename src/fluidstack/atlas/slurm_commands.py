"""The shell command lines ``atlas.slurm.jobs`` runs on a login node, and the batch
script it submits: pure functions, shared by the asynchronous and synchronous clients
and testable without a cluster.

Every command is Slurm's own (``sbatch``, ``scontrol``, ``squeue``, ``sacct``,
``scancel``) run by the login user's shell; every value from the caller is quoted.
"""

from __future__ import annotations

import datetime as dt
import os
import re
import shlex
from pathlib import Path
from typing import Dict, List, Mapping, Optional, Sequence, Tuple, Union

from .slurm_types import FINISHED_STATES, SACCT_FIELDS, SQUEUE_FORMAT

__all__ = [
    "HOME_FIRST",
    "REMOTE_ROOT",
    "SYNC_TMP_PREFIX",
    "JobScript",
    "cancel_command",
    "download_list_command",
    "follow_command",
    "get_command",
    "group_by_folder",
    "job_script",
    "list_command",
    "local_path",
    "log_chunk_command",
    "relative_to_home",
    "split_log_chunk",
    "submit_command",
    "sync_command",
    "time_limit",
]

REMOTE_ROOT = "fluidstack"
"""Where synced working directories go on the login node, relative to the login user's
home: ``~/fluidstack/<name of the local directory>``."""

STATE_MARK = "FLUIDSTACK-STATE:"
"""Starts the first line of :func:`log_chunk_command`'s output, before the log bytes."""

Script = Union[str, "os.PathLike[str]", None]
Command = Union[str, Sequence[str], None]


class JobScript:
    """A batch script's text and the name it is submitted under by default."""

    def __init__(self, text: str, default_name: str) -> None:
        self.text = text
        self.default_name = default_name

    def names_itself(self) -> bool:
        """Whether an ``#SBATCH --job-name``/``-J`` line names the job."""
        return re.search(r"^#SBATCH\s+(--job-name\b|-J\b)", self.text, re.M) is not None

    def job_name(self, name: Optional[str]) -> Optional[str]:
        """The ``--job-name`` to pass: ``name``, else none when the script names
        itself, else the default (sbatch would call a script read from stdin "sbatch")."""
        if name is not None:
            return name
        return None if self.names_itself() else self.default_name


def job_script(script: Script, command: Command, workdir: Path) -> JobScript:
    """The batch script to submit: ``script`` (a file, relative to ``workdir`` or the
    current directory, or the script's text), or ``command`` wrapped into one.

    Text counts as a script when it has a line break or starts with ``#!``; anything
    else names a file, which must exist.
    """
    if (script is None) == (command is None):
        raise ValueError("pass a script (a file or its text) or a command, not both")
    if command is not None:
        line = command if isinstance(command, str) else shlex.join(list(command))
        if not line.strip():
            raise ValueError("command is empty")
        first = line.split()[0].rsplit("/", 1)[-1]
        return JobScript(f"#!/bin/bash\n{line}\n", first[:64] or "command")
    assert script is not None
    if isinstance(script, str) and ("\n" in script or script.startswith("#!")):
        return JobScript(script if script.endswith("\n") else script + "\n", "script")
    path = Path(os.fspath(script)).expanduser()
    candidates = [path] if path.is_absolute() else [workdir / path, Path.cwd() / path]
    for candidate in candidates:
        if candidate.is_file():
            return JobScript(candidate.read_text(encoding="utf-8"), candidate.name)
    raise FileNotFoundError(f"no such script: {os.fspath(script)}")


def local_path(path: Union[str, os.PathLike[str]], resolve: bool = False) -> Path:
    """A local path with ``~`` expanded (made absolute with ``resolve``)."""
    found = Path(os.fspath(path)).expanduser()
    return found.resolve() if resolve else found


def time_limit(value: Union[str, int, dt.timedelta, None]) -> Optional[str]:
    """Slurm's ``--time``: a string as Slurm takes it (``1:00:00``, ``2-00``), whole
    minutes, or a ``timedelta`` (rounded up to a minute)."""
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, dt.timedelta):
        minutes = -(-int(value.total_seconds()) // 60)
    else:
        minutes = int(value)
    if minutes <= 0:
        raise ValueError("time must be at least a minute")
    return str(minutes)


_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def submit_command(
    *,
    remote_dir: Optional[str],
    name: Optional[str],
    nodes: Optional[int],
    gpus_per_node: Optional[int],
    time: Optional[str],
    partition: Optional[str],
    env: Optional[Mapping[str, str]],
) -> str:
    """``sbatch --parsable`` of the script on standard input, in ``remote_dir`` (the
    home directory when ``None``), then ``scontrol show job -o`` of the new job.

    ``env`` is set for ``sbatch``, which hands its environment to the job (its default
    ``--export=ALL``): values may hold any character, commas included.
    """
    # The output goes where sbatch puts it by default (slurm-<id>.out in the working
    # directory) unless the script says otherwise: its #SBATCH lines are left to apply.
    options = ["--parsable"]
    if name is not None:
        options.append(f"--job-name={name}")
    if nodes is not None:
        options.append(f"--nodes={int(nodes)}")
    if gpus_per_node is not None:
        options.append(f"--gpus-per-node={int(gpus_per_node)}")
    if time is not None:
        options.append(f"--time={time}")
    if partition is not None:
        options.append(f"--partition={partition}")
    assignments = []
    for key, value in (env or {}).items():
        if not _ENV_NAME.fullmatch(key):
            raise ValueError(f"not an environment variable name: {key!r}")
        assignments.append(f"{key}={shlex.quote(str(value))}")
    sbatch = " ".join(["env", *assignments, "sbatch", *map(shlex.quote, options)])
    cd = f"cd {_remote_path(remote_dir)} && " if remote_dir else ""
    # sbatch reads the script from standard input; its id is the first field.
    return (
        f'{cd}out=$({sbatch}) || exit $?; printf "%s\\n" "$out"; '
        'scontrol show job -o "$(printf "%s" "$out" | tail -n 1 | cut -d";" -f1)"'
    )


def sync_command(remote_dir: str, stale_minutes: int = 60) -> str:
    """Unpack a gzipped tar from standard input into ``remote_dir`` (created if
    missing), keeping modification times: :func:`download_list_command` tells what a job
    wrote by them. A file changed in the last seconds (Slurm's submit time has a
    one-second grain) is dated two seconds back, so that it never looks written by a
    job submitted next.

    Other syncs and running jobs may share ``remote_dir`` (two submissions from one
    folder at once): the tar is unpacked and dated in a private folder
    (:data:`SYNC_TMP_PREFIX`) and each file then renamed into place, so a file is
    replaced at once, never missing for a moment (as tar's unlink-and-create leaves
    it), and only the files this sync brings are re-dated, not those another sync is
    replacing or a job has just written.

    The private folder is removed on every exit the shell sees: success, failure (an
    archive cut short when the connection drops) and ``HUP``/``INT``/``TERM`` (a
    hang-up, a login node shutting down; POSIX ``trap``, as dash has it). Only a
    ``SIGKILL`` or a crash leaves it, so each sync first removes the private folders
    in which nothing has changed for ``stale_minutes``: abandoned, since a running
    sync changes its folder as it goes. Change means the inode's change time
    (``find -cmin``), which tar cannot set back, unlike the modification times it
    copies from the archive (a file a year old unpacks a year old)."""
    target = _remote_path(remote_dir)
    recent = "'2 seconds ago'"
    # Run in the private folder, "../$d" is the folder's place in remote_dir: each
    # folder is made there, and its files renamed into it (one `mv` per folder).
    place = (
        'find . -type d -exec sh -c \'for d do mkdir -p "../$d" && find "$d" -maxdepth 1 '
        '! -type d -print0 | xargs -0r mv -f -t "../$d" || exit 1; done\' sh {} +'
    )
    # A folder with nothing changed (inode change time) in the last stale_minutes. A
    # find that fails (an option this find lacks) removes nothing: fresh or not unknown.
    stale = (
        f'for d in {SYNC_TMP_PREFIX}*; do [ -d "$d" ] && '
        f'r=$(find "$d" -cmin -{max(0, int(stale_minutes))} -print -quit 2>/dev/null) && '
        '[ -z "$r" ] && rm -rf "$d" 2>/dev/null; done; '
    )
    # The traps come before mktemp: no moment when the folder exists and nothing would
    # remove it. A trapped signal exits (128 + its number), which runs the EXIT trap.
    # (The command is a session's whole command: `exit` ends it, traps and all.)
    traps = (
        'tmp=; trap \'[ -z "$tmp" ] || rm -rf "$tmp"\' EXIT; '
        "trap 'exit 129' HUP; trap 'exit 130' INT; trap 'exit 143' TERM; "
    )
    return (
        f"mkdir -p {target} && cd {target} || exit; {stale}{traps}"
        f"tmp=$(mktemp -d {SYNC_TMP_PREFIX}XXXXXX) || exit; "
        '(cd "$tmp" && tar xzf - && '
        f"find . -newermt {recent} -exec touch -h -d {recent} {{}} + && {place}); "
        's=$?; rm -rf "$tmp"; tmp=; exit "$s"'
    )


SYNC_TMP_PREFIX = ".fluidstack-sync."
"""How the private folder a sync unpacks into (inside the remote directory, for a
same-filesystem rename) begins; :func:`download_list_command` leaves it out, and
:func:`sync_command` removes it, or a later sync an abandoned one."""


def _remote_path(path: str) -> str:
    """``path`` quoted for the shell, a leading ``~/`` kept for the shell to expand."""
    if path == "~":
        return '"$HOME"'
    if path.startswith("~/"):
        return '"$HOME"/' + shlex.quote(path[2:])
    return shlex.quote(path)


def _job(job_id: str) -> str:
    if not re.fullmatch(r"\d+(_\d+)?", job_id):
        raise ValueError(f"not a Slurm job id: {job_id!r}")
    return job_id


def get_command(job_id: str) -> str:
    """The job from ``scontrol show job -o`` while slurmctld remembers it (``MinJobAge``
    after it ends), else from ``sacct`` (accounting, where the cluster keeps it)."""
    ident = _job(job_id)
    fields = ",".join(SACCT_FIELDS)
    return (
        f"scontrol show job -o {ident} 2>/dev/null | grep '^JobId=' || "
        f"sacct -X -n --parsable2 -j {ident} --format={fields} 2>/dev/null || true"
    )


def list_command(mine: bool) -> str:
    """Every job slurmctld knows (pending, running, and finished ones it still keeps),
    the login user's only when ``mine`` (``--me``)."""
    user = " --me" if mine else ""
    return f"squeue -h --states=all{user} -o {shlex.quote(SQUEUE_FORMAT)}"


def cancel_command(job_id: str) -> str:
    return f"scancel {_job(job_id)}"


def log_chunk_command(job_id: str, path: str, offset: int) -> str:
    """The job's state (a first line ``FLUIDSTACK-STATE:<state>``, empty once slurmctld
    forgot it), then the log's bytes from ``offset`` on. The state is read first, so a
    finished state means the bytes that follow are the whole rest of the log."""
    ident = _job(job_id)
    return (
        f"s=$(scontrol show job -o {ident} 2>/dev/null | grep -o 'JobState=[A-Z_]*' "
        f"| cut -d= -f2); printf '{STATE_MARK}%s\\n' \"$s\"; "
        f"tail -c +{int(offset) + 1} {_remote_path(path)} 2>/dev/null || true"
    )


def follow_command(job_id: str, path: str, offset: int, interval: float = 1.0) -> str:
    """The log's bytes from ``offset`` on, as they are written, ending by itself once the
    job has ended: one long-running command for one SSH session, nothing but the log's
    bytes on its standard output.

    A watcher checks the job's state every ``interval`` seconds (``scontrol``; an empty
    state, a job slurmctld forgot, counts as ended); GNU ``tail -F --pid`` follows the
    file by name (it may not exist yet while the job is pending) and, once the watcher
    has exited, reads what is left and ends. (The shell reaps the watcher as soon as it
    exits, even while waiting for tail: a zombie would look alive to ``--pid``; an
    orphan left to init may wait for a slow init.) The watcher also stops when the
    session's standard input closes (the client left or the connection dropped), so
    nothing stays behind on the login node. Exit status 3: the login node's ``tail``
    cannot do this (not GNU coreutils)."""
    ident = _job(job_id)
    where = _remote_path(path)
    pause = f"{max(float(interval), 0.1):g}"
    ended = "|".join(['""', *sorted(FINISHED_STATES)])
    state = f"scontrol show job -o {ident} 2>/dev/null | grep -o 'JobState=[A-Z_]*' | cut -d= -f2"
    watch = (
        f'while kill -0 "$c" 2>/dev/null; do s=$({state}); case "$s" in {ended}) break;; '
        f"esac; sleep {pause}; done"
    )
    return (
        "tail --pid=$$ -c 1 /dev/null >/dev/null 2>&1 || { echo 'following a log needs "
        "GNU tail (coreutils) on the login node' >&2; exit 3; }; "
        # Background commands read /dev/null unless told: hand them the session's input.
        "exec 3<&0; cat <&3 >/dev/null 2>&1 & c=$!; "
        f"{{ {watch}; }} </dev/null >/dev/null 2>&1 & w=$!; "
        # Opened at ``offset`` once it exists: tail -F reads a file that appears later
        # from its start.
        f'while [ ! -e {where} ] && kill -0 "$w" 2>/dev/null; do sleep {pause}; done; '
        f'tail -F -s {pause} --pid="$w" -c +{int(offset) + 1} {where} 2>/dev/null; '
        'kill "$c" "$w" 2>/dev/null; exit 0'
    )


def split_log_chunk(output: bytes) -> Tuple[Optional[str], bytes]:
    """``(state or None, log bytes)`` of :func:`log_chunk_command`'s output."""
    head, _, rest = output.partition(b"\n")
    text = head.decode("utf-8", "replace")
    if not text.startswith(STATE_MARK):
        raise ValueError(f"unexpected output from the login node: {text[:200]!r}")
    return text[len(STATE_MARK) :].strip() or None, rest


def download_list_command(workdir: str, since: Optional[dt.datetime]) -> str:
    """The login user's home, then the files under ``workdir`` (relative) changed after
    ``since`` (the job's submission: what it wrote), or all of them; NUL-separated.
    A sync's private folder (:data:`SYNC_TMP_PREFIX`) is no job's output."""
    newer = f" -newermt {shlex.quote(since.isoformat(sep=' '))}" if since is not None else ""
    syncing = shlex.quote(f"./{SYNC_TMP_PREFIX}*")
    return (
        f"{HOME_FIRST}cd {_remote_path(workdir)} && "
        f"find . -path {syncing} -prune -o -type f{newer} -print0"
    )


HOME_FIRST = 'printf "%s\\0" "$HOME"; '
"""Prints the login user's home first (NUL-ended): SFTP paths are made relative to it,
since an SFTP server may show another root than the shell's (a chroot, the emulator)."""


def relative_to_home(path: str, home: str) -> str:
    """``path`` relative to ``home`` when it lies under it (SFTP starts there)."""
    home = home.rstrip("/")
    if home and path == home:
        return "."
    if home and path.startswith(home + "/"):
        return path[len(home) + 1 :]
    return path


def group_by_folder(paths: List[str]) -> Dict[str, List[str]]:
    """Relative remote paths grouped by their folder (``""`` for the top)."""
    groups: Dict[str, List[str]] = {}
    for path in paths:
        relative = path[2:] if path.startswith("./") else path
        folder = relative.rsplit("/", 1)[0] if "/" in relative else ""
        groups.setdefault(folder, []).append(relative)
    return groups
