"""Ray's cluster launcher and autoscaler on FluidStack (``pip install 'fluidstack[ray]'``).

In a cluster YAML::

    provider:
      type: external
      module: fluidstack.integrations.ray.FluidStackNodeProvider
      api: atlas          # or: platform

See ``docs/ray.md`` and ``examples/ray/``. Needs Ray, hence Python 3.10 or later.
"""

try:
    from .provider import FluidStackNodeProvider
except ImportError as exc:  # say which extra, not only which module, is missing
    from ..._extras import missing_extra

    hint = missing_extra(exc)
    if hint is None:
        raise
    raise ImportError(f"fluidstack.integrations.ray needs Ray: {hint}") from exc

__all__ = ["FluidStackNodeProvider"]
