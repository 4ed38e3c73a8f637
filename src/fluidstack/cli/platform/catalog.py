"""``fluidstack configurations`` and ``fluidstack templates``: what you can rent."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Dict, List, Optional, Sequence, Tuple

import click

from ..state import AliasedGroup, CliState, output_options, pass_state
from .completion import complete_gpu_types, complete_regions

if TYPE_CHECKING:
    from decimal import Decimal

    from fluidstack.platform.types.instances import ConfigurationResponse

__all__ = ["Offer", "configurations", "offers", "templates"]


@dataclass(frozen=True)
class Offer:
    """One row of ``configurations list``: a GPU type at one GPU count."""

    gpu_type: str
    gpu_count: int
    price_per_gpu_hour: Decimal
    price_per_hour: Decimal
    stopped_price_per_gpu_hour: Decimal
    stopped_price_per_hour: Decimal
    """The whole configuration's, stopped (the API's field of that name is per GPU)."""
    regions: Tuple[str, ...]
    estimated_provisioning_time_minutes: int

    def as_json(self) -> Dict[str, Any]:
        return {
            "gpu_type": self.gpu_type,
            "gpu_count": self.gpu_count,
            "price_per_gpu_hour": _number(self.price_per_gpu_hour),
            "price_per_hour": _number(self.price_per_hour),
            "stopped_price_per_gpu_hour": _number(self.stopped_price_per_gpu_hour),
            "stopped_price_per_hour": _number(self.stopped_price_per_hour),
            "regions": list(self.regions),
            "estimated_provisioning_time_minutes": self.estimated_provisioning_time_minutes,
        }


def offers(
    configs: Sequence[ConfigurationResponse],
    *,
    gpu_type: Optional[str] = None,
    regions: Sequence[str] = (),
    min_gpus: Optional[int] = None,
    max_price: Optional[float] = None,
) -> List[Offer]:
    """Expand configurations into one offer per GPU count, filter, sort cheapest first.

    ``gpu_type`` matches case-insensitively anywhere in the name (``h100`` finds every
    H100); ``regions`` keeps offers available in any of them and lists only those;
    ``max_price`` bounds the price per hour of the whole configuration.
    """
    from decimal import Decimal

    wanted_regions = {r.upper() for r in regions}
    found: List[Offer] = []
    for config in configs:
        name = str(config.gpu_type)
        if gpu_type and gpu_type.lower() not in name.lower():
            continue
        available = tuple(str(r) for r in config.regions)
        if wanted_regions:
            available = tuple(r for r in available if r.upper() in wanted_regions)
            if not available:
                continue
        per_gpu = config.price_per_gpu_hour
        if per_gpu.is_nan():
            continue
        for count in sorted(set(config.gpu_counts)):
            if min_gpus is not None and count < min_gpus:
                continue
            total = config.price_per_hour(count)
            if max_price is not None and total > Decimal(str(max_price)):
                continue
            found.append(
                Offer(
                    gpu_type=name,
                    gpu_count=count,
                    price_per_gpu_hour=per_gpu,
                    price_per_hour=total,
                    stopped_price_per_gpu_hour=config.stopped_price_per_hour,
                    stopped_price_per_hour=config.stopped_price(count),
                    regions=available,
                    estimated_provisioning_time_minutes=config.estimated_provisioning_time_minutes,
                )
            )
    found.sort(key=lambda o: (o.price_per_hour, o.price_per_gpu_hour, o.gpu_type, o.gpu_count))
    return found


@click.group(cls=AliasedGroup)
def configurations() -> None:
    """The GPU configurations you can create, with prices."""


@configurations.command("list")
@click.option(
    "--gpu-type",
    metavar="TYPE",
    shell_complete=complete_gpu_types,
    help="Only GPU types containing TYPE (case-insensitive, e.g. H100).",
)
@click.option(
    "--region",
    "regions",
    multiple=True,
    metavar="REGION",
    shell_complete=complete_regions,
    help="Only configurations offered in REGION (repeatable).",
)
@click.option("--min-gpus", type=click.IntRange(min=1), metavar="N", help="At least N GPUs.")
@click.option(
    "--max-price",
    type=click.FloatRange(min=0),
    metavar="USD",
    help="At most this price per hour for the whole configuration.",
)
@output_options
@pass_state
def list_configurations(
    state: CliState,
    gpu_type: Optional[str],
    regions: Tuple[str, ...],
    min_gpus: Optional[int],
    max_price: Optional[float],
) -> None:
    """List configurations, cheapest first, with the price per GPU-hour and per hour."""
    rows = offers(
        state.client.configurations.list(),
        gpu_type=gpu_type,
        regions=regions,
        min_gpus=min_gpus,
        max_price=max_price,
    )
    if not rows and state.output == "table":
        state.info("No configuration matches these filters.")
        return

    def table() -> Any:
        from ..render import money, simple_table

        return simple_table(
            ["GPU TYPE", "GPUS", "$/GPU-HOUR", "$/HOUR", "$/HOUR STOPPED", "REGIONS"],
            [
                [
                    o.gpu_type,
                    str(o.gpu_count),
                    money(o.price_per_gpu_hour),
                    money(o.price_per_hour),
                    money(o.stopped_price_per_hour),
                    ", ".join(o.regions) or "-",
                ]
                for o in rows
            ],
        )

    state.emit(
        [o.as_json() for o in rows],
        table=table,
        ids=[f"{o.gpu_type}:{o.gpu_count}" for o in rows],
    )


def _number(value: Decimal) -> Optional[float]:
    """A price for JSON output: a number, or ``null`` when the server sent none."""
    return None if value.is_nan() else float(value)


@click.group(cls=AliasedGroup)
def templates() -> None:
    """Operating-system templates for new instances."""


@templates.command("list")
@output_options
@pass_state
def list_templates(state: CliState) -> None:
    """List the operating systems instances can be created with (pass LABEL to --os)."""
    found = state.client.templates.list()

    def table() -> Any:
        from ..render import simple_table

        return simple_table(
            ["LABEL", "NAME", "DESCRIPTION"],
            [[str(t.label), t.name, t.description or "-"] for t in found],
        )

    state.emit(found, table=table, ids=[str(t.label) for t in found])
