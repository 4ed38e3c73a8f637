"""``GET /_emulator/ssh``: where the emulator's instances answer SSH (for tests and tools)."""

from __future__ import annotations

from typing import Any, Dict

from fastapi import APIRouter, Request

__all__ = ["control"]

control = APIRouter(prefix="/_emulator")


@control.get("/ssh")
def ssh_info(request: Request) -> Dict[str, Any]:
    """``{"enabled", "atlas_port", "directory", "slurm"}``: whether ``--ssh`` is on, the
    port all Atlas instances share, the folder holding one directory per instance (by
    id), and the Slurm rehearsal (``--slurm``: ``{"conf", "directory", "node",
    "partition"}``, else ``None``)."""
    emulator = request.app.state.emulator
    machines = emulator.ssh
    if machines is None:
        return {"enabled": False, "atlas_port": None, "directory": None, "slurm": None}
    slurm = emulator.slurm
    return {
        "enabled": True,
        "atlas_port": machines.atlas_port,
        "directory": str(machines.root),
        "slurm": None if slurm is None else slurm.info(),
    }
