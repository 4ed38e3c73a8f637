# Generated from fluidstack/platform/_async by scripts/unasync.py: do not edit by hand.
"""The server's time, which leases and sweeps are judged by (this machine's clock may be
off by hours)."""

from __future__ import annotations

import datetime as dt
from typing import Optional

from ...core._sync.pipeline import Pipeline
from ...core.raw import side_calls
from ...core.request_options import RequestOptions, for_lookups
from .. import endpoints as api

__all__ = ["server_now"]


def server_now(pipeline: Pipeline, request_options: Optional[RequestOptions]) -> dt.datetime:
    """The server's time now. A client that has not heard from the server yet asks it
    first (the health check)."""
    if not pipeline.server_clock.observed:
        with side_calls():
            pipeline.call(api.HEALTHCHECK, request_options=for_lookups(request_options))
    return pipeline.server_time()
