"""Every Atlas operation as an :class:`~fluidstack.core.endpoint.Endpoint`, and the
request bodies they take. Pure: the clients in ``_async``/``_sync`` send them.

Paths are relative to the management API's root or to a region's (both end in
``/api/v1alpha1``); the resource methods say which. The Kubernetes and Slurm rows are
declared in :mod:`fluidstack.atlas.orchestrator_endpoints` and imported from here on
first use, so that other calls do not build them.
"""

from __future__ import annotations

import base64
import re
import secrets
from typing import (
    TYPE_CHECKING,
    Any,
    Dict,
    List,
    Mapping,
    Optional,
    Sequence,
    TypeVar,
    Union,
)

from .._lazy import lazy_attributes
from ..core.endpoint import Endpoint
from .types import (
    Capability,
    Capacity,
    Cluster,
    Filesystem,
    GlobalInstance,
    Instance,
    InstanceType,
    Invitation,
    Organization,
    OrganizationMember,
    Project,
    Region,
    SSHKey,
)

if TYPE_CHECKING:
    import uuid

    from .orchestrator_endpoints import KUBERNETES as KUBERNETES
    from .orchestrator_endpoints import KUBERNETES_CLUSTERS as KUBERNETES_CLUSTERS
    from .orchestrator_endpoints import KUBERNETES_CREDENTIALS as KUBERNETES_CREDENTIALS
    from .orchestrator_endpoints import KUBERNETES_NODE_POOLS as KUBERNETES_NODE_POOLS
    from .orchestrator_endpoints import SLURM as SLURM
    from .orchestrator_endpoints import SLURM_CLUSTERS as SLURM_CLUSTERS
    from .orchestrator_endpoints import SLURM_NODE_POOLS as SLURM_NODE_POOLS
    from .orchestrator_endpoints import KubeconfigEndpoint as KubeconfigEndpoint
    from .orchestrator_endpoints import Orchestrator as Orchestrator
    from .orchestrator_endpoints import kubeconfig_text as kubeconfig_text

Id = Union[str, "uuid.UUID"]  # a string: importing uuid imports `platform` (~5 ms)
Tags = Optional[Mapping[str, str]]
UserData = Union[str, bytes, None]

# -- the management (global) API -------------------------------------------------------

REGIONS: Endpoint[List[Region]] = Endpoint("regions.list", "GET", "/regions", List[Region])
ORGANIZATIONS: Endpoint[List[Organization]] = Endpoint(
    "organizations.list", "GET", "/organizations", List[Organization]
)
# Each call makes another organization, and the listing shows only the caller's: never
# repeated after an ambiguous failure.
ORGANIZATION_CREATE: Endpoint[Organization] = Endpoint(
    "organizations.create",
    "POST",
    "/organizations",
    Organization,
    idempotent=False,
    sends_idempotency_key=False,
)
CLUSTERS: Endpoint[List[Cluster]] = Endpoint("clusters.list", "GET", "/clusters", List[Cluster])
MEMBERS: Endpoint[List[OrganizationMember]] = Endpoint(
    "members.list", "GET", "/members", List[OrganizationMember]
)
MEMBER_UPDATE: Endpoint[None] = Endpoint("members.update", "PATCH", "/members/{member_id}", None)
MEMBER_DELETE: Endpoint[None] = Endpoint("members.delete", "DELETE", "/members/{member_id}", None)
INVITATIONS: Endpoint[List[Invitation]] = Endpoint(
    "invitations.list", "GET", "/invitations", List[Invitation]
)
# Sends an email: not repeated after an ambiguous failure before checking the listing.
INVITATION_CREATE: Endpoint[None] = Endpoint(
    "invitations.create",
    "POST",
    "/invitations",
    None,
    idempotent=False,
    sends_idempotency_key=False,
)
INVITATION_DELETE: Endpoint[None] = Endpoint(
    "invitations.delete", "DELETE", "/invitations/{invitation_id}", None
)
USER_KEYS: Endpoint[List[SSHKey]] = Endpoint("user_keys.list", "GET", "/user/keys", List[SSHKey])
# A repeat after success would answer 409 (the name is taken): check the listing instead.
USER_KEY_CREATE: Endpoint[None] = Endpoint(
    "user_keys.create", "POST", "/user/keys", None, idempotent=False, sends_idempotency_key=False
)
USER_KEY_DELETE: Endpoint[None] = Endpoint("user_keys.delete", "DELETE", "/user/keys/{name}", None)
GLOBAL_INSTANCES: Endpoint[List[GlobalInstance]] = Endpoint(
    "instances.list", "GET", "/instances", List[GlobalInstance]
)
GLOBAL_INSTANCE: Endpoint[GlobalInstance] = Endpoint(
    "instances.get", "GET", "/instances/{instance_id}", GlobalInstance
)

# -- a region's API ---------------------------------------------------------------------

