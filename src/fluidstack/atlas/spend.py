"""Atlas's side of sweeps, leases and spend limits (pure; the calls are in
``fluidstack.atlas._async.sweep``).

**Times live in tags.** Atlas instances carry no creation time, so every create of this
SDK tags the instance with ``fluidstack.created-at`` (the server's time, ``20261126T120000Z``):
``sweep(older_than=...)`` judges instances by it, and reports those without it (made
elsewhere) as undecided rather than guessing. ``create(..., lease=...)`` adds
``fluidstack.lease-until`` with the lease's expiry; any process that can list the
project sees it.

**Prices are yours.** Atlas publishes no prices, so a spend limit (``max_hourly_spend``)
and the costs a sweep shows need the table you pass as ``prices=``: USD per hour of one
instance, by instance type.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING, Dict, FrozenSet, List, Mapping, Optional, Sequence, Tuple, Union

from ..core.spend import InstanceFacts, spend_limit

if TYPE_CHECKING:  # the models load with the first call that returns one, not with Atlas
    from .types import GlobalInstance, Instance

__all__ = [
    "BILLED_STATES",
    "CREATED_AT_TAG",
    "LEASE_TAG",
    "Prices",
    "created_at_of",
    "facts",
    "hourly_burn",
    "price_table",
    "rate",
    "stamp",
]

CREATED_AT_TAG = "fluidstack.created-at"
"""The tag in which this SDK records when it created an instance (the server's time)."""
LEASE_TAG = "fluidstack.lease-until"
"""The tag in which ``create(..., lease=...)`` records when the instance's lease ends."""
SDK_TAGS: FrozenSet[str] = frozenset({CREATED_AT_TAG, "fluidstack.client-token"})
"""Tags this SDK writes for its own use (left out where tags are shown to people)."""
_STAMP = "%Y%m%dT%H%M%SZ"

BILLED_STATES: FrozenSet[str] = frozenset({"creating", "starting", "running", "stopping"})
"""States a spend limit counts at the instance's price: running, or on the way to or
from it. ``stopped``, ``deleting``, ``error`` and ``out-of-stock`` count as nothing."""

Prices = Mapping[str, Union[Decimal, int, float, str]]
"""USD per hour of one instance, by instance type (``{"h100-hgx-80gb.8x": 24.0}``)."""


def stamp(moment: dt.datetime) -> str:
    """``moment`` as a tag value: UTC, to the second (``20261126T120000Z``)."""
    return moment.astimezone(dt.timezone.utc).strftime(_STAMP)


def _parse(value: Optional[str]) -> Optional[dt.datetime]:
    if not value:
        return None
    try:
        moment = dt.datetime.strptime(value, _STAMP)
    except ValueError:  # not a time this SDK wrote
        return None
    return moment.replace(tzinfo=dt.timezone.utc)


def created_at_of(tags: Mapping[str, str]) -> Optional[dt.datetime]:
    """When this SDK created the instance (``None``: not recorded)."""
    return _parse(tags.get(CREATED_AT_TAG))


def facts(instance: Union[Instance, GlobalInstance]) -> InstanceFacts:
    """What a sweep judges an Atlas instance by."""
    created = created_at_of(instance.tags)
    return InstanceFacts(
        id=instance.id,
        name=instance.name,
        status=str(instance.state),
        tags=instance.tags,
        created_at=created,
        age_unknown=None
        if created is not None
        else f"no {CREATED_AT_TAG} tag (not created by this SDK)",
        lease_expires=_parse(instance.tags.get(LEASE_TAG)),
        region=instance.region,
    )


def price_table(prices: Optional[Prices]) -> Optional[Dict[str, Decimal]]:
    """``prices=`` checked and made exact (``None``: no table)."""
    if prices is None:
        return None
    if not isinstance(prices, Mapping):
        raise TypeError(
            "prices must map instance types to USD per hour, got " + type(prices).__name__
        )
    table: Dict[str, Decimal] = {}
    for name, value in prices.items():
        if not isinstance(name, str) or not name:
            raise ValueError(f"prices: {name!r} is not an instance type name")
        if isinstance(value, bool) or not isinstance(value, (Decimal, int, float, str)):
            raise TypeError(f"prices[{name!r}] must be a number of USD per hour")
        try:
            price = value if isinstance(value, Decimal) else Decimal(str(value).strip())
        except InvalidOperation:
            raise ValueError(f"prices[{name!r}] must be a number, got {value!r}") from None
        if not price.is_finite() or price < 0:
            raise ValueError(f"prices[{name!r}] must be 0 or more USD per hour, got {value!r}")
        table[name] = price
    return table


def spend_settings(
    max_hourly_spend: Union[Decimal, int, float, str, None], prices: Optional[Prices]
) -> Tuple[Optional[Decimal], Optional[Dict[str, Decimal]]]:
    """``Atlas(max_hourly_spend=..., prices=...)`` checked: a limit without a price table
    could never be checked (Atlas publishes no prices), so it is refused."""
    limit = spend_limit(max_hourly_spend)
    table = price_table(prices)
    if limit is not None and table is None:
        raise ValueError(
            "max_hourly_spend needs prices=: Atlas publishes no prices, so pass the USD per "
            'hour of each instance type you use, e.g. prices={"h100-hgx-80gb.8x": 24.0}'
        )
    return limit, table


def rate(
    instance_type: str, state: str, prices: Optional[Mapping[str, Decimal]]
) -> Optional[Decimal]:
    """What an instance costs per hour in ``state`` (``None``: no price for its type)."""
    if state not in BILLED_STATES:
        return Decimal(0)
    if prices is None:
        return None
    return prices.get(instance_type)


def hourly_burn(
    instances: Sequence[Union[Instance, GlobalInstance]], prices: Mapping[str, Decimal]
) -> Tuple[Decimal, Tuple[str, ...]]:
    """The hourly burn of ``instances`` and the instances whose type has no price."""
    total = Decimal(0)
    unknown: List[str] = []
    for instance in instances:
        cost = rate(instance.type, str(instance.state), prices)
        if cost is None:
            unknown.append(f"{instance.id} ({instance.type})")
        else:
            total += cost
    return total, tuple(unknown)
