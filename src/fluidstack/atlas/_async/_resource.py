"""What every resource class of the asynchronous Atlas client shares."""

from __future__ import annotations

from ...core._async.pipeline import AsyncPipeline
from .scope import AsyncScope

__all__ = ["AsyncAtlasResource"]


class AsyncAtlasResource:
    """A group of Atlas operations bound to one client's (or view's) region and project."""

    def __init__(self, scope: AsyncScope) -> None:
        self._scope = scope

    @property
    def _pipeline(self) -> AsyncPipeline:
        return self._scope.pipeline
