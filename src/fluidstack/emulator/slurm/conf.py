"""The generated configuration of the rehearsal's Slurm: ``slurm.conf``, ``cgroup.conf``
and an empty ``plugstack.conf``, all in the rehearsal's own directory.

Nothing is read from ``/etc/slurm``: the daemons and every client command are pointed at
this ``slurm.conf`` (``-f`` and ``SLURM_CONF``), whose ports are free loopback ports (never
6817/6818, which a real Slurm on the same machine may use), whose munge socket is the
rehearsal's own munged, and whose one node is this machine as ``slurmd -C`` describes it.
"""

from __future__ import annotations

import os
import re
import socket
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Optional

__all__ = [
    "PARTITION",
    "SlurmLayout",
    "SlurmNode",
    "free_loopback_port",
    "probe_node",
    "render_cgroup_conf",
    "render_slurm_conf",
]

PARTITION = "main"
"""The one partition, the default (inferred: FluidStack's managed Slurm documents no
partition names)."""

CLUSTER_NAME = "fluidstack-emulator"

KILL_WAIT_SECONDS = 5
"""Between the ``SIGTERM`` and the ``SIGKILL`` of a cancelled job (Slurm's default is 30:
shortened so that a cancel, or the emulator's exit, is over in seconds)."""

MIN_JOB_AGE_SECONDS = 3600
"""How long slurmctld keeps a finished job: ``squeue --states=all`` and ``scontrol show
job`` answer for it that long (Slurm's default is 300)."""

_NODE_FIELDS = ("CPUs", "Boards", "SocketsPerBoard", "CoresPerSocket", "ThreadsPerCore",
                "RealMemory")  # fmt: skip


@dataclass(frozen=True)
class SlurmLayout:
    """Where everything of one rehearsal lives, under ``root``.

    ``run/`` (the munge socket, pid files) must be searchable by every user (munged
    refuses a socket others cannot reach); the key in ``munge/`` is readable only by
    its owner.
    """

    root: Path

    @property
    def conf(self) -> Path:
        return self.root / "etc" / "slurm.conf"

    @property
    def cgroup_conf(self) -> Path:
        return self.root / "etc" / "cgroup.conf"

    @property
    def plugstack_conf(self) -> Path:
        return self.root / "etc" / "plugstack.conf"

    @property
    def run(self) -> Path:
        return self.root / "run"

    @property
    def munge_socket(self) -> Path:
        return self.run / "munge.socket"

    @property
    def munge_dir(self) -> Path:
        return self.root / "munge"

    @property
    def munge_key(self) -> Path:
        return self.munge_dir / "munge.key"

    @property
    def log(self) -> Path:
        return self.root / "log"

    @property
    def state(self) -> Path:
        """slurmctld's StateSaveLocation."""
        return self.root / "ctld"

    @property
    def spool(self) -> Path:
        """slurmd's SlurmdSpoolDir (each batch script is written there)."""
        return self.root / "spool"

    @property
    def jobcomp(self) -> Path:
        """The job completion log (``jobcomp/filetxt``), what ``sacct -c`` reads."""
        return self.log / "jobcomp.log"

    @property
    def owner_file(self) -> Path:
        """The emulator's pid: a folder whose owner died is cleaned by the next one."""
        return self.run / "emulator.pid"

    def pid_file(self, daemon: str) -> Path:
        return self.run / f"{daemon}.pid"

    def log_file(self, daemon: str) -> Path:
        return self.log / f"{daemon}.log"

    def create(self) -> None:
        """The directories, with the modes munged and slurmd accept."""
        self.root.mkdir(parents=True, exist_ok=True)
        os.chmod(self.root, 0o711)
        for folder in (self.conf.parent, self.run, self.log, self.state, self.spool):
            folder.mkdir(parents=True, exist_ok=True)
            os.chmod(folder, 0o755)
        self.munge_dir.mkdir(parents=True, exist_ok=True)
        os.chmod(self.munge_dir, 0o700)


@dataclass(frozen=True)
class SlurmNode:
    """This machine as Slurm's node: its name and what ``slurmd -C`` reports."""

    name: str
    hardware: Dict[str, str]
    """``CPUs``, ``RealMemory`` and the topology fields, as ``slurmd -C`` prints them."""

    @property
    def cpus(self) -> int:
        return int(self.hardware.get("CPUs", "1"))


def probe_node(slurmd: str, timeout: float = 30.0) -> SlurmNode:
    """This machine's node line (``slurmd -C``), reduced to what ``slurm.conf`` needs.

    The node is named after the host (as ``slurmd -C`` names it), so that ``sinfo`` and
    ``SLURM_JOB_NODELIST`` say where jobs really run; a name Slurm cannot take falls
    back to ``localhost``.
    """
    out = subprocess.run(
        [slurmd, "-C"],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
        env=_clean_env(),
    ).stdout
    line = next((ln for ln in out.splitlines() if ln.startswith("NodeName=")), "")
    fields = dict(part.split("=", 1) for part in line.split() if "=" in part)
    name = fields.get("NodeName", "")
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_-]{0,62}", name):
        name = "localhost"
    hardware = {key: fields[key] for key in _NODE_FIELDS if fields.get(key, "").isdigit()}
    if "CPUs" not in hardware:
        hardware = {"CPUs": str(os.cpu_count() or 1)}
    return SlurmNode(name=name, hardware=hardware)


