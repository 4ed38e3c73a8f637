"""Enumerations of the FluidStack API. All of them accept values they do not list."""

from __future__ import annotations

from ...core.models import OpenEnum

__all__ = [
    "GPUType",
    "GpuType",
    "InstanceStatus",
    "InstanceTerm",
    "Region",
    "SupportedOperatingSystem",
    "VolumeStatus",
]


class GPUType(OpenEnum):
    """GPU models offered by FluidStack."""

    RTX_A4000_16GB = "RTX_A4000_16GB"
    RTX_A6000_48GB = "RTX_A6000_48GB"
    RTX_A5000_24GB = "RTX_A5000_24GB"
    TESLA_V100_16GB = "TESLA_V100_16GB"
    A100_PCIE_80GB = "A100_PCIE_80GB"
    A40_48GB = "A40_48GB"
    A30_24GB = "A30_24GB"
    A100_SXM4_80GB = "A100_SXM4_80GB"
    A10_PCIE_24GB = "A10_PCIE_24GB"
    A100_SXM4_40GB = "A100_SXM4_40GB"
    A100_PCIE_40GB = "A100_PCIE_40GB"
    A100_NVLINK_80GB = "A100_NVLINK_80GB"
    A100_NVLINK_40GB = "A100_NVLINK_40GB"
    H100_SXM5_80GB = "H100_SXM5_80GB"
    H100_SXM4_80GB = "H100_SXM4_80GB"
    A10_24GB = "A10_24GB"
    RTX_6000_24GB = "RTX_6000_24GB"
    H100_PCIE_80GB = "H100_PCIE_80GB"
    H100_NVLINK_80GB = "H100_NVLINK_80GB"
    RTX_A6000_ADA_48GB = "RTX_A6000_ADA_48GB"
    L40_48GB = "L40_48GB"
    L40S_48GB = "L40S_48GB"
    L4_24GB = "L4_24GB"
    T4_16GB = "T4_16GB"
    RTX_4090_24GB = "RTX_4090_24GB"


GpuType = GPUType
"""Alias of :class:`GPUType`."""


class Region(OpenEnum):
    """Regions FluidStack runs instances in."""

    NORWAY = "NORWAY"
    FINLAND = "FINLAND"
    CANADA = "CANADA"
    SWEDEN = "SWEDEN"
    NETHERLANDS = "NETHERLANDS"
    TEXAS_USA = "TEXAS_USA"
    CALIFORNIA_USA = "CALIFORNIA_USA"
    ARIZONA_USA = "ARIZONA_USA"
    VIRGINIA_USA = "VIRGINIA_USA"
    ILLINOIS_USA = "ILLINOIS_USA"
    JAPAN = "JAPAN"
    UTAH_USA = "UTAH_USA"
    WASHINGTON_USA = "WASHINGTON_USA"
    GERMANY = "GERMANY"
    INDIA = "INDIA"
    ISRAEL = "ISRAEL"
    LUXEMBOURG = "LUXEMBOURG"
    ICELAND = "ICELAND"
    NORTH_DAKOTA_USA = "NORTH_DAKOTA_USA"


class InstanceStatus(OpenEnum):
    """Where an instance is in its lifecycle.

    ``pending`` → ``provisioning`` → ``running``; ``stopping`` → ``stopped``;
    ``starting`` → ``running``; ``terminated`` after a delete; ``failed`` if
    provisioning did not succeed. ``unhealthy`` (a running instance whose host has a
    problem; it may recover) and ``shutting_down`` (on its way to ``terminated``) come
    from the API's 2024-06-03 definition.
    """

    RUNNING = "running"
    STARTING = "starting"
    PENDING = "pending"
    FAILED = "failed"
    TERMINATED = "terminated"
    STOPPED = "stopped"
    STOPPING = "stopping"
    PROVISIONING = "provisioning"
    UNHEALTHY = "unhealthy"
    SHUTTING_DOWN = "shutting_down"


class SupportedOperatingSystem(OpenEnum):
    """Operating-system images an instance can be created with."""

    UBUNTU_20_04_LTS_NVIDIA = "ubuntu_20_04_lts_nvidia"
    UBUNTU_22_04_LTS_NVIDIA = "ubuntu_22_04_lts_nvidia"


class VolumeStatus(OpenEnum):
    """State of a storage volume."""

    CREATING = "creating"
    ATTACHED = "attached"
    ATTACHING = "attaching"
    READY = "ready"
    UNKNOWN = "unknown"
    ERROR = "error"
    DELETED = "deleted"


class InstanceTerm(OpenEnum):
    """Commitment term of an instance (older API versions)."""

    HOURLY = "hourly"
    WEEKLY = "weekly"
    MONTHLY = "monthly"
    QUARTERLY = "quarterly"
    SIX_MONTHLY = "six_monthly"
    YEARLY = "yearly"
