"""Deprecated: the platform clients' resource classes moved to :mod:`fluidstack.platform._async`.

Its modules (``fluidstack._async.instances`` and friends) are aliases of the new ones.
"""

from fluidstack._moved import deprecate

deprecate(__name__, "fluidstack.platform._async")
