"""The Atlas client's confirmed delete, sweeps, leases and spend limit
(``atlas.instances.delete(..., wait=True)``, ``.sweep(...)``, ``.create(..., lease=...)``,
``AsyncAtlas(max_hourly_spend=..., prices=...)``)."""

from __future__ import annotations

import datetime as dt
from contextlib import asynccontextmanager
from decimal import Decimal
from typing import TYPE_CHECKING, AsyncIterator, Dict, FrozenSet, List, Optional

from ...core._async.spend_guard import AsyncSpendLimit, holding
from ...core._async.teardown import delete_matches, delete_until_gone
from ...core.endpoint import side_calls
from ...core.request_options import RequestOptions, for_lookups
from ...core.spend import SweepCriteria, SweepResult, check_spend, select, unknown_spend
from .. import endpoints as api
from ..spend import facts, hourly_burn, rate
from ..types import Instance

if TYPE_CHECKING:
    from .instances import AsyncInstancesResource
    from .scope import AsyncScope

__all__ = [
    "AsyncAtlasSpendGuard",
    "admitting",
    "delete_confirmed",
    "server_now",
    "sweep_instances",
]

_NOTHING: FrozenSet[str] = frozenset()
_GOING: FrozenSet[str] = frozenset({"deleting"})


class AsyncAtlasSpendGuard(AsyncSpendLimit):
    """``AsyncAtlas(max_hourly_spend=..., prices=...)``: the limit, checked against the
    user's price table (Atlas publishes none) over every instance of the organization."""

    def __init__(self, limit: Decimal, prices: Dict[str, Decimal]) -> None:
        super().__init__(limit)
        self.prices = prices

    async def current(
        self, scope: AsyncScope, request_options: Optional[RequestOptions]
    ) -> Decimal:
        """The organization's hourly burn: every instance in every region and project
        (the management API's list), priced from the table. An instance whose type is
        not in the table makes the limit uncheckable: :class:`SpendLimitError`."""
        with side_calls():
            instances = await scope.management(
                api.GLOBAL_INSTANCES, request_options=for_lookups(request_options)
            )
        hourly, unknown = hourly_burn(instances, self.prices)
        if unknown:
            shown = ", ".join(unknown[:3]) + (" and more" if len(unknown) > 3 else "")
            raise unknown_spend(
                self.limit, f"prices= has no price for instance {shown}", current=hourly
            )
        return hourly


@asynccontextmanager
async def admitting(
    guard: Optional[AsyncSpendLimit],
    scope: AsyncScope,
    instance_type: Optional[str],
    what: str,
    request_options: Optional[RequestOptions],
) -> AsyncIterator[None]:
    """Run the block (a create or start of an instance of ``instance_type``) only if its
    price fits under the limit, holding the lock until it is done. ``instance_type``
    ``None``: nothing to check (an instance the server will answer 404 for)."""
    async with holding(guard):
        if isinstance(guard, AsyncAtlasSpendGuard) and instance_type is not None:
            current = await guard.current(scope, request_options)
            adding = rate(instance_type, "running", guard.prices)
            if adding is None:
                raise unknown_spend(
                    guard.limit,
                    f"prices= has no price for {instance_type} ({what})",
                    current=current,
                )
            check_spend(guard.limit, current, adding, what)
        yield


async def server_now(
    scope: AsyncScope, request_options: Optional[RequestOptions], *, ask: bool
) -> dt.datetime:
    """The server's time now (its latest ``Date``). A client that has not heard from the
    server yet looks up its region first (which the call needs anyway); if that brought no
    ``Date`` (a region given by URL, a ready token), ``ask`` asks the region's
    capabilities, and without ``ask`` this machine's clock stands in."""
    pipeline = scope.pipeline
    if not pipeline.server_clock.observed:
        lookups = for_lookups(request_options)
        with side_calls():
            await scope.region_root(lookups)
            if ask and not pipeline.server_clock.observed:
                await scope.regional(api.CAPABILITIES, project=False, request_options=lookups)
    return pipeline.server_time()


async def delete_confirmed(
    resource: AsyncInstancesResource,
    ident: str,
    *,
    timeout: Optional[float],
    poll_interval: float,
    request_options: Optional[RequestOptions],
) -> None:
    """Delete an instance and return once its GET answers 404 (see
    :func:`~fluidstack.core._async.teardown.delete_until_gone`)."""

    async def send(options: Optional[RequestOptions]) -> None:
        await resource._scope.regional(
            api.INSTANCE_DELETE,
            project=True,
            path_params={"instance_id": ident},
            request_options=options,
        )

    await delete_until_gone(
        resource._pipeline,
        ident,
        send=send,
        get=resource.get,
        status_of=lambda instance: str(instance.state),
        gone=_NOTHING,
        going=_GOING,
        timeout=timeout,
        poll_interval=poll_interval,
        request_options=request_options,
    )


async def sweep_instances(
    resource: AsyncInstancesResource,
    criteria: SweepCriteria,
    *,
    dry_run: bool,
    wait: bool,
    timeout: Optional[float],
    poll_interval: float,
    request_options: Optional[RequestOptions],
) -> SweepResult[Instance]:
    """List the project's instances in the region, select those ``criteria`` match
    (judged at the server's time), and unless ``dry_run`` delete them."""
    lookups = for_lookups(request_options)
    listing: List[Instance] = await resource.list(request_options=lookups)
    prices = resource._scope.prices
    result = select(
        listing,
        criteria,
        resource._pipeline.server_time(),
        dry_run=dry_run,
        facts_of=facts,
        hourly_of=lambda instance, known: rate(instance.type, known.status, prices),
        gone=_GOING,  # on its way out already
    )

    return await delete_matches(
        result,
        resource.delete,
        wait=wait,
        timeout=timeout,
        poll_interval=poll_interval,
        request_options=lookups,
    )
