"""Smart launch: choosing where to create an instance, cheapest first."""

from __future__ import annotations

from decimal import Decimal
from typing import Iterable, List, Optional, Sequence, Type, Union

from ..core.errors import ApiError, BadRequestError, ConflictError
from .types.enums import GPUType, Region
from .types.instances import ConfigurationResponse
from .types.launch import LaunchOption, LaunchPlan

__all__ = ["is_out_of_stock", "plan_launch"]

_STOCK_WORDS = ("stock", "capacity", "unavailable", "not available", "no available")


def _names(
    value: Union[str, Iterable[str], None], kind: Union[Type[GPUType], Type[Region]]
) -> Optional[List[str]]:
    """The names asked for, spelled as the API spells them (any case is accepted)."""
    if value is None:
        return None
    items = [value] if isinstance(value, str) else list(value)
    items = [str(kind.canonical(v)) for v in items]
    if not items:
        raise ValueError("an empty list matches nothing; pass None for any")
    return items


def plan_launch(
    configurations: Sequence[ConfigurationResponse],
    *,
    gpu_type: Union[GPUType, str, Sequence[Union[GPUType, str]], None],
    gpu_count: int,
    regions: Union[Region, str, Sequence[Union[Region, str]], None],
    max_price_per_hour: Union[float, Decimal, str, None],
) -> LaunchPlan:
    """Every (GPU type, region) offering ``gpu_count`` GPUs within budget, cheapest first.

    Ties keep the order of ``regions`` (your preference), then of ``gpu_type``.
    """
    if isinstance(gpu_count, bool) or gpu_count < 1:
        raise ValueError("gpu_count must be a positive integer")
    types = _names(gpu_type, GPUType)
    wanted_regions = _names(regions, Region)
    budget = None if max_price_per_hour is None else Decimal(str(max_price_per_hour))
    options = []
    for config in configurations:
        if types is not None and str(config.gpu_type) not in types:
            continue
        if gpu_count not in config.gpu_counts:
            continue
        per_gpu = config.price_per_gpu_hour
        if per_gpu.is_nan():
            continue
        total = per_gpu * gpu_count
        if budget is not None and total > budget:
            continue
        for region in config.regions:
            if wanted_regions is not None and str(region) not in wanted_regions:
                continue
            options.append(LaunchOption(config.gpu_type, gpu_count, region, per_gpu, total))

    def rank(option: LaunchOption) -> tuple[Decimal, int, int]:
        region_rank = wanted_regions.index(str(option.region)) if wanted_regions else 0
        type_rank = types.index(str(option.gpu_type)) if types else 0
        return (option.price_per_hour, region_rank, type_rank)

    options.sort(key=rank)
    return LaunchPlan(options)


def is_out_of_stock(error: ApiError) -> bool:
    """Whether a create failed only because that region has no capacity right now."""
    if isinstance(error, ConflictError):
        return True
    if isinstance(error, BadRequestError):
        text = str(error).lower()
        return any(word in text for word in _STOCK_WORDS)
    return False
