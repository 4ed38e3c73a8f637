"""Fixtures of the Atlas emulator tests in this folder (helpers: ``login_support.py``)."""

from __future__ import annotations

from typing import Iterator

import httpx
import pytest
from atlas_support import AtlasConformance

from fluidstack.testing import EmulatorHandle


@pytest.fixture
def browser(emulator: EmulatorHandle) -> Iterator[httpx.Client]:
    """A browser at the emulator: it sees the redirects ``/authorize`` answers, unfollowed."""
    with httpx.Client(base_url=emulator.base_url, follow_redirects=False) as client:
        yield client


@pytest.fixture
def oauth(emulator: EmulatorHandle, atlas_conformance: AtlasConformance) -> Iterator[httpx.Client]:
    """A client of ``/oauth/token`` whose every answer is checked against Atlas's spec.
    (A test module may define its own ``oauth``; pytest then uses that one.)"""
    hooks = {"response": [atlas_conformance.check_response]}
    with httpx.Client(base_url=emulator.base_url, event_hooks=hooks) as client:
        yield client
