"""The Atlas emulator's store: its records in memory, how they load from and are
journaled to the ``--db`` file (table ``atlas_records``), what every organization starts
with, and the lookups every resource needs (an organization by client, a region, an
active project).

:class:`AtlasBase` is the shared :class:`~fluidstack.emulator.journaled.JournaledState`
specialised for Atlas; behaviour lives in one mixin per resource on top of it
(``auth.py``, ``organization.py``, ``projects.py``, ``regions.py``, ``instances.py``,
``admin.py``), composed into :class:`~fluidstack.emulator.atlas.state.AtlasState`.
Every mutating method validates first and mutates only when it will succeed, then
commits its changes to SQLite (with ``--db``) before returning.
"""

from __future__ import annotations

import hmac
import threading
from dataclasses import asdict
from typing import Any, Dict, List, Optional, Tuple

from fluidstack.emulator.atlas.catalog import DEFAULT_CAPABILITIES, region_offer
from fluidstack.emulator.atlas.ledger import AtlasLedger
from fluidstack.emulator.atlas.records import (
    Cluster,
    Filesystem,
    Instance,
    Invitation,
    Member,
    NodePool,
    Organization,
    Project,
    ProvisioningFailure,
    Region,
    UserKey,
    hash_secret,
    org_id_for,
)
from fluidstack.emulator.atlas.tokens import TokenSigner, new_signing_key
from fluidstack.emulator.atlas.users import Logins
from fluidstack.emulator.clock import SimClock
from fluidstack.emulator.journaled import JournaledState
from fluidstack.emulator.responses import ApiError
from fluidstack.emulator.settings import EmulatorSettings
from fluidstack.emulator.ssh.hooks import SshHooks
from fluidstack.emulator.store import Store
from fluidstack.emulator.throttle import GuessThrottle

__all__ = ["TABLE", "AtlasBase"]

TABLE = "atlas_records"
"""The Atlas table in the ``--db`` file (the platform's is ``records``)."""


class AtlasBase(JournaledState):
    """All Atlas records, guarded by the emulator's one lock and persisted with its store."""

    TABLE = TABLE
    SEED_PREFIX = "atlas:"
    WHAT = "an Atlas write"

    def __init__(
        self,
        settings: EmulatorSettings,
        *,
        clock: Optional[SimClock] = None,
        lock: Optional[threading.RLock] = None,
        store: Optional[Store] = None,
    ) -> None:
        super().__init__(settings, clock=clock, lock=lock, store=store)
        self.ssh: Optional[SshHooks] = None
        """The emulator's sshd (``--ssh``): instances then answer SSH on loopback."""
        self.region_names: List[str] = list(settings.effective_atlas_regions)
        self.logins = Logins(self)
        """Users, their authorization codes and refresh tokens (browser login)."""
        self.guesses = GuessThrottle(settings.auth_attempt_limit, settings.auth_attempt_window)
        """Failed logins, counted to lock out guessers (:mod:`~fluidstack.emulator.throttle`)."""
        self._empty()
        loaded = self._load_stored()
        key = loaded.get("meta", {}).get("signing-key", {}).get("key")
        self._signing_key: str = key if isinstance(key, str) else new_signing_key()
        self.signer = TokenSigner(self._signing_key)
        generation = loaded.get("meta", {}).get("token-generation", {}).get("generation")
        self.token_generation: int = generation if isinstance(generation, int) else 0
        """Access tokens minted in an older generation are expired (control API); kept
        across resets and restarts, like the signing key."""
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
        self.node_pools: Dict[str, NodePool] = {}
        """Node pools made through the regional API (see ``orchestrators.py``)."""
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
        self.ledger = AtlasLedger(self.instances, self.clock.now())
        """Capacity in use, kept as instances are re-planned (:mod:`.ledger`)."""
        self.seq = 0
        self._encoded: Dict[str, Tuple[str, bytes]] = {}
        self.logins.empty()

    def _touch_region(self, region: Region) -> None:
        self._touch(
            "region",
            region.name,
            {"capabilities": list(region.capabilities), "capacity": dict(region.capacity)},
        )

    def _replanned(self, instance: Instance, now: float) -> None:
        """An instance was created, or its segments or ``reserved`` changed, at ``now``:
        count it again (capacity in use) and persist it."""
        self.ledger.track(instance, now)
        self._touch_instance(instance)

    def _touch_instance(self, instance: Instance) -> None:
        # asdict() is a deep copy (a third of a create's server time, profiled): only for
        # the file; without one, the record itself, serialised if a snapshot is taken.
        self._touch("instance", instance.id, asdict(instance) if self._store else instance)
        self._encoded.pop(instance.id, None)

    def _meta(self, clear: bool) -> List[Tuple[str, Any]]:
        failures = [[f.region, f.instance_type, f.remaining] for f in self.failures]
        meta = [
            *super()._meta(clear),
            ("failures", failures),
            ("token-generation", {"generation": self.token_generation}),
        ]
        if clear:
            meta.append(("signing-key", {"key": self._signing_key}))
        return meta

    def _memory_only(self) -> Any:
        return self.logins.codes  # authorization codes live in memory only

    def _restore_memory_only(self, kept: Any) -> None:
        self.logins.codes = kept

    def _load(self, data: Dict[str, Dict[str, Any]], commit: bool = True) -> None:
        meta = data.get("meta", {})
        generation = meta.get("token-generation", {}).get("generation")
        if isinstance(generation, int):
            self.token_generation = generation
        if "clock" in meta:
            self.clock.restore(meta["clock"])
        self.seq = int(meta.get("seq", {}).get("seq", 0))
        key = meta.get("signing-key", {}).get("key")
        if isinstance(key, str) and key != self._signing_key:  # a restored snapshot's
            self._signing_key, self.signer = key, TokenSigner(key)
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
        self.ledger.rebuild(self.clock.now())  # derived state: counted again at every load
        for raw in data.get("cluster", {}).values():
            cluster = Cluster(**raw)
            self.clusters[cluster.id] = cluster
        for raw in data.get("nodepool", {}).values():
            pool = NodePool(**raw)
            self.node_pools[pool.id] = pool
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

    def region(self, name: str) -> Region:
        region = self.regions.get(name)
        if region is None:
            raise ApiError(404, f"Region {name[:100]!r} not found")
        return region

    def _active_project(self, org: Organization, project_id: str) -> Project:
        project = self.projects.get(project_id)
        if (
            project is None
            or project.org_id != org.id
            or project.state_at(self.clock.now()) != "active"
        ):
            raise ApiError(404, f"Project {project_id[:100]!r} not found")
        return project
