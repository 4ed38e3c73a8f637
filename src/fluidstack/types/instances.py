"""Alias of :mod:`fluidstack.platform.types.instances`, kept so that old imports keep working."""

from typing import TYPE_CHECKING

from fluidstack._moved import alias

if TYPE_CHECKING:
    from fluidstack.platform.types.instances import *  # noqa: F403

alias(__name__, "fluidstack.platform.types.instances", deprecated=False)