def _clean_env() -> Dict[str, str]:
    """The environment without a caller's ``SLURM_*`` (a ``SLURM_CONF`` of another
    cluster must not reach our daemons)."""
    return {k: v for k, v in os.environ.items() if not k.startswith("SLURM_")}


def free_loopback_port(avoid: Optional[List[int]] = None) -> int:
    """A TCP port free on 127.0.0.1 now (never Slurm's 6817-6819 defaults)."""
    taken = set(avoid or []) | {6817, 6818, 6819}
    while True:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
            probe.bind(("127.0.0.1", 0))
            port = int(probe.getsockname()[1])
        if port not in taken:
            return port


def render_slurm_conf(
    layout: SlurmLayout, node: SlurmNode, ctld_port: int, slurmd_port: int, user: str
) -> str:
    """``slurm.conf`` of a one-node cluster on loopback, slurmdbd-free.

    - Authentication: munge, through the rehearsal's munged (``AuthInfo=socket=``).
    - Daemons listen on 127.0.0.1 only (``NoInAddrAny``/``NoCtldInAddrAny``).
    - No cgroups (``proctrack/linuxproc``, ``task/none``): it runs wherever slurmd does,
      containers included; jobs are not confined to the CPUs they asked for.
    - No accounting database: ``sacct`` answers only with ``-c``/``--completion`` (it then
      reads the ``jobcomp/filetxt`` log); finished jobs stay visible to ``squeue
      --states=all`` and ``scontrol show job`` for ``MinJobAge`` (an hour).
    """
    hardware = " ".join(f"{key}={value}" for key, value in node.hardware.items())
    lines = [
        "# Generated by fluidstack-emulator --slurm: a rehearsal, one node, on loopback.",
        f"ClusterName={CLUSTER_NAME}",
        f"SlurmctldHost={node.name}(127.0.0.1)",
        f"SlurmctldPort={ctld_port}",
        f"SlurmdPort={slurmd_port}",
        "CommunicationParameters=NoInAddrAny,NoCtldInAddrAny",
        f"SlurmUser={user}",
        f"SlurmdUser={user}",
        "AuthType=auth/munge",
        "CredType=cred/munge",
        f"AuthInfo=socket={layout.munge_socket}",
        f"StateSaveLocation={layout.state}",
        f"SlurmdSpoolDir={layout.spool}",
        f"SlurmctldPidFile={layout.pid_file('slurmctld')}",
        f"SlurmdPidFile={layout.pid_file('slurmd')}",
        f"SlurmctldLogFile={layout.log_file('slurmctld')}",
        f"SlurmdLogFile={layout.log_file('slurmd')}",
        f"PlugStackConfig={layout.plugstack_conf}",
        "MailProg=/bin/true",
        "ProctrackType=proctrack/linuxproc",
        "TaskPlugin=task/none",
        # A job starts within a second of its submission, not after batch_sched_delay's
        # 3 s: clients poll a rehearsal in tests, where seconds add up.
        "SchedulerParameters=batch_sched_delay=0,sched_min_interval=0",
        "SelectType=select/cons_tres",
        "SelectTypeParameters=CR_CPU",
        "MpiDefault=none",
        "SwitchType=switch/none",
        "JobAcctGatherType=jobacct_gather/none",
        "AccountingStorageType=accounting_storage/none",
        "JobCompType=jobcomp/filetxt",
        f"JobCompLoc={layout.jobcomp}",
        # More nodes or CPUs than the one node has are refused at submission, instead of
        # pending for ever.
        "EnforcePartLimits=ALL",
        f"MinJobAge={MIN_JOB_AGE_SECONDS}",
        f"KillWait={KILL_WAIT_SECONDS}",
        "ReturnToService=2",
        "SlurmdTimeout=300",
        "InactiveLimit=0",
        f"NodeName={node.name} NodeAddr=127.0.0.1 NodeHostname={node.name} {hardware} "
        "State=UNKNOWN",
        f"PartitionName={PARTITION} Nodes=ALL Default=YES MaxTime=INFINITE State=UP",
    ]
    return "\n".join(lines) + "\n"


def render_cgroup_conf() -> str:
    """``cgroup.conf`` beside ``slurm.conf`` (Slurm reads it from there): nothing is
    constrained, since no cgroup plugin is configured."""
    return (
        "# Generated by fluidstack-emulator --slurm: no cgroup plugin is used.\n"
        "ConstrainCores=no\n"
        "ConstrainRAMSpace=no\n"
        "ConstrainDevices=no\n"
    )
