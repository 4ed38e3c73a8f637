"""One SSH connection kept open for several commands, and a command's output streamed as
it arrives: what following a growing log needs (one login, not one per poll).

:class:`AsyncSshSession` (asynchronous clients) and :class:`SshSession` (synchronous
ones) share one asyncio half, :class:`_Link`, which lives on one event loop: the
caller's under asyncio, else the SSH thread's (:func:`~fluidstack.core.ssh.run_in_ssh_thread`),
as for every other SSH call of the SDK. Leaving the ``with`` block (however: an
exception, cancellation, Ctrl-C), or closing a stream before its end, closes the
connection and so ends the remote command's session: no connection outlives its
consumer. (A server ends a session's command however it does; OpenSSH's and the
emulator's close its standard input, which a command may watch.)
"""

from __future__ import annotations

from types import TracebackType
from typing import (
    TYPE_CHECKING,
    Any,
    AsyncIterator,
    Awaitable,
    Callable,
    Iterator,
    List,
    Optional,
    Type,
    TypeVar,
    Union,
)

from .addresses import refuse_documentation_address
from .ssh import (
    ExecResult,
    KnownHosts,
    PathLike,
    SshError,
    SshSessionLostError,
    SshTarget,
    _connect,
    _describe,
    _import_asyncssh,
    asyncio_is_running,
    run_in_ssh_thread,
)

if TYPE_CHECKING:
    import asyncio

    from asyncssh import SSHClientConnection, SSHClientProcess

__all__ = ["AsyncSshSession", "SshSession", "SshSessionLostError"]

T = TypeVar("T")

KEEPALIVE_INTERVAL = 10.0
KEEPALIVE_COUNT_MAX = 3
"""A connection whose peer stops answering (a network cut with no reset) is declared lost
after about 30 s of silence, instead of hanging a follow until TCP gives up (hours)."""

_STDERR_KEPT = 2000


class _Link:
    """One asyncssh connection, used only on the event loop that opened it."""

    def __init__(self, conn: SSHClientConnection, target: SshTarget) -> None:
        import asyncio

        self.conn = conn
        self.target = target
        self.loop = asyncio.get_running_loop()

    @classmethod
    async def open(
        cls,
        target: SshTarget,
        key_path: Optional[PathLike],
        known_hosts: KnownHosts,
        connect_timeout: float,
    ) -> _Link:
        refuse_documentation_address(target.host, target.instance_id)
        conn = await _connect(
            target, key_path=key_path, known_hosts=known_hosts, connect_timeout=connect_timeout
        )
        conn.set_keepalive(KEEPALIVE_INTERVAL, KEEPALIVE_COUNT_MAX)
        return cls(conn, target)

    def _lost(self, what: str, exc: Optional[BaseException]) -> SshSessionLostError:
        why = f": {_describe(exc)}" if exc is not None else ""
        return SshSessionLostError(
            f"the connection to {self.target.instance_id} ({self.target}) was lost while "
            f"{what}{why}",
            instance_id=self.target.instance_id,
        )

    async def run(self, command: str, stdin: Union[bytes, str, None], what: str) -> ExecResult:
        """Run ``command`` on this connection, its output captured."""
        asyncssh = _import_asyncssh()
        data = stdin.encode() if isinstance(stdin, str) else stdin
        try:
            done = await self.conn.run(command, input=data, encoding=None, check=False)
        except (OSError, asyncssh.Error) as exc:
            raise self._lost(what, exc) from exc
        if done.exit_status is None and done.exit_signal is None:
            raise self._lost(what, None)  # closed without a status: cut
        status = done.exit_status
        if status is None and done.exit_signal is not None:  # as a shell reports it
            from .ssh import _signal_number

            status = 128 + _signal_number(done.exit_signal[0])
        return ExecResult(
            command=command,
            exit_status=int(status or 0),
            stdout=_text(done.stdout),
            stderr=_text(done.stderr),
        )

    async def start(self, command: str, what: str) -> _Channel:
        """Start ``command`` with its standard input left open (closing the connection
        closes it: the remote side may watch it to know its reader is gone)."""
        asyncssh = _import_asyncssh()
        try:
            process = await self.conn.create_process(command, encoding=None)
        except (OSError, asyncssh.Error) as exc:
            raise self._lost(what, exc) from exc
        return _Channel(self, process, what)

    def close(self) -> None:
        """Close the connection from any thread; returns at once."""
        import asyncio

        try:
            running: Optional[asyncio.AbstractEventLoop] = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is self.loop:
            self.conn.close()
        elif not self.loop.is_closed():
            self.loop.call_soon_threadsafe(self.conn.close)


