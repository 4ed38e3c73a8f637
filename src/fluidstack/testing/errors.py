"""The error of the pytest handle's control calls (apart, so that every helper module of
:mod:`fluidstack.testing` can raise it without importing the handle)."""

from __future__ import annotations

__all__ = ["EmulatorControlError"]


class EmulatorControlError(RuntimeError):
    """A control-API call (``/_emulator/*``) was refused by the emulator."""
