"""SSH to instances, shared by both APIs' clients: run a command, copy files, trust host
keys on first use. Needs the ``[ssh]`` extra (asyncssh).

asyncssh runs on asyncio only. The asynchronous clients await these coroutines directly
under asyncio (and in a worker thread under trio); the synchronous clients run them on a
private event loop in a worker thread (:func:`run_in_ssh_thread`), so they work even
when the calling thread already runs an event loop (Jupyter).
"""

from __future__ import annotations

import os
import sys
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import (
    IO,
    TYPE_CHECKING,
    Any,
    Awaitable,
    Callable,
    List,
    Literal,
    Optional,
    Tuple,
    TypeVar,
    Union,
)

from .errors import ApiError

if TYPE_CHECKING:
    import asyncssh
    from asyncssh import SSHClientConnection

__all__ = [
    "CommandTimeoutError",
    "DownloadSkippedWarning",
    "ExecResult",
    "HostKeyChangedError",
    "KnownHosts",
    "SshError",
    "SshSessionLostError",
    "SshTarget",
    "default_known_hosts_path",
    "host_key_alias",
    "run_in_ssh_thread",
    "ssh_download",
    "ssh_exec",
    "ssh_upload",
]

T = TypeVar("T")

PathLike = Union[str, "os.PathLike[str]"]
KnownHosts = Union[PathLike, Literal[False], None]
"""Where host keys are trusted: ``None`` for the SDK's own file (trust on first use), a
path to a ``known_hosts`` file of yours (only its keys are trusted), or ``False`` to
skip host-key checking (never against a machine you do not control)."""

ENV_KNOWN_HOSTS = "FLUIDSTACK_KNOWN_HOSTS"
OutputSink = Union[IO[bytes], Callable[[bytes], object], None]


class SshError(ApiError):
    """An SSH session to an instance failed: it could not connect, log in, or the
    connection was lost. ``instance_id`` names the instance."""

    def __init__(self, message: str, *, instance_id: Optional[str] = None) -> None:
        super().__init__(message)
        self.instance_id = instance_id


class CommandTimeoutError(SshError):
    """A command ran longer than its ``timeout``: its session was closed, which ends it."""


class SshSessionLostError(SshError):
    """The connection dropped while a command ran (a network blip, a restarted server):
    what was received before it stands, and a new connection may go on (a followed
    Slurm log does, see :mod:`fluidstack.core.ssh_stream`)."""


class DownloadSkippedWarning(UserWarning):
    """A download left out one entry and went on: a symlink leading outside the
    downloaded tree, a name that is not a plain file name, or something already in the
    way locally. The message says which and why."""


class HostKeyChangedError(SshError):
    """The instance presented a host key other than the one trusted for it before:
    another machine answers at its address, or it was rebuilt. Nothing was sent."""


@dataclass(frozen=True)
class SshTarget:
    """Where and as whom to log into an instance."""

    host: str
    port: int
    username: str
    instance_id: str

    def __str__(self) -> str:
        return f"{self.username}@{self.host}:{self.port}"


@dataclass(frozen=True)
class ExecResult:
    """What a command run on an instance produced.

    ``stdout`` and ``stderr`` are the output decoded as UTF-8 (undecodable bytes
    replaced); empty when they were streamed elsewhere. ``exit_status`` is the command's
    exit code (``128 + N`` when it was killed by signal ``N``, as a shell reports it).
    """

    command: str
    exit_status: int
    stdout: str
    stderr: str

    @property
    def ok(self) -> bool:
        """Whether the command exited with status 0."""
        return self.exit_status == 0

    def check(self) -> ExecResult:
        """Return self, or raise :class:`SshError` when the command failed."""
        if not self.ok:
            raise SshError(
                f"command {self.command!r} exited with status {self.exit_status}: "
                f"{self.stderr.strip()[-500:]}"
            )
        return self


def host_key_alias(instance_id: str) -> str:
    """The name an instance's host key is remembered under (OpenSSH ``HostKeyAlias``).

    Keys are trusted per instance, not per address: emulated instances share addresses
    and ports over time, and a cloud reuses addresses.
    """
    return f"fluidstack-{instance_id}"


