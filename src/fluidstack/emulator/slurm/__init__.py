"""A real Slurm behind the emulator (``fluidstack-emulator --ssh --slurm``): a rehearsal.

One single-node Slurm runs on this machine (Debian's ``slurm-wlm`` with ``munge``):
munged, slurmctld and slurmd, started and stopped by the emulator in its own state
directory, with a generated ``slurm.conf`` whose one node is this machine (``slurmd -C``)
on free loopback ports. Every Slurm cluster of the emulator is mapped to it: the shells
of a Slurm cluster's login node (and of its node pools' nodes) get ``SLURM_CONF`` and
Slurm's commands on their ``PATH``, so ``sbatch``, ``squeue``, ``scontrol``, ``scancel``,
``sinfo`` and ``sacct -c`` are Slurm's own.

What it is not: one node, no GPUs (no ``gres``), one scheduler for every cluster (jobs
of two emulated clusters see each other), no accounting database (plain ``sacct``
refuses; ``sacct -c`` reads the job completion log), jobs run as the emulator's user.
See docs/emulator.md, "Slurm rehearsal".

:class:`~fluidstack.emulator.slurm.daemons.SlurmRehearsal` is the whole lifecycle;
:mod:`~fluidstack.emulator.slurm.conf` writes the configuration.
"""

from __future__ import annotations

from fluidstack.emulator.slurm.daemons import (
    INSTALL_HINT,
    SlurmRehearsal,
    SlurmUnavailable,
    missing_programs,
)

__all__ = ["INSTALL_HINT", "SlurmRehearsal", "SlurmUnavailable", "missing_programs"]
