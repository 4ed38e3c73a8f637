"""FluidStack Atlas (v1alpha1): the OAuth token endpoint, the Management API and the
regional APIs, with their state, routes, control API and the specs they follow."""
