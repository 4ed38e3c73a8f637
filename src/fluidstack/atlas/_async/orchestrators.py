"""``atlas.kubernetes`` and ``atlas.slurm``: the Kubernetes and Slurm clusters a region
runs for a project, their node pools, and a Kubernetes cluster's kubeconfig, as the
Infrastructure API describes them.

Both kinds share one shape (:class:`AsyncClusters`, :class:`AsyncNodePools`); each kind's
resource adds what only it has (a kubeconfig; a Kubernetes pool's version).
"""

from __future__ import annotations

from typing import (
    Any,
    Awaitable,
    Callable,
    Dict,
    Generic,
    List,
    Literal,
    Optional,
    TypeVar,
    Union,
    overload,
)

from ...core._async._resource import raw_method
from ...core._async.polling import poll_until
from ...core.endpoint import Found
from ...core.errors import NotFoundError, WaitTimeoutError
from ...core.raw import RawResponse
from ...core.request_options import RequestOptions, for_lookups
from ...core.ssh import PathLike
from ...core.waiters import DEFAULT_POLL_INTERVAL, DEFAULT_WAIT_TIMEOUT, GONE, WaitPolicy
from .. import endpoints as api
from ..endpoints import Id, id_text
from ..orchestrator_endpoints import KUBERNETES, KUBERNETES_CREDENTIALS, SLURM, Orchestrator
from ..orchestrator_types import KubernetesCluster, KubernetesNodePool, SlurmCluster, SlurmNodePool
from ._resource import AsyncAtlasResource
from .scope import AsyncScope
from .spend import admitting

__all__ = [
    "AsyncClusters",
    "AsyncKubernetesClustersResource",
    "AsyncKubernetesNodePoolsResource",
    "AsyncKubernetesResource",
    "AsyncNodePools",
    "AsyncOrchestratorRaw",
    "AsyncSlurmClustersResource",
    "AsyncSlurmNodePoolsResource",
    "AsyncSlurmResource",
]

C = TypeVar("C", KubernetesCluster, SlurmCluster)
P = TypeVar("P", KubernetesNodePool, SlurmNodePool)
READY = "ready"


def _pool_status(pool: Optional[Union[KubernetesNodePool, SlurmNodePool]]) -> str:
    if pool is None:
        return GONE
    return READY if pool.ready else "not_ready"


def _pool_summary(pool: Optional[Union[KubernetesNodePool, SlurmNodePool]]) -> str:
    """``2/3 nodes ready; node x: InsufficientCapacity: ...`` for a wait's error."""
    if pool is None:
        return "it was not seen"
    wanted = len(pool.nodes) if pool.count is None else pool.count
    text = f"{pool.ready_nodes}/{wanted} nodes ready"
    for node in pool.nodes:
        if not node.ready:
            why = node.reason or (", ".join(getattr(node, "states", [])) or "not ready")
            return f"{text}; node {node.name}: {why}"
    return text


class AsyncOrchestratorRaw:
    """``with_raw_response`` of a cluster or node-pool resource: the same ``list``,
    ``get``, ``create`` and ``delete``, returning the :class:`~fluidstack.core.RawResponse`."""

    def __init__(self, resource: Any) -> None:
        self.list: Callable[..., Awaitable[RawResponse[Any]]] = raw_method(resource.list)
        self.get: Callable[..., Awaitable[RawResponse[Any]]] = raw_method(resource.get)
        self.create: Callable[..., Awaitable[RawResponse[Any]]] = raw_method(resource.create)
        self.delete: Callable[..., Awaitable[RawResponse[Any]]] = raw_method(resource.delete)