CAPABILITIES: Endpoint[List[Capability]] = Endpoint(
    "capabilities.list", "GET", "/capabilities", List[Capability]
)
CAPACITY: Endpoint[List[Capacity]] = Endpoint("capacity.list", "GET", "/capacity", List[Capacity])
INSTANCE_TYPES: Endpoint[List[InstanceType]] = Endpoint(
    "instance_types.list", "GET", "/instance-types", List[InstanceType]
)

PROJECTS: Endpoint[List[Project]] = Endpoint("projects.list", "GET", "/projects", List[Project])
# Creates are never repeated blindly: Atlas has no Idempotency-Key, so a client-token
# tag (or the name, for filesystems) finds what a failed attempt may have made.
PROJECT_CREATE: Endpoint[Project] = Endpoint(
    "projects.create", "POST", "/projects", Project, idempotent=False, sends_idempotency_key=False
)
PROJECT: Endpoint[Project] = Endpoint("projects.get", "GET", "/projects/{project_id}", Project)
PROJECT_DELETE: Endpoint[None] = Endpoint(
    "projects.delete", "DELETE", "/projects/{project_id}", None
)

INSTANCES: Endpoint[List[Instance]] = Endpoint(
    "instances.list", "GET", "/instances", List[Instance]
)
INSTANCE_CREATE: Endpoint[Instance] = Endpoint(
    "instances.create",
    "POST",
    "/instances",
    Instance,
    idempotent=False,
    sends_idempotency_key=False,
    capability="instances:create",
)
INSTANCE: Endpoint[Instance] = Endpoint(
    "instances.get", "GET", "/instances/{instance_id}", Instance
)
INSTANCE_DELETE: Endpoint[None] = Endpoint(
    "instances.delete",
    "DELETE",
    "/instances/{instance_id}",
    None,
    capability="instances:delete",
)
# Start and stop answer 202 with no body (newer API) or 200 with the instance (older):
# both parse. A repeat after an unseen success would answer 409, so an ambiguous failure
# is resolved by reading the instance's state instead.
INSTANCE_START: Endpoint[Optional[Instance]] = Endpoint(
    "instances.start",
    "POST",
    "/instances/{instance_id}/actions/start",
    Optional[Instance],
    idempotent=False,
    sends_idempotency_key=False,
    body_optional=True,
)
INSTANCE_STOP: Endpoint[Optional[Instance]] = Endpoint(
    "instances.stop",
    "POST",
    "/instances/{instance_id}/actions/stop",
    Optional[Instance],
    idempotent=False,
    sends_idempotency_key=False,
    body_optional=True,
)

FILESYSTEMS: Endpoint[List[Filesystem]] = Endpoint(
    "filesystems.list", "GET", "/filesystems", List[Filesystem]
)
FILESYSTEM_CREATE: Endpoint[Filesystem] = Endpoint(
    "filesystems.create",
    "POST",
    "/filesystems",
    Filesystem,
    idempotent=False,
    sends_idempotency_key=False,
)
FILESYSTEM: Endpoint[Filesystem] = Endpoint(
    "filesystems.get", "GET", "/filesystems/{filesystem_id}", Filesystem
)
FILESYSTEM_DELETE: Endpoint[None] = Endpoint(
    "filesystems.delete", "DELETE", "/filesystems/{filesystem_id}", None
)

# -- the Kubernetes and Slurm clusters of a region (fluidstack.atlas.orchestrator_endpoints)

# Their endpoints, and the models they parse into, are loaded on the first call on a
# cluster (``atlas.kubernetes``, ``atlas.slurm``): building them (two dataclasses, eleven
# pydantic models) is most of what this table cost every other call (issue 24, sixth round).
_ORCHESTRATOR_NAMES = (
    "KUBERNETES",
    "KUBERNETES_CLUSTERS",
    "KUBERNETES_CREDENTIALS",
    "KUBERNETES_NODE_POOLS",
    "SLURM",
    "SLURM_CLUSTERS",
    "SLURM_NODE_POOLS",
    "KubeconfigEndpoint",
    "Orchestrator",
    "kubeconfig_text",
)
__getattr__, __dir__ = lazy_attributes(
    __name__, dict.fromkeys(_ORCHESTRATOR_NAMES, ".orchestrator_endpoints")
)

# -- request bodies ---------------------------------------------------------------------

CLIENT_TOKEN_TAG = "fluidstack.client-token"
"""The tag every create carries so that its result can be found after a lost answer.

(Atlas tag keys may not contain ``/``; this one follows the API's rule.)"""

GENERATED_NAME_PREFIX = "fs-"

_TAG_KEY = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9._-]{0,61}[A-Za-z0-9])?$")

T = TypeVar("T")


def new_client_token() -> str:
    """A value for :data:`CLIENT_TOKEN_TAG`, unique to one create call."""
    return secrets.token_hex(8)


def generated_name() -> str:
    """A unique name for a create that was given none."""
    return GENERATED_NAME_PREFIX + secrets.token_hex(6)


def id_text(value: Id, what: str) -> str:
    """An id argument as the API wants it in a path or body."""
    text = str(value).strip()
    if not text:
        raise ValueError(f"{what} must be a non-empty id")
    return text