def default_known_hosts_path() -> Path:
    """The SDK's trust-on-first-use file: ``$FLUIDSTACK_KNOWN_HOSTS``, else
    ``known_hosts`` beside the fluidstack config file (``$FLUIDSTACK_CONFIG``'s folder,
    ``$XDG_CONFIG_HOME/fluidstack``, ``~/.config/fluidstack``)."""
    explicit = os.environ.get(ENV_KNOWN_HOSTS)
    if explicit:
        return Path(explicit).expanduser()
    config = os.environ.get("FLUIDSTACK_CONFIG")
    if config:
        return Path(config).expanduser().parent / "known_hosts"
    base = os.environ.get("XDG_CONFIG_HOME") or os.path.join("~", ".config")
    return Path(base).expanduser() / "fluidstack" / "known_hosts"


def _import_asyncssh() -> Any:
    # Importing asyncssh with cryptography >= 43 prints five "DSA is deprecated"
    # warnings (its type hints name the DSA classes) that a user can do nothing about:
    # silenced around the import only, by category and message, never globally. (The
    # emulator has the same guard, emulator/ssh/quiet.py: the two never share code.)
    import warnings

    category: type[Warning] = Warning
    try:
        from cryptography.utils import CryptographyDeprecationWarning

        category = CryptographyDeprecationWarning
    except ImportError:  # no cryptography (asyncssh's import fails next) or a new one
        pass
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", "DSA is deprecated", category)
            import asyncssh
    except ImportError as exc:
        raise ImportError(
            "SSH to instances needs the ssh extra: pip install 'fluidstack[ssh]'",
            name=exc.name,
        ) from exc
    return asyncssh


def _trusted_keys(path: Path, alias: str) -> List[asyncssh.SSHKey]:
    asyncssh = _import_asyncssh()
    if not path.exists():
        return []
    known = asyncssh.read_known_hosts(str(path))
    matched = known.match(alias, "", 22)
    return list(matched[0])


def _remember_key(path: Path, alias: str, key: asyncssh.SSHKey) -> None:
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    line = f"{alias} {key.export_public_key().decode().strip()}\n"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    with os.fdopen(fd, "a") as out:
        out.write(line)
    os.chmod(path, 0o600)


async def _connect(
    target: SshTarget,
    *,
    key_path: Optional[PathLike],
    known_hosts: KnownHosts,
    connect_timeout: float,
) -> SSHClientConnection:
    import asyncio  # not at import: a client that never uses SSH never loads asyncio

    asyncssh = _import_asyncssh()
    alias = host_key_alias(target.instance_id)
    tofu_file: Optional[Path] = None
    checking: Any
    if known_hosts is False:
        checking = None
    elif known_hosts is None:
        tofu_file = default_known_hosts_path()
        trusted = _trusted_keys(tofu_file, alias)
        checking = (trusted, [], []) if trusted else None
    else:
        mine = _trusted_keys(_expand(known_hosts), alias)
        if not mine:  # a file of yours names hosts as you do: host, or [host]:port
            known = asyncssh.read_known_hosts(os.fspath(known_hosts))
            mine = list(known.match(target.host, "", target.port)[0])
        checking = (mine, [], [])
    options: dict[str, Any] = {
        "port": target.port,
        "username": target.username,
        "known_hosts": checking,
        "connect_timeout": connect_timeout,
        "config": None,
    }
    if key_path is not None:
        options["client_keys"] = [str(_expand(key_path))]
        options["agent_path"] = None
    try:
        conn: SSHClientConnection = await asyncssh.connect(target.host, **options)
    except asyncssh.HostKeyNotVerifiable as exc:
        if tofu_file is not None:
            raise HostKeyChangedError(
                f"the host key of instance {target.instance_id} ({target}) is not the one "
                f"trusted for it in {tofu_file}: another machine may be answering. If the "
                f"instance was rebuilt, remove the line starting {alias!r} from that file",
                instance_id=target.instance_id,
            ) from None
        raise SshError(
            f"the host key of instance {target.instance_id} ({target}) is not in "
            f"{known_hosts}: {exc.reason}",
            instance_id=target.instance_id,
        ) from None
    except asyncssh.PermissionDenied:
        raise SshError(
            f"instance {target.instance_id} ({target}) refused the login: none of the keys "
            "offered is one it was created with (pass key_path=, or load it into ssh-agent)",
            instance_id=target.instance_id,
        ) from None
    except (OSError, asyncio.TimeoutError, asyncssh.Error) as exc:
        raise SshError(
            f"could not connect to instance {target.instance_id} ({target}): {_describe(exc)}",
            instance_id=target.instance_id,
        ) from exc
    if tofu_file is not None and checking is None:
        server_key = conn.get_server_host_key()
        if server_key is not None:
            _remember_key(tofu_file, alias, server_key)
    return conn


