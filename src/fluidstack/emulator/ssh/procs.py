"""The processes of emulated instances: every one belongs to its instance's current boot,
and a stop, a preemption, a delete or the emulator's own exit ends them all.

On a real cloud, stopping a machine ends everything on it; here an instance's processes
are the host's, so they are tracked explicitly. A process group or a session is not
enough: ``nohup`` jobs, ``setsid`` and double-forked daemons (Ray's, Jupyter's) leave
both. Two mechanisms, chosen once per emulator:

- ``cgroup``: each boot gets its own cgroup v2 (a child of the emulator's own cgroup);
  every process started for the instance joins it before it runs anything, and all that
  it starts, daemons included, stays in it. Ending is ``SIGTERM`` to each, then
  ``cgroup.kill`` (or ``SIGKILL`` to each where the kernel predates 5.14). Used where a
  cgroup v2 hierarchy is mounted and the emulator may create one and move processes
  into it (root, or a delegated subtree).
- ``marker``: elsewhere (macOS has no /proc and is not covered; containers without a
  writable cgroup), every process carries ``FLUIDSTACK_EMULATED_BOOT=<token>`` in its
  environment, inherited by everything it starts; ending scans ``/proc/*/environ`` for
  the token. A process that clears its environment (``env -i``) escapes it, except
  that every session's process group is signalled as well.

``FLUIDSTACK_EMULATOR_PROCESSES=cgroup|marker`` forces one (``auto`` is the default).
"""

from __future__ import annotations

import atexit
import contextlib
import logging
import os
import secrets
import signal
import subprocess
import threading
import time
from pathlib import Path
from typing import Dict, Iterable, List, Optional, Set

__all__ = ["BootProcesses", "ProcessTracker", "cgroup_root", "process_alive"]

logger = logging.getLogger("fluidstack.emulator.ssh")

MARKER = "FLUIDSTACK_EMULATED_BOOT"
"""The environment variable every process of an emulated instance inherits."""

GRACE_SECONDS = 3.0
"""Between ``SIGTERM`` and ``SIGKILL`` when an instance stops, as a shutdown would."""

_CGROUP_PREFIX = "fluidstack-emulator-"


def process_alive(pid: int) -> bool:
    """Whether ``pid`` runs (a zombie, dead but not yet reaped, does not)."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as stat:
            # The state follows the command name, which is in parentheses.
            return stat.read().rsplit(b")", 1)[1].split()[0] != b"Z"
    except (OSError, IndexError):
        if not os.path.isdir("/proc"):  # no /proc (macOS): ask the kernel
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                return False
            except PermissionError:
                return True
            return True
        return False


def cgroup_root() -> Optional[Path]:
    """This process's own cgroup v2 directory (``None`` without a cgroup v2 mount)."""
    try:
        with open("/proc/self/cgroup") as lines:
            own = next((line[3:].strip() for line in lines if line.startswith("0::")), None)
        mount = None
        with open("/proc/self/mountinfo") as lines:
            for line in lines:
                left, _, right = line.partition(" - ")
                if right.split()[:1] == ["cgroup2"]:
                    mount = left.split()[4]
                    break
    except OSError:
        return None
    if own is None or mount is None:
        return None
    return Path(mount) / own.lstrip("/")


def _pid_of(name: str) -> int:
    try:
        return int(name[len(_CGROUP_PREFIX) :].split("-", 1)[0])
    except ValueError:
        return 0


_SESSION_SIGNALS = (signal.SIGHUP, signal.SIGINT, signal.SIGQUIT, signal.SIGTERM)
"""Signals an instance's processes start with at their default action."""


