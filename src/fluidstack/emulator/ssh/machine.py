"""One emulated instance as its sshd sees it (:class:`Machine`), and what the SSH side
needs of the emulator that runs it (:class:`Host`).

Kept apart from ``machines`` (the server) so that sessions and the server both depend
on this, and nothing here depends on the emulator's runtime: no import circle.
"""

from __future__ import annotations

import asyncio
import socket
from dataclasses import dataclass, field
from typing import Any, ContextManager, Dict, List, Optional, Protocol, Set

from fluidstack.emulator.ssh.procs import BootProcesses, ProcessTracker
from fluidstack.emulator.ssh.quiet import asyncssh
from fluidstack.emulator.ssh.tools import InstanceDisk

__all__ = ["Host", "Machine", "SessionExtras"]


class Host(Protocol):
    """The emulator as :class:`~fluidstack.emulator.ssh.machines.SshMachines` reads it
    (``fluidstack.emulator.runtime.Emulator`` is one)."""

    @property
    def lock(self) -> ContextManager[Any]: ...

    @property
    def clock(self) -> Any: ...

    @property
    def faults(self) -> Any: ...

    @property
    def platform(self) -> Any: ...

    @property
    def atlas(self) -> Any: ...


class SessionExtras(Protocol):
    """What some instances' sessions see besides their own environment: the Slurm
    rehearsal's (``fluidstack.emulator.slurm.SlurmRehearsal`` is one) on a Slurm
    cluster's instances."""

    @property
    def bin_dir(self) -> str: ...

    def session_env(self) -> Dict[str, str]: ...

    def cancel_jobs(self) -> None:
        """Cancel every job, in the background (no Slurm cluster is left)."""


@dataclass
class Machine:
    """One instance's sshd, disk and processes."""

    api: str
    instance_id: str
    host: str
    port: int
    disk: InstanceDisk
    host_key: asyncssh.SSHKey
    sock: Optional[socket.socket]
    tracker: ProcessTracker
    server: Optional[asyncio.AbstractServer] = None
    options: Optional[asyncssh.SSHServerConnectionOptions] = None
    connections: Set[asyncssh.SSHServerConnection] = field(default_factory=set)
    procs: Optional[BootProcesses] = None
    """The current boot's processes (``None`` until one is started)."""
    boot: Optional[float] = None
    """``running_since`` of the boot this machine was prepared for."""
    ready_at: float = 0.0
    """Simulated time from which sshd answers, in the current boot."""
    listening_since: float = 0.0
    """Real (monotonic) time its socket started listening, for the watchdog."""
    closed: bool = False
    tasks: Set[asyncio.Task[None]] = field(default_factory=set)
    """Background work (the first boot), referenced so that it is not collected."""
    extra_env: Dict[str, str] = field(default_factory=dict)
    """Added to every new session's environment (``SLURM_CONF`` on a Slurm cluster's
    instances under ``--slurm``); decided when a connection arrives."""
    extra_path: List[str] = field(default_factory=list)
    """Folders put on new sessions' ``PATH``, after the instance's own ``bin``."""

    def processes(self) -> BootProcesses:
        """The current boot's processes, where every new process of the instance goes."""
        if self.procs is None:
            self.procs = self.tracker.boot(self.instance_id)
        return self.procs

    def end_processes(self, wait: bool = False) -> None:
        """The machine stops (or goes): every process of its boot ends (``SIGTERM``,
        then ``SIGKILL``), in the background unless ``wait``. What starts later
        belongs to a new boot."""
        procs, self.procs = self.procs, None
        if procs is not None:
            self.tracker.end(procs, wait=wait)
