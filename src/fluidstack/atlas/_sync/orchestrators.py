# Generated from fluidstack/atlas/_async by scripts/unasync.py: do not edit by hand.
"""The Kubernetes and Slurm clusters FluidStack runs for you, as a region lists them for
a project (read-only: the API lists them, it does not create them)."""

from __future__ import annotations

from typing import List, Optional

from ...core._sync._resource import RawListing
from ...core.request_options import RequestOptions
from .. import endpoints as api
from ..types import KubernetesCluster, KubernetesNodePool, SlurmCluster, SlurmNodePool
from ._resource import AtlasResource
from .scope import Scope

__all__ = ["KubernetesResource", "SlurmResource"]


class KubernetesClustersResource(AtlasResource):
    """The project's Kubernetes clusters in the client's region."""

    @property
    def with_raw_response(self) -> RawListing[List[KubernetesCluster]]:
        """The same methods, returning a :class:`~fluidstack.core.RawResponse`."""
        return RawListing(self.list)

    def list(self, *, request_options: Optional[RequestOptions] = None) -> List[KubernetesCluster]:
        """List the clusters."""
        return self._scope.regional(
            api.KUBERNETES_CLUSTERS, project=True, request_options=request_options
        )


class KubernetesNodePoolsResource(AtlasResource):
    """The node pools of the project's Kubernetes clusters in the client's region."""

    @property
    def with_raw_response(self) -> RawListing[List[KubernetesNodePool]]:
        """The same methods, returning a :class:`~fluidstack.core.RawResponse`."""
        return RawListing(self.list)

    def list(self, *, request_options: Optional[RequestOptions] = None) -> List[KubernetesNodePool]:
        """List the node pools (404 when the region has no such cluster)."""
        return self._scope.regional(
            api.KUBERNETES_NODE_POOLS, project=True, request_options=request_options
        )


class SlurmClustersResource(AtlasResource):
    """The project's Slurm clusters in the client's region."""

    @property
    def with_raw_response(self) -> RawListing[List[SlurmCluster]]:
        """The same methods, returning a :class:`~fluidstack.core.RawResponse`."""
        return RawListing(self.list)

    def list(self, *, request_options: Optional[RequestOptions] = None) -> List[SlurmCluster]:
        """List the clusters."""
        return self._scope.regional(
            api.SLURM_CLUSTERS, project=True, request_options=request_options
        )


class SlurmNodePoolsResource(AtlasResource):
    """The node pools of the project's Slurm clusters in the client's region."""

    @property
    def with_raw_response(self) -> RawListing[List[SlurmNodePool]]:
        """The same methods, returning a :class:`~fluidstack.core.RawResponse`."""
        return RawListing(self.list)

    def list(self, *, request_options: Optional[RequestOptions] = None) -> List[SlurmNodePool]:
        """List the node pools (404 when the region has no such cluster)."""
        return self._scope.regional(
            api.SLURM_NODE_POOLS, project=True, request_options=request_options
        )


class KubernetesResource:
    """``atlas.kubernetes``: ``clusters`` and ``node_pools``."""

    def __init__(self, scope: Scope) -> None:
        self.clusters = KubernetesClustersResource(scope)
        """The project's Kubernetes clusters."""
        self.node_pools = KubernetesNodePoolsResource(scope)
        """Their node pools."""


class SlurmResource:
    """``atlas.slurm``: ``clusters`` and ``node_pools``."""

    def __init__(self, scope: Scope) -> None:
        self.clusters = SlurmClustersResource(scope)
        """The project's Slurm clusters."""
        self.node_pools = SlurmNodePoolsResource(scope)
        """Their node pools."""
