"""The ``fluidstack`` command line (install with ``pip install 'fluidstack[cli]'``).

Only :func:`main` lives here; the commands are in the submodules, which import the SDK,
pydantic and Rich inside the commands that need them, so ``fluidstack --help`` is fast.
"""

from __future__ import annotations

from typing import List, Optional

__all__ = ["main"]


def main(argv: Optional[List[str]] = None) -> None:
    """Entry point of the ``fluidstack`` console script; exits with the command's code."""
    from .app import run

    run(argv)
