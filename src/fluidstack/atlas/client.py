"""The Atlas clients: :class:`Atlas` (synchronous) and :class:`AsyncAtlas`."""

from ._async.client import AsyncAtlas
from ._sync.client import Atlas

__all__ = ["AsyncAtlas", "Atlas"]
