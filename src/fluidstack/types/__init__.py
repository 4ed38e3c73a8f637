"""Alias of :mod:`fluidstack.platform.types`: the platform API's models and enumerations.

Kept so that ``from fluidstack.types import InstanceResponse`` (and its submodules,
``fluidstack.types.instances`` and friends) keep working.
"""

from fluidstack.platform.types import *  # noqa: F403
from fluidstack.platform.types import __all__ as __all__
