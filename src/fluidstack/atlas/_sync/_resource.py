# Generated from fluidstack/atlas/_async by scripts/unasync.py: do not edit by hand.
"""What every resource class of the synchronous Atlas client shares."""

from __future__ import annotations

from ...core._sync.pipeline import Pipeline
from .scope import Scope

__all__ = ["AtlasResource"]


class AtlasResource:
    """A group of Atlas operations bound to one client's (or view's) region and project."""

    def __init__(self, scope: Scope) -> None:
        self._scope = scope

    @property
    def _pipeline(self) -> Pipeline:
        return self._scope.pipeline
