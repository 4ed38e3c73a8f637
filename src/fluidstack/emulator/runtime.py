"""One running emulator: the parts its APIs share (settings, simulated clock, lock, store,
fault rules, journal) and each API's state."""

from __future__ import annotations

import logging
import threading
from typing import TYPE_CHECKING, Optional

from fluidstack.emulator.atlas.state import AtlasState
from fluidstack.emulator.clock import SimClock
from fluidstack.emulator.faults import FaultBook, Journal
from fluidstack.emulator.platform.state import PlatformState
from fluidstack.emulator.settings import EmulatorSettings
from fluidstack.emulator.store import Store

if TYPE_CHECKING:
    from fluidstack.emulator.slurm import SlurmRehearsal
    from fluidstack.emulator.ssh.machines import SshMachines

__all__ = ["Emulator"]

logger = logging.getLogger("fluidstack.emulator")


class Emulator:
    """Settings, shared machinery and the state of every API one emulator serves."""

    def __init__(self, settings: EmulatorSettings) -> None:
        self.settings = settings
        self.clock = SimClock(settings.time_scale, settings.manual_clock)
        """One simulated timeline for every API."""
        self.lock = threading.RLock()
        """One lock: an operation of one API never interleaves with another's."""
        self.store: Optional[Store] = Store(settings.db_path) if settings.db_path else None
        self.platform = PlatformState(settings, clock=self.clock, lock=self.lock, store=self.store)
        self.atlas = AtlasState(settings, clock=self.clock, lock=self.lock, store=self.store)
        self.faults = FaultBook()
        self.journal = Journal()
        self.generation = 0
        """Bumped by a full reset: requests still in flight from before it are void."""
        self.ssh: Optional[SshMachines] = None
        """Every instance's sshd, with ``--ssh``."""
        self.slurm: Optional[SlurmRehearsal] = None
        """The real Slurm behind every Slurm cluster, with ``--slurm``."""
        self._exported = False
        if settings.ssh:
            try:
                self._start_ssh()
            except BaseException:  # --slurm could not start: nothing is left running
                self._exported = True
                self.close()
                raise
        if settings.import_state:
            from fluidstack.emulator import snapshot

            try:
                state = snapshot.read_state_file(settings.import_state)
                snapshot.restore_state(self, state, copy=False)
            except BaseException:
                self._exported = True  # a failed start exports nothing
                self.close()
                raise

    def _start_ssh(self) -> None:
        from pathlib import Path

        from fluidstack.emulator.ssh.machines import SshMachines

        # Instance directories live with persistent state, else in a temporary directory.
        root = Path(f"{self.settings.db_path}.instances") if self.settings.db_path else None
        self.ssh = SshMachines(self, root, self.settings.ssh_port)
        self.platform.ssh = self.ssh
        self.atlas.ssh = self.ssh
        if self.settings.slurm:
            from fluidstack.emulator.slurm import SlurmRehearsal

            rehearsal = SlurmRehearsal(self.ssh.processes, self.ssh.root, keep=root is not None)
            self.slurm = rehearsal.start()
            self.ssh.slurm = rehearsal

    def advance_clock(self, seconds: float) -> None:
        """Move simulated time forward (every API's lifecycles and expiries with it)."""
        with self.lock:
            self.platform.advance_clock(seconds)
            # Atlas persists the same clock beside its own records.
            self.atlas.advance_clock(0.0)

    def close(self) -> None:
        if self.settings.export_on_exit and not self._exported:
            from fluidstack.emulator import snapshot

            self._exported = True  # once, even if writing fails (it is logged, not lost)
            try:
                path, secrets = self.settings.export_on_exit, self.settings.export_secrets
                snapshot.write_state_file(self, path, secrets)
            except OSError as exc:
                logger.error("--export-on-exit: could not write %s: %s", path, exc)
        if self.slurm is not None:  # jobs cancelled and daemons stopped before the sshds
            self.slurm.close()
            self.slurm = None
        if self.ssh is not None:
            self.ssh.close()
            self.ssh = None
        if self.store is not None:
            self.store.close()
