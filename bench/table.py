"""The benchmark table's shape: how many samples each row takes (``Counts``), one row's
medians and verdict (``Row``), and the Markdown table ``bench/run.py`` prints.

Shared by the modules that measure (``client_rows.py``, ``emulator_rows.py``) and by
``run.py``, which puts their rows in order.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional

MIB = 1024 * 1024
X = "\u00d7"  # the multiplication sign, in the table


@dataclass(frozen=True)
class Counts:
    """How many samples each row takes: the full run's counts (``QUICK``: the smoke
    test's tiny ones; ``--scale`` replaces ``scale_instances``)."""

    imports: int = 15
    instances: int = 50
    list_rounds: int = 10
    list_calls: int = 20
    get_rounds: int = 10
    get_calls: int = 50
    async_rounds: int = 5
    async_total: int = 1000
    async_concurrency: int = 50
    parse_items: int = 10_000
    parse_rounds: int = 3
    parse_reps: int = 3
    parse_mem_runs: int = 2
    cli_runs: int = 12
    emulator_requests: int = 3000
    instr_calls: int = 50
    scale_instances: int = 100_000
    scale_small: int = 1_000
    scale_rounds: int = 6
    scale_creates: int = 100
    scale_pages: int = 100
    scale_walks: int = 3
    framework_requests: int = 500


QUICK = Counts(
    imports=2,
    instances=50,
    list_rounds=1,
    list_calls=3,
    get_rounds=1,
    get_calls=5,
    async_rounds=1,
    async_total=60,
    async_concurrency=10,
    parse_items=300,
    parse_rounds=1,
    parse_reps=1,
    parse_mem_runs=1,
    cli_runs=1,
    emulator_requests=100,
    scale_instances=2_000,
    scale_small=100,
    scale_rounds=2,
    scale_creates=20,
    scale_pages=20,
    scale_walks=1,
    framework_requests=50,
)


@dataclass
class Row:
    """One line of the table. Values are medians; ``None`` means not measured."""

    figure: str
    unit: str  # "ms", "req/s"
    target: str
    ours: Optional[float] = None
    floor: Optional[float] = None
    vendor: Optional[float] = None
    ours_text: str = ""
    floor_text: str = ""
    vendor_text: str = ""
    higher_is_better: bool = False
    met: Optional[bool] = None
    notes: List[str] = field(default_factory=list)
    samples: Dict[str, Any] = field(default_factory=dict)

    @property
    def ratio(self) -> Optional[float]:
        """ours / floor (times), or ours / floor throughput."""
        if self.ours is None or not self.floor:
            return None
        return self.ours / self.floor

    @property
    def vendor_ratio(self) -> Optional[float]:
        """How many times faster than the vendor ours is (>1: faster)."""
        if self.ours is None or self.vendor is None or not self.ours:
            return None
        return self.ours / self.vendor if self.higher_is_better else self.vendor / self.ours


def fmt(value: Optional[float], unit: str) -> str:
    if value is None:
        return "n/a"
    if unit == "ms":
        ms = value * 1000
        return f"{ms:.3g} ms" if ms < 100 else f"{ms:.0f} ms"
    if unit == "req/s":
        return f"{value:,.0f} req/s"
    return f"{value:.3g} {unit}"


def cell(row: Row, who: str) -> str:
    text = getattr(row, f"{who}_text")
    if text:
        return str(text)
    return fmt(getattr(row, who), row.unit)


def ratio_text(row: Row) -> str:
    ratio = row.ratio
    if ratio is None:
        return "—"
    return f"{ratio:.2f}{X}"


def vendor_ratio_text(row: Row) -> str:
    ratio = row.vendor_ratio
    if ratio is None:
        return "—"
    return f"{ratio:.2f}{X}"


def verdict(row: Row) -> str:
    if row.met is None:
        return "—"
    return "met" if row.met else "**missed**"


def table(rows: List[Row]) -> str:
    head = [
        "figure",
        "ours",
        "floor (same run)",
        "vendor 0.0.8 (same run)",
        "ours / floor",
        "ours faster than 0.0.8",
        "target",
        "status",
    ]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for row in rows:
        cells = [
            row.figure,
            cell(row, "ours"),
            cell(row, "floor"),
            cell(row, "vendor"),
            ratio_text(row),
            vendor_ratio_text(row),
            row.target,
            verdict(row),
        ]
        lines.append("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")
    return "\n".join(lines)
