"""munged, slurmctld and slurmd of the rehearsal: started in the emulator's state
directory, and stopped with it, leaving no daemon and no job behind.

The daemons run in the foreground of their own sessions (a Ctrl-C at the emulator's
terminal reaches the emulator, which then stops them in order: jobs cancelled first),
as children of the emulator, in a process set of the emulator's
:class:`~fluidstack.emulator.ssh.procs.ProcessTracker` (its cgroup where it has one).
Jobs are started by slurmd through ``slurmstepd``, which Slurm detaches from slurmd; what
is left after the daemons stop is found by its command line or working directory (both
under the rehearsal's directory: batch scripts live in the spool, ``slurmstepd`` works
in the log folder) and by descent from those, and killed.
"""

from __future__ import annotations

import atexit
import contextlib
import logging
import os
import pwd
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import IO, Any, Callable, Dict, List, Optional, Set, Tuple

from fluidstack.emulator.slurm.conf import (
    KILL_WAIT_SECONDS,
    PARTITION,
    SlurmLayout,
    SlurmNode,
    free_loopback_port,
    probe_node,
    render_cgroup_conf,
    render_slurm_conf,
)
from fluidstack.emulator.ssh.procs import BootProcesses, ProcessTracker, process_alive

__all__ = [
    "CLIENT_COMMANDS",
    "DAEMONS",
    "INSTALL_HINT",
    "SlurmRehearsal",
    "SlurmUnavailable",
    "find_program",
    "missing_programs",
]

logger = logging.getLogger("fluidstack.emulator.slurm")

DAEMONS = ("munged", "slurmctld", "slurmd")
CLIENT_COMMANDS = ("sbatch", "squeue", "sacct", "scancel", "sinfo", "scontrol", "srun")
INSTALL_HINT = "apt-get install slurm-wlm munge"
"""Where the programs come from (Debian and Ubuntu: ``slurm-wlm`` and ``munge``)."""

_SBIN = os.pathsep.join(("/usr/local/sbin", "/usr/sbin", "/sbin"))
START_SECONDS = 30.0
"""Real seconds the daemons may take until the node is idle."""
START_ATTEMPTS = 2
"""Tries at starting the daemons (the second with new ports)."""
STOP_SECONDS = 5.0
"""Real seconds a daemon may take to exit after ``SIGTERM``, before ``SIGKILL``."""
_SOCKET_PATH_MAX = 100
"""A Unix socket's path must fit ``sun_path`` (108 bytes on Linux, 104 on BSD)."""


class SlurmUnavailable(RuntimeError):
    """Slurm cannot run here: programs missing, or the daemons did not come up."""


def find_program(name: str) -> Optional[str]:
    """``name`` on ``PATH``, or in the sbin folders (daemons live there, often off a
    user's ``PATH``)."""
    return shutil.which(name) or shutil.which(name, path=_SBIN)


def missing_programs() -> List[str]:
    """The daemons and client commands of the rehearsal that this machine lacks."""
    return [name for name in (*DAEMONS, *CLIENT_COMMANDS) if find_program(name) is None]


def _searchable(folder: Path) -> bool:
    """Every folder from ``/`` to ``folder`` may be entered by anyone (munged refuses a
    socket that other users could not reach)."""
    try:
        return all(os.stat(part).st_mode & 0o001 for part in (folder, *folder.parents))
    except OSError:
        return False


def _slurm_root(beside: Optional[Path]) -> Tuple[Path, bool]:
    """The rehearsal's directory, ``True`` if temporary: ``beside/slurm`` (the emulator's
    state directory) where munged accepts a socket there (a short path, every folder
    above searchable), else a new temporary folder (the instances' folder is private)."""
    if beside is not None:
        candidate = beside / "slurm"
        if len(str(SlurmLayout(candidate).munge_socket)) < _SOCKET_PATH_MAX and _searchable(beside):
            return candidate, False
    root = Path(tempfile.mkdtemp(prefix="fluidstack-slurm-"))
    return root, True


def _clean_env() -> Dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("SLURM_")}