def _text(data: Union[bytes, str, None]) -> str:
    if isinstance(data, bytes):
        return data.decode("utf-8", "replace")
    return data or ""


class _Channel:
    """A started command: its standard output read chunk by chunk."""

    def __init__(self, link: _Link, process: SSHClientProcess[bytes], what: str) -> None:
        import asyncio

        self.link = link
        self.process = process
        self.what = what
        self.stderr: List[bytes] = []
        self.stderr_task: asyncio.Task[None] = asyncio.ensure_future(self._drain_stderr())

    async def _drain_stderr(self) -> None:
        asyncssh = _import_asyncssh()
        kept = 0
        try:
            while True:
                data = await self.process.stderr.read(4096)
                if not data:
                    return
                self.stderr.append(data)
                kept += len(data)
                while kept > _STDERR_KEPT and len(self.stderr) > 1:
                    kept -= len(self.stderr.pop(0))
        except (OSError, asyncssh.Error):
            return  # the output read reports the lost connection

    async def next(self) -> bytes:
        """The next chunk of output; ``b""`` once the command has ended with status 0.

        Raises:
            SshSessionLostError: The connection dropped first.
            SshError: The command ended with another status (its last error output says why).
        """
        asyncssh = _import_asyncssh()
        try:
            data: bytes = await self.process.stdout.read(65536)
            if data:
                return data
            completed = await self.process.wait(check=False)
            await self.stderr_task
        except (OSError, asyncssh.Error) as exc:
            raise self.link._lost(self.what, exc) from exc
        if completed.exit_status is None and completed.exit_signal is None:
            raise self.link._lost(self.what, None)  # closed without a status: cut
        if completed.exit_status != 0:
            said = b"".join(self.stderr).decode("utf-8", "replace").strip()[-500:]
            status = completed.exit_status
            how = f"status {status}" if status is not None else "a signal"
            raise SshError(
                f"{self.what} on {self.link.target.instance_id} ended with {how}: {said}",
                instance_id=self.link.target.instance_id,
            )
        return b""


async def _on_loop(make: Callable[[], Awaitable[T]]) -> T:
    """Await ``make()`` under asyncio; under trio run it on the SSH thread's loop from a
    worker thread that cancellation abandons (the caller then closes the connection)."""
    if asyncio_is_running():
        return await make()
    import anyio.to_thread

    try:
        return await anyio.to_thread.run_sync(run_in_ssh_thread, make, abandon_on_cancel=True)
    except TypeError:  # anyio < 4.1 calls it `cancellable`
        run: Any = anyio.to_thread.run_sync
        result: T = await run(run_in_ssh_thread, make, cancellable=True)
        return result


class _Session:
    """What both sessions hold: the target, how to log in, and the open connection."""

    def __init__(
        self,
        target: SshTarget,
        *,
        key_path: Optional[PathLike] = None,
        known_hosts: KnownHosts = None,
        connect_timeout: float = 15.0,
    ) -> None:
        self.target = target
        self._options = (key_path, known_hosts, connect_timeout)
        self._link: Optional[_Link] = None

    def _current(self) -> _Link:
        if self._link is None:
            raise SshError("the SSH session is closed", instance_id=self.target.instance_id)
        return self._link

    def _drop(self, link: _Link) -> None:
        """Close ``link`` (a stream on it ended early) and forget it if it is current."""
        link.close()
        if self._link is link:
            self._link = None