def _expand(path: PathLike) -> Path:
    return Path(os.fspath(path)).expanduser()


def _existing(paths: List[PathLike]) -> List[str]:
    found = [os.fspath(p) for p in paths]
    for path in found:
        if not os.path.exists(path):
            raise FileNotFoundError(f"no such file or directory: {path}")
    return found


def _describe(exc: BaseException) -> str:
    text = getattr(exc, "reason", None) or str(exc) or type(exc).__name__
    return str(text)


def _sink(target: OutputSink) -> Optional[Callable[[bytes], object]]:
    if target is None:
        return None
    if callable(target):
        return target
    stream = target

    def write(data: bytes) -> None:
        stream.write(data)
        stream.flush()

    return write


async def ssh_exec(
    target: SshTarget,
    command: str,
    *,
    key_path: Optional[PathLike] = None,
    known_hosts: KnownHosts = None,
    connect_timeout: float = 15.0,
    timeout: Optional[float] = None,
    stdin: Union[bytes, str, None] = None,
    stdout: OutputSink = None,
    stderr: OutputSink = None,
    term_type: Optional[str] = None,
) -> ExecResult:
    """Run ``command`` on the instance; its output is captured, or streamed to
    ``stdout``/``stderr`` (binary files or callables) as it arrives."""
    import asyncio

    asyncssh = _import_asyncssh()
    out_sink, err_sink = _sink(stdout), _sink(stderr)
    captured: Tuple[List[bytes], List[bytes]] = ([], [])
    conn = await _connect(
        target, key_path=key_path, known_hosts=known_hosts, connect_timeout=connect_timeout
    )
    try:
        async with conn:
            process = await conn.create_process(command, encoding=None, term_type=term_type)

            async def pump(reader: Any, sink: Optional[Callable[[bytes], object]],
                           keep: List[bytes]) -> None:  # fmt: skip
                while True:
                    data = await reader.read(65536)
                    if not data:
                        return
                    if sink is not None:
                        sink(data)
                    else:
                        keep.append(data)

            async def run() -> int:
                if stdin is not None:
                    process.stdin.write(stdin.encode() if isinstance(stdin, str) else stdin)
                process.stdin.write_eof()
                await asyncio.gather(
                    pump(process.stdout, out_sink, captured[0]),
                    pump(process.stderr, err_sink, captured[1]),
                )
                completed = await process.wait(check=False)
                if completed.exit_status is not None:
                    return int(completed.exit_status)
                if completed.exit_signal is not None:
                    return 128 + _signal_number(completed.exit_signal[0])
                # The connection ended without a status: the session was cut.
                raise SshError(
                    f"the connection to instance {target.instance_id} was lost while "
                    f"{command!r} ran",
                    instance_id=target.instance_id,
                )

            if timeout is None:
                status = await run()
            else:
                status = await asyncio.wait_for(run(), timeout)
    except asyncio.TimeoutError:
        raise CommandTimeoutError(
            f"{command!r} ran longer than {timeout:g}s on instance {target.instance_id}; "
            "its session was closed",
            instance_id=target.instance_id,
        ) from None
    except (OSError, asyncssh.Error) as exc:
        raise SshError(
            f"the connection to instance {target.instance_id} ({target}) failed while "
            f"{command!r} ran: {_describe(exc)}",
            instance_id=target.instance_id,
        ) from exc
    return ExecResult(
        command=command,
        exit_status=status,
        stdout=b"".join(captured[0]).decode("utf-8", "replace"),
        stderr=b"".join(captured[1]).decode("utf-8", "replace"),
    )


