"""Tables of Atlas objects. Imported only when a table is printed."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable, List, Mapping, Optional, Sequence, Tuple

from rich.table import Table

from ..render import Cell, key_value_table, simple_table, status_text

if TYPE_CHECKING:
    from fluidstack.atlas import GlobalInstance, Instance, InstanceType

__all__ = [
    "global_instance_table",
    "instance_detail",
    "instance_table",
    "instance_types_table",
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


def instance_table(instances: Sequence[Instance]) -> Table:
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


def global_instance_table(instances: Sequence[GlobalInstance]) -> Table:
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
) -> Table:
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
