"""Alias of :mod:`fluidstack.platform.types.account`, kept so that old imports keep working."""

from typing import TYPE_CHECKING

from fluidstack._moved import alias

if TYPE_CHECKING:
    from fluidstack.platform.types.account import *  # noqa: F403

alias(__name__, "fluidstack.platform.types.account", deprecated=False)
