"""Models of instances and their configurations."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any, List, Optional, Union

from pydantic import AfterValidator, AllowInfNan, Field, PlainSerializer
from typing_extensions import Annotated

from ...core.models import FluidStackModel
from .enums import GPUType, InstanceStatus, Region, SupportedOperatingSystem, VolumeStatus

__all__ = [
    "ConfigurationInstanceResponse",
    "ConfigurationResponse",
    "CreateInstanceResponse",
    "EntityId",
    "GPUModelResponse",
    "InstanceResponse",
    "ListInstanceResponse",
    "Money",
    "OperatingSystemResponse",
    "VolumeInstanceRequest",
    "VolumeInstanceResponse",
]


def _not_a_number(value: object) -> Decimal:
    return Decimal("NaN")


def _money_json(value: Decimal) -> Optional[float]:
    return None if value.is_nan() else float(value)


# A price from the wire (a decimal string, or a number) becomes an exact ``Decimal``
# (pydantic reads a JSON number's digits, not a float); anything else becomes ``NaN``,
# so that one bad offer cannot break a listing. Left to right: the second choice is
# only tried when the first fails, and the common case never runs Python code.
Money = Annotated[
    Union[Annotated[Decimal, AllowInfNan(True)], Annotated[Any, AfterValidator(_not_a_number)]],
    Field(union_mode="left_to_right"),
    PlainSerializer(_money_json, when_used="json"),
]
"""A price in USD: ``Decimal`` in Python (exact when added up), a number in JSON."""


class GPUModelResponse(FluidStackModel):
    """A GPU model."""

    name: str
    """FluidStack's unique name of the GPU model, e.g. ``RTX_A5000_24GB``."""
    memory_size_gb: Optional[int] = None
    """Memory of one GPU, in GB."""


class ConfigurationInstanceResponse(FluidStackModel):
    """The hardware an instance runs on."""

    id: str
    gpu_model: Optional[GPUModelResponse] = None
    cpu_model: Optional[str] = "generic"
    gpu_count: int
    cpu_count: int
    nvme_storage_size_gb: int
    memory_size_gb: float
    estimated_provisioning_time_minutes: int = 5
    region: Region


class EntityId(FluidStackModel):
    """An id sent as its parts (used by volumes in create requests)."""

    value: str
    prefix: str


class _VolumeFields(FluidStackModel):
    name: str
    size_gb: int
    status: Optional[VolumeStatus] = VolumeStatus.CREATING
    cost_gb_hr: str
    """Hourly rate per GB, as a decimal string."""
    created_at: Optional[dt.datetime] = None
    updated_at: Optional[dt.datetime] = None


class VolumeInstanceResponse(_VolumeFields):
    """A storage volume attached to an instance."""

    id: str


class VolumeInstanceRequest(_VolumeFields):
    """A volume to attach when creating an instance (its id sent as its parts)."""

    id: EntityId


class InstanceResponse(FluidStackModel):
    """A GPU instance, as ``instances.get`` returns it."""

    id: str
    """The instance's unique id."""
    status: InstanceStatus = InstanceStatus.PENDING
    """Current lifecycle status."""
    username: Optional[str] = "ubuntu"
    """User to log in as over SSH."""
    ssh_port: Optional[str] = "22"
    """SSH port, as a string."""
    ssh_keys: List[str] = Field(default_factory=list)
    """Names of the SSH keys installed on the instance."""
    ip_address: Optional[str] = None
    """Public address, once the instance is running."""
    name: Optional[str] = None
    """The name given at creation."""
    current_gpu_hr_cost: Optional[Money] = None
    """Current price per GPU-hour, which depends on the status (running, stopped, ...)."""
    configuration: Optional[ConfigurationInstanceResponse] = None
    """The hardware configuration."""
    created_at: Optional[dt.datetime] = None
    """When the instance was created."""
    volumes: List[VolumeInstanceResponse] = Field(default_factory=list)
    operating_system_label: Optional[SupportedOperatingSystem] = None
    user_email: Optional[str] = None
    """Email of the user that owns the instance."""

    @property
    def ssh_command(self) -> Optional[str]:
        """The ``ssh`` command line to connect, or ``None`` before an address is known."""
        if not self.ip_address:
            return None
        user = self.username or "ubuntu"
        port = f" -p {self.ssh_port}" if self.ssh_port and self.ssh_port != "22" else ""
        return f"ssh{port} {user}@{self.ip_address}"


class ListInstanceResponse(InstanceResponse):
    """A GPU instance, as ``instances.list``, ``stop``, ``start`` and ``rename`` return it."""


class CreateInstanceResponse(FluidStackModel):
    """What ``instances.create`` returns: the new instance's id and request echo."""

    id: str
    name: str
    gpu_type: GPUType
    operating_system_label: Optional[SupportedOperatingSystem] = None


class ConfigurationResponse(FluidStackModel):
    """One offer of the catalog: a GPU type, the counts and regions it comes in, its price."""

    gpu_type: GPUType
    gpu_counts: List[int]
    """GPU counts an instance of this type can have."""
    price_per_gpu_hr: Money
    """Running price per GPU per hour, in USD (the API sends a decimal string)."""
    stopped_price_per_hour: Money
    """Price per GPU per hour while stopped, in USD (despite its name, the API's price
    is per GPU: :meth:`stopped_price` gives a whole instance's)."""
    estimated_provisioning_time_minutes: int = 5
    regions: List[Region]
    """Regions where it is offered."""

    @property
    def price_per_gpu_hour(self) -> Decimal:
        """``price_per_gpu_hr`` (``Decimal('NaN')`` if the server sent junk)."""
        return self.price_per_gpu_hr

    def price_per_hour(self, gpu_count: int) -> Decimal:
        """The running price per hour of an instance with ``gpu_count`` GPUs."""
        return self.price_per_gpu_hr * gpu_count

    def stopped_price(self, gpu_count: int) -> Decimal:
        """The price per hour of a stopped instance with ``gpu_count`` GPUs."""
        return self.stopped_price_per_hour * gpu_count


class OperatingSystemResponse(FluidStackModel):
    """An operating-system template."""

    name: str
    """Friendly name, e.g. ``Ubuntu 20.04 LTS (Nvidia)``."""
    description: Optional[str] = None
    label: SupportedOperatingSystem
    """The value to pass as ``operating_system_label``."""
