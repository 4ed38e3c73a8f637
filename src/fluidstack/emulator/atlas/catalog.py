"""What each emulated Atlas region offers: instance types, capacity, capabilities.

The two default regions differ on purpose (other types, other capacity) so that a test
can run one of them out of stock while the other still has room. Any other region name
given with ``--atlas-regions`` gets one of the two offers, alternating.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Dict, List, Optional, Tuple

from fluidstack.emulator.atlas.capabilities import CAPABILITIES

__all__ = [
    "DEFAULT_CAPABILITIES",
    "DEFAULT_REGIONS",
    "KNOWN_CAPABILITIES",
    "InstanceType",
    "RegionOffer",
    "region_offer",
]

DEFAULT_REGIONS: Tuple[str, ...] = ("eu-north-1", "us-east-1")
DEFAULT_CAPABILITIES: Tuple[str, ...] = CAPABILITIES
"""Every region offers all 31 capabilities of the Infrastructure API unless some are
withheld (the control API), e.g. to test 501 handling."""
KNOWN_CAPABILITIES = DEFAULT_CAPABILITIES


@dataclass(frozen=True)
class InstanceType:
    name: str
    cpu: int
    memory: str
    gpu_count: Optional[int] = None
    gpu_model: Optional[str] = None

    def view(self) -> Dict[str, object]:
        """``InstanceType`` as the Infrastructure API spells it (``gpuModel``,
        ``gpuCount``; the older Go client's ``gpu_model``/``gpu_count`` are not sent, as
        the real API no longer sends them). CPU types carry no GPU fields at all."""
        data: Dict[str, object] = {"name": self.name, "cpu": self.cpu, "memory": self.memory}
        if self.gpu_count is not None:
            data["gpuModel"] = self.gpu_model
            data["gpuCount"] = self.gpu_count
        return data


@dataclass(frozen=True)
class RegionOffer:
    types: Tuple[InstanceType, ...]
    capacity: Tuple[Tuple[str, int], ...]
    """Instances of each type the region can hold at once (in use ones included)."""

    def default_capacity(self) -> Dict[str, int]:
        return dict(self.capacity)


CPU_2X = InstanceType("cpu.2x", 2, "8Gi")
CPU_8X = InstanceType("cpu.8x", 8, "32Gi")
H100_8X = InstanceType("h100-hgx-80gb.8x", 208, "1Ti", 8, "H100-HGX-80GB")
H200_8X = InstanceType("h200-hgx-141gb.8x", 224, "2Ti", 8, "H200-HGX-141GB")
A100_8X = InstanceType("a100-sxm4-80gb.8x", 96, "1Ti", 8, "A100-SXM4-80GB")

_EUROPE = RegionOffer(
    types=(CPU_2X, CPU_8X, H100_8X),
    capacity=(("cpu.2x", 64), ("cpu.8x", 32), ("h100-hgx-80gb.8x", 4)),
)
_AMERICA = RegionOffer(
    types=(CPU_2X, CPU_8X, H100_8X, H200_8X, A100_8X),
    capacity=(
        ("cpu.2x", 128),
        ("cpu.8x", 16),
        ("h100-hgx-80gb.8x", 2),
        ("h200-hgx-141gb.8x", 8),
        ("a100-sxm4-80gb.8x", 6),
    ),
)
_OFFERS: List[RegionOffer] = [_EUROPE, _AMERICA]


def region_offer(name: str, index: int) -> RegionOffer:
    """The offer of region ``name``, the ``index``-th one configured."""
    if name == "eu-north-1":
        return _EUROPE
    if name == "us-east-1":
        return _AMERICA
    return _OFFERS[index % len(_OFFERS)]
