"""Models of the Atlas API, named after its schemas, and its enumerations.

Every model keeps fields this SDK does not know yet, and every enumeration accepts
values it does not list (a new instance state parses), like the platform models.
Identifiers are ``str``; methods that take one also accept a ``uuid.UUID``.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
from typing import TYPE_CHECKING, Dict, List, Optional

from pydantic import AliasChoices, Field

from .._lazy import lazy_attributes
from ..core.models import FluidStackModel, OpenEnum

if TYPE_CHECKING:
    from .orchestrator_types import (
        Accelerator,
        KubernetesCluster,
        KubernetesNode,
        KubernetesNodePool,
        NodeCondition,
        NodeState,
        NodeTaint,
        SlurmCluster,
        SlurmLoginNode,
        SlurmNode,
        SlurmNodePool,
    )

# The Kubernetes and Slurm models are imported on first use: a call on instances,
# projects or the management API does not build their eleven pydantic classes (issue 24,
# sixth round: ~25 M instructions of every `fluidstack atlas` command).
_ORCHESTRATOR_TYPES = (
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
)
_HOMES = dict.fromkeys(_ORCHESTRATOR_TYPES, ".orchestrator_types")

__all__ = [
    "Accelerator",
    "Capability",
    "Capacity",
    "Cluster",
    "ClusterHealth",
    "ClusterType",
    "Filesystem",
    "GlobalInstance",
    "Instance",
    "InstanceHealth",
    "InstanceState",
    "InstanceType",
    "Invitation",
    "KubernetesCluster",
    "KubernetesNode",
    "KubernetesNodePool",
    "MemberRole",
    "NodeCondition",
    "NodeState",
    "NodeTaint",
    "Organization",
    "OrganizationMember",
    "Project",
    "ProjectState",
    "Region",
    "SSHKey",
    "SlurmCluster",
    "SlurmLoginNode",
    "SlurmNode",
    "SlurmNodePool",
]


class InstanceState(OpenEnum):
    """Where an instance is in its lifecycle."""

    CREATING = "creating"
    STARTING = "starting"
    RUNNING = "running"
    STOPPING = "stopping"
    STOPPED = "stopped"
    DELETING = "deleting"
    OUT_OF_STOCK = "out-of-stock"
    """The region had no capacity for the instance's type: delete it or start it later."""
    ERROR = "error"


class ProjectState(OpenEnum):
    """Where a project is in its lifecycle."""

    ACTIVE = "active"
    DELETING = "deleting"


class MemberRole(OpenEnum):
    """A member's role in an organization: ``admin`` may do everything, ``editor``
    (``member`` in the API's prose) everything but managing members and invitations,
    ``viewer`` only read."""

    ADMIN = "admin"
    EDITOR = "editor"
    MEMBER = "member"
    VIEWER = "viewer"


class Capability(OpenEnum):
    """What a region offers (``capabilities.list()``): the Infrastructure API's 31
    values. An operation whose capability a region lacks raises
    :class:`~fluidstack.core.NotSupportedError` (501). A value this SDK does not list
    still parses (``.is_known`` is false)."""

    INSTANCES_LIST = "instances:list"
    INSTANCES_CREATE = "instances:create"
    INSTANCES_DELETE = "instances:delete"
    INSTANCES_READ = "instances:read"
    INSTANCES_UPDATE = "instances:update"
    INSTANCES_START = "instances:start"
    INSTANCES_STOP = "instances:stop"
    FILESYSTEMS_LIST = "filesystems:list"
    FILESYSTEMS_CREATE = "filesystems:create"
    FILESYSTEMS_DELETE = "filesystems:delete"
    FILESYSTEMS_READ = "filesystems:read"
    FILESYSTEMS_UPDATE = "filesystems:update"
    PROJECTS_LIST = "projects:list"
    PROJECTS_CREATE = "projects:create"
    PROJECTS_DELETE = "projects:delete"
    PROJECTS_READ = "projects:read"
    PROJECTS_UPDATE = "projects:update"
    KUBERNETES_CLUSTERS_LIST = "kubernetes:clusters:list"
    KUBERNETES_CLUSTERS_CREATE = "kubernetes:clusters:create"
    KUBERNETES_CLUSTERS_DELETE = "kubernetes:clusters:delete"
    KUBERNETES_CLUSTERS_READ = "kubernetes:clusters:read"
    KUBERNETES_NODE_POOLS_LIST = "kubernetes:node-pools:list"
    KUBERNETES_NODE_POOLS_CREATE = "kubernetes:node-pools:create"
    KUBERNETES_NODE_POOLS_DELETE = "kubernetes:node-pools:delete"
    KUBERNETES_NODE_POOLS_READ = "kubernetes:node-pools:read"
    KUBERNETES_CREDENTIALS_READ = "kubernetes:credentials:read"
    SLURM_CLUSTERS_LIST = "slurm:clusters:list"
    SLURM_CLUSTERS_READ = "slurm:clusters:read"
    SLURM_CLUSTERS_PROXY = "slurm:clusters:proxy"
    SLURM_NODE_POOLS_LIST = "slurm:node-pools:list"
    SLURM_NODE_POOLS_READ = "slurm:node-pools:read"


