"""``fluidstack atlas slurm``: the project's Slurm clusters, their node pools
(:mod:`.orchestrators`), jobs (``submit``, ``run``, ``jobs``, ``logs``, ``cancel``:
:mod:`.slurm_jobs`), ``ssh-config`` (:mod:`.slurm_ssh_config`), and ``ssh``, which logs
into a cluster's first login node with the system's ssh client, as ``atlas instances
ssh`` does for an instance."""

from __future__ import annotations

from typing import Any, Optional

import click

from ..instance_commands import InstanceCommands, SshTarget, add_ssh
from ..remote import Endpoint
from ..state import AliasedGroup, CliError, CliState
from .completion import complete_clusters
from .instances import ssh_client
from .orchestrators import Kind, add_cluster_groups, cluster_id, explained
from .slurm_jobs import add_job_commands
from .slurm_ssh_config import slurm_ssh_config

__all__ = ["slurm"]

KIND = Kind("slurm", "Slurm")


@click.group(cls=AliasedGroup)
def slurm() -> None:
    """Slurm clusters FluidStack runs for the project: clusters, node pools, jobs, ssh.

    \b
    Get started:
      fluidstack atlas slurm clusters create hpc --wait
      fluidstack atlas slurm node-pools create hpc --name gpu --type h100-hgx-80gb.8x \\
          --count 2 --wait
      fluidstack atlas slurm run hpc --gpus 8 -- python train.py
      fluidstack atlas slurm ssh hpc                    then: sinfo, sbatch job.sh
    """


add_cluster_groups(slurm, KIND)
add_job_commands(slurm)
slurm.add_command(slurm_ssh_config)


def _no_resource(state: CliState, port: Optional[int]) -> Any:  # pragma: no cover
    raise AssertionError("slurm registers only ssh: no exec or cp")


def _login_target(state: CliState, cluster: str, port_option: Optional[int]) -> SshTarget:
    """The first login node of the cluster that has a public IP."""
    atlas = ssh_client(state, port_option)
    ident = cluster_id(state, KIND, cluster)
    with explained(state, KIND, ident):
        found = atlas.slurm.clusters.get(ident)
    login = next((n for n in found.login_nodes if n.public_ip), None)
    if login is None:
        raise CliError(
            f"Slurm cluster {ident} has no login node with a public IP yet; wait for it with: "
            f"fluidstack atlas slurm clusters create ... --wait, or see "
            f"`fluidstack atlas slurm clusters get {ident}`"
        )
    # Host keys are remembered per login node, as they are per instance.
    endpoint = Endpoint(f"slurm-{found.id}-{login.name}", login.public_ip, atlas.ssh_port, "ubuntu")
    return SshTarget(endpoint, atlas.close)


ssh = add_ssh(
    InstanceCommands(slurm, complete_clusters("slurm"), _no_resource, ssh_port=True),
    """Connect to a Slurm cluster's first login node with ssh, as ubuntu at its public IP
    (ID: the cluster's id or name).

    \b
    Examples:
      fluidstack atlas slurm ssh hpc
      fluidstack atlas slurm ssh hpc -- sinfo
      FLUIDSTACK_SSH_PORT=2222 fluidstack atlas slurm ssh hpc     (the emulator)
    """,
    _login_target,
)
