"""Alias of :mod:`fluidstack.platform.spend`, kept so that old imports keep working."""

from typing import TYPE_CHECKING

from fluidstack._moved import alias

if TYPE_CHECKING:
    from fluidstack.platform.spend import *  # noqa: F403

alias(__name__, "fluidstack.platform.spend", deprecated=False)
