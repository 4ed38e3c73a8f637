"""The platform client's sweeps: ``client.instances.sweep(...)`` deletes the instances
that match (expired leases, age, names, statuses), judged at the server's time."""

from __future__ import annotations

from typing import Awaitable, Callable, List, Optional

from ...core._async.pipeline import AsyncPipeline
from ...core._async.teardown import delete_matches
from ...core.request_options import RequestOptions, for_lookups
from ...core.spend import SweepCriteria, SweepResult, select
from ..cost import instance_cost
from ..spend import facts
from ..types.instances import ListInstanceResponse
from .teardown import GONE

__all__ = ["sweep_instances"]


async def sweep_instances(
    pipeline: AsyncPipeline,
    criteria: SweepCriteria,
    *,
    list_all: Callable[[Optional[RequestOptions]], Awaitable[List[ListInstanceResponse]]],
    delete: Callable[..., Awaitable[None]],
    dry_run: bool,
    wait: bool,
    timeout: Optional[float],
    poll_interval: float,
    request_options: Optional[RequestOptions],
) -> SweepResult[ListInstanceResponse]:
    """List every instance with ``list_all``, select those ``criteria`` match (judged at
    the server's time), and unless ``dry_run`` delete them with ``delete``
    (``client.instances.delete``; confirmed with ``wait``)."""
    lookups = for_lookups(request_options)
    listing = await list_all(lookups)
    now = pipeline.server_time()
    result = select(
        listing,
        criteria,
        now,
        dry_run=dry_run,
        facts_of=facts,
        hourly_of=lambda instance, _: instance_cost(instance, now=now).hourly,
        gone=GONE,
    )

    return await delete_matches(
        result,
        delete,
        wait=wait,
        timeout=timeout,
        poll_interval=poll_interval,
        request_options=lookups,
    )
