"""Ray's cluster launcher and autoscaler on FluidStack (``pip install 'fluidstack[ray]'``).

In a cluster YAML::

    provider:
      type: external
      module: fluidstack.integrations.ray.FluidStackNodeProvider
      api: atlas          # or: platform

See ``docs/ray.md`` and ``examples/ray/``. Needs Ray, hence Python 3.10 or later.
"""

from .provider import FluidStackNodeProvider

__all__ = ["FluidStackNodeProvider"]
