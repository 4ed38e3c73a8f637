"""The Atlas client's sweeps: ``atlas.instances.sweep(...)`` deletes the project's
instances that match (expired leases, age, names, tags, states), judged at the server's
time."""

from __future__ import annotations

from decimal import Decimal
from typing import Awaitable, Callable, Dict, List, Optional

from ...core._async.pipeline import AsyncPipeline
from ...core._async.teardown import delete_matches
from ...core.request_options import RequestOptions, for_lookups
from ...core.spend import SweepCriteria, SweepResult, select
from ..spend import facts, rate
from ..types import Instance
from .teardown import GOING

__all__ = ["sweep_instances"]


async def sweep_instances(
    pipeline: AsyncPipeline,
    criteria: SweepCriteria,
    *,
    list_instances: Callable[..., Awaitable[List[Instance]]],
    delete: Callable[..., Awaitable[None]],
    prices: Optional[Dict[str, Decimal]],
    dry_run: bool,
    wait: bool,
    timeout: Optional[float],
    poll_interval: float,
    request_options: Optional[RequestOptions],
) -> SweepResult[Instance]:
    """List the project's instances in the region with ``list_instances``
    (``atlas.instances.list``), select those ``criteria`` match (judged at the server's
    time, priced from ``prices``), and unless ``dry_run`` delete them with ``delete``."""
    lookups = for_lookups(request_options)
    listing: List[Instance] = await list_instances(request_options=lookups)
    result = select(
        listing,
        criteria,
        pipeline.server_time(),
        dry_run=dry_run,
        facts_of=facts,
        hourly_of=lambda instance, known: rate(instance.type, known.status, prices),
        gone=GOING,  # on its way out already
    )

    return await delete_matches(
        result,
        delete,
        wait=wait,
        timeout=timeout,
        poll_interval=poll_interval,
        request_options=lookups,
    )
