"""Deprecated: the catalog's endpoints are in :mod:`fluidstack.platform.endpoints`."""

from fluidstack._moved import deprecate
from fluidstack.platform.endpoints import CONFIGURATIONS as CONFIGURATIONS
from fluidstack.platform.endpoints import TEMPLATES as TEMPLATES

deprecate(__name__, "fluidstack.platform.endpoints")
