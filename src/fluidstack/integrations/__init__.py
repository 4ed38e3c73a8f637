"""Adapters that run other engines on FluidStack.

- :mod:`fluidstack.integrations.ray`: a node provider for Ray's cluster launcher and
  autoscaler (``pip install 'fluidstack[ray]'``, Python 3.10 and later).
- :mod:`fluidstack.integrations.kubernetes`: writing and merging a Kubernetes cluster's
  kubeconfig (``pip install 'fluidstack[kubernetes]'``).
"""