def _signal_number(name: str) -> int:
    import signal

    try:
        return int(signal.Signals[f"SIG{name}"])
    except KeyError:
        return 1


async def ssh_upload(
    target: SshTarget,
    local: Union[PathLike, List[PathLike]],
    remote: str,
    *,
    key_path: Optional[PathLike] = None,
    known_hosts: KnownHosts = None,
    connect_timeout: float = 15.0,
) -> None:
    """Copy local files or directories (recursively) to ``remote`` on the instance
    (relative to its home directory), over SFTP."""
    asyncssh = _import_asyncssh()
    sources = _existing(local if isinstance(local, list) else [local])
    conn = await _connect(
        target, key_path=key_path, known_hosts=known_hosts, connect_timeout=connect_timeout
    )
    try:
        async with conn, conn.start_sftp_client() as sftp:
            await sftp.put(sources, remote, recurse=True, preserve=True)
    except (OSError, asyncssh.Error) as exc:
        raise SshError(
            f"copying to instance {target.instance_id} ({target}:{remote}) failed: "
            f"{_describe(exc)}",
            instance_id=target.instance_id,
        ) from exc


async def ssh_download(
    target: SshTarget,
    remote: Union[str, List[str]],
    local: PathLike,
    *,
    key_path: Optional[PathLike] = None,
    known_hosts: KnownHosts = None,
    connect_timeout: float = 15.0,
) -> List[str]:
    """Copy files or directories (recursively) from the instance to ``local``, over
    SFTP; remote paths are relative to its home directory and may be globs.

    Nothing is written outside ``local`` (or, for one file copied to a file name, its
    directory), whatever the server lists: see :mod:`fluidstack.core.sftp_download`.
    Returns a message for each entry left out (symlinks leading outside the tree, names
    that are not plain file names); those never fail the download."""
    asyncssh = _import_asyncssh()
    from .sftp_download import confined_download

    sources = remote if isinstance(remote, list) else [remote]
    conn = await _connect(
        target, key_path=key_path, known_hosts=known_hosts, connect_timeout=connect_timeout
    )
    try:
        async with conn, conn.start_sftp_client() as sftp:
            skipped = await confined_download(sftp, sources, _expand(local))
    except (OSError, asyncssh.Error) as exc:
        raise SshError(
            f"copying from instance {target.instance_id} ({target}:{', '.join(sources)}) "
            f"failed: {_describe(exc)}",
            instance_id=target.instance_id,
        ) from exc
    return skipped


class _SshThread:
    """One event loop in a daemon thread, for the synchronous clients' SSH calls."""

    def __init__(self) -> None:
        import asyncio

        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(
            target=self.loop.run_forever, name="fluidstack-ssh", daemon=True
        )
        self.thread.start()


_thread: Optional[_SshThread] = None
_thread_lock = threading.Lock()


def run_in_ssh_thread(make: Callable[[], Awaitable[T]]) -> T:
    """Run the coroutine ``make()`` returns on the SSH thread's loop and wait for it.

    Ctrl-C (KeyboardInterrupt) while waiting cancels it there, then propagates: the
    session is closed, and the remote command ends with it.
    """
    import asyncio
    import concurrent.futures

    global _thread
    with _thread_lock:
        if _thread is None or not _thread.thread.is_alive():
            _thread = _SshThread()
        loop = _thread.loop

    async def main() -> T:
        return await make()

    future = asyncio.run_coroutine_threadsafe(main(), loop)
    try:
        return future.result()
    except KeyboardInterrupt:
        future.cancel()  # the session's task is cancelled: its connection closes
        raise
    except concurrent.futures.CancelledError:
        raise SshError("the SSH session was cancelled") from None


def asyncio_is_running() -> bool:
    """Whether the current thread runs an asyncio loop (rather than trio, or none)."""
    try:
        import sniffio

        return sniffio.current_async_library() == "asyncio"
    except Exception:
        return "asyncio" in sys.modules and _has_running_loop()


def _has_running_loop() -> bool:
    import asyncio  # only called once asyncio is in sys.modules

    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True
