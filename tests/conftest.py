"""Shared fixtures: every SDK test runs against both clients."""

from __future__ import annotations

from typing import Iterator

import httpx
import pytest

from support import Harness


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(params=["sync", "async"])
def harness(request: pytest.FixtureRequest) -> Iterator[Harness]:
    """A factory of sync (then async) clients on a mock transport with a fake clock."""
    h = Harness(request.param)
    yield h
    for http in h._closers:
        if isinstance(http, httpx.Client):
            http.close()
