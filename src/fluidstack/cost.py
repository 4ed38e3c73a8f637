"""Cost at a glance: an instance's hourly burn and what it has cost so far."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal
from typing import Optional

from .types.instances import InstanceResponse

__all__ = ["InstanceCost", "instance_cost"]


@dataclass(frozen=True)
class InstanceCost:
    """An instance's cost figures, in USD. ``None`` where the server gave too little."""

    hourly: Optional[Decimal]
    """Current burn per hour: ``current_gpu_hr_cost`` times the GPU count."""
    hours: Optional[float]
    """Hours since the instance was created."""
    accrued: Optional[Decimal]
    """Estimate of the cost so far: the current hourly rate over the whole lifetime.

    Exact while the instance has stayed in one status; the account balance
    (``client.user.get_balance()``) is the authoritative figure.
    """


def instance_cost(instance: InstanceResponse, now: Optional[dt.datetime] = None) -> InstanceCost:
    """Compute :class:`InstanceCost` for ``instance`` at ``now`` (default: current UTC time).

    ``current_gpu_hr_cost`` is the price per GPU-hour for the instance's current
    status (running or stopped price; 0 once terminated).
    """
    hourly: Optional[Decimal] = None
    if instance.current_gpu_hr_cost is not None and not instance.current_gpu_hr_cost.is_nan():
        gpus = instance.configuration.gpu_count if instance.configuration else 1
        hourly = instance.current_gpu_hr_cost * gpus
    hours: Optional[float] = None
    if instance.created_at is not None:
        created = instance.created_at
        if created.tzinfo is None:
            # The API sends naive timestamps in UTC.
            created = created.replace(tzinfo=dt.timezone.utc)
        current = now or dt.datetime.now(dt.timezone.utc)
        if current.tzinfo is None:
            current = current.replace(tzinfo=dt.timezone.utc)
        hours = max(0.0, (current - created).total_seconds() / 3600.0)
    accrued = None if hourly is None or hours is None else hourly * Decimal(repr(hours))
    return InstanceCost(hourly=hourly, hours=hours, accrued=accrued)
