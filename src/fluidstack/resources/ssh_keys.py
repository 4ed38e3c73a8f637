"""Deprecated: the SSH keys' endpoints are in :mod:`fluidstack.platform.endpoints`
(``LIST`` is ``SSH_KEYS`` there, ``CREATE`` ``SSH_KEY_CREATE``, ``DELETE`` ``SSH_KEY_DELETE``)."""

from fluidstack._moved import deprecate
from fluidstack.platform import endpoints as _endpoints
from fluidstack.platform.endpoints import find_stored as find_stored

LIST = _endpoints.SSH_KEYS
CREATE = _endpoints.SSH_KEY_CREATE
DELETE = _endpoints.SSH_KEY_DELETE

deprecate(__name__, "fluidstack.platform.endpoints")
