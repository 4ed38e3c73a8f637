"""A faithful, stateful local FluidStack API server (``pip install fluidstack[emulator]``):
the platform API at the root and FluidStack Atlas (``/oauth/token``, ``/api/v1alpha1``,
``/regions/<name>/api/v1alpha1``) beside it, on one port.

In-process::

    import httpx
    from fluidstack.emulator import EmulatorSettings, create_app

    app = create_app(EmulatorSettings(manual_clock=True, seed=1))
    client = httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="http://emu")

On a port, from a background thread::

    from fluidstack.emulator import EmulatorServer, EmulatorSettings

    with EmulatorServer(EmulatorSettings(port=0)) as server:
        ...  # server.base_url, server.api_key

The heavy imports (FastAPI, uvicorn) happen on first use of :func:`create_app` or
:class:`EmulatorServer`, so importing this package is cheap.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from fluidstack.emulator.settings import (
    DEV_API_KEY,
    DEV_ATLAS_CLIENT_ID,
    DEV_ATLAS_CLIENT_SECRET,
    DEV_ATLAS_PUBLIC_CLIENT_ID,
    DEV_ATLAS_USER_EMAIL,
    FLUIDCTL_PUBLIC_CLIENT_ID,
    EmulatorSettings,
)

if TYPE_CHECKING:
    from fastapi import FastAPI

    from fluidstack.emulator.server import EmulatorServer

__all__ = [
    "DEV_API_KEY",
    "DEV_ATLAS_CLIENT_ID",
    "DEV_ATLAS_CLIENT_SECRET",
    "DEV_ATLAS_PUBLIC_CLIENT_ID",
    "DEV_ATLAS_USER_EMAIL",
    "FLUIDCTL_PUBLIC_CLIENT_ID",
    "EmulatorServer",
    "EmulatorSettings",
    "create_app",
]


def create_app(settings: EmulatorSettings | None = None, *, check_host: bool = False) -> FastAPI:
    """The emulator as a FastAPI (ASGI) app; see :mod:`fluidstack.emulator.app`
    (``check_host=True`` when you serve it on a socket yourself)."""
    from fluidstack.emulator.app import create_app as _create_app

    return _create_app(settings, check_host=check_host)


def __getattr__(name: str) -> Any:
    if name == "EmulatorServer":
        from fluidstack.emulator.server import EmulatorServer

        return EmulatorServer
    raise AttributeError(f"module 'fluidstack.emulator' has no attribute {name!r}")
