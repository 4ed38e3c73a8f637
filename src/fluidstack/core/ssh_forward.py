"""Local port forwarding to instances (``ssh -L``), on the SDK's SSH layer.

:func:`ssh_forward` logs in, listens on ``127.0.0.1`` only (never on every interface: a
forwarded Jupyter is as good as a shell), and hands each connection made to that local
port to ``remote_host:remote_port`` as seen from the instance. The returned
:class:`PortForward` says where it listens; :meth:`PortForward.stop` closes the listener
and the SSH connection. The instances resources wrap this in a context manager
(``instances.forward``); needs the ``[ssh]`` extra (asyncssh).
"""

from __future__ import annotations

import errno
from typing import TYPE_CHECKING, Any, Optional

from .ssh import KnownHosts, PathLike, SshError, SshTarget, _connect, _describe, _import_asyncssh

if TYPE_CHECKING:
    from asyncssh import SSHClientConnection

__all__ = ["LOCAL_HOST", "LocalPortInUseError", "PortForward", "ssh_forward"]

LOCAL_HOST = "127.0.0.1"
"""Where forwarded ports listen: loopback only."""


class LocalPortInUseError(SshError):
    """The local port asked for is taken by another program; nothing listens for the
    forward (pass ``local_port=0`` for any free port)."""

    def __init__(self, message: str, *, port: int, instance_id: Optional[str] = None) -> None:
        super().__init__(message, instance_id=instance_id)
        self.port = port


class PortForward:
    """An open forward: connections to ``127.0.0.1:local_port`` here reach
    ``remote_host:remote_port`` on the instance, until it is stopped (by leaving the
    ``with`` block of ``instances.forward``)."""

    def __init__(
        self,
        instance_id: str,
        local_port: int,
        remote_host: str,
        remote_port: int,
        conn: SSHClientConnection,
        listener: Any,
    ) -> None:
        self.instance_id = instance_id
        """The instance the forward leads to."""
        self.local_host = LOCAL_HOST
        """Where it listens here: always loopback."""
        self.local_port = local_port
        """The local port it listens on (the one picked when 0 was asked for)."""
        self.remote_host = remote_host
        """The host connections are made to, as the instance sees it (its loopback)."""
        self.remote_port = remote_port
        """The port on the instance."""
        self._conn = conn
        self._listener = listener
        self._stopped = False

    @property
    def url(self) -> str:
        """``http://127.0.0.1:LOCAL_PORT/``: the forwarded service's address here."""
        return f"http://{self.local_host}:{self.local_port}/"

    @property
    def is_open(self) -> bool:
        """Whether it still forwards: not stopped, and its SSH connection not lost (the
        instance stopped or was deleted, say)."""
        return not self._stopped and not self._conn.is_closed()

    async def stop(self) -> None:
        """Stop listening and close the SSH connection (connections being forwarded
        end with it). Stopping twice does nothing."""
        if self._stopped:
            return
        self._stopped = True
        self._listener.close()
        self._conn.close()
        await self._conn.wait_closed()

    def __repr__(self) -> str:
        state = "open" if self.is_open else "closed"
        return (
            f"<PortForward {self.local_host}:{self.local_port} -> instance "
            f"{self.instance_id} {self.remote_host}:{self.remote_port} ({state})>"
        )


async def ssh_forward(
    target: SshTarget,
    remote_port: int,
    local_port: int = 0,
    *,
    remote_host: str = "127.0.0.1",
    key_path: Optional[PathLike] = None,
    known_hosts: KnownHosts = None,
    connect_timeout: float = 15.0,
) -> PortForward:
    """Log into the instance and forward ``127.0.0.1:local_port`` here (0: any free
    port) to ``remote_host:remote_port`` there. Raises :class:`LocalPortInUseError` when
    the local port is taken, :class:`SshError` when the login fails."""
    asyncssh = _import_asyncssh()
    if not isinstance(remote_port, int) or not 0 < remote_port <= 65535:
        raise ValueError(f"remote_port must be a port number (1-65535), got {remote_port!r}")
    if not isinstance(local_port, int) or not 0 <= local_port <= 65535:
        raise ValueError(f"local_port must be a port number, or 0 for any, got {local_port!r}")
    conn = await _connect(
        target, key_path=key_path, known_hosts=known_hosts, connect_timeout=connect_timeout
    )
    try:
        listener = await conn.forward_local_port(LOCAL_HOST, local_port, remote_host, remote_port)
    except OSError as exc:
        conn.close()
        if exc.errno == errno.EADDRINUSE:
            raise LocalPortInUseError(
                f"local port {local_port} is already in use on {LOCAL_HOST}: choose another "
                "one (or 0 for any free port)",
                port=local_port,
                instance_id=target.instance_id,
            ) from None
        raise SshError(
            f"could not listen on {LOCAL_HOST}:{local_port}: {_describe(exc)}",
            instance_id=target.instance_id,
        ) from exc
    except asyncssh.Error as exc:
        conn.close()
        raise SshError(
            f"instance {target.instance_id} ({target}) refused to forward to "
            f"{remote_host}:{remote_port}: {_describe(exc)}",
            instance_id=target.instance_id,
        ) from exc
    return PortForward(
        target.instance_id, int(listener.get_port()), remote_host, remote_port, conn, listener
    )
