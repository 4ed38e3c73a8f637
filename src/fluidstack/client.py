"""The clients: :class:`FluidStack` (synchronous) and :class:`AsyncFluidStack`.

from fluidstack.client import FluidStack

client = FluidStack()  # reads FLUIDSTACK_API_KEY
for instance in client.instances.list():
    print(instance.id, instance.status)
"""

from ._async.client import AsyncFluidStack
from ._sync.client import FluidStack
from .core.config import FluidStackEnvironment

__all__ = ["AsyncFluidStack", "FluidStack", "FluidStackEnvironment"]
