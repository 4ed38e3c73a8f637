"""Old import paths that keep working after the platform SDK moved to ``fluidstack.platform``.

A moved module's old file calls :func:`alias`: the old name then *is* the new module
(the same object in ``sys.modules``), so classes compare equal whichever path imported
them, and patching one path patches the other. Undocumented paths also warn, naming the
new one; documented paths (``fluidstack.client``, ``fluidstack.types``, ...) do not.
"""

from __future__ import annotations

import importlib
import sys
import warnings


def alias(old: str, new: str, *, deprecated: bool) -> None:
    """Make module ``old`` the module ``new``; warn first when ``deprecated``."""
    if deprecated:
        deprecate(old, new, stacklevel=4)
    sys.modules[old] = importlib.import_module(new)


def deprecate(old: str, new: str, stacklevel: int = 3) -> None:
    """Warn that ``old`` is an internal path that moved to ``new``.

    The default ``stacklevel`` names the line that imported the old module when called
    from that module's body (Python skips the import machinery's own frames)."""
    warnings.warn(
        f"{old} is an internal module that moved to {new}; import from there",
        DeprecationWarning,
        stacklevel=stacklevel,
    )
