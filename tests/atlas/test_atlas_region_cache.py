"""Region URLs kept from an earlier process (``region_urls=``/``on_regions=``): no
``GET /regions`` when they are known, one more look when they fail (issue 24). The
requests are counted in the emulator's journal."""

from __future__ import annotations

from typing import Dict, List, Tuple

import pytest
from atlas_client_support import AtlasClients

from fluidstack.core import NotFoundError
from support import resolve

pytestmark = pytest.mark.anyio


def sent(clients: AtlasClients, mark: int) -> List[Tuple[str, str]]:
    """The (method, path) of every request since ``mark``, token requests left out."""
    return [
        (e["method"], e["path"])
        for e in clients.emulator.journal()[mark:]
        if e["path"] != "/oauth/token"
    ]


REGIONS = ("GET", "/api/v1alpha1/regions")
PROJECTS = ("GET", "/regions/eu-north-1/api/v1alpha1/projects")
MISSING = "00000000-0000-4000-8000-000000000000"


async def test_regions_read_are_given_to_on_regions(atlas_clients: AtlasClients) -> None:
    kept: List[Dict[str, str]] = []
    atlas = atlas_clients.make(on_regions=kept.append)
    mark = len(atlas_clients.emulator.journal())
    await resolve(atlas.projects.list())
    assert sent(atlas_clients, mark) == [REGIONS, PROJECTS]
    base = atlas_clients.emulator.base_url
    assert kept == [
        {"eu-north-1": f"{base}/regions/eu-north-1", "us-east-1": f"{base}/regions/us-east-1"}
    ]


async def test_kept_region_urls_save_the_region_lookup(atlas_clients: AtlasClients) -> None:
    base = atlas_clients.emulator.base_url
    kept: List[Dict[str, str]] = []
    atlas = atlas_clients.make(
        region_urls={"eu-north-1": f"{base}/regions/eu-north-1"}, on_regions=kept.append
    )
    mark = len(atlas_clients.emulator.journal())
    await resolve(atlas.projects.list())
    await resolve(atlas.projects.list())
    assert sent(atlas_clients, mark) == [PROJECTS, PROJECTS]
    assert kept == []


async def test_a_region_not_kept_is_looked_up(atlas_clients: AtlasClients) -> None:
    base = atlas_clients.emulator.base_url
    atlas = atlas_clients.make(region_urls={"us-east-1": f"{base}/regions/us-east-1"})
    mark = len(atlas_clients.emulator.journal())
    await resolve(atlas.projects.list())
    assert sent(atlas_clients, mark) == [REGIONS, PROJECTS]


async def test_a_kept_url_answering_404_is_looked_up_again(atlas_clients: AtlasClients) -> None:
    base = atlas_clients.emulator.base_url
    kept: List[Dict[str, str]] = []
    atlas = atlas_clients.make(
        region_urls={"eu-north-1": f"{base}/regions/moved-away"}, on_regions=kept.append
    )
    mark = len(atlas_clients.emulator.journal())
    projects = await resolve(atlas.projects.list())
    assert isinstance(projects, list)
    assert sent(atlas_clients, mark) == [
        ("GET", "/regions/moved-away/api/v1alpha1/projects"),
        REGIONS,
        PROJECTS,
    ]
    assert kept[-1]["eu-north-1"] == f"{base}/regions/eu-north-1"
    # From now on the URL is the client's own: a 404 is an answer, not a stale cache.
    mark = len(atlas_clients.emulator.journal())
    with pytest.raises(NotFoundError):
        await resolve(atlas.projects.get(MISSING))
    assert REGIONS not in sent(atlas_clients, mark)


async def test_a_404_from_a_current_url_stands(atlas_clients: AtlasClients) -> None:
    base = atlas_clients.emulator.base_url
    atlas = atlas_clients.make(region_urls={"eu-north-1": f"{base}/regions/eu-north-1"})
    mark = len(atlas_clients.emulator.journal())
    with pytest.raises(NotFoundError):
        await resolve(atlas.projects.get(MISSING))
    # The kept URL was asked once more against the list, and did not move: one 404 only.
    calls = sent(atlas_clients, mark)
    assert calls.count(REGIONS) == 1
    assert len([c for c in calls if c[1].endswith(MISSING)]) == 1
