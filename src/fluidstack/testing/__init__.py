"""Testing helpers built on the FluidStack emulator.

The pytest fixtures live in :mod:`fluidstack.testing.plugin` (loaded automatically as
the ``fluidstack`` pytest plugin); :class:`EmulatorHandle` is the object they yield.
"""

from fluidstack.testing.handle import AtlasControl, EmulatorControlError, EmulatorHandle

__all__ = ["AtlasControl", "EmulatorControlError", "EmulatorHandle"]
