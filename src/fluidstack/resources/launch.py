"""Deprecated alias of :mod:`fluidstack.platform.launch` (an internal path that moved)."""

from typing import TYPE_CHECKING

from fluidstack._moved import alias

if TYPE_CHECKING:
    from fluidstack.platform.launch import *  # noqa: F403

alias(__name__, "fluidstack.platform.launch", deprecated=True)
