"""The platform API's side of sweeps, leases and spend limits (pure; the calls are in
``fluidstack.platform._async.spend``).

**Leases live in the instance's name.** The platform API has no tags and no free-form
metadata, and a lease kept only on this machine would be invisible to a reaper running
elsewhere (or after this disk is gone). So ``create(..., lease=timedelta(hours=2))``
names the instance ``<name>--lease-until-20261126T120000Z`` (UTC, to the second): any
process that can list the account sees the expiry, and nothing needs to be stored. The
price: the suffix shows in the name (up to 255 characters in all), and renaming the
instance without it removes the lease (which is also how to end one early: rename it
with a new suffix to move the expiry).
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from decimal import Decimal
from typing import Dict, List, Optional, Sequence, Tuple, Union

from ..core.spend import Duration, InstanceFacts, lease_expiry
from .types.enums import GPUType
from .types.instances import ConfigurationResponse, InstanceResponse

__all__ = [
    "LEASE_SUFFIX",
    "Burn",
    "account_burn",
    "check_lease",
    "facts",
    "lease_of",
    "leased_name",
    "rate",
    "running_prices",
]

LEASE_SUFFIX = "--lease-until-"
"""What separates an instance's name from its lease's expiry."""
_LEASE = re.compile(r"--lease-until-(\d{8}T\d{6}Z)\Z")
_STAMP = "%Y%m%dT%H%M%SZ"
MAX_NAME_LENGTH = 255
"""The longest instance name the API takes."""

GONE = frozenset({"terminated", "failed"})
"""Statuses that cost nothing and never will again."""
ABOUT_TO_RUN = frozenset({"pending", "provisioning", "starting"})
"""Statuses that may not bill yet but are on their way to ``running``: a spend limit
counts them at the running price, so that ten creates in a row cannot all pass."""


def leased_name(name: str, expires: dt.datetime) -> str:
    """``name`` carrying a lease that ends at ``expires`` (UTC, to the second)."""
    if _LEASE.search(name):
        raise ValueError(
            f"the name {name!r} already ends in a lease; give the name without it and the "
            "lease as lease="
        )
    stamp = expires.astimezone(dt.timezone.utc).strftime(_STAMP)
    full = f"{name}{LEASE_SUFFIX}{stamp}"
    if len(full) > MAX_NAME_LENGTH:
        room = MAX_NAME_LENGTH - len(LEASE_SUFFIX) - len(stamp)
        raise ValueError(
            f"with a lease, an instance name may have at most {room} characters "
            f"(the lease takes {len(LEASE_SUFFIX) + len(stamp)} of the API's "
            f"{MAX_NAME_LENGTH}); this one has {len(name)}"
        )
    return full


def check_lease(name: Optional[str], lease: Optional[Duration]) -> None:
    """Refuse a bad ``lease``, or a ``name`` that cannot carry one, before anything is
    sent (the suffix has the same length whatever the expiry)."""
    if lease is not None:
        now = dt.datetime.now(dt.timezone.utc)
        leased_name(name if name is not None else "fs-000000000000", lease_expiry(now, lease))


def lease_of(name: Optional[str]) -> Optional[dt.datetime]:
    """When the lease in an instance's name ends (UTC); ``None`` without one."""
    found = _LEASE.search(name or "")
    if found is None:
        return None
    try:
        moment = dt.datetime.strptime(found.group(1), _STAMP)
    except ValueError:  # 20261399T..., say: not a lease this SDK wrote
        return None
    return moment.replace(tzinfo=dt.timezone.utc)


def facts(instance: InstanceResponse) -> InstanceFacts:
    """What a sweep judges a platform instance by."""
    return InstanceFacts(
        id=instance.id,
        name=instance.name or "",
        status=str(instance.status),
        created_at=instance.created_at,
        age_unknown=None if instance.created_at is not None else "the server sent no creation time",
        lease_expires=lease_of(instance.name),
    )


def running_prices(configurations: Sequence[ConfigurationResponse]) -> Dict[str, Decimal]:
    """The catalog's running price per GPU-hour, by GPU type (junk prices left out)."""
    prices: Dict[str, Decimal] = {}
    for config in configurations:
        price = config.price_per_gpu_hour
        if price.is_finite():
            prices[str(config.gpu_type)] = price
    return prices


def _gpu_type(instance: InstanceResponse) -> Optional[str]:
    config = instance.configuration
    if config is None or config.gpu_model is None:
        return None
    return str(GPUType.canonical(config.gpu_model.name))


def rate(instance: InstanceResponse, prices: Dict[str, Decimal]) -> Optional[Decimal]:
    """What an instance costs per hour, in USD, as a spend limit counts it: its current
    price (``current_gpu_hr_cost`` times its GPUs) and, while it is on its way to
    ``running``, the catalog's running price. ``None`` when it cannot be told."""
    status = str(instance.status)
    if status in GONE:
        return Decimal(0)
    count = instance.configuration.gpu_count if instance.configuration is not None else None
    current = instance.current_gpu_hr_cost
    if current is not None and not current.is_finite():
        current = None
    if status in ABOUT_TO_RUN:
        gpu_type = _gpu_type(instance)
        price = prices.get(gpu_type) if gpu_type is not None else None
        if price is not None and current is not None:
            price = max(price, current)
        elif price is None:
            price = current if current is not None and current > 0 else None
        return None if price is None or count is None else price * count
    if current is None:
        return None
    if count is None:
        return current if current == 0 else None
    return current * count


def running_price(
    prices: Dict[str, Decimal], gpu_type: Union[GPUType, str], gpu_count: Optional[int]
) -> Optional[Decimal]:
    """The running price per hour of ``gpu_count`` GPUs of ``gpu_type`` (``None`` when
    the catalog does not list the type)."""
    price = prices.get(str(GPUType.canonical(gpu_type)))
    return None if price is None else price * (gpu_count or 1)


@dataclass(frozen=True)
class Burn:
    """What the account's instances cost per hour, as a spend limit counts it."""

    hourly: Decimal
    """USD per hour, over the instances whose price is known."""
    unknown: Tuple[str, ...]
    """The instances whose price could not be told (``id (status)``)."""


def account_burn(instances: Sequence[InstanceResponse], prices: Dict[str, Decimal]) -> Burn:
    """The hourly burn of every instance of the account (see :func:`rate`)."""
    total = Decimal(0)
    unknown: List[str] = []
    for instance in instances:
        cost = rate(instance, prices)
        if cost is None:
            unknown.append(f"{instance.id} ({instance.status})")
        else:
            total += cost
    return Burn(total, tuple(unknown))


def starting_price(
    instance: InstanceResponse, prices: Dict[str, Decimal]
) -> Tuple[Optional[Decimal], Decimal]:
    """What starting a stopped instance adds per hour: its running price less what it
    costs now (its stopped price). Returns ``(adding, now)``; ``adding`` is ``None``
    when the catalog has no price for it."""
    now = rate(instance, prices) or Decimal(0)
    gpu_type = _gpu_type(instance)
    count = instance.configuration.gpu_count if instance.configuration is not None else None
    if gpu_type is None or count is None:
        return None, now
    running = running_price(prices, gpu_type, count)
    return (None if running is None else max(running - now, Decimal(0))), now
