"""Deprecated alias of :mod:`fluidstack.platform._async.instances` (an internal path that moved)."""

from typing import TYPE_CHECKING

from fluidstack._moved import alias

if TYPE_CHECKING:
    from fluidstack.platform._async.instances import *  # noqa: F403

alias(__name__, "fluidstack.platform._async.instances", deprecated=True)
