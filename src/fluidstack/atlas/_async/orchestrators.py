"""The Kubernetes and Slurm clusters FluidStack runs for you, as a region lists them for
a project (read-only: the API lists them, it does not create them)."""

from __future__ import annotations

from typing import List, Optional

from ...core._async._resource import AsyncRawListing
from ...core.request_options import RequestOptions
from .. import endpoints as api
from ..types import KubernetesCluster, KubernetesNodePool, SlurmCluster, SlurmNodePool
from ._resource import AsyncAtlasResource
from .scope import AsyncScope

__all__ = ["AsyncKubernetesResource", "AsyncSlurmResource"]


class AsyncKubernetesClustersResource(AsyncAtlasResource):
    """The project's Kubernetes clusters in the client's region."""

    @property
    def with_raw_response(self) -> AsyncRawListing[List[KubernetesCluster]]:
        """The same methods, returning a :class:`~fluidstack.core.RawResponse`."""
        return AsyncRawListing(self.list)

    async def list(
        self, *, request_options: Optional[RequestOptions] = None
    ) -> List[KubernetesCluster]:
        """List the clusters."""
        return await self._scope.regional(
            api.KUBERNETES_CLUSTERS, project=True, request_options=request_options
        )


class AsyncKubernetesNodePoolsResource(AsyncAtlasResource):
    """The node pools of the project's Kubernetes clusters in the client's region."""

    @property
    def with_raw_response(self) -> AsyncRawListing[List[KubernetesNodePool]]:
        """The same methods, returning a :class:`~fluidstack.core.RawResponse`."""
        return AsyncRawListing(self.list)

    async def list(
        self, *, request_options: Optional[RequestOptions] = None
    ) -> List[KubernetesNodePool]:
        """List the node pools (404 when the region has no such cluster)."""
        return await self._scope.regional(
            api.KUBERNETES_NODE_POOLS, project=True, request_options=request_options
        )


class AsyncSlurmClustersResource(AsyncAtlasResource):
    """The project's Slurm clusters in the client's region."""

    @property
    def with_raw_response(self) -> AsyncRawListing[List[SlurmCluster]]:
        """The same methods, returning a :class:`~fluidstack.core.RawResponse`."""
        return AsyncRawListing(self.list)

    async def list(self, *, request_options: Optional[RequestOptions] = None) -> List[SlurmCluster]:
        """List the clusters."""
        return await self._scope.regional(
            api.SLURM_CLUSTERS, project=True, request_options=request_options
        )


class AsyncSlurmNodePoolsResource(AsyncAtlasResource):
    """The node pools of the project's Slurm clusters in the client's region."""

    @property
    def with_raw_response(self) -> AsyncRawListing[List[SlurmNodePool]]:
        """The same methods, returning a :class:`~fluidstack.core.RawResponse`."""
        return AsyncRawListing(self.list)

    async def list(
        self, *, request_options: Optional[RequestOptions] = None
    ) -> List[SlurmNodePool]:
        """List the node pools (404 when the region has no such cluster)."""
        return await self._scope.regional(
            api.SLURM_NODE_POOLS, project=True, request_options=request_options
        )


class AsyncKubernetesResource:
    """``atlas.kubernetes``: ``clusters`` and ``node_pools``."""

    def __init__(self, scope: AsyncScope) -> None:
        self.clusters = AsyncKubernetesClustersResource(scope)
        """The project's Kubernetes clusters."""
        self.node_pools = AsyncKubernetesNodePoolsResource(scope)
        """Their node pools."""


class AsyncSlurmResource:
    """``atlas.slurm``: ``clusters`` and ``node_pools``."""

    def __init__(self, scope: AsyncScope) -> None:
        self.clusters = AsyncSlurmClustersResource(scope)
        """The project's Slurm clusters."""
        self.node_pools = AsyncSlurmNodePoolsResource(scope)
        """Their node pools."""
