"""An instance that lives exactly as long as a ``with`` block, for both APIs' clients."""

from __future__ import annotations

from contextlib import asynccontextmanager
from typing import AsyncIterator, Awaitable, Callable, Optional, TypeVar

from ..errors import ApiError, may_have_acted
from ._io import shielded

__all__ = ["for_the_block"]

Created = TypeVar("Created")
Ready = TypeVar("Ready")


@asynccontextmanager
async def for_the_block(
    create: Callable[[], Awaitable[Created]],
    ready: Callable[[Created], Awaitable[Ready]],
    clean_up: Callable[[Optional[Created]], Awaitable[None]],
) -> AsyncIterator[Ready]:
    """Create, wait until ready, yield, and always clean up on the way out.

    ``clean_up`` runs after an exception, a failed wait, Ctrl-C or cancellation (shielded
    from the latter), and also when the create itself failed in a way that may hide a
    success (it then gets ``None`` and must look for what the create made). It does not
    run when the server certainly made nothing (a 4xx, or nothing sent).
    """
    created: Optional[Created] = None
    maybe_created = True
    try:
        try:
            created = await create()
        except ApiError as exc:
            maybe_created = may_have_acted(exc)
            raise
        yield await ready(created)
    finally:
        if maybe_created:
            with shielded():
                await clean_up(created)
