# Generated from fluidstack/atlas/_async by scripts/unasync.py: do not edit by hand.
"""The server's time, which leases and sweeps are judged by (this machine's clock may be
off by hours)."""

from __future__ import annotations

import datetime as dt
from typing import Optional

from ...core.raw import side_calls
from ...core.request_options import RequestOptions, for_lookups
from .. import endpoints as api
from .scope import Scope

__all__ = ["server_now"]


def server_now(
    scope: Scope, request_options: Optional[RequestOptions], *, ask: bool
) -> dt.datetime:
    """The server's time now (its latest ``Date``). A client that has not heard from the
    server yet looks up its region first (which the call needs anyway); if that brought no
    ``Date`` (a region given by URL, a ready token), ``ask`` asks the region's
    capabilities, and without ``ask`` this machine's clock stands in."""
    pipeline = scope.pipeline
    if not pipeline.server_clock.observed:
        lookups = for_lookups(request_options)
        with side_calls():
            scope.region_root(lookups)
            if ask and not pipeline.server_clock.observed:
                scope.regional(api.CAPABILITIES, project=False, request_options=lookups)
    return pipeline.server_time()