class SlurmRehearsal:
    """One real single-node Slurm (munged, slurmctld, slurmd) for the whole emulator.

    :meth:`start` brings it up (raising :class:`SlurmUnavailable`), :meth:`session_env`
    is what a Slurm cluster's SSH sessions add to their environment, and :meth:`close`
    cancels every job and stops every daemon, before returning.
    """

    def __init__(
        self, tracker: ProcessTracker, beside: Optional[Path] = None, keep: bool = False
    ) -> None:
        root, temporary = _slurm_root(beside)
        self.layout = SlurmLayout(root)
        self._remove_on_close = temporary or not keep
        self._tracker = tracker
        self._procs: Optional[BootProcesses] = None
        self._daemons: Dict[str, subprocess.Popen[bytes]] = {}
        self._outputs: List[IO[bytes]] = []
        self.node: Optional[SlurmNode] = None
        self.partition = PARTITION
        self.closed = False
        sbatch = find_program("sbatch")
        self.bin_dir = str(Path(sbatch).parent) if sbatch else "/usr/bin"
        """Where the client commands are (put on the sessions' ``PATH``)."""

    @property
    def root(self) -> Path:
        return self.layout.root

    @property
    def conf(self) -> Path:
        """The generated ``slurm.conf`` (``SLURM_CONF`` of every Slurm session)."""
        return self.layout.conf

    # -- start ----------------------------------------------------------------------------

    def start(self) -> SlurmRehearsal:
        missing = missing_programs()
        if missing:
            raise SlurmUnavailable(
                f"--slurm needs Slurm and munge ({', '.join(missing)} not found): "
                f"install the packages slurm-wlm and munge (`{INSTALL_HINT}`)"
            )
        atexit.register(self.close)
        try:
            for attempt in range(START_ATTEMPTS):
                try:
                    self._start_once()
                    break
                except SlurmUnavailable as exc:
                    if attempt + 1 == START_ATTEMPTS:
                        raise
                    # A free port taken between the probe and the daemon's bind (another
                    # emulator starting at the same moment): again, with new ports.
                    logger.warning("Slurm did not start (%s): trying again", exc)
                    self._stop_all()
        except BaseException:
            self.close()
            raise
        assert self.node is not None
        logger.info(
            "Slurm (--slurm): one node %r, partition %r, behind every Slurm cluster's login "
            "node (its shells have SLURM_CONF=%s)",
            self.node.name,
            self.partition,
            self.conf,
        )
        return self

    def _start_once(self) -> None:
        self._prepare()
        self._procs = self._tracker.boot("slurm")
        self._start_munged()
        conf = str(self.conf)
        self._spawn("slurmctld", [self._program("slurmctld"), "-D", "-i", "-f", conf])
        assert self.node is not None
        self._spawn("slurmd", [self._program("slurmd"), "-D", "-f", conf, "-N", self.node.name])
        self._wait_idle()

    @staticmethod
    def _program(name: str) -> str:
        path = find_program(name)
        if path is None:  # checked by start(); a program removed meanwhile
            raise SlurmUnavailable(f"{name} not found: `{INSTALL_HINT}`")
        return path

    def _prepare(self) -> None:
        """A fresh directory (a kept one's old state is wiped: jobs never outlive the
        emulator), the munge key and the configuration files."""
        layout = self.layout
        _clean_stale()
        if layout.root.exists():  # kept with --db: what a killed emulator left ends now
            _kill_leftovers(str(layout.root))
            shutil.rmtree(layout.root, ignore_errors=True)
        layout.create()
        layout.owner_file.write_text(str(os.getpid()))
        fd = os.open(layout.munge_key, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o400)
        with os.fdopen(fd, "wb") as key:
            key.write(os.urandom(1024))
        self.node = probe_node(self._program("slurmd"))
        ctld_port = free_loopback_port()
        slurmd_port = free_loopback_port(avoid=[ctld_port])
        user = pwd.getpwuid(os.getuid()).pw_name
        layout.conf.write_text(render_slurm_conf(layout, self.node, ctld_port, slurmd_port, user))
        layout.cgroup_conf.write_text(render_cgroup_conf())
        layout.plugstack_conf.write_text("")

    def _spawn(self, name: str, argv: List[str]) -> None:
        procs = self._procs
        assert procs is not None
        join = procs.join
        orphaned = _parent_death_signal()

        def prepare() -> None:  # in the child, before it runs the daemon
            join()
            if orphaned is not None:
                orphaned()

        output = open(self.layout.log / f"{name}.out", "ab")  # noqa: SIM115 - closed in close()
        self._outputs.append(output)
        self._daemons[name] = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=output,
            stderr=subprocess.STDOUT,
            cwd=str(self.layout.log),
            env={**_clean_env(), **procs.env},
            start_new_session=True,  # a Ctrl-C at the terminal is the emulator's to handle
            preexec_fn=prepare,
        )

    def _start_munged(self) -> None:
        layout = self.layout
        self._spawn("munged", [
            self._program("munged"), "--foreground",
            f"--socket={layout.munge_socket}", f"--key-file={layout.munge_key}",
            f"--pid-file={layout.pid_file('munged')}", f"--log-file={layout.log_file('munged')}",
            f"--seed-file={layout.munge_dir / 'munged.seed'}",
        ])  # fmt: skip
        deadline = time.monotonic() + START_SECONDS
        while not layout.munge_socket.exists():
            self._check_alive()
            if time.monotonic() > deadline:
                raise SlurmUnavailable(f"munged did not start: {self._tail('munged')}")
            time.sleep(0.02)

    def _check_alive(self) -> None:
        for name, process in self._daemons.items():
            if process.poll() is not None:
                raise SlurmUnavailable(
                    f"{name} exited with status {process.returncode}: {self._tail(name)}"
                )

    def _tail(self, name: str, lines: int = 8) -> str:
        """The last lines a daemon wrote (its log file, else its output)."""
        text = ""
        for path in (self.layout.log_file(name), self.layout.log / f"{name}.out"):
            with contextlib.suppress(OSError):
                text = path.read_text(errors="replace").strip()
            if text:
                break
        return " | ".join(text.splitlines()[-lines:]) or "(no output)"

    def _wait_idle(self) -> None:
        deadline = time.monotonic() + START_SECONDS
        while True:
            self._check_alive()
            state = self.client(["sinfo", "--noheader", "--Node", "--format=%T"], timeout=2.0)
            # "idle*" (a trailing star) is a node not responding yet: not ready.
            if state is not None and state.strip() in ("idle", "mixed", "allocated"):
                return
            if time.monotonic() > deadline:
                raise SlurmUnavailable(
                    f"the Slurm node did not become idle in {START_SECONDS:g} s (sinfo: "
                    f"{(state or '').strip()!r}); slurmd: {self._tail('slurmd')}"
                )
            time.sleep(0.1)

    # -- what sessions see ---------------------------------------------------------------

    def session_env(self) -> Dict[str, str]:
        """Added to the environment of a Slurm cluster's SSH sessions."""
        return {"SLURM_CONF": str(self.conf)}

    def info(self) -> Dict[str, Any]:
        """``{"conf", "directory", "node", "partition"}`` (``GET /_emulator/ssh``)."""
        return {
            "conf": str(self.conf),
            "directory": str(self.root),
            "node": self.node.name if self.node is not None else None,
            "partition": self.partition,
        }

    def client(self, argv: List[str], timeout: float = 10.0) -> Optional[str]:
        """Run a Slurm client command against this cluster: its output, ``None`` if it
        failed."""
        program = find_program(argv[0])
        if program is None:
            return None
        try:
            done = subprocess.run(
                [program, *argv[1:]],
                stdin=subprocess.DEVNULL,
                capture_output=True,
                text=True,
                timeout=timeout,
                env={**_clean_env(), "SLURM_CONF": str(self.conf)},
                check=False,
            )
        except (OSError, subprocess.SubprocessError):
            return None
        return done.stdout if done.returncode == 0 else None

    def cancel_jobs(self) -> None:
        """Cancel every job, in the background (a reset must not wait for ``KillWait``)."""
        if self.closed:
            return
        threading.Thread(
            target=self._cancel_all, kwargs={"wait": False}, name="fluidstack-slurm-cancel",
            daemon=True,
        ).start()  # fmt: skip

    # -- stop -----------------------------------------------------------------------------

    def close(self) -> None:
        """Cancel every job, stop the daemons, kill whatever is left (before returning)."""
        if self.closed:
            return
        self.closed = True
        atexit.unregister(self.close)
        ctld = self._daemons.get("slurmctld")
        if ctld is not None and ctld.poll() is None:
            self._cancel_all()
        self._stop_all()
        if self._remove_on_close:
            shutil.rmtree(self.layout.root, ignore_errors=True)

    def _stop_all(self) -> None:
        """Stop the daemons, kill what is left of them and of their jobs."""
        for name in ("slurmd", "slurmctld", "munged"):
            process = self._daemons.pop(name, None)
            if process is not None:
                _stop(process)
        _kill_leftovers(str(self.layout.root))
        procs, self._procs = self._procs, None
        if procs is not None:
            self._tracker.end(procs, wait=True)
        outputs, self._outputs = self._outputs, []
        for output in outputs:
            output.close()

    def _cancel_all(self, wait: bool = True) -> None:
        """``scancel`` every job, then (``wait``) wait a little longer than ``KillWait``
        until none is pending, running or completing."""
        jobs = self.client(["squeue", "--noheader", "--format=%i"], timeout=5.0)
        ids = (jobs or "").split()
        if not ids:
            return
        self.client(["scancel", "--quiet", *ids], timeout=5.0)
        if not wait:
            return
        deadline = time.monotonic() + KILL_WAIT_SECONDS + 3.0
        while time.monotonic() < deadline:
            left = self.client(["squeue", "--noheader", "--format=%i"], timeout=5.0)
            if not (left or "").split():
                return
            time.sleep(0.1)


