"""Bounds on what one Atlas organization can store: tags and projects (issue 23 item 8).

Without them 150 projects with a 0.9 MB tag each took the emulator from 60 to 192 MB
of memory, and one ``GET /projects`` answered 135 MB.

- **Tag keys**: 1-63 characters, starting and ending with a letter or digit, with ``-``,
  ``_`` and ``.`` between, as the Infrastructure API's create requests state it
  (``ProjectsPostRequest.tags``, ``InstancesPostRequest.tags``); checked in
  :func:`~fluidstack.emulator.atlas.call.field_tags`.
- **Tag count and value length**: the specs state none. *Inferred*: at most
  :data:`MAX_TAGS` tags and values of at most :data:`MAX_TAG_VALUE` characters, the
  bounds of AWS resource tags (50 tags, values of 256 characters) and of the emulator's
  other free-text fields (255).
- **Projects per organization**: *inferred*, ``--atlas-max-projects`` (default 100).
  Past it ``POST /projects`` answers **403**, not 400: the request is well-formed and
  would succeed for an organization with fewer projects (a quota, like Google Cloud's
  project quota), and the later Infrastructure API docs list 403 for ``POST /projects``
  (NOTES.md section 8.2). A deleting project counts until it is gone.

Every refusal is the API's ``Error`` body (``{"message"}``) naming the limit.
"""

from __future__ import annotations

from typing import Any, Dict

from fluidstack.emulator.responses import ApiError

__all__ = ["MAX_TAGS", "MAX_TAG_VALUE", "check_project_count", "check_tag_bounds"]

MAX_TAGS = 50
"""Most tags on one project or instance (inferred)."""
MAX_TAG_VALUE = 256
"""Longest tag value, in characters (inferred)."""


def check_tag_bounds(tags: Dict[str, Any]) -> None:
    """400 when there are too many tags or a value is too long (before anything is kept)."""
    if len(tags) > MAX_TAGS:
        raise ApiError(400, f"'tags' has {len(tags)} tags: at most {MAX_TAGS} are allowed")
    for key, value in tags.items():
        if isinstance(value, str) and len(value) > MAX_TAG_VALUE:
            raise ApiError(
                400,
                f"Tag {str(key)[:80]!r} has a value of {len(value)} characters: at most "
                f"{MAX_TAG_VALUE} are allowed",
            )


def check_project_count(held: int, limit: int) -> None:
    """403 when an organization already holds ``limit`` projects (``limit`` 0: none)."""
    if limit and held >= limit:
        raise ApiError(
            403,
            f"The organization has {held} projects, the most allowed ({limit}): delete one first",
        )
