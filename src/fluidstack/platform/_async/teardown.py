"""The platform client's confirmed delete: ``client.instances.delete(..., wait=True)``."""

from __future__ import annotations

from typing import Awaitable, Callable, FrozenSet, Optional

from ...core._async.pipeline import AsyncPipeline
from ...core._async.teardown import delete_until_gone
from ...core.request_options import RequestOptions
from .. import endpoints as api
from ..types.instances import InstanceResponse

__all__ = ["GONE", "delete_confirmed"]

GONE: FrozenSet[str] = frozenset({"terminated"})
"""The status of an instance a delete is done with (the API keeps listing it)."""
_NOTHING: FrozenSet[str] = frozenset()


async def delete_confirmed(
    pipeline: AsyncPipeline,
    instance_id: str,
    *,
    get: Callable[..., Awaitable[InstanceResponse]],
    timeout: Optional[float],
    poll_interval: float,
    request_options: Optional[RequestOptions],
) -> None:
    """Delete an instance and return once it is ``terminated`` or gone (see
    :func:`~fluidstack.core._async.teardown.delete_until_gone`). ``get`` is
    ``client.instances.get``: it reads the instance between deletes."""
    if not instance_id:
        raise ValueError("instance_id must be a non-empty id")

    async def send(options: Optional[RequestOptions]) -> None:
        await pipeline.call(
            api.INSTANCE_DELETE, path_params={"instance_id": instance_id}, request_options=options
        )

    await delete_until_gone(
        pipeline,
        instance_id,
        send=send,
        get=get,
        status_of=lambda instance: str(instance.status),
        gone=GONE,
        going=_NOTHING,
        timeout=timeout,
        poll_interval=poll_interval,
        request_options=request_options,
    )
