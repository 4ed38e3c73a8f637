"""The Atlas emulator's records: organizations (an OAuth client each), members,
invitations, user SSH keys, projects, filesystems, instances, orchestrator clusters and
regions, with the lifecycle timings and the rules that belong to one record (an
instance's state at a moment, its views).

Records are plain dataclasses: :mod:`~fluidstack.emulator.atlas.base` keeps them in
dictionaries and persists them with :func:`dataclasses.asdict` (the ``--db`` format).
As on the platform side, an instance keeps its timeline as ``(state, simulated start)``
segments decided when something happens (create, start, stop, delete, preempt, fail).
"""

from __future__ import annotations

import functools
import hashlib
import uuid
from dataclasses import dataclass, field
from typing import Any, Dict, Iterable, List, Optional, Tuple

from fluidstack.emulator.atlas.catalog import InstanceType, RegionOffer
from fluidstack.emulator.clock import iso
from fluidstack.emulator.encoding import dumps
from fluidstack.emulator.encoding import encode_string as _encode_string
from fluidstack.emulator.ledger import state_at

__all__ = [
    "Cluster",
    "Filesystem",
    "Instance",
    "Invitation",
    "Member",
    "NodePool",
    "Organization",
    "Project",
    "ProvisioningFailure",
    "Region",
    "UserKey",
    "hash_secret",
    "org_id_for",
    "parse_uuid",
]

CREATING_SECONDS = 20.0
"""Simulated seconds an instance stays ``creating`` before ``starting``."""
STARTING_SECONDS = 40.0
"""Simulated seconds from ``starting`` to ``running`` (after create and after start)."""
STOPPING_SECONDS = 30.0
"""Simulated seconds from ``stopping`` to ``stopped`` (stop and preemption)."""
DELETING_SECONDS = 30.0
"""Simulated seconds an instance answers ``deleting`` before it is gone (404)."""
PROJECT_DELETING_SECONDS = 30.0
"""Simulated seconds a deleted project answers ``deleting`` before it is gone (404)."""

GONE = "gone"
"""Internal final state of a deleted instance: no longer listed, GET answers 404."""
CONSUMING = frozenset({"creating", "starting", "running", "stopping"})
"""States that hold one unit of the region's capacity for the instance's type."""
TRANSITIONAL = frozenset({"creating", "starting", "stopping", "deleting"})
ROLES = ("admin", "editor", "member", "viewer")
"""``editor`` is the Management API's enum; ``member`` the role its descriptions name
(both the same rights, see :mod:`~fluidstack.emulator.atlas.roles`)."""
CLUSTER_TYPES = ("kubernetes", "slurm")
CLUSTER_HEALTH = ("healthy", "stale", "offline")
ORG_NAMESPACE = uuid.UUID("6f1c2a8e-33d4-5b7e-9a41-0c8e5d2f7b10")


def hash_secret(secret: str) -> str:
    """Client secrets are kept hashed: the secret itself is never stored."""
    return hashlib.sha256(secret.encode("utf-8", "surrogatepass")).hexdigest()


@functools.lru_cache(maxsize=1024)
def parse_uuid(value: str) -> Optional[str]:
    """The canonical form of a uuid (``None`` if ``value`` is none). Cached: clients send
    the same few ids (a project's with every regional request)."""
    try:
        return str(uuid.UUID(value))
    except ValueError:
        return None


def org_id_for(client_id: str) -> str:
    """An organization's id follows from its client id: stable across resets/restarts."""
    return str(uuid.uuid5(ORG_NAMESPACE, client_id))


@dataclass
class Organization:
    id: str
    name: str
    display_name: str
    client_id: str
    secret_hash: str
    bootstrap: bool
    """Given on the command line (or the development client): survives a full reset."""
    created_at: float

    def __repr__(self) -> str:
        return f"Organization(id={self.id!r}, name={self.name!r}, client_id={self.client_id!r})"

    def view(self) -> Dict[str, Any]:
        return {"id": self.id, "name": self.name, "display_name": self.display_name}


@dataclass
class Member:
    id: str
    org_id: str
    name: str
    email: str
    role: str
    created_at: float

    def view(self) -> Dict[str, Any]:
        return {"id": self.id, "name": self.name, "email": self.email, "role": self.role}


@dataclass
class Invitation:
    id: str
    org_id: str
    email: str
    role: str
    created_at: float

    def view(self) -> Dict[str, Any]:
        return {"id": self.id, "email": self.email, "role": self.role}


@dataclass
class UserKey:
    org_id: str
    subject: str
    name: str
    key: str
    created_at: float


@dataclass
class Project:
    id: str
    org_id: str
    name: str
    tags: Dict[str, str]
    created_at: float
    deleted_at: Optional[float] = None

    def state_at(self, now: float) -> Optional[str]:
        """``active``, ``deleting``, or ``None`` once gone."""
        if self.deleted_at is None:
            return "active"
        if now < self.deleted_at + PROJECT_DELETING_SECONDS:
            return "deleting"
        return None

    def view(self, state: str) -> Dict[str, Any]:
        return {"id": self.id, "name": self.name, "state": state, "tags": dict(self.tags)}


@dataclass
class Filesystem:
    id: str
    org_id: str
    project_id: str
    region: str
    name: str
    size: str
    created_at: float

    def view(self) -> Dict[str, Any]:
        return {"id": self.id, "name": self.name, "size": self.size}


