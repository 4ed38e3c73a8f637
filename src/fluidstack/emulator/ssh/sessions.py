"""One SSH connection to an emulated instance: authentication, commands, shells with a
pty and local port forwarding (asyncssh's server side). SFTP and scp are in
:mod:`fluidstack.emulator.ssh.sftp` (``InstanceSFTPServer`` is still importable from here)."""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import ipaddress
import logging
import os
import pty
import struct
import termios
from typing import TYPE_CHECKING, Any, Dict, List, Optional, Set

from fluidstack.emulator.ssh.quiet import asyncssh
from fluidstack.emulator.ssh.sftp import InstanceSFTPServer
from fluidstack.emulator.ssh.tools import USERNAME, shell

if TYPE_CHECKING:
    from fluidstack.emulator.ssh.machine import Machine

__all__ = ["InstanceSFTPServer", "InstanceServer", "run_session"]

logger = logging.getLogger("fluidstack.emulator.ssh")

_LOOPBACK_NAMES = frozenset({"localhost", "ip6-localhost", "localhost.localdomain"})


def _is_loopback(host: str) -> bool:
    if host.lower() in _LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class InstanceServer(asyncssh.SSHServer):
    """Authentication and forwarding rules of one connection, as the instance's sshd.

    Only public keys in the instance's ``authorized_keys`` log in (written at first boot
    from the keys the instance was created with), and only as its user; everything else
    is refused the way OpenSSH refuses it ("Permission denied (publickey)").
    """

    def __init__(self, machine: Machine) -> None:
        self._machine = machine
        self._conn: Optional[asyncssh.SSHServerConnection] = None

    def connection_made(self, conn: asyncssh.SSHServerConnection) -> None:
        self._conn = conn
        self._machine.connections.add(conn)

    def connection_lost(self, exc: Optional[Exception]) -> None:
        if self._conn is not None:
            self._machine.connections.discard(self._conn)

    def begin_auth(self, username: str) -> bool:
        keys = self._machine.disk.authorized_keys
        if username == USERNAME and self._conn is not None and keys.exists():
            try:
                self._conn.set_authorized_keys(str(keys))
            except (OSError, ValueError, asyncssh.KeyImportError) as exc:
                logger.warning("instance %s: unreadable authorized_keys: %s",
                               self._machine.instance_id, exc)  # fmt: skip
        return True

    def public_key_auth_supported(self) -> bool:
        # Offered even where no key may log in (another user, an instance created with
        # no key): sshd says "Permission denied (publickey)" then, not "()" (asyncssh
        # offers the method only once authorized keys are set). The keys set in
        # begin_auth are checked by asyncssh; this class's validate_public_key, asked
        # for any other key, refuses.
        return True

    def password_auth_supported(self) -> bool:
        return False

    def kbdint_auth_supported(self) -> bool:
        return False

    def connection_requested(
        self, dest_host: str, dest_port: int, orig_host: str, orig_port: int
    ) -> bool:
        # Local forwarding (ssh -L) reaches services the instance runs: on loopback, since
        # the instance's processes are the host's. Other destinations are refused.
        return _is_loopback(dest_host)

    def server_requested(self, listen_host: str, listen_port: int) -> bool:
        return False


def _set_winsize(fd: int, size: Any) -> None:
    width, height, pixwidth, pixheight = size
    if width and height:
        fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", height, width, pixwidth, pixheight))


async def run_session(machine: Machine, process: asyncssh.SSHServerProcess[bytes]) -> None:
    """A command or a shell: a host process in the instance's ``$HOME``, its output
    streamed back, its exit status returned."""
    disk = machine.disk
    command = process.command
    term = process.term_type
    argv = [shell(), "-c", command] if command is not None else [shell(), "-l"]
    env = disk.env(machine.instance_id, term)
    env.update(_connection_env(process))
    env.update(machine.extra_env)
    folders = [f for f in machine.extra_path if f not in env["PATH"].split(os.pathsep)]
    if folders:
        own, _, rest = env["PATH"].partition(os.pathsep)
        env["PATH"] = os.pathsep.join([own, *folders, rest] if rest else [own, *folders])
    env.update(machine.processes().env)
    try:
        if term:
            status = await _run_with_pty(machine, process, argv, env)
        else:
            status = await _run_with_pipes(machine, process, argv, env)
    except (OSError, asyncssh.Error) as exc:
        logger.debug("instance %s: session ended: %s", machine.instance_id, exc)
        status = 255
    if not process.channel.is_closing():
        process.exit(status)


def _connection_env(process: asyncssh.SSHServerProcess[bytes]) -> Dict[str, str]:
    """``SSH_CONNECTION`` and ``SSH_CLIENT``, as OpenSSH's sshd sets them: a session can
    tell which of its machine's addresses it was reached on (e.g. a Ray node's IP)."""
    peer = process.get_extra_info("peername")
    local = process.get_extra_info("sockname")
    if not peer or not local:
        return {}
    return {
        "SSH_CONNECTION": f"{peer[0]} {peer[1]} {local[0]} {local[1]}",
        "SSH_CLIENT": f"{peer[0]} {peer[1]} {local[1]}",
    }


