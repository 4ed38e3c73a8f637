"""Deprecated alias of :mod:`fluidstack.core.models` (an internal path that moved)."""

from typing import TYPE_CHECKING

from fluidstack._moved import alias

if TYPE_CHECKING:
    from fluidstack.core.models import *  # noqa: F403

alias(__name__, "fluidstack.core.models", deprecated=True)
