"""Conformance of the emulator's *inferred* behaviour (docs/emulator.md, "Inferred
behaviour (not documented by the vendor)"), checked against the real service.

Skipped unless the run targets it: ``pytest tests/live --fluidstack-target=live`` with
your credentials (see docs/emulator.md, "In your CI"). Each test quotes the line of the
docs it is the evidence for; a failure there means the emulator's guess is wrong.
Everything made is named with the run's prefix and deleted at the end of the session.
``tests/test_pytest_plugin_live.py`` runs this set against an emulator standing in for
the service (where it must pass: the emulator implements these guesses).
"""

from __future__ import annotations

import time

import pytest

from fluidstack.atlas import Atlas
from fluidstack.core.errors import ApiError, NotFoundError

pytestmark = pytest.mark.live

INSTANCE_TYPE = "cpu.2x"
"""The cheapest type (also what the spend guard must be given a price for)."""

POLL = 2.0


def _gone(atlas: Atlas, instance_id: str, timeout: float = 900.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            atlas.instances.get(instance_id)
        except NotFoundError:
            return True
        time.sleep(POLL)
    return False


def test_deleting_ends_in_a_404(atlas: Atlas) -> None:
    """Inferred: "that `deleting` ends in a 404 (the ACG example polls until 404)"."""
    instance = atlas.instances.create(type=INSTANCE_TYPE, name="deleting")
    atlas.instances.delete(instance.id)
    assert _gone(atlas, instance.id)


def test_deleting_a_project_with_instances_is_a_409(atlas: Atlas) -> None:
    """Inferred: "the 409 on deleting a project with instances or filesystems"."""
    instance = atlas.instances.create(type=INSTANCE_TYPE, name="holds-the-project")
    project_id = atlas.project_id
    assert project_id is not None
    with pytest.raises(ApiError) as raised:
        atlas.projects.delete(project_id)
    assert raised.value.status_code == 409
    atlas.instances.delete(instance.id)


def test_projects_are_organization_wide(atlas: Atlas) -> None:
    """Inferred: "**Projects are organization-wide**, visible from every region's API"."""
    project_id = atlas.project_id
    for region in atlas.regions.list():
        listed = atlas.with_options(region=region.name).projects.list()
        assert project_id in [p.id for p in listed], region.name


def test_at_most_50_tags(atlas: Atlas) -> None:
    """Inferred: "The tag count (50) and tag value length (256) limits"."""
    with pytest.raises(ApiError) as raised:
        atlas.projects.create(name="tags", tags={f"t{i}": "v" for i in range(51)})
    assert raised.value.status_code == 400


def test_tag_values_of_at_most_256_characters(atlas: Atlas) -> None:
    """Inferred: "The tag count (50) and tag value length (256) limits"."""
    with pytest.raises(ApiError) as raised:
        atlas.projects.create(name="tag-value", tags={"long": "v" * 257})
    assert raised.value.status_code == 400