async def _until_gone(
    pipeline: Any,
    what: str,
    fetch: Callable[[Optional[RequestOptions]], Awaitable[Any]],
    timeout: Optional[float],
    request_options: Optional[RequestOptions],
) -> None:
    """Poll ``fetch`` (``None`` once gone) until it is gone, within ``timeout``."""
    policy = WaitPolicy.build(
        GONE,
        timeout,
        DEFAULT_POLL_INTERVAL,
        dead_ends={},
        status_of=lambda found: GONE if found is None else "present",
    )
    try:
        await poll_until(pipeline, policy, fetch, request_options=request_options)
    except WaitTimeoutError as exc:
        raise WaitTimeoutError(
            f"{what} was still there after {timeout:g}s", instance=exc.instance
        ) from None


class AsyncClusters(AsyncAtlasResource, Generic[C]):
    """The project's clusters of one kind in the client's region."""

    def __init__(self, scope: AsyncScope, endpoints: Orchestrator[C, Any]) -> None:
        super().__init__(scope)
        self._api: Orchestrator[C, Any] = endpoints

    @property
    def with_raw_response(self) -> AsyncOrchestratorRaw:
        """The same methods, returning a :class:`~fluidstack.core.RawResponse`."""
        return AsyncOrchestratorRaw(self)

    async def list(self, *, request_options: Optional[RequestOptions] = None) -> List[C]:
        """List the clusters."""
        return await self._scope.regional(
            self._api.clusters, project=True, request_options=request_options
        )

    async def get(self, cluster_id: Id, *, request_options: Optional[RequestOptions] = None) -> C:
        """Get one cluster (``NotFoundError`` when there is none)."""
        return await self._scope.regional(
            self._api.cluster,
            project=True,
            path_params={"cluster_id": id_text(cluster_id, "cluster_id")},
            request_options=request_options,
        )

    async def create(
        self,
        *,
        name: str,
        version: Optional[str] = None,
        request_options: Optional[RequestOptions] = None,
    ) -> C:
        """Create a cluster named ``name``, at ``version`` or the region's default. The
        name must be new among the project's clusters of this kind (else an ``ApiError``:
        ``ConflictError`` for Kubernetes, 400 for Slurm, whose contract has no 409).

        Safe to retry: after a failure that may have created it, the cluster of this name
        is looked for and returned instead of a second one being made.
        """
        body = api.cluster_body(name=name, version=version)

        async def recover() -> Optional[Found[C]]:
            for cluster in await self.list(request_options=for_lookups(request_options)):
                if cluster.name == body["name"]:
                    return Found(cluster)
            return None

        return await self._scope.regional(
            self._api.cluster_create,
            project=True,
            body=body,
            request_options=request_options,
            recover=recover,
        )

    async def delete(
        self,
        cluster_id: Id,
        *,
        wait: bool = False,
        timeout: Optional[float] = DEFAULT_WAIT_TIMEOUT,
        request_options: Optional[RequestOptions] = None,
    ) -> None:
        """Delete a cluster. Its node pools must be deleted first (``ConflictError``).

        With ``wait=True``, return once the cluster is gone (its GET answers 404), within
        ``timeout`` seconds (``WaitTimeoutError``).
        """
        ident = id_text(cluster_id, "cluster_id")
        await self._scope.regional(
            self._api.cluster_delete,
            project=True,
            path_params={"cluster_id": ident},
            request_options=request_options,
        )
        if not wait:
            return

        async def fetch(options: Optional[RequestOptions]) -> Optional[C]:
            try:
                return await self.get(ident, request_options=options)
            except NotFoundError:
                return None

        what = f"{self._api.kind} cluster {ident}"
        await _until_gone(self._pipeline, what, fetch, timeout, request_options)