def _parent_death_signal() -> Optional[Callable[[], None]]:
    """What makes a daemon get ``SIGTERM`` when the emulator dies without stopping it
    (``kill -9``): Linux's ``PR_SET_PDEATHSIG``. Only from the main thread: the signal
    comes when the *thread* that started the child ends. Jobs already running outlive
    such a death; the next emulator ends them (:func:`_clean_stale`)."""
    if not sys.platform.startswith("linux") or (
        threading.current_thread() is not threading.main_thread()
    ):
        return None
    try:
        import ctypes

        prctl = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None
    set_pdeathsig = 1  # PR_SET_PDEATHSIG, <linux/prctl.h>

    def arm() -> None:
        prctl(set_pdeathsig, int(signal.SIGTERM), 0, 0, 0)

    return arm


def _clean_stale() -> None:
    """Rehearsal folders of emulators that died without stopping (``kill -9``): what
    still runs of them (daemons, jobs) is killed, the folder removed. Only this user's,
    and only those whose owner is known and gone (one being set up has no owner yet)."""
    base = Path(tempfile.gettempdir())
    with contextlib.suppress(OSError):
        for folder in base.glob("fluidstack-slurm-*"):
            try:
                if folder.stat().st_uid != os.getuid():
                    continue
                owner = int(SlurmLayout(folder).owner_file.read_text())
            except (OSError, ValueError):
                continue
            if owner != os.getpid() and not process_alive(owner):
                _kill_leftovers(str(folder))
                shutil.rmtree(folder, ignore_errors=True)


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is not None:
        return
    with contextlib.suppress(OSError):
        process.send_signal(signal.SIGTERM)
    try:
        process.wait(STOP_SECONDS)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(OSError):
            process.kill()
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(STOP_SECONDS)