class ClusterType(OpenEnum):
    """The orchestrator of a managed cluster."""

    KUBERNETES = "kubernetes"
    SLURM = "slurm"


class ClusterHealth(OpenEnum):
    """A managed cluster's health, as the management API computes it."""

    HEALTHY = "healthy"
    STALE = "stale"
    OFFLINE = "offline"


class InstanceHealth(OpenEnum):
    """An instance's health, as the management API computes it."""

    HEALTHY = "healthy"
    STALE = "stale"
    ATTENTION = "attention"
    OFFLINE = "offline"


class _InstanceFields(FluidStackModel):
    id: str
    """The instance's id (a UUID)."""
    name: str
    type: str
    """Its instance type, e.g. ``h100-hgx-80gb.8x`` (see ``instance_types.list()``)."""
    state: InstanceState
    ip: Optional[str] = None
    """Private IP address; ``None`` until the instance runs (or when the API omits it)."""
    image: Optional[str] = None
    """Operating-system image, e.g. ``image://ubuntu22.04``."""
    preemptible: bool = False
    """Cheaper, but may be stopped at any time for an on-demand customer."""
    ephemeral: bool = False
    """Its boot disk does not survive a stop and start."""
    tags: Dict[str, str] = Field(default_factory=dict)


class Instance(_InstanceFields):
    """A machine instance, as a region's API describes it."""

    user_data: Optional[str] = Field(default=None, alias="userData")
    """The cloud-init user data, base64-encoded as the API returns it
    (:attr:`user_data_bytes` decodes it)."""
    filesystems: List[str] = Field(default_factory=list)
    """Ids of the filesystems attached to it."""
    region: Optional[str] = None
    """The region whose API described it. Set by this SDK (a region's API does not say),
    so that an instance from ``launch`` or any listing can be found again:
    ``atlas.with_options(region=instance.region)``. ``None`` for a region given only by
    its URL."""

    @property
    def user_data_bytes(self) -> Optional[bytes]:
        """The cloud-init user data, decoded; ``None`` when there is none (or it is not
        valid base64)."""
        if self.user_data is None:
            return None
        try:
            return base64.b64decode(self.user_data, validate=True)
        except (binascii.Error, ValueError):
            return None


class GlobalInstance(_InstanceFields):
    """An instance as the management API lists it, across regions and projects."""

    project_id: Optional[str] = None
    region: Optional[str] = None
    health: Optional[InstanceHealth] = None
    updated_at: Optional[dt.datetime] = None


class Project(FluidStackModel):
    """A project: the scope of instances, filesystems and clusters (``X-PROJECT-ID``)."""

    id: str
    name: str
    state: ProjectState = ProjectState.ACTIVE
    tags: Dict[str, str] = Field(default_factory=dict)


class Filesystem(FluidStackModel):
    """A shared filesystem (virtio-fs) that instances of a project can attach."""

    id: str
    name: str
    size: str
    """Its size as the API states it, e.g. ``"512Gi"``."""


class InstanceType(FluidStackModel):
    """A machine shape a region offers."""

    name: str
    cpu: int
    """Number of CPUs."""
    memory: str
    """Memory, e.g. ``"1Ti"``."""
    gpu_count: Optional[int] = Field(
        default=None, validation_alias=AliasChoices("gpuCount", "gpu_count")
    )
    """Number of GPUs, ``None`` for a CPU-only type. Read from ``gpuCount`` (the
    Infrastructure API) or ``gpu_count`` (the older regional API)."""
    gpu_model: Optional[str] = Field(
        default=None, validation_alias=AliasChoices("gpuModel", "gpu_model")
    )
    """The GPU model, e.g. ``H100-HGX-80GB`` (read from ``gpuModel`` or ``gpu_model``)."""


class Capacity(FluidStackModel):
    """How many more instances of a type a region can create now."""

    name: str
    """The instance type."""
    capacity: int


class Region(FluidStackModel):
    """A region and the root URL of its API."""

    name: str
    url: str


class Organization(FluidStackModel):
    """An organization your credentials belong to."""

    id: str
    name: str
    display_name: str


class OrganizationMember(FluidStackModel):
    """A member of your organization."""

    id: str
    name: str
    email: str
    role: MemberRole


class Invitation(FluidStackModel):
    """A pending invitation to join your organization."""

    id: str
    email: str
    role: MemberRole


class SSHKey(FluidStackModel):
    """A public SSH key registered for your user."""

    name: str
    key: str
    """The OpenSSH public key line, e.g. ``ssh-ed25519 AAAA... you@laptop``."""


class Cluster(FluidStackModel):
    """A managed Kubernetes or Slurm cluster, as the management API lists it."""

    id: str
    name: str
    region: str
    type: ClusterType
    project_id: Optional[str] = None
    health: Optional[ClusterHealth] = None
    updated_at: Optional[dt.datetime] = None


__getattr__, __dir__ = lazy_attributes(__name__, _HOMES)
