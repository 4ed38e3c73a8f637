"""Deprecated: the account's endpoints are in :mod:`fluidstack.platform.endpoints`."""

from fluidstack._moved import deprecate
from fluidstack.platform.endpoints import (
    AUTH_CALLBACK as AUTH_CALLBACK,
)
from fluidstack.platform.endpoints import (
    AUTH_SESSION as AUTH_SESSION,
)
from fluidstack.platform.endpoints import (
    AUTH_URL as AUTH_URL,
)
from fluidstack.platform.endpoints import (
    AUTH_USER as AUTH_USER,
)
from fluidstack.platform.endpoints import (
    CREATE_API_KEY as CREATE_API_KEY,
)
from fluidstack.platform.endpoints import (
    CREATE_PAYMENT_INTENT as CREATE_PAYMENT_INTENT,
)
from fluidstack.platform.endpoints import (
    DELETE_API_KEY as DELETE_API_KEY,
)
from fluidstack.platform.endpoints import (
    GET_BALANCE as GET_BALANCE,
)
from fluidstack.platform.endpoints import (
    HEALTHCHECK as HEALTHCHECK,
)
from fluidstack.platform.endpoints import (
    LIST_API_KEYS as LIST_API_KEYS,
)
from fluidstack.platform.endpoints import (
    UPDATE_COMPANY_DETAILS as UPDATE_COMPANY_DETAILS,
)

deprecate(__name__, "fluidstack.platform.endpoints")
