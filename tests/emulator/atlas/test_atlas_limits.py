"""Issue 23 item 8: bounded tags and projects.

Before: 150 projects with a 0.9 MB tag each took the emulator from 60 to 192 MB and
``GET /projects`` answered 135 MB. Now tags are bounded (count and value length inferred,
key rule from the spec) on every route that takes them, and an organization holds at
most ``--atlas-max-projects`` projects (403 past it).
"""

from __future__ import annotations

from typing import Any, Dict, Iterator

import httpx
import pytest
from atlas_support import AtlasFactory

from fluidstack.emulator import EmulatorServer, EmulatorSettings
from fluidstack.emulator.__main__ import build_parser, settings_from_args
from fluidstack.emulator.atlas.limits import MAX_TAG_VALUE, MAX_TAGS

REGION = "eu-north-1"


def _tags(count: int, value: str = "v") -> Dict[str, str]:
    return {f"key-{index}": value for index in range(count)}


@pytest.fixture(params=["projects", "instances"])
def tagged_post(request: pytest.FixtureRequest, eu: httpx.Client) -> Any:
    """POST to a route that takes tags, with ``tags`` added to a valid body."""
    path = request.param
    body = {"name": "tagged"} if path == "projects" else {"name": "tagged", "type": "cpu.2x"}

    def post(tags: Any) -> httpx.Response:
        return eu.post(f"/{path}", json={**body, "tags": tags})

    return post


def test_tags_at_the_limits_are_kept(tagged_post: Any) -> None:
    tags = _tags(MAX_TAGS, "x" * MAX_TAG_VALUE)
    tags["k" * 63] = "long key"  # the spec's longest key
    del tags["key-0"]
    created = tagged_post(tags)
    assert created.status_code == 201, created.text
    assert created.json()["tags"] == tags


def test_too_many_tags_is_400_naming_the_limit(tagged_post: Any) -> None:
    refused = tagged_post(_tags(MAX_TAGS + 1))
    assert refused.status_code == 400
    assert f"at most {MAX_TAGS}" in refused.json()["message"]


def test_a_long_tag_value_is_400_naming_the_limit(tagged_post: Any) -> None:
    refused = tagged_post({"team": "x" * (MAX_TAG_VALUE + 1)})
    assert refused.status_code == 400
    message = refused.json()["message"]
    assert "'team'" in message
    assert f"at most {MAX_TAG_VALUE}" in message


def test_the_issue_s_attack_is_refused_before_anything_is_kept(
    atlas_factory: AtlasFactory, eu: httpx.Client
) -> None:
    before = len(eu.get("/projects").json())
    huge = {"blob": "x" * 900_000}  # the issue's 0.9 MB tag
    assert eu.post("/projects", json={"name": "big", "tags": huge}).status_code == 400
    assert len(eu.get("/projects").json()) == before


def test_a_bad_tag_key_is_still_refused(tagged_post: Any) -> None:
    for key in ("", "-leading", "k" * 64, "sp ace"):
        assert tagged_post({key: "v"}).status_code == 400, key


# -- projects per organization --------------------------------------------------------


@pytest.fixture
def capped() -> Iterator[httpx.Client]:
    with EmulatorServer(EmulatorSettings(port=0, log_level="warning", atlas_max_projects=3)) as s:
        with httpx.Client(base_url=s.base_url) as http:
            token = http.post(
                "/oauth/token",
                data={
                    "grant_type": "client_credentials",
                    "client_id": "fs-emulator-client",
                    "client_secret": "fs-emulator-secret",
                },
            ).json()["access_token"]
        with httpx.Client(
            base_url=f"{s.base_url}/regions/{REGION}/api/v1alpha1",
            headers={"authorization": f"Bearer {token}"},
        ) as client:
            yield client


def test_projects_per_organization_are_capped_with_403(capped: httpx.Client) -> None:
    held = len(capped.get("/projects").json())
    for index in range(3 - held):
        assert capped.post("/projects", json={"name": f"p{index}"}).status_code == 201
    refused = capped.post("/projects", json={"name": "one-too-many"})
    assert refused.status_code == 403
    assert "most allowed (3)" in refused.json()["message"]
    assert len(capped.get("/projects").json()) == 3


def test_a_project_frees_its_place_once_gone(capped: httpx.Client) -> None:
    held = len(capped.get("/projects").json())
    ids = [capped.post("/projects", json={"name": f"p{i}"}).json()["id"] for i in range(3 - held)]
    assert capped.delete(f"/projects/{ids[-1]}").status_code == 204
    # Deleting, it still counts: its place is free only once it is gone.
    assert capped.post("/projects", json={"name": "again"}).status_code == 403


def test_the_project_cap_flag() -> None:
    assert EmulatorSettings().atlas_max_projects == 100
    assert settings_from_args(build_parser().parse_args([])).atlas_max_projects == 100
    parsed = build_parser().parse_args(["--atlas-max-projects", "0"])
    assert settings_from_args(parsed).atlas_max_projects == 0  # no limit
    with pytest.raises(SystemExit):
        build_parser().parse_args(["--atlas-max-projects", "-1"])
    with pytest.raises(ValueError):
        EmulatorSettings(atlas_max_projects=-1)
