"""The ``fluidstack`` command line (install with ``pip install 'fluidstack[cli]'``).

Only :func:`main` lives here; the commands are in the submodules, which import the SDK,
pydantic and Rich inside the commands that need them, so ``fluidstack --help`` is fast.
"""

from __future__ import annotations

import sys
from typing import List, Optional

__all__ = ["main"]


def main(argv: Optional[List[str]] = None) -> None:
    """Entry point of the ``fluidstack`` console script; exits with the command's code."""
    from .collector import defer_collection, skip_final_collection

    defer_collection()  # the start-up's long-lived objects are no garbage to look for
    try:
        from .app import run
    except ImportError as exc:
        from .._extras import missing_extra

        command = missing_extra(exc)
        if command is None:
            raise
        sys.stderr.write(
            f"fluidstack: the command line needs its extra ({exc.name} is missing): {command}\n"
        )
        raise SystemExit(2) from None
    try:
        run(argv)
    finally:
        if argv is None:  # the program's own run (not a caller's, which goes on)
            skip_final_collection()
