"""What ``instances.launch(..., dry_run=True)`` returns: the ordered plan."""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Iterator, List, Optional

from .enums import GPUType, Region

__all__ = ["LaunchOption", "LaunchPlan"]


@dataclass(frozen=True)
class LaunchOption:
    """One way to satisfy a launch: a GPU type and count in a region, and its price."""

    gpu_type: GPUType
    gpu_count: int
    region: Region
    price_per_gpu_hour: Decimal
    """USD per GPU per hour while running."""
    price_per_hour: Decimal
    """USD per hour for the whole instance while running."""


@dataclass(frozen=True)
class LaunchPlan:
    """Options in the order a launch tries them: cheapest first."""

    options: List[LaunchOption] = field(default_factory=list)

    @property
    def cheapest(self) -> Optional[LaunchOption]:
        return self.options[0] if self.options else None

    def __iter__(self) -> Iterator[LaunchOption]:
        return iter(self.options)

    def __len__(self) -> int:
        return len(self.options)