class AsyncNodePools(AsyncAtlasResource, Generic[P]):
    """The node pools of the project's clusters of one kind in the client's region."""

    def __init__(self, scope: AsyncScope, endpoints: Orchestrator[Any, P]) -> None:
        super().__init__(scope)
        self._api: Orchestrator[Any, P] = endpoints

    @property
    def with_raw_response(self) -> AsyncOrchestratorRaw:
        """The same methods, returning a :class:`~fluidstack.core.RawResponse`."""
        return AsyncOrchestratorRaw(self)

    def _path(self, cluster_id: Id, node_pool_id: Optional[Id] = None) -> Dict[str, str]:
        path = {"cluster_id": id_text(cluster_id, "cluster_id")}
        if node_pool_id is not None:
            path["node_pool_id"] = id_text(node_pool_id, "node_pool_id")
        return path

    async def list(
        self, cluster_id: Optional[Id] = None, *, request_options: Optional[RequestOptions] = None
    ) -> List[P]:
        """List a cluster's node pools.

        Without ``cluster_id`` (deprecated): the older API's flat listing of every pool of
        every cluster of this kind, which the Infrastructure API no longer has; it answers
        ``NotFoundError`` when the project sees no such cluster, or the server dropped it.
        """
        if cluster_id is None:
            return await self._scope.regional(
                self._api.flat_node_pools, project=True, request_options=request_options
            )
        return await self._scope.regional(
            self._api.node_pools,
            project=True,
            path_params=self._path(cluster_id),
            request_options=request_options,
        )

    async def get(
        self,
        cluster_id: Id,
        node_pool_id: Id,
        *,
        request_options: Optional[RequestOptions] = None,
    ) -> P:
        """Get one node pool, with its nodes."""
        return await self._scope.regional(
            self._api.node_pool,
            project=True,
            path_params=self._path(cluster_id, node_pool_id),
            request_options=request_options,
        )

    async def _create(
        self,
        cluster_id: Id,
        body: Dict[str, Any],
        wait: bool,
        timeout: Optional[float],
        request_options: Optional[RequestOptions],
    ) -> P:
        path = self._path(cluster_id)

        async def recover() -> Optional[Found[P]]:
            listing = await self.list(
                path["cluster_id"], request_options=for_lookups(request_options)
            )
            for pool in listing:
                if pool.name == body["name"]:
                    return Found(pool)
            return None

        # Each node is an instance: a spend limit counts them all before any is made.
        count, type_name = int(body["count"]), str(body["type"])
        async with admitting(
            self._scope.spend,
            self._scope,
            type_name if count else None,
            f"creating a node pool of {count} {type_name}",
            request_options,
            count=count,
        ):
            pool: P = await self._scope.regional(
                self._api.node_pool_create,
                project=True,
                path_params=path,
                body=body,
                request_options=request_options,
                recover=recover,
            )
        if not wait:
            return pool
        return await self.wait(
            path["cluster_id"], pool.id, timeout=timeout, request_options=request_options
        )

    async def delete(
        self,
        cluster_id: Id,
        node_pool_id: Id,
        *,
        wait: bool = False,
        timeout: Optional[float] = DEFAULT_WAIT_TIMEOUT,
        request_options: Optional[RequestOptions] = None,
    ) -> None:
        """Delete a node pool, and with it the instances of its nodes.

        With ``wait=True``, return once the pool is gone (its GET answers 404).
        """
        path = self._path(cluster_id, node_pool_id)
        await self._scope.regional(
            self._api.node_pool_delete,
            project=True,
            path_params=path,
            request_options=request_options,
        )
        if wait:
            await self.wait(
                path["cluster_id"],
                path["node_pool_id"],
                until="deleted",
                timeout=timeout,
                request_options=request_options,
            )

    @overload
    async def wait(
        self,
        cluster_id: Id,
        node_pool_id: Id,
        *,
        until: Literal["deleted"],
        timeout: Optional[float] = ...,
        poll_interval: float = ...,
        max_poll_interval: Optional[float] = ...,
        on_poll: Optional[Callable[[Optional[P]], object]] = ...,
        request_options: Optional[RequestOptions] = ...,
    ) -> None: ...

    @overload
    async def wait(
        self,
        cluster_id: Id,
        node_pool_id: Id,
        *,
        until: Literal["ready"] = ...,
        timeout: Optional[float] = ...,
        poll_interval: float = ...,
        max_poll_interval: Optional[float] = ...,
        on_poll: Optional[Callable[[Optional[P]], object]] = ...,
        request_options: Optional[RequestOptions] = ...,
    ) -> P: ...

    async def wait(
        self,
        cluster_id: Id,
        node_pool_id: Id,
        *,
        until: Literal["ready", "deleted"] = "ready",
        timeout: Optional[float] = DEFAULT_WAIT_TIMEOUT,
        poll_interval: float = DEFAULT_POLL_INTERVAL,
        max_poll_interval: Optional[float] = None,
        on_poll: Optional[Callable[[Optional[P]], object]] = None,
        request_options: Optional[RequestOptions] = None,
    ) -> Optional[P]:
        """Poll a node pool until it is ``ready`` (it has all ``count`` nodes and every
        one is ready) or, with ``until="deleted"``, gone; return it (``None`` once gone).

        Polls every ``poll_interval`` seconds at first, then less often (up to
        ``max_poll_interval``, default 30 s). No single request outlives the deadline.

        Raises:
            WaitTimeoutError: The deadline passed; its message says how many nodes were
                ready and why one was not (e.g. no capacity for the type); ``.instance``
                is the pool as last seen.
            NotFoundError: The pool does not exist, and ``until`` is not ``"deleted"``.
        """
        if until not in (READY, GONE):
            raise ValueError(f"until must be 'ready' or 'deleted', got {until!r}")
        path = self._path(cluster_id, node_pool_id)

        async def fetch(options: Optional[RequestOptions]) -> Optional[P]:
            try:
                return await self.get(
                    path["cluster_id"], path["node_pool_id"], request_options=options
                )
            except NotFoundError:
                if until == GONE:
                    return None
                raise

        policy = WaitPolicy.build(
            until,
            timeout,
            poll_interval,
            max_poll_interval,
            dead_ends={},
            status_of=_pool_status,
        )
        try:
            found = await poll_until(
                self._pipeline, policy, fetch, request_options=request_options, on_poll=on_poll
            )
        except WaitTimeoutError as exc:
            last = exc.instance
            raise WaitTimeoutError(
                f"{self._api.kind} node pool {path['node_pool_id']} of cluster "
                f"{path['cluster_id']} did not become {until} within {timeout:g}s "
                f"({_pool_summary(last)})",
                instance=last,
            ) from None
        return found