class BootProcesses:
    """The processes of one boot of one instance.

    ``env`` goes into the environment of every process started for the instance and
    :meth:`join` runs in the child before it executes anything (``preexec_fn``).
    """

    def __init__(self, token: str, cgroup: Optional[Path]) -> None:
        self.token = token
        self.cgroup = cgroup
        self.env: Dict[str, str] = {MARKER: token}
        self.pgids: Set[int] = set()
        """Process groups of the sessions (signalled too: a belt to the braces above)."""
        self._needle = f"\0{MARKER}={token}\0".encode()
        self._procs_file = str(cgroup / "cgroup.procs") if cgroup is not None else None

    def join(self) -> None:
        """In a new child: the default signal handling, as an sshd's session and a boot
        script start with, and the boot's cgroup (a failure leaves the marker only)."""
        # Whatever the emulator inherited: started with `nohup` it ignores SIGHUP, in a
        # background job SIGINT, and an ignored signal stays ignored across exec, so a
        # hang-up would not reach a session's commands (nor run their shell's traps).
        for number in _SESSION_SIGNALS:
            signal.signal(number, signal.SIG_DFL)
        if self._procs_file is None:
            return
        with contextlib.suppress(OSError):
            fd = os.open(self._procs_file, os.O_WRONLY)
            try:
                os.write(fd, b"0")
            finally:
                os.close(fd)

    def pids(self) -> List[int]:
        """Every process of the boot that is still there."""
        found: Set[int] = set()
        if self.cgroup is not None:
            # Nested cgroups (a process may make its own) count too.
            for folder, _, _ in os.walk(self.cgroup):
                with contextlib.suppress(OSError, ValueError):
                    text = Path(folder, "cgroup.procs").read_text()
                    found.update(int(pid) for pid in text.split())
        else:
            found.update(self._marked())
        found.discard(os.getpid())
        return sorted(found)

    def _marked(self) -> Iterable[int]:
        try:
            names = os.listdir("/proc")
        except OSError:
            return
        for name in names:
            if not name.isdigit():
                continue
            try:
                with open(f"/proc/{name}/environ", "rb") as environ:
                    data = environ.read()
            except OSError:
                continue
            if self._needle in b"\0" + data + (b"" if data.endswith(b"\0") else b"\0"):
                yield int(name)

    def signal(self, signum: int) -> None:
        for pid in self.pids():
            with contextlib.suppress(OSError):
                os.kill(pid, signum)
        for pgid in list(self.pgids):
            try:
                os.killpg(pgid, signum)
            except ProcessLookupError:
                self.pgids.discard(pgid)
            except OSError:
                pass

    def kill(self) -> None:
        if self.cgroup is not None and (self.cgroup / "cgroup.kill").exists():
            with contextlib.suppress(OSError):
                (self.cgroup / "cgroup.kill").write_text("1")
        self.signal(signal.SIGKILL)

    def empty(self) -> bool:
        return not any(process_alive(pid) for pid in self.pids())

    def remove(self) -> None:
        if self.cgroup is not None:
            for folder, _, _ in sorted(os.walk(self.cgroup), reverse=True):  # deepest first
                with contextlib.suppress(OSError):
                    os.rmdir(folder)


def end_all(boots: List[BootProcesses], grace: float = GRACE_SECONDS) -> None:
    """``SIGTERM`` to every process of ``boots``, ``SIGKILL`` to what remains after
    ``grace`` seconds; returns once none is left (or after a few seconds more)."""
    for boot in boots:
        boot.signal(signal.SIGTERM)
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline and not all(boot.empty() for boot in boots):
        time.sleep(0.05)
    deadline = time.monotonic() + 5.0
    while True:
        left = [boot for boot in boots if not boot.empty()]
        if not left or time.monotonic() > deadline:
            break
        for boot in left:
            boot.kill()
        time.sleep(0.05)
    for boot in boots:
        if not boot.empty():
            logger.warning("processes of %s outlived SIGKILL: %s", boot.token, boot.pids())
        boot.remove()


