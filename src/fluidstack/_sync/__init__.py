"""Deprecated: the platform clients' resource classes moved to :mod:`fluidstack.platform._sync`.

Its modules (``fluidstack._sync.instances`` and friends) are aliases of the new ones.
"""

from fluidstack._moved import deprecate

deprecate(__name__, "fluidstack.platform._sync")