class AsyncKubernetesClustersResource(AsyncClusters[KubernetesCluster]):
    """The project's Kubernetes clusters in the client's region."""

    def __init__(self, scope: AsyncScope) -> None:
        super().__init__(scope, KUBERNETES)

    async def credentials(
        self, cluster_id: Id, *, request_options: Optional[RequestOptions] = None
    ) -> str:
        """The cluster's kubeconfig, as YAML text.

        The server may send it as the contract declares it (base64, which the emulator
        sends) or as plain YAML: both give the YAML here. Treat it as a secret: it holds
        a bearer token for the cluster.
        """
        return await self._scope.regional(
            KUBERNETES_CREDENTIALS,
            project=True,
            path_params={"cluster_id": id_text(cluster_id, "cluster_id")},
            request_options=request_options,
        )

    async def write_kubeconfig(
        self,
        cluster_id: Id,
        path: Optional[PathLike] = None,
        merge: bool = True,
        context: Optional[str] = None,
        set_current: bool = True,
        *,
        request_options: Optional[RequestOptions] = None,
    ) -> str:
        """Fetch the cluster's kubeconfig and write it where ``kubectl`` reads it, as
        ``fluidctl auth update-kubeconfig`` does; return the context's name.

        Args:
            cluster_id: The cluster.
            path: The file; default the first entry of ``$KUBECONFIG``, else
                ``~/.kube/config``.
            merge: Merge into the file (default): the other clusters, contexts, users and
                preferences stay, entries of the same names are replaced. ``False``
                replaces the file.
            context: A name for the context (default the server's).
            set_current: Make it ``current-context`` (default).

        The file is replaced atomically with mode 0600 (a new folder gets 0700).

        Raises:
            ImportError: PyYAML is missing: ``pip install 'fluidstack[kubernetes]'``.
        """
        from ..kubeconfig import _yaml, write_kubeconfig

        _yaml()  # before the request: a missing extra should not cost a round trip
        document = await self.credentials(cluster_id, request_options=request_options)
        return write_kubeconfig(
            document, path, merge=merge, context=context, set_current=set_current
        )


