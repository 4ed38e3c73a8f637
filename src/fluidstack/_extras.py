"""Which optional extra provides a missing module, so that a command whose extra is not
installed can say what to install instead of failing with a traceback."""

from __future__ import annotations

from typing import Dict, FrozenSet, Optional

__all__ = ["EXTRAS", "missing_extra"]

EXTRAS: Dict[str, FrozenSet[str]] = {
    "aiohttp": frozenset({"aiohttp", "httpx_aiohttp"}),
    "cli": frozenset({"click", "rich", "yaml", "tomli_w", "tomli"}),
    "emulator": frozenset({"fastapi", "starlette", "uvicorn", "httptools", "jwt"}),
    "ssh": frozenset({"asyncssh", "pathspec"}),
    "ray": frozenset({"ray"}),
    # PyYAML comes with the CLI too, which is named first; kubeconfig code names this one.
    "kubernetes": frozenset({"yaml"}),
}
"""The top-level modules each extra installs."""


def missing_extra(error: ImportError) -> Optional[str]:
    """The ``pip install`` command that provides the module ``error`` is about, or
    ``None`` when no extra does (a genuine bug, to be raised as it is)."""
    top = (error.name or "").split(".", 1)[0]
    for extra, modules in EXTRAS.items():
        if top in modules:
            return f"pip install 'fluidstack[{extra}]'"
    return None
