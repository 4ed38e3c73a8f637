"""The two APIs behind the Ray provider, and :func:`make_backend`, which picks one.

The shared interface is :mod:`._backend`; the backends are :mod:`._atlas_backend` and
:mod:`._platform_backend`. The names once defined here are re-exported for imports
that still come here.
"""

from __future__ import annotations

from ._atlas_backend import (
    AtlasBackend,
    cloud_config_with_key,
    find_or_create_project,
    make_atlas_client,
    memory_bytes,
)
from ._backend import (
    API_FAILURE,
    FAILED,
    NO_CAPACITY,
    OBJECT_STORE_SHARE,
    PENDING,
    PROVISION_FAILED,
    PROVISION_TIMEOUT,
    RUNNING,
    STOPPED,
    TERMINATED,
    Backend,
    LaunchError,
    Node,
)
from ._config import API_ATLAS, ProviderSettings
from ._platform_backend import PlatformBackend, make_platform_client

__all__ = [
    "API_FAILURE",
    "FAILED",
    "NO_CAPACITY",
    "OBJECT_STORE_SHARE",
    "PENDING",
    "PROVISION_FAILED",
    "PROVISION_TIMEOUT",
    "RUNNING",
    "STOPPED",
    "TERMINATED",
    "AtlasBackend",
    "Backend",
    "LaunchError",
    "Node",
    "PlatformBackend",
    "cloud_config_with_key",
    "find_or_create_project",
    "make_atlas_client",
    "make_backend",
    "make_platform_client",
    "memory_bytes",
]


def make_backend(settings: ProviderSettings) -> Backend:
    """The backend of the API the cluster's provider config names (``api:``)."""
    return AtlasBackend(settings) if settings.api == API_ATLAS else PlatformBackend(settings)
