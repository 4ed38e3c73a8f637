"""``exec``, ``upload``, ``download`` and ``forward`` over SSH: one definition for both
APIs' instances resources, each of which says only where its instances answer
(``_ssh_target``)."""

from __future__ import annotations

import warnings
from contextlib import asynccontextmanager
from typing import AsyncIterator, Generic, List, Optional, TypeVar, Union

from ..ssh import (
    DownloadSkippedWarning,
    ExecResult,
    KnownHosts,
    OutputSink,
    PathLike,
    SshTarget,
    ssh_download,
    ssh_exec,
    ssh_upload,
)
from ..ssh_forward import PortForward, ssh_forward
from ._io import run_ssh, shielded

__all__ = ["AsyncRemoteAccess"]

InstanceRef = TypeVar("InstanceRef")
"""How an API's methods name an instance: its id, or the object already at hand."""


class AsyncRemoteAccess(Generic[InstanceRef]):
    """Commands and file copies on an API's running instances (``fluidstack[ssh]``)."""

    async def _ssh_target(self, instance: InstanceRef) -> SshTarget:
        """Where and as whom ``instance`` answers SSH; ``SshError`` when it is not
        running."""
        raise NotImplementedError

    async def exec(
        self,
        instance: InstanceRef,
        command: str,
        *,
        key_path: Optional[PathLike] = None,
        known_hosts: KnownHosts = None,
        timeout: Optional[float] = None,
        connect_timeout: float = 15.0,
        stdin: Union[bytes, str, None] = None,
        stdout: OutputSink = None,
        stderr: OutputSink = None,
    ) -> ExecResult:
        """Run ``command`` on a running instance over SSH (needs ``fluidstack[ssh]``), as
        its login user at the address the API reports (Atlas: its ``ip``, on the
        client's ``ssh_port``).

        Args:
            instance: The instance (or its id) to run on.
            command: A shell command line, run by the login user's shell.
            key_path: Private key to log in with (default: ssh-agent, then
                ``~/.ssh/id_ed25519``, ``id_ecdsa``, ``id_rsa``).
            known_hosts: ``None`` trusts an instance's host key on first use and
                remembers it (per instance) in ``~/.config/fluidstack/known_hosts``; a
                path uses your ``known_hosts`` file; ``False`` skips the check.
            timeout: Seconds the command may run; past it the session is closed and
                :class:`~fluidstack.core.ssh.CommandTimeoutError` raised.
            connect_timeout: Seconds to connect and log in.
            stdin: Data for the command's standard input.
            stdout, stderr: A binary file or a callable taking ``bytes`` that receives
                the output as it arrives (it is then not kept in the result).

        Returns:
            :class:`~fluidstack.core.ssh.ExecResult`: ``stdout``, ``stderr``,
            ``exit_status`` (a failed command is a result, not an error: see ``check()``).

        Raises:
            SshError: The instance is not running, refused the login, or the connection
                failed or was lost. ``HostKeyChangedError`` when its host key changed.
        """
        target = await self._ssh_target(instance)
        return await run_ssh(
            lambda: ssh_exec(
                target,
                command,
                key_path=key_path,
                known_hosts=known_hosts,
                connect_timeout=connect_timeout,
                timeout=timeout,
                stdin=stdin,
                stdout=stdout,
                stderr=stderr,
            )
        )

    async def upload(
        self,
        instance: InstanceRef,
        local: Union[PathLike, List[PathLike]],
        remote: str = ".",
        *,
        key_path: Optional[PathLike] = None,
        known_hosts: KnownHosts = None,
        connect_timeout: float = 15.0,
    ) -> None:
        """Copy local files or directories (recursively) to ``remote`` on the instance,
        over SFTP. Relative remote paths start in the login user's home directory.
        ``key_path`` and ``known_hosts`` are as for :meth:`exec`."""
        target = await self._ssh_target(instance)
        await run_ssh(
            lambda: ssh_upload(
                target,
                local,
                remote,
                key_path=key_path,
                known_hosts=known_hosts,
                connect_timeout=connect_timeout,
            )
        )

    async def download(
        self,
        instance: InstanceRef,
        remote: Union[str, List[str]],
        local: PathLike = ".",
        *,
        key_path: Optional[PathLike] = None,
        known_hosts: KnownHosts = None,
        connect_timeout: float = 15.0,
    ) -> None:
        """Copy files or directories (recursively; globs allowed) from the instance into
        the local directory ``local`` (or to that file name, for one file), over SFTP.
        ``key_path`` and ``known_hosts`` are as for :meth:`exec`.

        Nothing is written outside ``local``, whatever the instance lists. Symlinks are
        copied as links when they stay inside the downloaded tree; one leading out of
        it (or a name that is not a plain file name) is left out with a
        :class:`~fluidstack.core.ssh.DownloadSkippedWarning`, and the rest is copied."""
        target = await self._ssh_target(instance)
        skipped = await run_ssh(
            lambda: ssh_download(
                target,
                remote,
                local,
                key_path=key_path,
                known_hosts=known_hosts,
                connect_timeout=connect_timeout,
            )
        )
        for message in skipped:
            warnings.warn(message, DownloadSkippedWarning, stacklevel=2)

    @asynccontextmanager
    async def forward(
        self,
        instance: InstanceRef,
        remote_port: int,
        local_port: int = 0,
        *,
        remote_host: str = "127.0.0.1",
        key_path: Optional[PathLike] = None,
        known_hosts: KnownHosts = None,
        connect_timeout: float = 15.0,
    ) -> AsyncIterator[PortForward]:
        """Forward a local port to a port on a running instance over SSH (``ssh -L``),
        for as long as the ``async with`` block runs; leaving it closes the forward.

        Example::

            async with client.instances.forward(instance, 8888) as fwd:
                print(fwd.url)  # http://127.0.0.1:<free port>/

        Args:
            instance: The instance (or its id) to forward to.
            remote_port: The port on the instance (a service listening on its loopback,
                say Jupyter on 8888).
            local_port: The port to listen on here, on ``127.0.0.1`` only; 0 (the
                default) picks a free one: read it from ``local_port`` of the result.
            remote_host: Where the instance connects to; its own loopback by default.
            key_path, known_hosts, connect_timeout: As for :meth:`exec`.

        Yields:
            :class:`~fluidstack.core.ssh_forward.PortForward`: ``local_port``, ``url``,
            ``is_open``.

        Raises:
            LocalPortInUseError: ``local_port`` is taken here (a subclass of SshError).
            SshError: The instance is not running, refused the login, or the connection
                failed (a documentation address is refused before anything is sent).
        """
        target = await self._ssh_target(instance)
        opened = await run_ssh(
            lambda: ssh_forward(
                target,
                remote_port,
                local_port,
                remote_host=remote_host,
                key_path=key_path,
                known_hosts=known_hosts,
                connect_timeout=connect_timeout,
            )
        )
        try:
            yield opened
        finally:
            with shielded():  # a cancelled block still closes its connection
                await run_ssh(opened.stop)
