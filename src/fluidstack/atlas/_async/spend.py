"""The Atlas client's spend limit, ``AsyncAtlas(max_hourly_spend=..., prices=...)``: a
create or start that would take the organization's hourly burn over it is refused before
it is sent."""

from __future__ import annotations

from contextlib import asynccontextmanager
from decimal import Decimal
from typing import AsyncIterator, Dict, Optional

from ...core._async.spend_guard import AsyncSpendLimit, holding
from ...core.raw import side_calls
from ...core.request_options import RequestOptions, for_lookups
from ...core.spend import check_spend, unknown_spend
from .. import endpoints as api
from ..spend import hourly_burn, rate
from .scope import AsyncScope

__all__ = ["AsyncAtlasSpendGuard", "admitting"]


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
    count: int = 1,
) -> AsyncIterator[None]:
    """Run the block (a create or start of an instance of ``instance_type``, or of a node
    pool of ``count`` such instances) only if its price fits under the limit, holding the
    lock until it is done. ``instance_type`` ``None``: nothing to check (an instance the
    server will answer 404 for)."""
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
            check_spend(guard.limit, current, adding * count, what)
        yield
