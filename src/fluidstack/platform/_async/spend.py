"""The platform client's spend limit, ``AsyncFluidStack(max_hourly_spend=...)``: a create
or start that would take the account's hourly burn over it is refused before it is sent."""

from __future__ import annotations

from contextlib import asynccontextmanager
from dataclasses import dataclass
from decimal import Decimal
from typing import AsyncIterator, Awaitable, Callable, Dict, List, Optional, Tuple, Union

from ...core._async.pipeline import AsyncPipeline
from ...core._async.spend_guard import AsyncSpendLimit, holding
from ...core.raw import side_calls
from ...core.request_options import RequestOptions, for_lookups
from ...core.spend import check_spend, unknown_spend, usd
from .. import endpoints as api
from ..spend import account_burn, running_price, running_prices, starting_price
from ..types.enums import GPUType
from ..types.instances import ConfigurationResponse, ListInstanceResponse
from ..types.launch import LaunchOption, LaunchPlan

ListAll = Callable[[Optional[RequestOptions]], Awaitable[List[ListInstanceResponse]]]
"""Every instance of the account, every page (``client.instances``' listing)."""

__all__ = [
    "AsyncSpendGuard",
    "Spending",
    "admitting_create",
    "admitting_start",
    "affordable",
    "holding",
    "over_limit",
]


@dataclass(frozen=True)
class Spending:
    """The account's spending as one check saw it."""

    hourly: Decimal
    """USD per hour of every instance (those on their way to running at the running
    price)."""
    prices: Dict[str, Decimal]
    """The catalog's running price per GPU-hour, by GPU type."""
    configurations: List[ConfigurationResponse]
    instances: List[ListInstanceResponse]


class AsyncSpendGuard(AsyncSpendLimit):
    """The platform client's ``max_hourly_spend``, checked against the catalog's prices
    (see :class:`~fluidstack.core._async.spend_guard.AsyncSpendLimit` for the lock)."""

    async def measure(
        self,
        pipeline: AsyncPipeline,
        list_all: ListAll,
        request_options: Optional[RequestOptions],
    ) -> Spending:
        """Read the catalog's prices and every instance of the account, and add up what
        they cost per hour. An instance whose price cannot be told makes the limit
        uncheckable: :class:`SpendLimitError`, rather than a guess."""
        lookups = for_lookups(request_options)
        with side_calls():
            configurations = await pipeline.call(api.CONFIGURATIONS, request_options=lookups)
            instances = await list_all(lookups)
        prices = running_prices(configurations)
        burn = account_burn(instances, prices)
        if burn.unknown:
            shown = ", ".join(burn.unknown[:3]) + (" and more" if len(burn.unknown) > 3 else "")
            raise unknown_spend(
                self.limit,
                f"the hourly price of instance {shown} is not known (its GPU type is not in "
                "the catalog)",
                current=burn.hourly,
            )
        return Spending(burn.hourly, prices, list(configurations), instances)


@asynccontextmanager
async def admitting_create(
    guard: Optional[AsyncSpendGuard],
    pipeline: AsyncPipeline,
    list_all: ListAll,
    gpu_type: Union[GPUType, str],
    gpu_count: Optional[int],
    request_options: Optional[RequestOptions],
) -> AsyncIterator[None]:
    """Run the block (the create) only if its price fits under the limit, holding the
    lock until it is done so that two creates of this client cannot both pass."""
    async with holding(guard):
        if guard is not None:
            measured = await guard.measure(pipeline, list_all, request_options)
            what = f"creating {gpu_count or 1} x {GPUType.canonical(gpu_type)}"
            adding = running_price(measured.prices, gpu_type, gpu_count)
            if adding is None:
                raise unknown_spend(
                    guard.limit,
                    f"the catalog lists no price for {GPUType.canonical(gpu_type)} ({what})",
                    current=measured.hourly,
                )
            check_spend(guard.limit, measured.hourly, adding, what)
        yield


@asynccontextmanager
async def admitting_start(
    guard: Optional[AsyncSpendGuard],
    pipeline: AsyncPipeline,
    list_all: ListAll,
    instance_id: str,
    request_options: Optional[RequestOptions],
) -> AsyncIterator[None]:
    """Run the block (the start) only if the instance's running price, less what it
    costs stopped, fits under the limit."""
    async with holding(guard):
        if guard is not None:
            measured = await guard.measure(pipeline, list_all, request_options)
            instance = next((i for i in measured.instances if i.id == instance_id), None)
            # Not listed: the server answers the start with 404, which says it better.
            if instance is not None:
                adding, _ = starting_price(instance, measured.prices)
                what = f"starting instance {instance_id}"
                if adding is None:
                    raise unknown_spend(
                        guard.limit,
                        f"the catalog lists no price for {what}",
                        current=measured.hourly,
                    )
                check_spend(guard.limit, measured.hourly, adding, what)
        yield


def affordable(
    plan: LaunchPlan, limit: Decimal, hourly: Decimal
) -> Tuple[LaunchPlan, List[LaunchOption]]:
    """The options of a launch plan that fit under the limit, and those skipped."""
    kept = [o for o in plan.options if hourly + o.price_per_hour <= limit]
    skipped = [o for o in plan.options if hourly + o.price_per_hour > limit]
    return LaunchPlan(kept), skipped


def over_limit(limit: Decimal, hourly: Decimal, skipped: List[LaunchOption]) -> None:
    """Raise :class:`SpendLimitError` for a launch whose every option is over the limit."""
    cheapest = skipped[0]
    check_spend(
        limit,
        hourly,
        cheapest.price_per_hour,
        f"launching {cheapest.gpu_count} x {cheapest.gpu_type} (the cheapest of "
        f"{len(skipped)} matching offer{'s' if len(skipped) != 1 else ''}, "
        f"{usd(cheapest.price_per_hour)}/h)",
    )
