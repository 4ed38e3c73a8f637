"""Adapters that run other engines on FluidStack.

- :mod:`fluidstack.integrations.ray`: a node provider for Ray's cluster launcher and
  autoscaler (``pip install 'fluidstack[ray]'``, Python 3.10 and later).
"""