class AsyncSshSession(_Session):
    """One SSH connection to ``target`` for several commands, for asynchronous code.

    ``async with AsyncSshSession(target) as session:`` connects (a refused login, a host
    key that changed, a documentation address: raised here); :meth:`run` runs a command
    to its end; :meth:`stream` yields a command's output as it comes; :meth:`reconnect`
    replaces a lost connection. Leaving the block closes the connection.
    """

    async def __aenter__(self) -> AsyncSshSession:
        await self.reconnect()
        return self

    async def __aexit__(
        self,
        kind: Optional[Type[BaseException]],
        exc: Optional[BaseException],
        tb: Optional[TracebackType],
    ) -> None:
        await self.aclose()

    async def reconnect(self) -> None:
        """Close the current connection (if any) and open a new one."""
        await self.aclose()
        target, (key, known, within) = self.target, self._options
        self._link = await _on_loop(lambda: _Link.open(target, key, known, within))

    async def run(
        self, command: str, *, stdin: Union[bytes, str, None] = None, what: str = "a command ran"
    ) -> ExecResult:
        """Run ``command`` to its end over this connection; its output captured. ``what``
        names it in errors (never the command: it may hold secrets)."""
        link = self._current()
        return await _on_loop(lambda: link.run(command, stdin, what))

    async def stream(self, command: str, *, what: str = "a command ran") -> AsyncIterator[bytes]:
        """Start ``command`` and yield its standard output as it arrives, until it
        ends. ``what`` names it in errors (never the command: it may hold secrets).
        Breaking out (or cancelling) closes the connection: call :meth:`reconnect`
        to go on with this session.

        Raises:
            SshSessionLostError: The connection dropped first.
            SshError: The command ended with a status other than 0.
        """
        link = self._current()
        channel = await _on_loop(lambda: link.start(command, what))
        finished = False
        try:
            while True:
                data = await _on_loop(channel.next)
                if not data:
                    finished = True
                    return
                yield data
        finally:
            if not finished:  # abandoned, cancelled or failed: the session cannot go on
                self._drop(link)

    async def aclose(self) -> None:
        """Close the connection (nothing to do when closed already)."""
        link, self._link = self._link, None
        if link is not None:
            link.close()


class SshSession(_Session):
    """One SSH connection to ``target`` for several commands, for synchronous code.

    ``with SshSession(target) as session:`` connects (a refused login, a host key that
    changed, a documentation address: raised here); :meth:`run` runs a command to its
    end; :meth:`stream` yields a command's output as it comes; :meth:`reconnect`
    replaces a lost connection. Leaving the block, or Ctrl-C, closes the connection.
    """

    def __enter__(self) -> SshSession:
        self.reconnect()
        return self

    def __exit__(
        self,
        kind: Optional[Type[BaseException]],
        exc: Optional[BaseException],
        tb: Optional[TracebackType],
    ) -> None:
        self.close()

    def reconnect(self) -> None:
        """Close the current connection (if any) and open a new one."""
        self.close()
        target, (key, known, within) = self.target, self._options
        self._link = run_in_ssh_thread(lambda: _Link.open(target, key, known, within))

    def run(
        self, command: str, *, stdin: Union[bytes, str, None] = None, what: str = "a command ran"
    ) -> ExecResult:
        """Run ``command`` to its end over this connection; its output captured. ``what``
        names it in errors (never the command: it may hold secrets)."""
        link = self._current()
        return run_in_ssh_thread(lambda: link.run(command, stdin, what))

    def stream(self, command: str, *, what: str = "a command ran") -> Iterator[bytes]:
        """Start ``command`` and yield its standard output as it arrives, until it
        ends. ``what`` names it in errors (never the command: it may hold secrets).
        Breaking out (or Ctrl-C) closes the connection: call :meth:`reconnect` to go
        on with this session.

        Raises:
            SshSessionLostError: The connection dropped first.
            SshError: The command ended with a status other than 0.
        """
        link = self._current()
        channel = run_in_ssh_thread(lambda: link.start(command, what))
        finished = False
        try:
            while True:
                data = run_in_ssh_thread(channel.next)
                if not data:
                    finished = True
                    return
                yield data
        finally:
            if not finished:  # abandoned, interrupted or failed: the session cannot go on
                self._drop(link)

    def close(self) -> None:
        """Close the connection (nothing to do when closed already)."""
        link, self._link = self._link, None
        if link is not None:
            link.close()
