"""What the regional API shows of Kubernetes and Slurm clusters: the cluster, node pool
and node views of the Infrastructure API (``infrastructure.openapi.yaml``), and a
Kubernetes cluster's kubeconfig. Pure functions of the records and the moment.

A node is as ready as the instance behind it: ``running`` is a ready node; anything
else is not ready, with the reason in the node's ``conditions`` (Kubernetes) or its
``states`` and ``reason`` (Slurm). None of this mapping is stated by the contract: it
is *inferred* (docs/emulator.md lists it).
"""

from __future__ import annotations

import uuid
from typing import Any, Dict, List, Optional, Tuple

from fluidstack.emulator.atlas.catalog import InstanceType
from fluidstack.emulator.atlas.records import GONE, Cluster, Instance, NodePool
from fluidstack.emulator.clock import iso

__all__ = [
    "CLUSTER_TAG",
    "DEFAULT_VERSIONS",
    "DRIVER_VERSION",
    "NODE_POOL_TAG",
    "cluster_view",
    "context_name",
    "endpoint",
    "kubeconfig",
    "legacy_pool_view",
    "node_pool_view",
]

DEFAULT_VERSIONS = {"kubernetes": "1.32.1", "slurm": "24.05.6"}
"""The version of a cluster created without one (the contract's examples)."""
DRIVER_VERSION = "550.127.08"
NODE_POOL_TAG = "fluidstack.node-pool"
"""The tag on every instance that backs a node: the id of its node pool."""
CLUSTER_TAG = "fluidstack.cluster"
"""The tag on every instance a cluster runs on (nodes, login nodes): the cluster's id."""


def version_of(cluster: Cluster) -> str:
    return cluster.version or DEFAULT_VERSIONS.get(cluster.type, "1.0.0")


def endpoint(cluster: Cluster) -> str:
    """The API server URL of a Kubernetes cluster: an address of TEST-NET-1 (RFC 5737,
    192.0.2.0/24), documentation only and never routed, so that a kubeconfig of the
    emulator can never reach, or send its token to, anyone's real cluster."""
    host = uuid.UUID(cluster.id).int % 254 + 1
    return f"https://192.0.2.{host}:6443"


def cluster_view(cluster: Cluster) -> Dict[str, Any]:
    """``KubernetesCluster`` or ``SlurmCluster``."""
    data: Dict[str, Any] = {"id": cluster.id, "name": cluster.name, "version": version_of(cluster)}
    if cluster.type == "kubernetes":
        data["endpoint"] = endpoint(cluster)
    else:
        data["loginNodes"] = [{"name": n["name"], "publicIP": n["ip"]} for n in cluster.login_nodes]
    return data


def legacy_pool_view(cluster: Cluster, pool: Dict[str, str]) -> Dict[str, Any]:
    """A pool declared with its cluster (seeds, the control API): it has no nodes."""
    data: Dict[str, Any] = {
        "id": pool["id"],
        "name": pool["name"],
        "type": pool["type"],
        "count": 0,
        "nodes": [],
    }
    if cluster.type == "kubernetes":
        data["cluster"] = cluster.name
        data["version"] = version_of(cluster)
    return data


def node_pool_view(
    cluster: Cluster,
    pool: NodePool,
    instances: Dict[str, Instance],
    instance_type: Optional[InstanceType],
    now: float,
) -> Dict[str, Any]:
    """``KubernetesNodePool`` or ``SlurmNodePool`` with its nodes as of ``now``."""
    nodes = [
        _node(cluster, pool, node, instances.get(node["instance_id"]), instance_type, now)
        for node in pool.nodes
    ]
    data: Dict[str, Any] = {
        "id": pool.id,
        "name": pool.name,
        "type": pool.type,
        "count": pool.count,
        "nodes": nodes,
    }
    if cluster.type == "kubernetes":
        data["cluster"] = cluster.name
        data["version"] = pool.version
    return data


