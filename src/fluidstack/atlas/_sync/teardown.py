# Generated from fluidstack/atlas/_async by scripts/unasync.py: do not edit by hand.
"""The Atlas client's confirmed delete: ``atlas.instances.delete(..., wait=True)``."""

from __future__ import annotations

from typing import Callable, FrozenSet, Optional

from ...core._sync.teardown import delete_until_gone
from ...core.request_options import RequestOptions
from .. import endpoints as api
from ..types import Instance
from .scope import Scope

__all__ = ["GOING", "delete_confirmed"]

_NOTHING: FrozenSet[str] = frozenset()
GOING: FrozenSet[str] = frozenset({"deleting"})
"""The state of an instance on its way out (Atlas then forgets it: its GET answers 404)."""


def delete_confirmed(
    scope: Scope,
    ident: str,
    *,
    get: Callable[..., Instance],
    timeout: Optional[float],
    poll_interval: float,
    request_options: Optional[RequestOptions],
) -> None:
    """Delete an instance and return once its GET answers 404 (see
    :func:`~fluidstack.core._sync.teardown.delete_until_gone`). ``get`` is
    ``atlas.instances.get``: it reads the instance between deletes."""

    def send(options: Optional[RequestOptions]) -> None:
        scope.regional(
            api.INSTANCE_DELETE,
            project=True,
            path_params={"instance_id": ident},
            request_options=options,
        )

    delete_until_gone(
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