def _exit_code(returncode: int) -> int:
    return 128 - returncode if returncode < 0 else returncode


async def _copy_out(source: asyncio.StreamReader, target: Any) -> None:
    while True:
        data = await source.read(65536)
        if not data:
            return
        target.write(data)
        await target.drain()


async def _copy_in(process: asyncssh.SSHServerProcess[bytes], target: asyncio.StreamWriter) -> None:
    with contextlib.suppress(OSError, asyncssh.Error, ConnectionError):
        while True:
            data = await process.stdin.read(65536)
            if not data:
                break
            target.write(data)
            await target.drain()
    with contextlib.suppress(OSError, ConnectionError):
        target.close()


async def _run_with_pipes(
    machine: Machine,
    process: asyncssh.SSHServerProcess[bytes],
    argv: List[str],
    env: Dict[str, str],
) -> int:
    proc = await asyncio.create_subprocess_exec(
        *argv,
        cwd=str(machine.disk.home),
        env=env,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        start_new_session=True,
        preexec_fn=machine.processes().join,
    )
    procs = machine.processes()
    procs.pgids.add(proc.pid)
    feeder = asyncio.ensure_future(_copy_in(process, proc.stdin))  # type: ignore[arg-type]
    try:
        # Both outputs are drained before the exit status is sent: nothing printed is lost.
        await asyncio.gather(
            _copy_out(proc.stdout, process.stdout),  # type: ignore[arg-type]
            _copy_out(proc.stderr, process.stderr),  # type: ignore[arg-type]
        )
        return _exit_code(await proc.wait())
    finally:
        feeder.cancel()
        _forget_if_empty(procs.pgids, proc.pid)


async def _run_with_pty(
    machine: Machine,
    process: asyncssh.SSHServerProcess[bytes],
    argv: List[str],
    env: Dict[str, str],
) -> int:
    master, slave = pty.openpty()
    size = process.term_size
    _set_winsize(slave, size)

    join = machine.processes().join

    def controlling_tty() -> None:  # in the child, after setsid: the pty becomes its tty
        fcntl.ioctl(0, termios.TIOCSCTTY, 0)
        join()

    try:
        proc = await asyncio.create_subprocess_exec(
            *argv,
            cwd=str(machine.disk.home),
            env=env,
            stdin=slave,
            stdout=slave,
            stderr=slave,
            start_new_session=True,
            preexec_fn=controlling_tty,
        )
    finally:
        os.close(slave)
    procs = machine.processes()
    procs.pgids.add(proc.pid)
    loop = asyncio.get_running_loop()
    done = loop.create_future()

    def readable() -> None:
        try:
            data = os.read(master, 65536)
        except OSError:
            data = b""
        if data:
            process.stdout.write(data)
        else:
            loop.remove_reader(master)
            if not done.done():
                done.set_result(None)

    loop.add_reader(master, readable)

    async def feed() -> None:
        with contextlib.suppress(OSError, asyncssh.Error, ConnectionError):
            while True:
                try:
                    data = await process.stdin.read(65536)
                except asyncssh.TerminalSizeChanged as change:
                    _set_winsize(master, (change.width, change.height,
                                          change.pixwidth, change.pixheight))  # fmt: skip
                    continue
                if not data:
                    os.write(master, b"\x04")
                    return
                os.write(master, data)

    feeder = asyncio.ensure_future(feed())
    exited = asyncio.ensure_future(proc.wait())
    try:
        await asyncio.wait({done, exited}, return_when=asyncio.FIRST_COMPLETED)
        if not done.done():
            # As under OpenSSH's sshd, a session with a terminal ends when its shell does,
            # even while a process it started still holds the terminal (``ray start``'s
            # daemons): what is already written is sent, then the exit status.
            _drain(master, process)
        return _exit_code(await exited)
    finally:
        feeder.cancel()
        exited.cancel()
        loop.remove_reader(master)
        os.close(master)
        _forget_if_empty(procs.pgids, proc.pid)


def _drain(master: int, process: asyncssh.SSHServerProcess[bytes]) -> None:
    """Send what a terminal holds without waiting for more."""
    os.set_blocking(master, False)
    while True:
        try:
            data = os.read(master, 65536)
        except OSError:  # BlockingIOError (nothing more now), or EIO (no writer left)
            return
        if not data:
            return
        process.stdout.write(data)


def _forget_if_empty(pgids: Set[int], pgid: int) -> None:
    # A session's process group outlives it when it left something running (``nohup
    # jupyter &``), as under a real sshd; it is ended only when the instance stops.
    try:
        os.killpg(pgid, 0)
    except OSError:
        pgids.discard(pgid)
