"""Deprecated: the instances' endpoints are in :mod:`fluidstack.platform.endpoints`,
named as Atlas names them (``LIST`` is ``INSTANCES`` there, ``GET`` ``INSTANCE``,
``CREATE`` ``INSTANCE_CREATE``, ``STOP`` ``INSTANCE_STOP``, ...)."""

from fluidstack._moved import deprecate
from fluidstack.platform import endpoints as _endpoints
from fluidstack.platform.endpoints import GENERATED_NAME_PREFIX as GENERATED_NAME_PREFIX
from fluidstack.platform.endpoints import as_create_response as as_create_response
from fluidstack.platform.endpoints import create_body as create_body
from fluidstack.platform.endpoints import find_all_created as find_all_created
from fluidstack.platform.endpoints import find_created as find_created
from fluidstack.platform.endpoints import generated_name as generated_name

LIST = _endpoints.INSTANCES
CREATE = _endpoints.INSTANCE_CREATE
GET = _endpoints.INSTANCE
DELETE = _endpoints.INSTANCE_DELETE
STOP = _endpoints.INSTANCE_STOP
START = _endpoints.INSTANCE_START
RENAME = _endpoints.INSTANCE_RENAME

deprecate(__name__, "fluidstack.platform.endpoints")
