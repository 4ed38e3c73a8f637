"""FluidStack Atlas (API v1alpha1): the management API and every region's API.

    from fluidstack.atlas import Atlas

    atlas = Atlas(region="eu-north-1", project_id="...")  # credentials from FLUIDSTACK_*
    for instance in atlas.instances.list():
        print(instance.name, instance.state, instance.ip)

Names are imported on first use, so ``import fluidstack.atlas`` stays cheap. Errors are
those of :mod:`fluidstack.core`, re-exported here.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Dict

from .._lazy import lazy_attributes

if TYPE_CHECKING:
    from ..core import (
        ApiError,
        AuthenticationError,
        ConfigurationError,
        InstanceFailedError,
        InstancePreemptedError,
        MissingCredentialsError,
        MissingProjectError,
        MissingRegionError,
        NoCapacityError,
        NotFoundError,
        NotSupportedError,
        OutOfStockError,
        SpendLimitError,
        TokenError,
        UnknownRegionError,
        WaitTimeoutError,
    )
    from .client import AsyncAtlas, Atlas
    from .slurm_types import SlurmCommandError, SlurmJob, SlurmJobState
    from .tokens import IssuedToken
    from .types import (
        Accelerator,
        Capability,
        Capacity,
        Cluster,
        ClusterHealth,
        ClusterType,
        Filesystem,
        GlobalInstance,
        Instance,
        InstanceHealth,
        InstanceState,
        InstanceType,
        Invitation,
        KubernetesCluster,
        KubernetesNode,
        KubernetesNodePool,
        MemberRole,
        NodeCondition,
        NodeState,
        NodeTaint,
        Organization,
        OrganizationMember,
        Project,
        ProjectState,
        Region,
        SlurmCluster,
        SlurmLoginNode,
        SlurmNode,
        SlurmNodePool,
        SSHKey,
    )

_ERRORS = (
    "ApiError",
    "AuthenticationError",
    "ConfigurationError",
    "InstanceFailedError",
    "InstancePreemptedError",
    "MissingCredentialsError",
    "MissingProjectError",
    "MissingRegionError",
    "NoCapacityError",
    "NotFoundError",
    "NotSupportedError",
    "OutOfStockError",
    "SpendLimitError",
    "TokenError",
    "UnknownRegionError",
    "WaitTimeoutError",
)
_TYPES = (
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
)
_SLURM_JOBS = ("SlurmCommandError", "SlurmJob", "SlurmJobState")
_LAZY: Dict[str, str] = {
    "Atlas": "fluidstack.atlas._sync.client",
    "AsyncAtlas": "fluidstack.atlas._async.client",
    "IssuedToken": "fluidstack.atlas.tokens",
    **dict.fromkeys(_SLURM_JOBS, "fluidstack.atlas.slurm_types"),
    **dict.fromkeys(_ERRORS, "fluidstack.core"),
    **dict.fromkeys(_TYPES, "fluidstack.atlas.types"),
}

__all__ = [
    "Accelerator",
    "ApiError",
    "AsyncAtlas",
    "Atlas",
    "AuthenticationError",
    "Capability",
    "Capacity",
    "Cluster",
    "ClusterHealth",
    "ClusterType",
    "ConfigurationError",
    "Filesystem",
    "GlobalInstance",
    "Instance",
    "InstanceFailedError",
    "InstanceHealth",
    "InstancePreemptedError",
    "InstanceState",
    "InstanceType",
    "Invitation",
    "IssuedToken",
    "KubernetesCluster",
    "KubernetesNode",
    "KubernetesNodePool",
    "MemberRole",
    "MissingCredentialsError",
    "MissingProjectError",
    "MissingRegionError",
    "NoCapacityError",
    "NodeCondition",
    "NodeState",
    "NodeTaint",
    "NotFoundError",
    "NotSupportedError",
    "Organization",
    "OrganizationMember",
    "OutOfStockError",
    "Project",
    "ProjectState",
    "Region",
    "SSHKey",
    "SlurmCluster",
    "SlurmCommandError",
    "SlurmJob",
    "SlurmJobState",
    "SlurmLoginNode",
    "SlurmNode",
    "SlurmNodePool",
    "SpendLimitError",
    "TokenError",
    "UnknownRegionError",
    "WaitTimeoutError",
]


__getattr__, __dir__ = lazy_attributes(__name__, _LAZY)
