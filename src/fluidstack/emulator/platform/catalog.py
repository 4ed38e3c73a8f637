"""The emulated offer: GPU configurations, prices, regions, capacity, OS templates.

Built from ``spec/catalog-observed.csv`` (what the real service reported to a public
catalog) plus a plausible spread over more of the spec's GPU types and regions.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from importlib import resources
from typing import Dict, List, Optional, Tuple

__all__ = [
    "GPU_TYPES",
    "OS_TEMPLATES",
    "REGIONS",
    "Catalog",
    "Offer",
    "Shape",
    "load_catalog",
]

GPU_TYPES: Tuple[str, ...] = (
    "RTX_A4000_16GB",
    "RTX_A6000_48GB",
    "RTX_A5000_24GB",
    "TESLA_V100_16GB",
    "A100_PCIE_80GB",
    "A40_48GB",
    "A30_24GB",
    "A100_SXM4_80GB",
    "A10_PCIE_24GB",
    "A100_SXM4_40GB",
    "A100_PCIE_40GB",
    "A100_NVLINK_80GB",
    "A100_NVLINK_40GB",
    "H100_SXM5_80GB",
    "H100_SXM4_80GB",
    "A10_24GB",
    "RTX_6000_24GB",
    "H100_PCIE_80GB",
    "H100_NVLINK_80GB",
    "RTX_A6000_ADA_48GB",
    "L40_48GB",
    "L40S_48GB",
    "L4_24GB",
    "T4_16GB",
    "RTX_4090_24GB",
)
"""The ``GPUType`` enumeration of openapi.json."""

REGIONS: Tuple[str, ...] = (
    "NORWAY",
    "FINLAND",
    "CANADA",
    "SWEDEN",
    "NETHERLANDS",
    "TEXAS_USA",
    "CALIFORNIA_USA",
    "ARIZONA_USA",
    "VIRGINIA_USA",
    "ILLINOIS_USA",
    "JAPAN",
    "UTAH_USA",
    "WASHINGTON_USA",
    "GERMANY",
    "INDIA",
    "ISRAEL",
    "LUXEMBOURG",
    "ICELAND",
    "NORTH_DAKOTA_USA",
)
"""The ``Region`` enumeration of openapi.json."""

OS_TEMPLATES: Tuple[Dict[str, str], ...] = (
    {
        "name": "Ubuntu 20.04 LTS (Nvidia)",
        "description": "Ubuntu 20.04 LTS with Nvidia/CUDA 12 drivers preinstalled",
        "label": "ubuntu_20_04_lts_nvidia",
    },
    {
        "name": "Ubuntu 22.04 LTS (Nvidia)",
        "description": "Ubuntu 22.04 LTS with Nvidia/CUDA 12 drivers preinstalled",
        "label": "ubuntu_22_04_lts_nvidia",
    },
)
"""``GET /list_available_os_templates``: both ``SupportedOperatingSystem`` values."""

OS_LABELS: Tuple[str, ...] = tuple(t["label"] for t in OS_TEMPLATES)


@dataclass(frozen=True)
class Shape:
    """The machine behind one (GPU type, GPU count)."""

    cpu_count: int
    memory_size_gb: float
    nvme_storage_size_gb: int


@dataclass
class Offer:
    """One entry of ``list_available_configurations``: a GPU type and where it is sold."""

    gpu_type: str
    gpu_memory_gb: int
    gpu_counts: List[int]
    price_per_gpu_hr: float
    stopped_price_per_hour: float
    """Per GPU and hour while stopped (the bill of a stopped instance is this x gpu_count)."""
    provisioning_minutes: int
    regions: List[str]
    shapes: Dict[int, Shape]
    capacity_per_region: int
    """GPUs of this type in each region, in use ones included."""


# Additional offer, invented but in the spirit of the observed one: gpu type ->
# (memory GB, counts, price per GPU-hour, provisioning minutes, regions, capacity per region).
_EXTRA: Tuple[Tuple[str, int, Tuple[int, ...], float, int, Tuple[str, ...], int], ...] = (
    ("RTX_A4000_16GB", 16, (1, 2, 4, 8), 0.30, 5, ("NORWAY", "SWEDEN"), 64),
    ("RTX_A5000_24GB", 24, (1, 2, 4, 8), 0.40, 5, ("NORWAY", "ICELAND"), 64),
    ("RTX_A6000_48GB", 48, (1, 2, 4, 8), 0.80, 5, ("NORWAY", "SWEDEN", "NETHERLANDS"), 48),
    ("A40_48GB", 48, (1, 2, 4, 8), 0.60, 5, ("NORWAY",), 32),
    ("A10_PCIE_24GB", 24, (1, 2, 4), 0.35, 4, ("ILLINOIS_USA", "VIRGINIA_USA"), 32),
    ("A100_PCIE_40GB", 40, (1, 2, 4, 8), 1.20, 8, ("VIRGINIA_USA", "TEXAS_USA"), 32),
    ("A100_SXM4_80GB", 80, (8,), 2.10, 10, ("ICELAND", "TEXAS_USA"), 32),
    ("H100_SXM5_80GB", 80, (8,), 3.50, 12, ("TEXAS_USA", "FINLAND"), 32),
    ("RTX_A6000_ADA_48GB", 48, (1, 2, 4, 8), 1.00, 5, ("CALIFORNIA_USA",), 32),
    ("L40S_48GB", 48, (1, 2, 4, 8), 1.40, 6, ("CANADA", "GERMANY"), 32),
    ("L4_24GB", 24, (1, 2, 4, 8), 0.45, 4, ("NETHERLANDS", "JAPAN"), 32),
    ("RTX_4090_24GB", 24, (1, 2, 4, 8), 0.50, 4, ("SWEDEN", "WASHINGTON_USA"), 48),
)

# Observed GPU types: memory GB, provisioning minutes, capacity per region.
_OBSERVED_META: Dict[str, Tuple[int, int, int]] = {
    "H100_PCIE_80GB": (80, 8, 16),
    "L40_48GB": (48, 5, 32),
    "A100_PCIE_80GB": (80, 7, 32),
    "H100_NVLINK_80GB": (80, 15, 16),
}


def _price_text(value: float) -> str:
    text = f"{value:.4f}".rstrip("0").rstrip(".")
    return text or "0"


def _stopped_price(price_per_gpu_hr: float) -> float:
    # Storage keeps costing while stopped: a small fraction of the running price.
    return round(max(0.01, price_per_gpu_hr * 0.05), 4)


def _synthetic_shape(gpu_count: int, gpu_memory_gb: int) -> Shape:
    per_gpu_cpu = 16 if gpu_memory_gb < 48 else 31
    return Shape(
        cpu_count=max(4, per_gpu_cpu * gpu_count - (4 if gpu_count > 1 else 0)),
        memory_size_gb=float(max(30, (gpu_memory_gb + 30) * gpu_count)),
        nvme_storage_size_gb=250 * gpu_count,
    )


class Catalog:
    """Offers by GPU type, and the capacity (GPUs) of each (GPU type, region)."""

    def __init__(self, offers: List[Offer]) -> None:
        self.offers: Dict[str, Offer] = {o.gpu_type: o for o in offers}
        self.default_capacity: Dict[Tuple[str, str], int] = {
            (o.gpu_type, r): o.capacity_per_region for o in offers for r in o.regions
        }

    def offer(self, gpu_type: str) -> Optional[Offer]:
        return self.offers.get(gpu_type)

    def configurations(self) -> List[Dict[str, object]]:
        """The ``ConfigurationResponse`` list, with string prices."""
        return [
            {
                "gpu_type": o.gpu_type,
                "gpu_counts": list(o.gpu_counts),
                "price_per_gpu_hr": _price_text(o.price_per_gpu_hr),
                "stopped_price_per_hour": _price_text(o.stopped_price_per_hour),
                "estimated_provisioning_time_minutes": o.provisioning_minutes,
                "regions": list(o.regions),
            }
            for o in self.offers.values()
        ]


def _read_observed() -> List[Dict[str, str]]:
    text = (
        resources.files("fluidstack.emulator.platform")
        .joinpath("spec/catalog-observed.csv")
        .read_text(encoding="utf-8")
    )
    return list(csv.DictReader(io.StringIO(text)))


def load_catalog() -> Catalog:
    """Build the catalog: the observed rows first, then the invented spread."""
    observed: Dict[str, Offer] = {}
    for row in _read_observed():
        gpu_type, _, count_text = row["InstanceType"].partition("::")
        count = int(count_text)
        region = row["Region"]
        memory_gb, minutes, capacity = _OBSERVED_META.get(gpu_type, (48, 5, 32))
        price = round(float(row["Price"]) / count, 4)
        offer = observed.get(gpu_type)
        if offer is None:
            offer = Offer(
                gpu_type=gpu_type,
                gpu_memory_gb=memory_gb,
                gpu_counts=[],
                price_per_gpu_hr=price,
                stopped_price_per_hour=_stopped_price(price),
                provisioning_minutes=minutes,
                regions=[],
                shapes={},
                capacity_per_region=capacity,
            )
            observed[gpu_type] = offer
        if count not in offer.gpu_counts:
            offer.gpu_counts.append(count)
        if region not in offer.regions:
            offer.regions.append(region)
        offer.shapes[count] = Shape(
            cpu_count=int(row["vCPUs"]),
            memory_size_gb=float(row["MemoryGiB"]),
            nvme_storage_size_gb=250 * count,
        )
    offers = list(observed.values())
    for gpu_type, memory_gb, counts, price, minutes, regions, capacity in _EXTRA:
        if gpu_type in observed:
            continue
        offers.append(
            Offer(
                gpu_type=gpu_type,
                gpu_memory_gb=memory_gb,
                gpu_counts=list(counts),
                price_per_gpu_hr=price,
                stopped_price_per_hour=_stopped_price(price),
                provisioning_minutes=minutes,
                regions=list(regions),
                shapes={c: _synthetic_shape(c, memory_gb) for c in counts},
                capacity_per_region=capacity,
            )
        )
    for offer in offers:
        offer.gpu_counts.sort()
    return Catalog(offers)
