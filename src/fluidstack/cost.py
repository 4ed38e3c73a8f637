"""Alias of :mod:`fluidstack.platform.cost`, kept so that old imports keep working."""

from typing import TYPE_CHECKING

from fluidstack._moved import alias

if TYPE_CHECKING:
    from fluidstack.platform.cost import *  # noqa: F403

alias(__name__, "fluidstack.platform.cost", deprecated=False)
