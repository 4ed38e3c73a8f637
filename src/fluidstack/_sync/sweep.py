# Generated from fluidstack/_async by scripts/unasync.py: do not edit by hand.
"""The platform client's confirmed delete, sweeps and leases (``client.instances.delete(...,
wait=True)``, ``.sweep(...)``, ``.create(..., lease=...)``)."""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, FrozenSet, Optional

from ..core._sync.teardown import delete_matches, delete_until_gone
from ..core.endpoint import side_calls
from ..core.request_options import RequestOptions, for_lookups
from ..core.spend import SweepCriteria, SweepResult, select
from ..cost import instance_cost
from ..resources import account as account_api
from ..resources import instances as api
from ..resources.spend import facts
from ..types.instances import ListInstanceResponse

if TYPE_CHECKING:
    from .instances import InstancesResource

__all__ = ["delete_confirmed", "server_now", "sweep_instances"]

_GONE = frozenset({"terminated"})
_NOTHING: FrozenSet[str] = frozenset()


def delete_confirmed(
    resource: InstancesResource,
    instance_id: str,
    *,
    timeout: Optional[float],
    poll_interval: float,
    request_options: Optional[RequestOptions],
) -> None:
    """Delete an instance and return once it is ``terminated`` or gone (see
    :func:`~fluidstack.core._sync.teardown.delete_until_gone`)."""
    if not instance_id:
        raise ValueError("instance_id must be a non-empty id")

    def send(options: Optional[RequestOptions]) -> None:
        resource._pipeline.call(
            api.DELETE, path_params={"instance_id": instance_id}, request_options=options
        )

    delete_until_gone(
        resource._pipeline,
        instance_id,
        send=send,
        get=resource.get,
        status_of=lambda instance: str(instance.status),
        gone=_GONE,
        going=_NOTHING,
        timeout=timeout,
        poll_interval=poll_interval,
        request_options=request_options,
    )


def server_now(
    resource: InstancesResource, request_options: Optional[RequestOptions]
) -> dt.datetime:
    """The server's time now. A client that has not heard from the server yet asks it
    first (the health check), since this machine's clock may be off by hours."""
    pipeline = resource._pipeline
    if not pipeline.server_clock.observed:
        with side_calls():
            pipeline.call(account_api.HEALTHCHECK, request_options=for_lookups(request_options))
    return pipeline.server_time()


def sweep_instances(
    resource: InstancesResource,
    criteria: SweepCriteria,
    *,
    dry_run: bool,
    wait: bool,
    timeout: Optional[float],
    poll_interval: float,
    request_options: Optional[RequestOptions],
) -> SweepResult[ListInstanceResponse]:
    """List every instance, select those ``criteria`` match (judged at the server's
    time), and unless ``dry_run`` delete them (confirmed with ``wait``)."""
    lookups = for_lookups(request_options)
    listing = resource._all_instances(lookups)
    now = resource._pipeline.server_time()
    result = select(
        listing,
        criteria,
        now,
        dry_run=dry_run,
        facts_of=facts,
        hourly_of=lambda instance, _: instance_cost(instance, now=now).hourly,
        gone=_GONE,
    )

    return delete_matches(
        result,
        resource.delete,
        wait=wait,
        timeout=timeout,
        poll_interval=poll_interval,
        request_options=lookups,
    )
