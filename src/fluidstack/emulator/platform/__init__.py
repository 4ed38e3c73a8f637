"""The FluidStack platform API (``platform.fluidstack.io``): state, routes, catalog, specs."""