class ProcessTracker:
    """Hands out a :class:`BootProcesses` per boot and ends them (see the module)."""

    def __init__(self, mechanism: Optional[str] = None) -> None:
        wanted = mechanism or os.environ.get("FLUIDSTACK_EMULATOR_PROCESSES", "auto")
        self._token = f"{os.getpid()}-{secrets.token_hex(4)}"
        self._base: Optional[Path] = None
        if wanted in ("auto", "cgroup"):
            self._base = self._make_cgroup()
            if self._base is None and wanted == "cgroup":
                logger.warning("no writable cgroup v2: instances' processes are tracked "
                               "by an environment marker instead")  # fmt: skip
        self.mechanism = "cgroup" if self._base is not None else "marker"
        """``cgroup`` or ``marker``: how this emulator finds its instances' processes."""
        self._mutex = threading.Lock()
        self._live: List[BootProcesses] = []
        self._seq = 0
        # An in-process emulator never stopped (its server thread is a daemon) still
        # ends its instances' processes when the interpreter exits.
        atexit.register(self.close, 1.0)

    def _make_cgroup(self) -> Optional[Path]:
        own = cgroup_root()
        if own is None or not own.is_dir():
            return None
        self._clean_stale(own)
        base = own / f"{_CGROUP_PREFIX}{self._token}"
        try:
            base.mkdir()
            probe = base / "probe"
            probe.mkdir()
        except OSError:
            with contextlib.suppress(OSError):
                base.rmdir()
            return None
        try:
            # A shell moves itself into the probe: proves that the emulator may move its
            # children (permission on both ends, no controller in the way).
            moved = subprocess.run(
                ["/bin/sh", "-c", 'echo 0 > "$1/cgroup.procs"', "sh", str(probe)],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                timeout=10,
            ).returncode == 0  # fmt: skip
        except (OSError, subprocess.SubprocessError):
            moved = False
        for _ in range(50):  # the shell leaves the probe as it is reaped
            try:
                probe.rmdir()
                break
            except OSError:
                time.sleep(0.01)
        if not moved:
            with contextlib.suppress(OSError):
                base.rmdir()
            return None
        return base

    @staticmethod
    def _clean_stale(own: Path) -> None:
        """Cgroups left by emulators that died without closing (``kill -9``): what is
        still in them ends now."""
        with contextlib.suppress(OSError):
            for stale in own.glob(f"{_CGROUP_PREFIX}*"):
                pid = _pid_of(stale.name)
                if pid and process_alive(pid):
                    continue
                boots = [BootProcesses(stale.name, child) for child in stale.iterdir()
                         if child.is_dir()]  # fmt: skip
                end_all(boots, grace=0.0)
                with contextlib.suppress(OSError):
                    stale.rmdir()

    def boot(self, instance_id: str) -> BootProcesses:
        """A new, empty set of processes for a boot of ``instance_id``."""
        with self._mutex:
            self._seq += 1
            token = f"{self._token}-{self._seq}-{instance_id}"
            cgroup: Optional[Path] = None
            if self._base is not None:
                cgroup = self._base / f"{self._seq}-{instance_id}"
                try:
                    cgroup.mkdir()
                except OSError as exc:
                    logger.warning("instance %s: no cgroup (%s): its processes are found "
                                   "by their environment", instance_id, exc)  # fmt: skip
                    cgroup = None
            boot = BootProcesses(token, cgroup)
            self._live.append(boot)
            return boot

    def end(self, boot: BootProcesses, wait: bool = False) -> None:
        """End a boot's processes: in the background (a stop must not block the API
        or the SSH loop), or before returning with ``wait``."""

        def run() -> None:
            end_all([boot])
            with self._mutex:
                if boot in self._live:
                    self._live.remove(boot)

        if wait:
            run()
        else:
            threading.Thread(target=run, name="fluidstack-emulator-end", daemon=True).start()

    def close(self, grace: float = GRACE_SECONDS) -> None:
        """The emulator stops: every instance's processes end (before returning)."""
        atexit.unregister(self.close)
        with self._mutex:
            boots = list(self._live)
            self._live.clear()
        end_all(boots, grace)
        if self._base is not None:
            with contextlib.suppress(OSError):
                for child in self._base.iterdir():
                    if child.is_dir():
                        child.rmdir()
                self._base.rmdir()
