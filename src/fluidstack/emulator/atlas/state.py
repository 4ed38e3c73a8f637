"""The emulated Atlas: organizations and their OAuth clients, members, invitations, user
SSH keys, and per region projects, instances, filesystems and orchestrator clusters.

As on the platform side, lifecycles are computed lazily from timestamps: an instance
keeps its timeline as ``(state, simulated start)`` segments decided when something
happens (create, start, stop, delete, preempt, fail); nothing runs in the background.
Every mutating method validates first and mutates only when it will succeed, then
commits its changes to SQLite (with ``--db``) before returning.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import random
import secrets
import threading
import uuid
from dataclasses import asdict, dataclass, field
from typing import Any, Dict, Iterable, List, Optional, Tuple

from fluidstack.emulator.atlas.catalog import (
    DEFAULT_CAPABILITIES,
    InstanceType,
    RegionOffer,
    region_offer,
)
from fluidstack.emulator.atlas.tokens import TokenSigner, new_signing_key
from fluidstack.emulator.atlas.users import Logins, User
from fluidstack.emulator.clock import SimClock, iso
from fluidstack.emulator.encoding import dumps
from fluidstack.emulator.responses import ApiError, storage_unavailable
from fluidstack.emulator.settings import EmulatorSettings
from fluidstack.emulator.ssh.hooks import SshHooks
from fluidstack.emulator.store import RecordKey, Store, StoreUnavailable

__all__ = [
    "AtlasState",
    "Cluster",
    "Instance",
    "Organization",
    "Project",
    "Region",
]

logger = logging.getLogger("fluidstack.emulator")

TABLE = "atlas_records"
"""The Atlas table in the ``--db`` file (the platform's is ``records``)."""

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
ROLES = ("admin", "editor", "viewer")
CLUSTER_TYPES = ("kubernetes", "slurm")
CLUSTER_HEALTH = ("healthy", "stale", "offline")
ORG_NAMESPACE = uuid.UUID("6f1c2a8e-33d4-5b7e-9a41-0c8e5d2f7b10")


def hash_secret(secret: str) -> str:
    """Client secrets are kept hashed: the secret itself is never stored."""
    return hashlib.sha256(secret.encode("utf-8", "surrogatepass")).hexdigest()


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
    """Whether the current plan holds capacity (false on a path to ``out-of-stock``)."""

    def state_at(self, now: float) -> str:
        for state, start in reversed(self.segments):
            if start <= now:
                return state
        return self.segments[0][0]

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
class Region:
    name: str
    offer: RegionOffer
    capabilities: List[str]
    capacity: Dict[str, int]

    def instance_type(self, name: str) -> Optional[InstanceType]:
        return next((t for t in self.offer.types if t.name == name), None)


@dataclass
class ProvisioningFailure:
    region: str
    instance_type: Optional[str]
    remaining: int


class AtlasState:
    """All Atlas state, guarded by the emulator's one lock and persisted with its store."""

    def __init__(
        self,
        settings: EmulatorSettings,
        *,
        clock: Optional[SimClock] = None,
        lock: Optional[threading.RLock] = None,
        store: Optional[Store] = None,
    ) -> None:
        self.settings = settings
        if clock is None:
            clock = SimClock(settings.time_scale, settings.manual_clock)
        self.clock = clock
        self.lock = lock if lock is not None else threading.RLock()
        if store is None and settings.db_path:
            store = Store(settings.db_path)
        self._store = store
        self._dirty: Dict[RecordKey, Optional[Any]] = {}
        self._system_random = random.SystemRandom()
        self.ssh: Optional[SshHooks] = None
        """The emulator's sshd (``--ssh``): instances then answer SSH on loopback."""
        self.region_names: List[str] = list(settings.effective_atlas_regions)
        self.logins = Logins(self)
        """Users, their authorization codes and refresh tokens (browser login)."""
        self._empty()
        loaded = self._store.load(TABLE) if self._store is not None else {}
        key = loaded.get("meta", {}).get("signing-key", {}).get("key")
        self._signing_key: str = key if isinstance(key, str) else new_signing_key()
        self.signer = TokenSigner(self._signing_key)
        if loaded.get("org"):
            self._load(loaded)
        else:
            self._bootstrap()
            self._commit(clear=True)

    def __repr__(self) -> str:
        return f"AtlasState(organizations={len(self.orgs)}, regions={self.region_names!r})"

    # -- bookkeeping ----------------------------------------------------------------

    def _empty(self) -> None:
        self.orgs: Dict[str, Organization] = {}
        self.orgs_by_client: Dict[str, str] = {}
        self.members: Dict[str, Member] = {}
        self.invitations: Dict[str, Invitation] = {}
        self.user_keys: Dict[Tuple[str, str], Dict[str, UserKey]] = {}
        self.projects: Dict[str, Project] = {}
        self.filesystems: Dict[str, Filesystem] = {}
        self.instances: Dict[str, Instance] = {}
        self.clusters: Dict[str, Cluster] = {}
        self.failures: List[ProvisioningFailure] = []
        self.regions: Dict[str, Region] = {}
        for index, name in enumerate(self.region_names):
            offer = region_offer(name, index)
            self.regions[name] = Region(
                name, offer, list(DEFAULT_CAPABILITIES), offer.default_capacity()
            )
        # Instance ids by (org, project, region), and by org, in creation order.
        self.scoped_instances: Dict[Tuple[str, str, str], List[str]] = {}
        self.org_instances: Dict[str, List[str]] = {}
        self.seq = 0
        self._encoded: Dict[str, Tuple[str, bytes]] = {}
        self.logins.empty()

    def _touch(self, kind: str, key: str, value: Optional[Any]) -> None:
        self._dirty[(kind, key)] = value

    def _touch_region(self, region: Region) -> None:
        self._touch(
            "region",
            region.name,
            {"capabilities": list(region.capabilities), "capacity": dict(region.capacity)},
        )

    def _touch_instance(self, instance: Instance) -> None:
        self._touch("instance", instance.id, asdict(instance))
        self._encoded.pop(instance.id, None)

    def _commit(self, clear: bool = False) -> None:
        """Persist the pending changes (and the clock) in one durable transaction."""
        if self._store is None:
            self._dirty.clear()
            return
        self._touch("meta", "clock", self.clock.snapshot())
        self._touch("meta", "seq", {"seq": self.seq})
        self._touch(
            "meta", "failures", [[f.region, f.instance_type, f.remaining] for f in self.failures]
        )
        if clear:
            self._touch("meta", "signing-key", {"key": self._signing_key})
        changes = list(self._dirty.items())
        self._dirty.clear()
        try:
            self._store.write(changes, clear=clear, table=TABLE)
        except StoreUnavailable as exc:
            # Not on disk, so not in memory either (see PlatformState._commit).
            logger.warning("an Atlas write could not be committed (%s): rolled back", exc)
            self._reload()
            raise storage_unavailable(str(exc)) from None

    def _reload(self) -> None:
        """Forget memory and take the state back from the file (after a failed commit)."""
        assert self._store is not None
        codes = self.logins.codes  # authorization codes live in memory only
        self._empty()
        self._dirty.clear()
        self._load(self._store.load(TABLE), commit=False)
        self.logins.codes = codes

    def _load(self, data: Dict[str, Dict[str, Any]], commit: bool = True) -> None:
        meta = data.get("meta", {})
        if "clock" in meta:
            self.clock.restore(meta["clock"])
        self.seq = int(meta.get("seq", {}).get("seq", 0))
        self.failures = [
            ProvisioningFailure(str(r), t, int(n)) for r, t, n in meta.get("failures", [])
        ]
        for name, raw in data.get("region", {}).items():
            region = self.regions.get(name)
            if region is not None:
                region.capabilities = [str(c) for c in raw["capabilities"]]
                region.capacity.update({str(k): int(v) for k, v in raw["capacity"].items()})
        for raw in data.get("org", {}).values():
            org = Organization(**raw)
            self.orgs[org.id] = org
            self.orgs_by_client[org.client_id] = org.id
        for raw in data.get("member", {}).values():
            member = Member(**raw)
            self.members[member.id] = member
        self.logins.load(data)
        for raw in data.get("invitation", {}).values():
            invitation = Invitation(**raw)
            self.invitations[invitation.id] = invitation
        for raw in sorted(data.get("userkey", {}).values(), key=lambda r: r["created_at"]):
            key = UserKey(**raw)
            self.user_keys.setdefault((key.org_id, key.subject), {})[key.name] = key
        for raw in data.get("project", {}).values():
            project = Project(**raw)
            self.projects[project.id] = project
        for raw in data.get("filesystem", {}).values():
            filesystem = Filesystem(**raw)
            self.filesystems[filesystem.id] = filesystem
        for raw in sorted(data.get("instance", {}).values(), key=lambda r: r["seq"]):
            raw["segments"] = [(str(s), float(t)) for s, t in raw["segments"]]
            self._index(Instance(**raw))
        for raw in data.get("cluster", {}).values():
            cluster = Cluster(**raw)
            self.clusters[cluster.id] = cluster
        # Clients given now on the command line must work even with an older database.
        for client_id, secret in self.settings.effective_atlas_clients:
            existing = self.orgs.get(self.orgs_by_client.get(client_id, ""))
            if existing is None:
                self._new_org(client_id, secret, None, bootstrap=True)
            elif not hmac.compare_digest(existing.secret_hash, hash_secret(secret)):
                existing.secret_hash = hash_secret(secret)
                self._touch("org", existing.id, asdict(existing))
        self.logins.ensure_bootstrap()
        if commit:
            self._commit()

    def _index(self, instance: Instance) -> None:
        self.instances[instance.id] = instance
        scope = (instance.org_id, instance.project_id, instance.region)
        self.scoped_instances.setdefault(scope, []).append(instance.id)
        self.org_instances.setdefault(instance.org_id, []).append(instance.id)

    def _random(self, purpose: str) -> random.Random:
        """A generator for one decision: derived from the seed when there is one."""
        self.seq += 1
        if self.settings.seed is None:
            return random.Random(self._system_random.getrandbits(64))
        return random.Random(f"atlas:{self.settings.seed}:{self.seq}:{purpose}")

    def _uuid(self, purpose: str) -> str:
        return str(uuid.UUID(int=self._random(purpose).getrandbits(128), version=4))

    # -- organizations --------------------------------------------------------------

    def _bootstrap(self) -> None:
        for client_id, secret in self.settings.effective_atlas_clients:
            self._new_org(client_id, secret, None, bootstrap=True)

    def _new_org(
        self, client_id: str, secret: str, display_name: Optional[str], bootstrap: bool
    ) -> Organization:
        number = len(self.orgs) + 1
        names = {o.name for o in self.orgs.values()}
        while f"org-{number}" in names:
            number += 1
        org = Organization(
            id=org_id_for(client_id),
            name=f"org-{number}",
            display_name=display_name or f"Emulated organization {number}",
            client_id=client_id,
            secret_hash=hash_secret(secret),
            bootstrap=bootstrap,
            created_at=self.clock.now(),
        )
        self.orgs[org.id] = org
        self.orgs_by_client[client_id] = org.id
        self._touch("org", org.id, asdict(org))
        self._seed_org(org)
        return org

    def _seed_org(self, org: Organization) -> None:
        """What every organization starts with: an admin, and one cluster of each kind."""
        now = self.clock.now()
        self._add_member(org, "Emulated Admin", f"admin@{org.name}.example.com", "admin")
        self.logins.seed(org)
        region = self.regions[self.region_names[0]]
        gpu = next((t for t in region.offer.types if t.gpu_count), region.offer.types[0])
        cpu = region.offer.types[0]
        for kind, pool_type in (("kubernetes", gpu.name), ("slurm", cpu.name)):
            self._add_cluster(
                org,
                region.name,
                kind,
                f"{'k8s' if kind == 'kubernetes' else 'slurm'}-{region.name}",
                None,
                "healthy",
                [{"name": f"{kind[:4]}-pool-1", "type": pool_type}],
                now,
            )

    def _add_member(
        self,
        org: Organization,
        name: str,
        email: str,
        role: str,
        member_id: Optional[str] = None,
    ) -> Member:
        member_id = member_id if member_id is not None else self._uuid("member")
        member = Member(member_id, org.id, name, email, role, self.clock.now())
        self.members[member.id] = member
        self._touch("member", member.id, asdict(member))
        return member

    def _add_cluster(
        self,
        org: Organization,
        region: str,
        kind: str,
        name: str,
        project_id: Optional[str],
        health: str,
        node_pools: List[Dict[str, str]],
        now: float,
    ) -> Cluster:
        cluster = Cluster(
            id=self._uuid("cluster"),
            org_id=org.id,
            region=region,
            type=kind,
            name=name,
            project_id=project_id,
            health=health,
            updated_at=now,
            node_pools=[
                {"id": self._uuid("node-pool"), "name": p["name"], "type": p["type"]}
                for p in node_pools
            ],
        )
        self.clusters[cluster.id] = cluster
        self._touch("cluster", cluster.id, asdict(cluster))
        return cluster

    def org_for_client(self, client_id: str) -> Optional[Organization]:
        return self.orgs.get(self.orgs_by_client.get(client_id, ""))

    def require_org(self, client_id: Optional[str]) -> Organization:
        """The organization of ``client_id`` (the first, development one by default)."""
        if client_id is None:
            client_id = self.settings.effective_atlas_clients[0][0]
        org = self.org_for_client(client_id)
        if org is None:
            raise ApiError(404, f"No organization has the client id {client_id[:100]!r}")
        return org

    def authenticate_client(self, client_id: str, secret: str) -> Optional[Organization]:
        org = self.org_for_client(client_id)
        if org is None:
            hmac.compare_digest(hash_secret(secret), hash_secret(""))  # same work either way
            return None
        if not hmac.compare_digest(org.secret_hash, hash_secret(secret)):
            return None
        return org

    def create_organization(
        self, client_id: str, secret: str, display_name: Optional[str]
    ) -> Organization:
        with self.lock:
            if client_id in self.orgs_by_client:
                raise ApiError(409, f"An organization with client id {client_id!r} exists")
            org = self._new_org(client_id, secret, display_name, bootstrap=False)
            self._commit()
            return org

    # -- tokens -----------------------------------------------------------------------

    def mint_token(self, org: Organization, ttl: float, issuer: str) -> Tuple[str, int]:
        """An access token for ``org``'s client and its ``expires_in`` in real seconds."""
        now = self.clock.now()
        token = self.signer.mint(org.client_id, org.id, now, now + ttl, issuer)
        return token, max(1, int(ttl / self.clock.time_scale))

    def mint_user_token(self, user: User, scope: str, issuer: str) -> Tuple[str, int]:
        """A user's access token (``sub`` the user id, with ``email``) and ``expires_in``."""
        now = self.clock.now()
        ttl = self.settings.token_ttl
        # A random jti: two logins in the same simulated second get different tokens.
        extra = {"email": user.email, "scope": scope, "jti": secrets.token_hex(8)}
        token = self.signer.mint(user.id, user.org_id, now, now + ttl, issuer, extra)
        return token, max(1, int(ttl / self.clock.time_scale))

    def add_user(
        self, client_id: Optional[str], email: str, password: Optional[str]
    ) -> Tuple[User, str]:
        """A user of the client's organization (control API); the password is generated
        (from ``secrets``) when not given."""
        with self.lock:
            org = self.require_org(client_id)
            if password is None:
                password = secrets.token_urlsafe(12)
            user = self.logins.add_user(org, email, password)
            self._commit()
            return user, password

    def authenticate(self, header: Optional[str]) -> Tuple[Optional[Organization], str, str]:
        """``(organization, subject, "")`` for a valid bearer token, else ``(None, "", why)``."""
        if header is None:
            return None, "", "Missing bearer token: send 'Authorization: Bearer <access token>'"
        scheme, _, token = header.partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token:
            return None, "", "Malformed Authorization header: expected 'Bearer <access token>'"
        claims = self.signer.verify(token)
        if claims is None:
            return None, "", "Invalid access token"
        if claims.expires <= self.clock.now():
            return None, "", "Access token expired"
        org = self.orgs.get(claims.org_id)
        if org is None:
            return None, "", "The access token's organization no longer exists"
        if claims.email is not None and not self.logins.is_current(claims.subject, org.id):
            return None, "", "The access token's user no longer exists"
        return org, claims.subject, ""

    # -- control --------------------------------------------------------------------

    def reset(self, client_id: Optional[str] = None) -> Optional[Organization]:
        """Clear everything (command-line organizations come back fresh, same ids) or one
        organization's state (it keeps its id and client, and gets its seeds back)."""
        with self.lock:
            if client_id is None:
                self._empty()
                self._bootstrap()
                self._commit(clear=True)
                if self.ssh is not None:
                    self.ssh.sync()
                return None
            org = self.require_org(client_id)
            self._drop_org_state(org)
            self._seed_org(org)
            self._commit()
            if self.ssh is not None:
                self.ssh.sync()
            return org

    def _drop_org_state(self, org: Organization) -> None:
        self.logins.drop_org(org)
        for table, kind in (
            (self.members, "member"),
            (self.invitations, "invitation"),
            (self.projects, "project"),
            (self.filesystems, "filesystem"),
            (self.clusters, "cluster"),
        ):
            records: Dict[str, Any] = table
            for record_id in [k for k, v in records.items() if v.org_id == org.id]:
                del records[record_id]
                self._touch(kind, record_id, None)
        for owner in [s for s in self.user_keys if s[0] == org.id]:
            for name in self.user_keys.pop(owner):
                self._touch("userkey", f"{owner[0]} {owner[1]} {name}", None)
        for instance_id in self.org_instances.pop(org.id, []):
            self.instances.pop(instance_id, None)
            self._encoded.pop(instance_id, None)
            self._touch("instance", instance_id, None)
        for scope in [s for s in self.scoped_instances if s[0] == org.id]:
            del self.scoped_instances[scope]

    def advance_clock(self, seconds: float) -> None:
        with self.lock:
            self.clock.advance(seconds)
            self._commit()

    def region(self, name: str) -> Region:
        region = self.regions.get(name)
        if region is None:
            raise ApiError(404, f"Region {name[:100]!r} not found")
        return region

    def capacity_report(self) -> List[Dict[str, Any]]:
        with self.lock:
            now = self.clock.now()
            return [
                self._capacity_entry(region, t.name, now)
                for region in self.regions.values()
                for t in region.offer.types
            ]

    def _capacity_entry(self, region: Region, type_name: str, now: float) -> Dict[str, Any]:
        total = region.capacity.get(type_name, 0)
        used = self._used(region.name, type_name, now)
        return {
            "region": region.name,
            "instance_type": type_name,
            "total": total,
            "used": used,
            "available": max(0, total - used),
        }

    def set_capacity(self, region_name: str, type_name: str, total: int) -> Dict[str, Any]:
        with self.lock:
            region = self.region(region_name)
            if region.instance_type(type_name) is None:
                raise ApiError(400, f"{type_name!r} is not an instance type of {region.name}")
            region.capacity[type_name] = total
            self._touch_region(region)
            self._commit()
            return self._capacity_entry(region, type_name, self.clock.now())

    def set_capabilities(self, region_name: str, capabilities: List[str]) -> Dict[str, Any]:
        with self.lock:
            region = self.region(region_name)
            region.capabilities = list(dict.fromkeys(capabilities))
            self._touch_region(region)
            self._commit()
            return {"region": region.name, "capabilities": list(region.capabilities)}

    def fail_next(self, region_name: str, type_name: Optional[str], times: int) -> Dict[str, Any]:
        with self.lock:
            region = self.region(region_name)
            if type_name is not None and region.instance_type(type_name) is None:
                raise ApiError(400, f"{type_name!r} is not an instance type of {region.name}")
            self.failures.append(ProvisioningFailure(region.name, type_name, times))
            self._commit()
            return {"region": region.name, "instance_type": type_name, "times": times}

    def _take_failure(self, region: str, type_name: str) -> bool:
        for failure in self.failures:
            if failure.region == region and failure.instance_type in (None, type_name):
                failure.remaining -= 1
                if failure.remaining <= 0:
                    self.failures.remove(failure)
                return True
        return False

    def _any_instance(self, instance_id: str) -> Instance:
        instance = self.instances.get(instance_id)
        if instance is None or instance.state_at(self.clock.now()) == GONE:
            raise ApiError(404, f"Instance {instance_id[:100]!r} not found")
        return instance

    def preempt(self, instance_id: str) -> Dict[str, Any]:
        with self.lock:
            instance = self._any_instance(instance_id)
            now = self.clock.now()
            state = instance.state_at(now)
            if not instance.preemptible:
                raise ApiError(409, f"Instance {instance.id} is not preemptible")
            if state != "running":
                raise ApiError(409, f"Instance {instance.id} is {state}; only a running one")
            instance.plan(now, [("stopping", 0.0), ("stopped", STOPPING_SECONDS)])
            self._touch_instance(instance)
            self._commit()
            return instance.view("stopping")

    def fail(self, instance_id: str) -> Dict[str, Any]:
        with self.lock:
            instance = self._any_instance(instance_id)
            now = self.clock.now()
            instance.plan(now, [("error", 0.0)])
            self._touch_instance(instance)
            self._commit()
            return instance.view("error")

    def add_cluster(
        self,
        client_id: Optional[str],
        region_name: str,
        kind: str,
        name: str,
        project_id: Optional[str],
        health: str,
        node_pools: List[Dict[str, str]],
    ) -> Dict[str, Any]:
        with self.lock:
            org = self.require_org(client_id)
            region = self.region(region_name)
            if project_id is not None:
                self._active_project(org, project_id)
            for pool in node_pools:
                if region.instance_type(pool["type"]) is None:
                    raise ApiError(
                        400, f"{pool['type']!r} is not an instance type of {region.name}"
                    )
            cluster = self._add_cluster(
                org, region.name, kind, name, project_id, health, node_pools, self.clock.now()
            )
            self._commit()
            return {**cluster.view(), "node_pools": [dict(p) for p in cluster.node_pools]}

    def remove_cluster(self, cluster_id: str) -> None:
        with self.lock:
            if self.clusters.pop(cluster_id, None) is None:
                raise ApiError(404, f"Cluster {cluster_id[:100]!r} not found")
            self._touch("cluster", cluster_id, None)
            self._commit()

    def add_member(
        self, client_id: Optional[str], name: str, email: str, role: str
    ) -> Dict[str, Any]:
        with self.lock:
            org = self.require_org(client_id)
            member = self._add_member(org, name, email, role)
            self._commit()
            return member.view()

    # -- management API ---------------------------------------------------------------

    def list_members(self, org: Organization) -> List[Dict[str, Any]]:
        with self.lock:
            return [m.view() for m in self.members.values() if m.org_id == org.id]

    def _own_member(self, org: Organization, member_id: str) -> Member:
        member = self.members.get(member_id)
        if member is None or member.org_id != org.id:
            raise ApiError(404, f"Member {member_id[:100]!r} not found")
        return member

    def update_member(self, org: Organization, member_id: str, role: Optional[str]) -> None:
        with self.lock:
            member = self._own_member(org, member_id)
            if role is not None and role != member.role:
                member.role = role
                self._touch("member", member.id, asdict(member))
                self._commit()

    def delete_member(self, org: Organization, member_id: str) -> None:
        with self.lock:
            member = self._own_member(org, member_id)
            del self.members[member.id]
            self._touch("member", member.id, None)
            # A member who logs in is a user: removing it revokes its logins.
            self.logins.remove_user(member.id)
            self._commit()

    def list_invitations(self, org: Organization) -> List[Dict[str, Any]]:
        with self.lock:
            return [i.view() for i in self.invitations.values() if i.org_id == org.id]

    def invite(self, org: Organization, email: str, role: str) -> None:
        with self.lock:
            existing = next(
                (
                    i
                    for i in self.invitations.values()
                    if i.org_id == org.id and i.email.lower() == email.lower()
                ),
                None,
            )
            if existing is not None:
                existing.role = role
                self._touch("invitation", existing.id, asdict(existing))
            else:
                invitation = Invitation(
                    self._uuid("invitation"), org.id, email, role, self.clock.now()
                )
                self.invitations[invitation.id] = invitation
                self._touch("invitation", invitation.id, asdict(invitation))
            self._commit()

    def delete_invitation(self, org: Organization, invitation_id: str) -> None:
        with self.lock:
            invitation = self.invitations.get(invitation_id)
            if invitation is None or invitation.org_id != org.id:
                raise ApiError(404, f"Invitation {invitation_id[:100]!r} not found")
            del self.invitations[invitation.id]
            self._touch("invitation", invitation.id, None)
            self._commit()

    def list_user_keys(self, org: Organization, subject: str) -> List[Dict[str, Any]]:
        with self.lock:
            keys = self.user_keys.get((org.id, subject), {})
            return [{"name": k.name, "key": k.key} for k in keys.values()]

    def add_user_key(self, org: Organization, subject: str, name: str, key: str) -> None:
        with self.lock:
            keys = self.user_keys.setdefault((org.id, subject), {})
            if name in keys:
                raise ApiError(409, f"An SSH key named {name!r} already exists")
            keys[name] = UserKey(org.id, subject, name, key, self.clock.now())
            self._touch("userkey", f"{org.id} {subject} {name}", asdict(keys[name]))
            self._commit()

    def delete_user_key(self, org: Organization, subject: str, name: str) -> None:
        with self.lock:
            keys = self.user_keys.get((org.id, subject), {})
            if name not in keys:
                raise ApiError(404, f"SSH key {name[:100]!r} not found")
            del keys[name]
            self._touch("userkey", f"{org.id} {subject} {name}", None)
            self._commit()

    def list_clusters(self, org: Organization) -> List[Dict[str, Any]]:
        with self.lock:
            return [c.view() for c in self.clusters.values() if c.org_id == org.id]

    def list_all_instances(self, org: Organization, project_id: Optional[str]) -> bytes:
        """Management ``GET /instances``: every region, optionally one project."""
        with self.lock:
            now = self.clock.now()
            views = []
            for instance_id in self.org_instances.get(org.id, []):
                instance = self.instances[instance_id]
                if project_id is not None and instance.project_id != project_id:
                    continue
                state = instance.state_at(now)
                if state == GONE:
                    continue
                views.append(instance.management_view(state, instance.segment_start(now)))
            return dumps(views)

    def get_any_instance(self, org: Organization, instance_id: str) -> Dict[str, Any]:
        with self.lock:
            instance = self.instances.get(instance_id)
            now = self.clock.now()
            if instance is None or instance.org_id != org.id or instance.state_at(now) == GONE:
                raise ApiError(404, f"Instance {instance_id[:100]!r} not found")
            state = instance.state_at(now)
            return instance.management_view(state, instance.segment_start(now))

    # -- projects -----------------------------------------------------------------------

    def _active_project(self, org: Organization, project_id: str) -> Project:
        project = self.projects.get(project_id)
        if (
            project is None
            or project.org_id != org.id
            or project.state_at(self.clock.now()) != "active"
        ):
            raise ApiError(404, f"Project {project_id[:100]!r} not found")
        return project

    def project_for_header(self, org: Organization, header: Optional[str]) -> Project:
        """The project named by ``X-PROJECT-ID`` (400 missing or not a uuid, else 404)."""
        if header is None or not header.strip():
            raise ApiError(400, "The X-PROJECT-ID header is required (a project id)")
        try:
            project_id = str(uuid.UUID(header.strip()))
        except ValueError:
            raise ApiError(400, "X-PROJECT-ID must be a uuid") from None
        return self._active_project(org, project_id)

    def list_projects(self, org: Organization) -> List[Dict[str, Any]]:
        with self.lock:
            now = self.clock.now()
            views = []
            for project in self.projects.values():
                state = project.state_at(now) if project.org_id == org.id else None
                if state is not None:
                    views.append(project.view(state))
            return views

    def get_project(self, org: Organization, project_id: str) -> Dict[str, Any]:
        with self.lock:
            project = self.projects.get(project_id)
            state = project.state_at(self.clock.now()) if project is not None else None
            if project is None or project.org_id != org.id or state is None:
                raise ApiError(404, f"Project {project_id[:100]!r} not found")
            return project.view(state)

    def create_project(self, org: Organization, name: str, tags: Dict[str, str]) -> Dict[str, Any]:
        with self.lock:
            project = Project(self._uuid("project"), org.id, name, tags, self.clock.now())
            self.projects[project.id] = project
            self._touch("project", project.id, asdict(project))
            self._commit()
            return project.view("active")

    def delete_project(self, org: Organization, project_id: str) -> None:
        with self.lock:
            now = self.clock.now()
            project = self.projects.get(project_id)
            state = project.state_at(now) if project is not None else None
            if project is None or project.org_id != org.id or state is None:
                raise ApiError(404, f"Project {project_id[:100]!r} not found")
            if state == "deleting":
                return
            live = sum(
                1
                for i in self.org_instances.get(org.id, [])
                if self.instances[i].project_id == project.id
                and self.instances[i].state_at(now) != GONE
            )
            if live:
                raise ApiError(
                    409, f"Project {project.id} still has {live} instance(s): delete them first"
                )
            filesystems = sum(1 for f in self.filesystems.values() if f.project_id == project.id)
            if filesystems:
                raise ApiError(
                    409,
                    f"Project {project.id} still has {filesystems} filesystem(s): "
                    "delete them first",
                )
            project.deleted_at = now
            self._touch("project", project.id, asdict(project))
            self._commit()

    # -- capacity, types, capabilities -------------------------------------------------

    def _used(self, region: str, type_name: str, now: float) -> int:
        return sum(
            1
            for i in self.instances.values()
            if i.region == region and i.type == type_name and i.holds_capacity(now)
        )

    def _available(self, region: Region, type_name: str, now: float) -> int:
        return region.capacity.get(type_name, 0) - self._used(region.name, type_name, now)

    def capacity(self, region: Region) -> List[Dict[str, Any]]:
        with self.lock:
            now = self.clock.now()
            return [
                {"name": t.name, "capacity": max(0, self._available(region, t.name, now))}
                for t in region.offer.types
            ]

    # -- instances ----------------------------------------------------------------------

    def require_capability(self, region: Region, capability: str) -> None:
        if capability not in region.capabilities:
            raise ApiError(501, f"{capability} is not available in region {region.name}")

    def list_instances_json(self, org: Organization, project: Project, region: Region) -> bytes:
        """Regional ``GET /instances`` as JSON, in creation order.

        Each instance's encoding is cached with the state it was made in: its view
        changes only with its state (everything else is fixed at create).
        """
        with self.lock:
            now = self.clock.now()
            encoded = self._encoded
            entries: List[bytes] = []
            for instance_id in self.scoped_instances.get((org.id, project.id, region.name), ()):
                instance = self.instances[instance_id]
                state = instance.state_at(now)
                if state == GONE:
                    continue
                cached = encoded.get(instance_id)
                if cached is None or cached[0] != state:
                    cached = (state, dumps(instance.view(state)))
                    encoded[instance_id] = cached
                entries.append(cached[1])
            return b"[" + b",".join(entries) + b"]"

    def _scoped_instance(
        self, org: Organization, project: Project, region: Region, instance_id: str
    ) -> Instance:
        instance = self.instances.get(instance_id)
        if (
            instance is None
            or instance.org_id != org.id
            or instance.project_id != project.id
            or instance.region != region.name
            or instance.state_at(self.clock.now()) == GONE
        ):
            raise ApiError(404, f"Instance {instance_id[:100]!r} not found")
        return instance

    def get_instance(
        self, org: Organization, project: Project, region: Region, instance_id: str
    ) -> Dict[str, Any]:
        with self.lock:
            instance = self._scoped_instance(org, project, region, instance_id)
            return instance.view(instance.state_at(self.clock.now()))

    def create_instance(
        self,
        org: Organization,
        project: Project,
        region: Region,
        *,
        name: str,
        type_name: str,
        image: str,
        preemptible: bool,
        ephemeral: bool,
        user_data: Optional[str],
        filesystems: List[str],
        tags: Dict[str, str],
    ) -> Dict[str, Any]:
        with self.lock:
            now = self.clock.now()
            if region.instance_type(type_name) is None:
                names = ", ".join(t.name for t in region.offer.types)
                raise ApiError(
                    400,
                    f"Unknown instance type {type_name[:100]!r} in {region.name}; "
                    f"available: {names}",
                )
            for filesystem_id in filesystems:
                filesystem = self.filesystems.get(filesystem_id)
                if (
                    filesystem is None
                    or filesystem.org_id != org.id
                    or filesystem.project_id != project.id
                    or filesystem.region != region.name
                ):
                    raise ApiError(
                        400,
                        f"Filesystem {filesystem_id} is not a filesystem of this project "
                        f"in {region.name}",
                    )
            rng = self._random("instance")
            instance_id = str(uuid.UUID(int=rng.getrandbits(128), version=4))
            ip = f"10.{rng.randint(0, 255)}.{rng.randint(0, 255)}.{rng.randint(2, 254)}"
            if self.ssh is not None:  # an address of its own, where its sshd listens
                ip = self.ssh.atlas_address()
            in_stock = self._available(region, type_name, now) > 0
            if not in_stock:
                steps = [("creating", 0.0), ("out-of-stock", CREATING_SECONDS)]
            else:
                end = "error" if self._take_failure(region.name, type_name) else "running"
                steps = [
                    ("creating", 0.0),
                    ("starting", CREATING_SECONDS),
                    (end, CREATING_SECONDS + STARTING_SECONDS),
                ]
            instance = Instance(
                id=instance_id,
                seq=self.seq,
                org_id=org.id,
                project_id=project.id,
                region=region.name,
                name=name,
                type=type_name,
                image=image,
                preemptible=preemptible,
                ephemeral=ephemeral,
                user_data=user_data,
                filesystems=list(filesystems),
                tags=dict(tags),
                ip=ip,
                created_at=now,
                segments=[],
                reserved=in_stock,
            )
            instance.plan(now, steps)
            self._index(instance)
            self._touch_instance(instance)
            self._commit()
            if self.ssh is not None:
                self.ssh.atlas_created(instance.id, instance.ip)
            return instance.view("creating")

    def stop_instance(
        self, org: Organization, project: Project, region: Region, instance_id: str
    ) -> None:
        with self.lock:
            instance = self._scoped_instance(org, project, region, instance_id)
            now = self.clock.now()
            state = instance.state_at(now)
            if state != "running":
                raise ApiError(
                    409, f"Instance {instance.id} is {state}; only a running instance can stop"
                )
            instance.plan(now, [("stopping", 0.0), ("stopped", STOPPING_SECONDS)])
            self._touch_instance(instance)
            self._commit()

    def start_instance(
        self, org: Organization, project: Project, region: Region, instance_id: str
    ) -> None:
        with self.lock:
            instance = self._scoped_instance(org, project, region, instance_id)
            now = self.clock.now()
            state = instance.state_at(now)
            if state not in ("stopped", "out-of-stock"):
                raise ApiError(
                    409,
                    f"Instance {instance.id} is {state}; only a stopped or out-of-stock "
                    "instance can start",
                )
            in_stock = self._available(region, instance.type, now) > 0
            end = "running" if in_stock else "out-of-stock"
            instance.reserved = in_stock
            instance.plan(now, [("starting", 0.0), (end, STARTING_SECONDS)])
            self._touch_instance(instance)
            self._commit()

    def delete_instance(
        self, org: Organization, project: Project, region: Region, instance_id: str
    ) -> None:
        with self.lock:
            instance = self._scoped_instance(org, project, region, instance_id)
            now = self.clock.now()
            if instance.state_at(now) == "deleting":
                return
            instance.plan(now, [("deleting", 0.0), (GONE, DELETING_SECONDS)])
            self._touch_instance(instance)
            self._commit()
            if self.ssh is not None:  # its boot disk is lost at once
                self.ssh.deleted("atlas", instance.id)

    # -- filesystems --------------------------------------------------------------------

    def list_filesystems(
        self, org: Organization, project: Project, region: Region
    ) -> List[Dict[str, Any]]:
        with self.lock:
            return [
                f.view()
                for f in self.filesystems.values()
                if f.org_id == org.id and f.project_id == project.id and f.region == region.name
            ]

    def _scoped_filesystem(
        self, org: Organization, project: Project, region: Region, filesystem_id: str
    ) -> Filesystem:
        filesystem = self.filesystems.get(filesystem_id)
        if (
            filesystem is None
            or filesystem.org_id != org.id
            or filesystem.project_id != project.id
            or filesystem.region != region.name
        ):
            raise ApiError(404, f"Filesystem {filesystem_id[:100]!r} not found")
        return filesystem

    def get_filesystem(
        self, org: Organization, project: Project, region: Region, filesystem_id: str
    ) -> Dict[str, Any]:
        with self.lock:
            return self._scoped_filesystem(org, project, region, filesystem_id).view()

    def create_filesystem(
        self, org: Organization, project: Project, region: Region, name: str, size: str
    ) -> Dict[str, Any]:
        with self.lock:
            filesystem = Filesystem(
                self._uuid("filesystem"),
                org.id,
                project.id,
                region.name,
                name,
                size,
                self.clock.now(),
            )
            self.filesystems[filesystem.id] = filesystem
            self._touch("filesystem", filesystem.id, asdict(filesystem))
            self._commit()
            return filesystem.view()

    def delete_filesystem(
        self, org: Organization, project: Project, region: Region, filesystem_id: str
    ) -> None:
        with self.lock:
            filesystem = self._scoped_filesystem(org, project, region, filesystem_id)
            now = self.clock.now()
            users = [
                i.id
                for i in (self.instances[x] for x in self.org_instances.get(org.id, []))
                if filesystem.id in i.filesystems and i.state_at(now) != GONE
            ]
            if users:
                raise ApiError(
                    409,
                    f"Filesystem {filesystem.id} is attached to instance(s) "
                    f"{', '.join(users[:5])}: delete them first",
                )
            del self.filesystems[filesystem.id]
            self._touch("filesystem", filesystem.id, None)
            self._commit()

    # -- orchestrators ------------------------------------------------------------------

    def visible_clusters(
        self, org: Organization, project: Project, region: Region, kind: str
    ) -> List[Cluster]:
        with self.lock:
            return [
                c
                for c in self.clusters.values()
                if c.org_id == org.id
                and c.region == region.name
                and c.type == kind
                and c.project_id in (None, project.id)
            ]

    def close(self) -> None:
        if self._store is not None:
            self._store.close()
