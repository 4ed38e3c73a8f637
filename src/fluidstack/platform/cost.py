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
    problem: Optional[str] = None
    """Why ``hours`` (and so ``accrued``) is unknown, when it is: no creation time, or a
    creation time after ``now`` (the clocks disagree: pass ``now=client.server_time()``)."""


def instance_cost(instance: InstanceResponse, now: Optional[dt.datetime] = None) -> InstanceCost:
    """Compute :class:`InstanceCost` for ``instance`` at ``now``.

    Pass ``now=client.server_time()``: the age is then measured on the server's clock,
    which set ``created_at``. Default: this machine's UTC time. ``current_gpu_hr_cost``
    is the price per GPU-hour for the instance's current status (running or stopped
    price; 0 once terminated). An age that would be negative is reported as unknown,
    with the reason in ``problem``, never as zero.
    """
    hourly: Optional[Decimal] = None
    if instance.current_gpu_hr_cost is not None and not instance.current_gpu_hr_cost.is_nan():
        gpus = instance.configuration.gpu_count if instance.configuration else 1
        hourly = instance.current_gpu_hr_cost * gpus
    hours: Optional[float] = None
    problem: Optional[str] = None
    if instance.created_at is None:
        problem = "the server sent no creation time"
    else:
        created = _utc(instance.created_at)
        current = _utc(now or dt.datetime.now(dt.timezone.utc))
        age = (current - created).total_seconds()
        if age >= 0:
            hours = age / 3600.0
        else:
            problem = (
                f"created {-age / 3600.0:.2f} h after the time it is measured at: the "
                "clocks disagree (measure with now=client.server_time())"
            )
    accrued = None if hourly is None or hours is None else hourly * Decimal(repr(hours))
    return InstanceCost(hourly=hourly, hours=hours, accrued=accrued, problem=problem)


def _utc(moment: dt.datetime) -> dt.datetime:
    # The API sends naive timestamps in UTC.
    return moment.replace(tzinfo=dt.timezone.utc) if moment.tzinfo is None else moment
