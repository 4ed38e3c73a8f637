"""``GET /_emulator/ssh``: where the emulator's instances answer SSH (for tests and tools)."""

from __future__ import annotations

from typing import Any, Dict

from fastapi import APIRouter, Request

__all__ = ["control"]

control = APIRouter(prefix="/_emulator")


@control.get("/ssh")
def ssh_info(request: Request) -> Dict[str, Any]:
    """``{"enabled", "atlas_port", "directory"}``: whether ``--ssh`` is on, the port all
    Atlas instances share, and the folder holding one directory per instance (by id)."""
    machines = request.app.state.emulator.ssh
    if machines is None:
        return {"enabled": False, "atlas_port": None, "directory": None}
    return {"enabled": True, "atlas_port": machines.atlas_port, "directory": str(machines.root)}