# (node state, condition status, reason, message) by instance state.
_NOT_RUNNING: Dict[str, Tuple[str, str, str, str]] = {
    "creating": ("not_ready", "False", "NodeProvisioning", "instance {id} is being created"),
    "starting": ("not_ready", "False", "NodeProvisioning", "instance {id} is starting"),
    "out-of-stock": (
        "not_ready",
        "False",
        "InsufficientCapacity",
        "no {type} capacity in {region}: instance {id} is out-of-stock; the node stays "
        "not ready (start the instance once capacity frees, or delete the node pool)",
    ),
    "stopping": ("not_ready", "False", "InstanceStopped", "instance {id} is stopping"),
    "stopped": ("not_ready", "False", "InstanceStopped", "instance {id} is stopped"),
    "error": ("unknown", "Unknown", "NodeStatusUnknown", "instance {id} failed (error)"),
    "deleting": (
        "not_ready",
        "False",
        "InstanceDeleted",
        "instance {id} was deleted; delete the node pool to release the node",
    ),
}
_NOT_RUNNING[GONE] = _NOT_RUNNING["deleting"]

_SLURM_STATES = {
    "ready": ["IDLE"],
    "NodeProvisioning": ["IDLE", "POWERING_UP"],
    "InsufficientCapacity": ["DOWN", "NOT_RESPONDING"],
    "InstanceStopped": ["DOWN", "POWERED_DOWN"],
    "NodeStatusUnknown": ["DOWN", "NOT_RESPONDING"],
    "InstanceDeleted": ["DOWN", "NOT_RESPONDING"],
}


def _node(
    cluster: Cluster,
    pool: NodePool,
    node: Dict[str, str],
    instance: Optional[Instance],
    instance_type: Optional[InstanceType],
    now: float,
) -> Dict[str, Any]:
    state = GONE if instance is None else instance.state_at(now)
    since = now if instance is None else instance.segment_start(now)
    created = pool.created_at if instance is None else instance.created_at
    if state == "running":
        node_state, status, reason = "ready", "True", "KubeletReady"
        message = "kubelet is posting ready status"
    else:
        node_state, status, reason, message = _NOT_RUNNING.get(
            state, ("unknown", "Unknown", "NodeStatusUnknown", "instance {id} is {state}")
        )
        message = message.format(
            id=node["instance_id"], type=pool.type, region=pool.region, state=state
        )
    if cluster.type == "slurm":
        data: Dict[str, Any] = {
            "name": node["name"],
            "instanceID": node["instance_id"],
            "states": list(_SLURM_STATES["ready" if node_state == "ready" else reason]),
            "slurmdVersion": version_of(cluster),
        }
        if node_state != "ready":  # not in the contract: Slurm's own "Reason" field
            data["reason"] = f"{reason}: {message}"
        return data
    labels = {
        "kubernetes.io/hostname": node["name"],
        "node.kubernetes.io/instance-type": pool.type,
        "fluidstack.io/node-pool": pool.name,
    }
    data = {
        "name": node["name"],
        "instanceID": node["instance_id"],
        "state": node_state,
        "kubeletVersion": f"v{pool.version.lstrip('v')}",
        "createdAt": iso(created),
        "conditions": [
            {
                "type": "Ready",
                "status": status,
                "lastHeartbeatTime": iso(now),
                "lastTransitionTime": iso(since),
                "reason": reason,
                "message": message,
            }
        ],
        "labels": labels,
        "taints": [],
    }
    if instance_type is not None and instance_type.gpu_count:
        data["accelerator"] = {
            "type": "nvidia/gpu",
            "product": f"NVIDIA-{instance_type.gpu_model or 'GPU'}",
            "driverVersion": DRIVER_VERSION,
        }
        labels["nvidia.com/gpu.count"] = str(instance_type.gpu_count)
        data["taints"] = [{"key": "nvidia.com/gpu", "value": "present", "effect": "NoSchedule"}]
    return data


def context_name(cluster: Cluster) -> str:
    """The one name of a cluster's kubeconfig entries (cluster, user and context)."""
    return f"fluidstack-{cluster.region}-{cluster.name}"


def kubeconfig(cluster: Cluster) -> Dict[str, Any]:
    """A kubeconfig naming the cluster's endpoint, a user with its bearer token, and a
    context joining them (the caller renders it as YAML)."""
    name = context_name(cluster)
    entries: List[Dict[str, Any]] = [{"name": name, "cluster": {"server": endpoint(cluster)}}]
    return {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": entries,
        "users": [{"name": name, "user": {"token": cluster.token}}],
        "contexts": [{"name": name, "context": {"cluster": name, "user": name}}],
        "current-context": name,
        "preferences": {},
    }