def check_tags(tags: Tags) -> Dict[str, str]:
    """Tags as a plain dict, checked against the API's rule for keys (1-63 characters,
    alphanumeric at both ends, ``-``, ``_`` and ``.`` inside); values must be strings."""
    checked: Dict[str, str] = {}
    for key, value in (tags or {}).items():
        if not isinstance(key, str) or not _TAG_KEY.match(key):
            raise ValueError(
                f"tag key {key!r} is not allowed: 1-63 letters, digits, '-', '_' or '.', "
                "starting and ending with a letter or digit"
            )
        if not isinstance(value, str):
            raise ValueError(f"tag {key!r} must have a string value, got {type(value).__name__}")
        checked[key] = value
    return checked


def _name(name: str, what: str) -> str:
    if not isinstance(name, str) or not name.strip():
        raise ValueError(f"{what} name must be a non-empty string")
    return name


def encode_user_data(user_data: UserData) -> Optional[str]:
    """cloud-init user data (text or bytes, e.g. a ``#cloud-config`` document) as the
    base64 the API carries it in."""
    if user_data is None:
        return None
    raw = user_data.encode("utf-8") if isinstance(user_data, str) else bytes(user_data)
    return base64.b64encode(raw).decode("ascii")


def instance_body(
    *,
    name: str,
    type: str,
    image: Optional[str],
    tags: Tags,
    user_data: UserData,
    filesystems: Optional[Sequence[Union[Id, Filesystem]]],
    ephemeral: Optional[bool],
    preemptible: Optional[bool],
    client_token: str,
) -> Dict[str, Any]:
    """The body of ``POST /instances``; options left unset are left to the server."""
    if not isinstance(type, str) or not type.strip():
        raise ValueError("type must name an instance type (see atlas.instance_types.list())")
    body: Dict[str, Any] = {"name": _name(name, "instance"), "type": type}
    if image is not None:
        body["image"] = image
    if preemptible is not None:
        body["preemptible"] = bool(preemptible)
    if ephemeral is not None:
        body["ephemeral"] = bool(ephemeral)
    encoded = encode_user_data(user_data)
    if encoded is not None:
        body["userData"] = encoded
    if filesystems is not None:
        body["filesystems"] = [
            f.id if isinstance(f, Filesystem) else id_text(f, "filesystem") for f in filesystems
        ]
    body["tags"] = {**check_tags(tags), CLIENT_TOKEN_TAG: client_token}
    return body


def project_body(*, name: str, tags: Tags, client_token: str) -> Dict[str, Any]:
    """The body of ``POST /projects``."""
    return {
        "name": _name(name, "project"),
        "tags": {**check_tags(tags), CLIENT_TOKEN_TAG: client_token},
    }


_SIZE = re.compile(r"^[1-9][0-9]*(?:Gi|Ti|G|T)?$")


def filesystem_body(*, name: str, size: Union[str, int]) -> Dict[str, Any]:
    """The body of ``POST /filesystems``; an integer ``size`` means GiB (``"512Gi"``)."""
    if isinstance(size, bool):
        raise ValueError("size must be like '512Gi' or a number of GiB")
    text = f"{size}Gi" if isinstance(size, int) else str(size).strip()
    if not _SIZE.match(text):
        raise ValueError(f"size must be like '512Gi', '1Ti' or a number of GiB, got {size!r}")
    return {"name": _name(name, "filesystem"), "size": text}


def cluster_body(*, name: str, version: Optional[str]) -> Dict[str, Any]:
    """The body of ``POST /kubernetes/clusters`` (``/slurm/clusters``)."""
    body: Dict[str, Any] = {"name": _name(name, "cluster")}
    if version is not None:
        body["version"] = str(version)
    return body


def node_pool_body(
    *, name: str, type: str, count: int, version: Optional[str] = None
) -> Dict[str, Any]:
    """The body of ``POST .../clusters/{cluster_id}/node-pools``."""
    if not isinstance(type, str) or not type.strip():
        raise ValueError("type must name an instance type (see atlas.instance_types.list())")
    if isinstance(count, bool) or not isinstance(count, int) or count < 0:
        raise ValueError(f"count must be a number of nodes (an int >= 0), got {count!r}")
    body: Dict[str, Any] = {"name": _name(name, "node pool"), "type": type, "count": count}
    if version is not None:
        body["version"] = str(version)
    return body


def find_all_tagged(items: Sequence[T], client_token: str) -> List[T]:
    """Every item a create with this client token made (the newest first, as listed)."""
    tagged = [
        i for i in items if (getattr(i, "tags", None) or {}).get(CLIENT_TOKEN_TAG) == client_token
    ]
    return tagged[::-1]


def find_tagged(items: Sequence[T], client_token: str) -> Optional[T]:
    """The item (instance, project) a create with this client token made, if listed."""
    for item in items:
        tags = getattr(item, "tags", None) or {}
        if tags.get(CLIENT_TOKEN_TAG) == client_token:
            return item
    return None
