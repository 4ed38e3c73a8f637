"""The platform API (``platform.fluidstack.io``, authenticated with an ``api-key``).

    from fluidstack.platform import FluidStack   # also: from fluidstack import FluidStack

    client = FluidStack()  # reads FLUIDSTACK_API_KEY
    client.instances.list()

The layout mirrors :mod:`fluidstack.atlas`: the clients in ``client.py``, the endpoint
tables in ``endpoints.py``, the models in ``types``, the resource classes in ``_async``
(written by hand) and ``_sync`` (generated from it), and one module per concept besides
(``launch``, ``spend``, ``cost``). Names are imported on first use, so importing this
package stays cheap.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Dict

from .._lazy import lazy_attributes

if TYPE_CHECKING:
    from .client import AsyncFluidStack, FluidStack, FluidStackEnvironment

_LAZY: Dict[str, str] = {
    "AsyncFluidStack": "fluidstack.platform._async.client",
    "FluidStack": "fluidstack.platform._sync.client",
    "FluidStackEnvironment": "fluidstack.core.config",
}

__all__ = ["AsyncFluidStack", "FluidStack", "FluidStackEnvironment"]


__getattr__, __dir__ = lazy_attributes(__name__, _LAZY)
