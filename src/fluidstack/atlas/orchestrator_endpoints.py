"""The Atlas endpoints of a region's Kubernetes and Slurm clusters and their node pools
(the Infrastructure API's ``/kubernetes/...`` and ``/slurm/...``). Pure, like
:mod:`fluidstack.atlas.endpoints`, which re-exports every name here.

A module of its own so that only a call on a cluster builds these endpoints and the
models they parse into (:mod:`fluidstack.atlas.orchestrator_types`); a listing of
instances does not (issue 24, sixth round).
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from typing import Generic, List, Type, TypeVar

from ..core.endpoint import Endpoint
from .orchestrator_types import KubernetesCluster, KubernetesNodePool, SlurmCluster, SlurmNodePool

__all__ = [
    "KUBERNETES",
    "KUBERNETES_CLUSTERS",
    "KUBERNETES_CREDENTIALS",
    "KUBERNETES_NODE_POOLS",
    "SLURM",
    "SLURM_CLUSTERS",
    "SLURM_NODE_POOLS",
    "KubeconfigEndpoint",
    "Orchestrator",
    "kubeconfig_text",
]

C = TypeVar("C")
P = TypeVar("P")

KUBERNETES_CLUSTERS: Endpoint[List[KubernetesCluster]] = Endpoint(
    "kubernetes.clusters.list", "GET", "/kubernetes/clusters", List[KubernetesCluster]
)
# The older contract's flat listing of every pool (gone from the Infrastructure API).
KUBERNETES_NODE_POOLS: Endpoint[List[KubernetesNodePool]] = Endpoint(
    "kubernetes.node_pools.list", "GET", "/kubernetes/node-pools", List[KubernetesNodePool]
)
SLURM_CLUSTERS: Endpoint[List[SlurmCluster]] = Endpoint(
    "slurm.clusters.list", "GET", "/slurm/clusters", List[SlurmCluster]
)
SLURM_NODE_POOLS: Endpoint[List[SlurmNodePool]] = Endpoint(
    "slurm.node_pools.list", "GET", "/slurm/node-pools", List[SlurmNodePool]
)


@dataclass(frozen=True)
class KubeconfigEndpoint(Endpoint[str]):
    """An endpoint whose answer is a kubeconfig (``application/yaml``), not JSON."""

    def parse(self, content: bytes) -> str:
        return kubeconfig_text(content)


def kubeconfig_text(content: bytes) -> str:
    """The kubeconfig YAML of a credentials answer, sent either as the contract declares
    it (the base64 of the document: ``format: byte``) or as the YAML itself."""
    text = content.decode("utf-8").strip()
    if ":" not in text:  # no YAML mapping has no colon; base64 never has one
        text = base64.b64decode("".join(text.split()), validate=True).decode("utf-8")
    if ":" not in text:
        raise ValueError("the answer is neither a kubeconfig nor the base64 of one")
    return text if text.endswith("\n") else text + "\n"


@dataclass(frozen=True)
class Orchestrator(Generic[C, P]):
    """The operations on one kind of cluster (``kubernetes`` or ``slurm``) and its
    node pools, under ``/<kind>/clusters`` (the Infrastructure API)."""

    kind: str
    clusters: Endpoint[List[C]]
    cluster_create: Endpoint[C]
    cluster: Endpoint[C]
    cluster_delete: Endpoint[None]
    node_pools: Endpoint[List[P]]
    node_pool_create: Endpoint[P]
    node_pool: Endpoint[P]
    node_pool_delete: Endpoint[None]
    flat_node_pools: Endpoint[List[P]]


def _orchestrator(
    kind: str,
    cluster_type: Type[C],
    pool_type: Type[P],
    clusters: Endpoint[List[C]],
    flat: Endpoint[List[P]],
) -> Orchestrator[C, P]:
    one = f"/{kind}/clusters/{{cluster_id}}"
    pools = f"{one}/node-pools"
    return Orchestrator(
        kind=kind,
        clusters=clusters,
        # Creates are not repeated blindly: a lost answer is resolved by the name.
        cluster_create=Endpoint(
            f"{kind}.clusters.create",
            "POST",
            f"/{kind}/clusters",
            cluster_type,
            idempotent=False,
            sends_idempotency_key=False,
        ),
        cluster=Endpoint(f"{kind}.clusters.get", "GET", one, cluster_type),
        cluster_delete=Endpoint(f"{kind}.clusters.delete", "DELETE", one, None),
        node_pools=Endpoint(f"{kind}.node_pools.list", "GET", pools, List[pool_type]),  # type: ignore[valid-type]
        node_pool_create=Endpoint(
            f"{kind}.node_pools.create",
            "POST",
            pools,
            pool_type,
            idempotent=False,
            sends_idempotency_key=False,
        ),
        node_pool=Endpoint(f"{kind}.node_pools.get", "GET", f"{pools}/{{node_pool_id}}", pool_type),
        node_pool_delete=Endpoint(
            f"{kind}.node_pools.delete", "DELETE", f"{pools}/{{node_pool_id}}", None
        ),
        flat_node_pools=flat,
    )


KUBERNETES: Orchestrator[KubernetesCluster, KubernetesNodePool] = _orchestrator(
    "kubernetes", KubernetesCluster, KubernetesNodePool, KUBERNETES_CLUSTERS, KUBERNETES_NODE_POOLS
)
SLURM: Orchestrator[SlurmCluster, SlurmNodePool] = _orchestrator(
    "slurm", SlurmCluster, SlurmNodePool, SLURM_CLUSTERS, SLURM_NODE_POOLS
)
KUBERNETES_CREDENTIALS: Endpoint[str] = KubeconfigEndpoint(
    "kubernetes.clusters.credentials", "GET", "/kubernetes/clusters/{cluster_id}/credentials", str
)