class AsyncKubernetesNodePoolsResource(AsyncNodePools[KubernetesNodePool]):
    """The node pools of the project's Kubernetes clusters in the client's region."""

    def __init__(self, scope: AsyncScope) -> None:
        super().__init__(scope, KUBERNETES)

    async def create(
        self,
        cluster_id: Id,
        *,
        name: str,
        type: str,
        count: int,
        version: Optional[str] = None,
        wait: bool = False,
        timeout: Optional[float] = DEFAULT_WAIT_TIMEOUT,
        request_options: Optional[RequestOptions] = None,
    ) -> KubernetesNodePool:
        """Add a node pool of ``count`` nodes of instance type ``type`` to a cluster.

        Each node is an instance of the project (it is billed, counts against the
        client's ``max_hourly_spend``, and uses the region's capacity). ``version``
        defaults to the cluster's. With ``wait=True``, return once every node is ready
        (see :meth:`wait`). Safe to retry: after a failure that may have created it, the
        pool of this name is returned instead of a second one.
        """
        body = api.node_pool_body(name=name, type=type, count=count, version=version)
        return await self._create(cluster_id, body, wait, timeout, request_options)


class AsyncSlurmClustersResource(AsyncClusters[SlurmCluster]):
    """The project's Slurm clusters in the client's region."""

    def __init__(self, scope: AsyncScope) -> None:
        super().__init__(scope, SLURM)


class AsyncSlurmNodePoolsResource(AsyncNodePools[SlurmNodePool]):
    """The node pools of the project's Slurm clusters in the client's region."""

    def __init__(self, scope: AsyncScope) -> None:
        super().__init__(scope, SLURM)

    async def create(
        self,
        cluster_id: Id,
        *,
        name: str,
        type: str,
        count: int,
        wait: bool = False,
        timeout: Optional[float] = DEFAULT_WAIT_TIMEOUT,
        request_options: Optional[RequestOptions] = None,
    ) -> SlurmNodePool:
        """Add a node pool of ``count`` nodes of instance type ``type`` to a cluster.

        Each node is an instance of the project (it is billed, counts against the
        client's ``max_hourly_spend``, and uses the region's capacity). With
        ``wait=True``, return once every node is ready (see :meth:`wait`). Safe to retry:
        after a failure that may have created it, the pool of this name is returned
        instead of a second one.
        """
        body = api.node_pool_body(name=name, type=type, count=count)
        return await self._create(cluster_id, body, wait, timeout, request_options)


class AsyncKubernetesResource:
    """``atlas.kubernetes``: ``clusters`` and ``node_pools``."""

    def __init__(self, scope: AsyncScope) -> None:
        self.clusters = AsyncKubernetesClustersResource(scope)
        """The project's Kubernetes clusters."""
        self.node_pools = AsyncKubernetesNodePoolsResource(scope)
        """Their node pools."""


class AsyncSlurmResource:
    """``atlas.slurm``: ``clusters``, ``node_pools`` and ``jobs``."""

    def __init__(self, scope: AsyncScope) -> None:
        from .slurm_jobs import AsyncSlurmJobsResource

        self.clusters = AsyncSlurmClustersResource(scope)
        """The project's Slurm clusters."""
        self.node_pools = AsyncSlurmNodePoolsResource(scope)
        """Their node pools."""
        self.jobs = AsyncSlurmJobsResource(scope, self.clusters.get)
        """Jobs on them, over SSH on a login node (``fluidstack[ssh]``)."""
