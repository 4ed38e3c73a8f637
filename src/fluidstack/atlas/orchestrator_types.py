"""Models of the Kubernetes and Slurm clusters a region runs for a project, named after
the Infrastructure API's schemas (``KubernetesCluster``, ``KubernetesNodePool``,
``KubernetesNode``, ``SlurmCluster``, ...), every field snake_cased
(``kubeletVersion`` -> ``kubelet_version``, ``instanceID`` -> ``instance_id``).

Fields the Infrastructure API requires but the older regional API did not send
(``version``, a pool's ``count`` and ``nodes``) are optional here, so that answers of
older servers still parse. Importable from :mod:`fluidstack.atlas` and
:mod:`fluidstack.atlas.types`.
"""

from __future__ import annotations

import datetime as dt
from typing import Dict, List, Optional

from pydantic import Field

from ..core.models import FluidStackModel, OpenEnum

__all__ = [
    "Accelerator",
    "KubernetesCluster",
    "KubernetesNode",
    "KubernetesNodePool",
    "NodeCondition",
    "NodeState",
    "NodeTaint",
    "SlurmCluster",
    "SlurmLoginNode",
    "SlurmNode",
    "SlurmNodePool",
]

SLURM_READY_STATES = frozenset({"IDLE", "ALLOCATED", "MIXED", "COMPLETING"})
"""Slurm node states that accept work; any other state (``DOWN``, ``DRAIN``,
``NOT_RESPONDING``, ``POWERING_UP``, ...) among a node's ``states`` makes it not ready."""


class NodeState(OpenEnum):
    """A Kubernetes node's state."""

    READY = "ready"
    NOT_READY = "not_ready"
    UNKNOWN = "unknown"


class KubernetesCluster(FluidStackModel):
    """A Kubernetes cluster FluidStack runs for you in a region."""

    id: str
    name: str
    version: Optional[str] = None
    """Its Kubernetes version, e.g. ``1.32.1``."""
    endpoint: Optional[str] = None
    """The URL of its API server (what a kubeconfig's ``server`` names)."""


class NodeCondition(FluidStackModel):
    """One condition of a Kubernetes node, as ``kubectl describe node`` shows it."""

    type: Optional[str] = None
    """E.g. ``Ready``."""
    status: Optional[str] = None
    """``"True"``, ``"False"`` or ``"Unknown"``."""
    last_heartbeat_time: Optional[dt.datetime] = Field(default=None, alias="lastHeartbeatTime")
    last_transition_time: Optional[dt.datetime] = Field(default=None, alias="lastTransitionTime")
    reason: Optional[str] = None
    """A machine-readable reason, e.g. ``KubeletReady`` or ``InsufficientCapacity``."""
    message: Optional[str] = None


class NodeTaint(FluidStackModel):
    """A taint of a Kubernetes node (e.g. ``nvidia.com/gpu=present:NoSchedule``)."""

    key: Optional[str] = None
    value: Optional[str] = None
    effect: Optional[str] = None
    """``NoSchedule``, ``PreferNoSchedule`` or ``NoExecute``."""


class Accelerator(FluidStackModel):
    """A node's accelerator hardware."""

    type: str
    """E.g. ``nvidia/gpu``."""
    product: str
    """E.g. ``NVIDIA-H100-80GB-HBM3``."""
    driver_version: str = Field(alias="driverVersion")


class KubernetesNode(FluidStackModel):
    """A node of a Kubernetes node pool, backed by an instance of the project."""

    name: str
    instance_id: str = Field(alias="instanceID")
    """The instance behind the node (see ``atlas.instances.get``)."""
    state: NodeState
    kubelet_version: Optional[str] = Field(default=None, alias="kubeletVersion")
    created_at: Optional[dt.datetime] = Field(default=None, alias="createdAt")
    conditions: List[NodeCondition] = Field(default_factory=list)
    accelerator: Optional[Accelerator] = None
    labels: Dict[str, str] = Field(default_factory=dict)
    taints: List[NodeTaint] = Field(default_factory=list)

    @property
    def ready(self) -> bool:
        """Whether the node is ``ready``."""
        return self.state == NodeState.READY

    @property
    def reason(self) -> Optional[str]:
        """Why a node is not ready (``"Reason: message"`` of its ``Ready`` condition, or
        of the first condition that is not ``"True"``); ``None`` when it is ready."""
        if self.ready:
            return None
        for condition in self.conditions:
            if condition.type == "Ready" or condition.status != "True":
                text = condition.reason or str(condition.status)
                return f"{text}: {condition.message}" if condition.message else text
        return str(self.state)


class KubernetesNodePool(FluidStackModel):
    """A node pool of a Kubernetes cluster: ``count`` nodes of instance type ``type``."""

    id: str
    name: str
    type: str
    """The instance type of its nodes."""
    cluster: Optional[str] = None
    """The name of its cluster."""
    count: Optional[int] = None
    """How many nodes it should have."""
    version: Optional[str] = None
    """Its Kubernetes version."""
    nodes: List[KubernetesNode] = Field(default_factory=list)

    @property
    def ready(self) -> bool:
        """Whether it has all ``count`` nodes (every node listed, when the server did not
        say ``count``) and every one is ready."""
        wanted = len(self.nodes) if self.count is None else self.count
        return len(self.nodes) >= wanted and all(n.ready for n in self.nodes)

    @property
    def ready_nodes(self) -> int:
        """How many of its nodes are ready."""
        return sum(1 for n in self.nodes if n.ready)


class SlurmLoginNode(FluidStackModel):
    """A login node of a Slurm cluster: where users SSH to submit jobs."""

    name: str
    public_ip: Optional[str] = Field(default=None, alias="publicIP")


class SlurmCluster(FluidStackModel):
    """A Slurm cluster FluidStack runs for you in a region."""

    id: str
    name: str
    version: Optional[str] = None
    """Its Slurm version, e.g. ``24.05.6``."""
    login_nodes: List[SlurmLoginNode] = Field(default_factory=list, alias="loginNodes")


class SlurmNode(FluidStackModel):
    """A node of a Slurm node pool, backed by an instance of the project."""

    name: str
    instance_id: str = Field(alias="instanceID")
    states: List[str] = Field(default_factory=list)
    """Slurm's node states, e.g. ``["IDLE"]`` or ``["DOWN", "NOT_RESPONDING"]``."""
    slurmd_version: Optional[str] = Field(default=None, alias="slurmdVersion")
    reason: Optional[str] = None
    """Why it is not ready, when the server says (Slurm's own field; the Infrastructure
    API does not list it)."""

    @property
    def ready(self) -> bool:
        """Whether the node accepts jobs: it has states, all of them ready ones
        (``IDLE``, ``ALLOCATED``, ``MIXED``, ``COMPLETING``)."""
        return bool(self.states) and all(s.upper() in SLURM_READY_STATES for s in self.states)


class SlurmNodePool(FluidStackModel):
    """A node pool of a Slurm cluster: ``count`` nodes of instance type ``type``."""

    id: str
    name: str
    type: str
    """The instance type of its nodes."""
    count: Optional[int] = None
    nodes: List[SlurmNode] = Field(default_factory=list)

    @property
    def ready(self) -> bool:
        """Whether it has all ``count`` nodes and every one is ready."""
        wanted = len(self.nodes) if self.count is None else self.count
        return len(self.nodes) >= wanted and all(n.ready for n in self.nodes)

    @property
    def ready_nodes(self) -> int:
        """How many of its nodes are ready."""
        return sum(1 for n in self.nodes if n.ready)