def _leftovers(root: str) -> Set[int]:
    """Processes of the rehearsal still alive: those whose command line or working
    directory is under ``root``, and every descendant of theirs."""
    inside = root.rstrip("/") + "/"
    parents: Dict[int, int] = {}
    seeds: Set[int] = set()
    try:
        names = os.listdir("/proc")
    except OSError:  # no /proc (macOS): only the daemons themselves are stopped
        return set()
    for name in names:
        if not name.isdigit():
            continue
        pid = int(name)
        try:
            with open(f"/proc/{pid}/stat", "rb") as stat:
                parents[pid] = int(stat.read().rsplit(b")", 1)[1].split()[1])
            with open(f"/proc/{pid}/cmdline", "rb") as cmdline:
                command = cmdline.read().replace(b"\0", b" ").decode(errors="replace")
        except (OSError, IndexError, ValueError):
            continue
        cwd = ""
        with contextlib.suppress(OSError):
            cwd = os.readlink(f"/proc/{pid}/cwd") + "/"
        if inside in command or cwd.startswith(inside):
            seeds.add(pid)
    found = set(seeds)
    grew = True
    while grew:
        grew = False
        for pid, parent in parents.items():
            if parent in found and pid not in found:
                found.add(pid)
                grew = True
    found.discard(os.getpid())
    return {pid for pid in found if process_alive(pid)}


def _kill_leftovers(root: str) -> None:
    deadline = time.monotonic() + STOP_SECONDS
    while True:
        left = _leftovers(root)
        if not left:
            return
        if time.monotonic() > deadline:
            logger.warning("Slurm processes outlived SIGKILL: %s", sorted(left))
            return
        for pid in left:
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGKILL)
        time.sleep(0.05)
