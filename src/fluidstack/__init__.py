"""FluidStack GPU cloud: Python SDK."""
