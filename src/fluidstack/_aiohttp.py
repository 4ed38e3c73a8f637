"""Deprecated alias of :mod:`fluidstack.core.aiohttp_client` (an internal path that moved)."""

from typing import TYPE_CHECKING

from fluidstack._moved import alias

if TYPE_CHECKING:
    from fluidstack.core.aiohttp_client import *  # noqa: F403

alias(__name__, "fluidstack.core.aiohttp_client", deprecated=True)
