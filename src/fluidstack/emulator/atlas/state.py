"""The emulated Atlas: organizations and their OAuth clients, members, invitations, user
SSH keys, and per region projects, instances, filesystems and orchestrator clusters.

:class:`AtlasState` is composed of one mixin per resource on a shared store, as on the
platform side (see :mod:`fluidstack.emulator.platform.state` for why mixins):

- :mod:`~fluidstack.emulator.atlas.records`: the dataclasses and timings.
- :mod:`~fluidstack.emulator.atlas.base`: the records in memory, load and journal (on
  :class:`~fluidstack.emulator.journaled.JournaledState`, shared with the platform).
- ``auth.py``, ``organization.py``, ``projects.py``, ``regions.py``, ``instances.py``,
  ``admin.py``, ``orchestrators.py`` (Kubernetes and Slurm clusters and node pools):
  the behaviour, one resource each; users and logins in ``users.py``.

The names below were importable from this module before the split and stay so.
"""

from __future__ import annotations

from fluidstack.emulator.atlas.admin import AdminMixin
from fluidstack.emulator.atlas.auth import AuthMixin
from fluidstack.emulator.atlas.base import TABLE
from fluidstack.emulator.atlas.instances import InstancesMixin
from fluidstack.emulator.atlas.orchestrators import OrchestratorsMixin
from fluidstack.emulator.atlas.organization import OrganizationMixin
from fluidstack.emulator.atlas.projects import ProjectsMixin
from fluidstack.emulator.atlas.records import (
    CLUSTER_HEALTH,
    CLUSTER_TYPES,
    CONSUMING,
    CREATING_SECONDS,
    DELETING_SECONDS,
    GONE,
    ORG_NAMESPACE,
    PROJECT_DELETING_SECONDS,
    ROLES,
    STARTING_SECONDS,
    STOPPING_SECONDS,
    TRANSITIONAL,
    Cluster,
    Filesystem,
    Instance,
    Invitation,
    Member,
    Organization,
    Project,
    ProvisioningFailure,
    Region,
    UserKey,
    hash_secret,
    org_id_for,
)

__all__ = [
    "CLUSTER_HEALTH",
    "CLUSTER_TYPES",
    "CONSUMING",
    "CREATING_SECONDS",
    "DELETING_SECONDS",
    "GONE",
    "ORG_NAMESPACE",
    "PROJECT_DELETING_SECONDS",
    "ROLES",
    "STARTING_SECONDS",
    "STOPPING_SECONDS",
    "TABLE",
    "TRANSITIONAL",
    "AtlasState",
    "Cluster",
    "Filesystem",
    "Instance",
    "Invitation",
    "Member",
    "Organization",
    "Project",
    "ProvisioningFailure",
    "Region",
    "UserKey",
    "hash_secret",
    "org_id_for",
]


class AtlasState(
    AdminMixin,
    AuthMixin,
    OrchestratorsMixin,
    InstancesMixin,
    OrganizationMixin,
    ProjectsMixin,
):
    """All Atlas state, guarded by the emulator's one lock and persisted with its store.

    Construct it as ``AtlasState(settings, *, clock=None, lock=None, store=None)`` (see
    :class:`~fluidstack.emulator.atlas.base.AtlasBase`).
    """