@dataclass
class Instance:
    id: str
    seq: int
    org_id: str
    project_id: str
    region: str
    name: str
    type: str
    image: str
    preemptible: bool
    ephemeral: bool
    user_data: Optional[str]
    filesystems: List[str]
    tags: Dict[str, str]
    ip: str
    created_at: float
    segments: List[Tuple[str, float]]
    reserved: bool
    """Whether the current plan holds capacity (false on a path to ``out-of-stock``).
    Change it and ``segments`` only through :meth:`AtlasBase._replanned` (or tell the
    ledger): capacity in use is a running total over them."""

    def state_at(self, now: float) -> str:
        return state_at(self.segments, now)

    def segment_start(self, now: float) -> float:
        for _, start in reversed(self.segments):
            if start <= now:
                return start
        return self.segments[0][1]

    def holds_capacity(self, now: float) -> bool:
        return self.reserved and self.state_at(now) in CONSUMING

    def plan(self, now: float, steps: Iterable[Tuple[str, float]]) -> None:
        """Drop what has not begun yet, then add ``(state, seconds from now)`` steps."""
        self.segments = [s for s in self.segments if s[1] <= now]
        self.segments.extend((state, now + offset) for state, offset in steps)

    def view(self, state: str) -> Dict[str, Any]:
        """The regional ``Instance``."""
        return {
            "id": self.id,
            "name": self.name,
            "type": self.type,
            "state": state,
            "ip": self.ip if state == "running" else None,
            "image": self.image,
            "preemptible": self.preemptible,
            "ephemeral": self.ephemeral,
            "userData": self.user_data,
            "filesystems": list(self.filesystems),
            "tags": dict(self.tags),
        }

    def view_json(self, state: str) -> bytes:
        """``dumps(self.view(state))``, the same bytes, written from a template: the
        dictionary, its eleven keys' encoding and the encoder's walk were about a
        hundredth of a served create (issue 24). Strings go through the encoder's own
        string function; anything unusual (a lone surrogate, a value of another type)
        takes the dictionary's way."""
        if type(self.preemptible) is not bool or type(self.ephemeral) is not bool:
            return dumps(self.view(state))
        enc = _encode_string
        try:
            user_data = self.user_data
            text = (
                f'{{"id":{enc(self.id)},"name":{enc(self.name)},"type":{enc(self.type)},'
                f'"state":{enc(state)},'
                f'"ip":{enc(self.ip) if state == "running" else "null"},'
                f'"image":{enc(self.image)},'
                f'"preemptible":{"true" if self.preemptible else "false"},'
                f'"ephemeral":{"true" if self.ephemeral else "false"},'
                f'"userData":{"null" if user_data is None else enc(user_data)},'
                f'"filesystems":[{",".join(map(enc, self.filesystems))}],'
                f'"tags":{{{",".join(f"{enc(k)}:{enc(v)}" for k, v in self.tags.items())}}}}}'
            )
            return text.encode()
        except (TypeError, UnicodeEncodeError):
            return dumps(self.view(state))

    def management_view(self, state: str, updated_at: float) -> Dict[str, Any]:
        """The Management API's ``Instance``: no userData/filesystems, plus where it is."""
        if state == "running":
            health = "healthy"
        elif state in TRANSITIONAL:
            health = "stale"
        else:
            health = "offline"
        return {
            "id": self.id,
            "name": self.name,
            "type": self.type,
            "state": state,
            "ip": self.ip if state == "running" else None,
            "image": self.image,
            "preemptible": self.preemptible,
            "ephemeral": self.ephemeral,
            "tags": dict(self.tags),
            "project_id": self.project_id,
            "region": self.region,
            "health": health,
            "updated_at": iso(updated_at),
        }


@dataclass
class Cluster:
    id: str
    org_id: str
    region: str
    type: str
    name: str
    project_id: Optional[str]
    health: str
    updated_at: float
    node_pools: List[Dict[str, str]] = field(default_factory=list)
    """Pools declared with the cluster (seeds, the control API): ``{id, name, type}``,
    no nodes. Pools made through the regional API are :class:`NodePool` records."""
    version: str = ""
    """Kubernetes or Slurm version (empty for clusters stored before versions existed)."""
    token: str = ""
    """The bearer token of the cluster's kubeconfig user (Kubernetes)."""
    login_nodes: List[Dict[str, str]] = field(default_factory=list)
    """Slurm login nodes: ``{name, instance_id, ip}``, each backed by an instance."""

    def view(self) -> Dict[str, Any]:
        """The Management API's ``Cluster``."""
        data: Dict[str, Any] = {
            "id": self.id,
            "name": self.name,
            "region": self.region,
            "type": self.type,
        }
        if self.project_id is not None:
            data["project_id"] = self.project_id
        data["health"] = self.health
        data["updated_at"] = iso(self.updated_at)
        return data


@dataclass
class NodePool:
    """A node pool made through the regional API: ``count`` nodes of ``type``, each
    backed by an instance of the project (``nodes``: ``{name, instance_id}``)."""

    id: str
    org_id: str
    project_id: str
    region: str
    cluster_id: str
    kind: str
    name: str
    type: str
    count: int
    version: str
    nodes: List[Dict[str, str]]
    created_at: float


@dataclass
class Region:
    name: str
    offer: RegionOffer
    capabilities: List[str]
    capacity: Dict[str, int]
    _types: Dict[str, InstanceType] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        self._types = {t.name: t for t in reversed(self.offer.types)}  # the first wins

    def instance_type(self, name: str) -> Optional[InstanceType]:
        return self._types.get(name)


@dataclass
class ProvisioningFailure:
    region: str
    instance_type: Optional[str]
    remaining: int
