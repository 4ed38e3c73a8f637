"""Deprecated alias of :mod:`fluidstack.platform._sync.spend` (an internal path that moved)."""

from typing import TYPE_CHECKING

from fluidstack._moved import alias

if TYPE_CHECKING:
    from fluidstack.platform._sync.spend import *  # noqa: F403

alias(__name__, "fluidstack.platform._sync.spend", deprecated=True)
