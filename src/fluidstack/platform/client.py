"""The clients: :class:`FluidStack` (synchronous) and :class:`AsyncFluidStack`.

from fluidstack.platform import FluidStack

client = FluidStack()  # reads FLUIDSTACK_API_KEY
for instance in client.instances.list():
    print(instance.id, instance.status)
"""

from ..core.config import FluidStackEnvironment
from ._async.client import AsyncFluidStack
from ._sync.client import FluidStack

__all__ = ["AsyncFluidStack", "FluidStack", "FluidStackEnvironment"]
