"""The Atlas client's confirmed delete: ``atlas.instances.delete(..., wait=True)``."""

from __future__ import annotations

from typing import Awaitable, Callable, FrozenSet, Optional

from ...core._async.teardown import delete_until_gone
from ...core.request_options import RequestOptions
from .. import endpoints as api
from ..types import Instance
from .scope import AsyncScope

__all__ = ["GOING", "delete_confirmed"]

_NOTHING: FrozenSet[str] = frozenset()
GOING: FrozenSet[str] = frozenset({"deleting"})
"""The state of an instance on its way out (Atlas then forgets it: its GET answers 404)."""


async def delete_confirmed(
    scope: AsyncScope,
    ident: str,
    *,
    get: Callable[..., Awaitable[Instance]],
    timeout: Optional[float],
    poll_interval: float,
    request_options: Optional[RequestOptions],
) -> None:
    """Delete an instance and return once its GET answers 404 (see
    :func:`~fluidstack.core._async.teardown.delete_until_gone`). ``get`` is
    ``atlas.instances.get``: it reads the instance between deletes."""

    async def send(options: Optional[RequestOptions]) -> None:
        await scope.regional(
            api.INSTANCE_DELETE,
            project=True,
            path_params={"instance_id": ident},
            request_options=options,
        )

    await delete_until_gone(
        scope.pipeline,
        ident,
        send=send,
        get=get,
        status_of=lambda instance: str(instance.state),
        gone=_NOTHING,
        going=GOING,
        timeout=timeout,
        poll_interval=poll_interval,
        request_options=request_options,
    )
