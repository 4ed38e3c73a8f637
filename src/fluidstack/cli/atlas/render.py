"""Tables of Atlas objects. Imported only when a table is printed."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable, List, Mapping, Optional, Sequence, Tuple, Union

from ..render import Cell, ListingTable, Styled, key_value_table, simple_table, status_text

if TYPE_CHECKING:
    from rich.console import Group
    from rich.table import Table

    from fluidstack.atlas import (
        GlobalInstance,
        Instance,
        InstanceType,
        KubernetesCluster,
        KubernetesNodePool,
        SlurmCluster,
        SlurmNodePool,
    )

    Cluster = Union[KubernetesCluster, SlurmCluster]
    NodePool = Union[KubernetesNodePool, SlurmNodePool]

__all__ = [
    "cluster_detail",
    "cluster_table",
    "global_instance_table",
    "instance_detail",
    "instance_table",
    "instance_types_table",
    "node_pool_detail",
    "node_pool_table",
    "tags_text",
]

_SDK_TAGS = frozenset({"fluidstack.client-token", "fluidstack.created-at"})
"""Tags the SDK writes for itself on every create (a lease's tag is shown)."""


def tags_text(tags: Mapping[str, str]) -> str:
    """``k=v, k2=v2``, without the SDK's own bookkeeping tags; ``-`` when none."""
    shown = [f"{k}={v}" for k, v in tags.items() if k not in _SDK_TAGS]
    return ", ".join(shown) or "-"


def _flags(instance: Any) -> str:
    flags = [name for name in ("preemptible", "ephemeral") if getattr(instance, name, False)]
    return ", ".join(flags) or "-"


def instance_table(instances: Sequence[Instance]) -> ListingTable:
    rows: List[List[Cell]] = [
        [
            i.id,
            i.name,
            status_text(i.state),
            i.type,
            i.ip or "-",
            _flags(i),
            tags_text(i.tags),
        ]
        for i in instances
    ]
    return simple_table(["ID", "NAME", "STATE", "TYPE", "IP", "FLAGS", "TAGS"], rows)


def global_instance_table(instances: Sequence[GlobalInstance]) -> ListingTable:
    rows: List[List[Cell]] = [
        [
            i.id,
            i.name,
            status_text(i.state),
            i.type,
            i.region or "-",
            i.project_id or "-",
            i.ip or "-",
            status_text(i.health) if i.health is not None else "-",
        ]
        for i in instances
    ]
    return simple_table(["ID", "NAME", "STATE", "TYPE", "REGION", "PROJECT", "IP", "HEALTH"], rows)


def instance_detail(instance: Instance) -> Table:
    user_data = instance.user_data_bytes
    rows: List[Tuple[str, Cell]] = [
        ("ID", instance.id),
        ("Name", instance.name),
        ("State", status_text(instance.state)),
        ("Type", instance.type),
        ("Region", instance.region or "-"),
        ("IP address", instance.ip or "-"),
        ("Image", instance.image or "-"),
        ("Flags", _flags(instance)),
        ("Tags", tags_text(instance.tags)),
        ("Filesystems", ", ".join(instance.filesystems) or "-"),
        (
            "User data",
            "-"
            if user_data is None
            else f"{len(user_data)} bytes"
            + (" (#cloud-config)" if user_data.startswith(b"#cloud-config") else ""),
        ),
    ]
    return key_value_table(rows)


def instance_types_table(
    kinds: Sequence[InstanceType],
    regions: Sequence[str],
    offered: Mapping[str, Sequence[str]],
    available: Callable[[str, str], Optional[int]],
) -> ListingTable:
    """One row per type, with each region's capacity side by side: ``-`` where the region
    does not offer the type, ``?`` where its capacity could not be read."""
    rows: List[List[Cell]] = []
    for kind in kinds:
        gpu = f"{kind.gpu_count}x {kind.gpu_model}" if kind.gpu_count else "-"
        cells: List[Cell] = [kind.name, str(kind.cpu), kind.memory, gpu]
        for region in regions:
            if kind.name not in offered[region]:
                cells.append("-")
            else:
                count = available(region, kind.name)
                cells.append("?" if count is None else str(count))
        rows.append(cells)
    table = simple_table(["TYPE", "CPUS", "MEMORY", "GPU", *regions], rows)
    for column in table.columns[4:]:
        column.justify = "right"
    return table


# -- Kubernetes and Slurm clusters ----------------------------------------------------------


def _login_nodes(cluster: Any) -> str:
    """``login-01 (203.0.113.7)``, one per login node; ``-`` for none."""
    nodes = getattr(cluster, "login_nodes", [])
    return ", ".join(f"{n.name} ({n.public_ip or 'no address yet'})" for n in nodes) or "-"


def cluster_table(clusters: Sequence[Cluster], kind: str) -> ListingTable:
    """Kubernetes clusters with their API endpoint; Slurm clusters with their login nodes."""
    last = "ENDPOINT" if kind == "kubernetes" else "LOGIN NODES"
    rows: List[List[Cell]] = [
        [
            c.id,
            c.name,
            c.version or "-",
            (getattr(c, "endpoint", None) or "-") if kind == "kubernetes" else _login_nodes(c),
        ]
        for c in clusters
    ]
    return simple_table(["ID", "NAME", "VERSION", last], rows)


def cluster_detail(cluster: Cluster, kind: str) -> Table:
    rows: List[Tuple[str, Cell]] = [
        ("ID", cluster.id),
        ("Name", cluster.name),
        ("Version", cluster.version or "-"),
    ]
    if kind == "kubernetes":
        rows.append(("Endpoint", getattr(cluster, "endpoint", None) or "-"))
    else:
        rows.append(("Login nodes", _login_nodes(cluster)))
    return key_value_table(rows)


def _readiness(pool: NodePool) -> Styled:
    """``2/3 ready``: green when the pool is ready, yellow while it is not."""
    wanted = len(pool.nodes) if pool.count is None else pool.count
    return Styled(f"{pool.ready_nodes}/{wanted} ready", "green" if pool.ready else "yellow")


def node_pool_table(
    pools: Sequence[NodePool], kind: str, clusters: Optional[Mapping[str, str]] = None
) -> ListingTable:
    """One row per pool; ``clusters`` (pool id -> cluster id) adds a CLUSTER column."""
    rows: List[List[Cell]] = []
    for pool in pools:
        row: List[Cell] = [pool.id, pool.name, pool.type, _readiness(pool)]
        if kind == "kubernetes":
            row.append(getattr(pool, "version", None) or "-")
        rows.append(row if clusters is None else [clusters[pool.id], *row])
    headers = ["ID", "NAME", "TYPE", "NODES"] + (["VERSION"] if kind == "kubernetes" else [])
    return simple_table(headers if clusters is None else ["CLUSTER", *headers], rows)


def _node_state(node: Any) -> Cell:
    # Kubernetes: ready, not_ready, unknown; Slurm: its states, e.g. DOWN+NOT_RESPONDING.
    kubernetes = hasattr(node, "state")
    value = str(node.state) if kubernetes else "+".join(node.states) or "-"
    return Styled(value, "green" if node.ready else "yellow")


def node_pool_detail(pool: NodePool, kind: str, cluster: str) -> Group:
    """The pool's fields, then one row per node with why it is not ready."""
    rows: List[Tuple[str, Cell]] = [
        ("ID", pool.id),
        ("Name", pool.name),
        ("Cluster", cluster),
        ("Type", pool.type),
        ("Nodes", _readiness(pool)),
    ]
    if kind == "kubernetes":
        rows.append(("Version", getattr(pool, "version", None) or "-"))
    nodes: List[List[Cell]] = [
        [n.name, n.instance_id, _node_state(n), n.reason or "-"] for n in pool.nodes
    ]
    from rich.console import Group

    parts: List[Any] = [key_value_table(rows)]
    if nodes:
        parts += ["", simple_table(["NODE", "INSTANCE", "STATE", "REASON"], nodes)]
    return Group(*parts)
