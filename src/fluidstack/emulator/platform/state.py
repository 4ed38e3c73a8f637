"""The emulated platform: accounts, keys, instances and their lifecycle, billing.

Lifecycles are computed lazily from timestamps: an instance stores its timeline as a
list of ``(status, simulated start time)`` segments, decided when an operation happens
(create, stop, start, delete); its status at any moment is the last segment that has
begun. Billing integrates the same segments. Nothing runs in the background.

Every public mutating method validates first and mutates only when the operation will
succeed, so a refused request changes nothing; mutations are persisted in one SQLite
transaction before the method returns (with ``--db``).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import random
import secrets
import threading
import uuid
from collections import OrderedDict
from dataclasses import asdict, dataclass, field
from typing import Any, Dict, Iterator, List, Optional, Tuple

from fluidstack.emulator.clock import SimClock, iso
from fluidstack.emulator.encoding import dumps
from fluidstack.emulator.platform.catalog import OS_LABELS, Catalog, Offer, load_catalog
from fluidstack.emulator.platform.ledger import CAPACITY_FREE_STATUSES, Ledger, status_at
from fluidstack.emulator.responses import ApiError, storage_unavailable
from fluidstack.emulator.settings import EmulatorSettings
from fluidstack.emulator.ssh.hooks import SshHooks
from fluidstack.emulator.store import RecordKey, Store, StoreUnavailable

__all__ = [
    "Account",
    "BulkGroup",
    "Instance",
    "PlatformState",
    "Stored",
    "hash_key",
]

logger = logging.getLogger("fluidstack.emulator")

PENDING_SECONDS = 30.0
"""Simulated seconds an instance stays ``pending`` before ``provisioning``."""
STOPPING_SECONDS = 45.0
"""Simulated seconds from ``stopping`` to ``stopped``."""
STARTING_SECONDS = 60.0
"""Simulated seconds from ``starting`` to ``running``."""
IDEMPOTENCY_TTL = 24 * 3600.0
"""Simulated seconds an ``Idempotency-Key`` is remembered (as payment APIs do)."""
IDEMPOTENCY_LIMIT = 100_000
"""Most keys remembered at once, all accounts together; past it the oldest go first
(with a manual clock that never moves, nothing would expire otherwise)."""
PAYMENT_INTENT_LIMIT = 100_000
"""Payment intents remembered at once (all accounts); past it the oldest are forgotten."""
SESSION_TTL = 7 * 24 * 3600.0
"""Simulated seconds a ``wos_session`` cookie stays valid."""

BILLED_AT_RUNNING_PRICE = frozenset({"running", "starting", "stopping", "unhealthy"})
UP_STATUSES = frozenset(
    {"running", "starting", "stopping", "stopped", "unhealthy", "shutting_down"}
)
GONE_STATUSES = frozenset({"terminated", "failed"})
"""Statuses an instance does not leave by itself."""
SHUTDOWN_SECONDS = 30.0
"""Simulated seconds from ``shutting_down`` (put there by the control API) to terminated."""

_ADJECTIVES = (
    "amber", "brave", "calm", "dapper", "eager", "fancy", "gentle", "happy", "icy",
    "jolly", "keen", "lucid", "mellow", "noble", "proud", "quiet", "rapid", "sunny",
    "tidy", "vivid", "witty", "young", "zesty",
)  # fmt: skip
_NOUNS = (
    "falcon", "otter", "badger", "heron", "lynx", "marten", "osprey", "panda", "quokka",
    "raven", "salmon", "tapir", "urchin", "walrus", "yak", "zebra", "bison", "condor",
)  # fmt: skip


def hash_key(api_key: str) -> str:
    """Keys are stored and compared hashed: the secret itself is never kept."""
    return hashlib.sha256(api_key.encode("utf-8", "surrogatepass")).hexdigest()


@dataclass
class Account:
    id: str
    label: str
    email: str
    user_id: str
    workos_user_id: str
    stripe_customer_id: str
    initial_balance: float
    balance_base: float
    balance_time: float
    created_at: float
    updated_at: float
    bootstrap: bool
    """Given on the command line: survives a full reset."""
    company: Dict[str, Optional[str]] = field(default_factory=dict)
    auto_terminate_on_depletion: bool = True
    """Terminate every instance when the balance reaches zero (the user record's flag)."""


@dataclass
class ApiKeyRecord:
    id: str
    account_id: str
    name: str
    key_hash: str
    created_at: float
    primary: bool
    """The key the account was created with (restored by a per-account reset)."""


@dataclass
class SshKey:
    id: str
    account_id: str
    name: str
    public_key: str
    created_at: float


@dataclass
class Instance:
    id: str
    seq: int
    account_id: str
    name: str
    gpu_type: str
    gpu_memory_gb: int
    gpu_count: int
    region: str
    operating_system_label: str
    ssh_keys: List[str]
    volumes: List[Dict[str, Any]]
    configuration_id: str
    cpu_count: int
    memory_size_gb: float
    nvme_storage_size_gb: int
    provisioning_minutes: int
    price_per_gpu_hr: float
    stopped_price_per_hour: float
    ip_address: str
    created_at: float
    segments: List[Tuple[str, float]]
    """Change them only through :meth:`PlatformState._replanned` (or tell the ledger):
    capacity, balances and paging are running totals over them."""

    def status_at(self, now: float) -> str:
        return status_at(self.segments, now)

    def rate_per_gpu(self, status: str) -> float:
        if status in BILLED_AT_RUNNING_PRICE:
            return self.price_per_gpu_hr
        if status == "stopped":
            return self.stopped_price_per_hour
        return 0.0

    def cost_between(self, start: float, end: float) -> float:
        """USD billed for this instance during simulated ``[start, end)``."""
        total = 0.0
        for index, (status, seg_start) in enumerate(self.segments):
            seg_end = self.segments[index + 1][1] if index + 1 < len(self.segments) else end
            lo, hi = max(seg_start, start), min(seg_end, end)
            if hi > lo:
                total += self.rate_per_gpu(status) * self.gpu_count * (hi - lo) / 3600.0
        return total

    def cut_future(self, now: float) -> None:
        """Drop the planned segments that have not begun yet."""
        self.segments = [s for s in self.segments if s[1] <= now]


@dataclass(frozen=True)
class BulkGroup:
    """One group of ``POST /_emulator/instances``: ``count`` alike instances."""

    api_key: str
    count: int
    gpu_type: str
    gpu_count: int = 1
    region: Optional[str] = None
    status: str = "running"
    age: float = 0.0
    name_prefix: Optional[str] = None
    ssh_key: Optional[str] = None
    operating_system_label: str = "ubuntu_20_04_lts_nvidia"


@dataclass
class IdempotencyRecord:
    fingerprint: str
    status: int
    body: str
    created_at: float


@dataclass
class PaymentIntent:
    """A Stripe payment intent made by ``POST /payments/create-intent``."""

    id: str
    account_id: str
    amount: int
    """In cents."""
    currency: str
    status: str
    """``requires_payment_method`` until the payment completes, then ``succeeded``."""
    created_at: float


@dataclass
class Session:
    account_id: str
    created_at: float


@dataclass
class Stored:
    """What a replayed idempotent request answers."""

    status: int
    body: Any


class PlatformState:
    """All platform state, guarded by one lock; persisted to SQLite when configured.

    The clock, the lock and the store may be shared with the emulator's other APIs
    (one simulated timeline, one lock, one database file); by default they are its own.
    """

    def __init__(
        self,
        settings: EmulatorSettings,
        catalog: Optional[Catalog] = None,
        *,
        clock: Optional[SimClock] = None,
        lock: Optional[threading.RLock] = None,
        store: Optional[Store] = None,
    ) -> None:
        self.settings = settings
        self.catalog = catalog if catalog is not None else load_catalog()
        if clock is None:
            clock = SimClock(settings.time_scale, settings.manual_clock)
        self.clock = clock
        self.lock = lock if lock is not None else threading.RLock()
        if store is None and settings.db_path:
            store = Store(settings.db_path)
        self._store: Optional[Store] = store
        self._dirty: Dict[RecordKey, Optional[Any]] = {}
        self._clear = False
        self._system_random = random.SystemRandom()
        self.ssh: Optional[SshHooks] = None
        """The emulator's sshd (``--ssh``): instances then answer SSH on loopback."""
        self.dev_login_code: Optional[str] = (
            "fs-dev-" + secrets.token_urlsafe(18) if settings.dev_login_enabled else None
        )
        """This run's development login code (``/auth/callback``), drawn from ``secrets``;
        ``None`` when it is off (``--no-control`` without ``--dev-login``)."""
        self._empty()
        loaded = self._store.load() if self._store is not None else {}
        if loaded:
            self._load(loaded)
        else:
            self._bootstrap_accounts()
            self._commit(clear=True)

    # -- bookkeeping ----------------------------------------------------------------

    def _empty(self) -> None:
        self.accounts: Dict[str, Account] = {}
        self.api_keys: Dict[str, ApiKeyRecord] = {}  # by key hash
        self.ssh_keys: Dict[str, Dict[str, SshKey]] = {}  # account id -> name -> key
        self.instances: Dict[str, Instance] = {}  # by id, creation order
        self.account_instances: Dict[str, List[str]] = {}
        # In the order they were remembered, which is also the order they expire in.
        self.idempotency: OrderedDict[Tuple[str, str], IdempotencyRecord] = OrderedDict()
        self.sessions: Dict[str, Session] = {}
        self.auth_codes: Dict[str, str] = {}
        self.payment_intents: Dict[str, PaymentIntent] = {}
        self.capacity: Dict[Tuple[str, str], int] = dict(self.catalog.default_capacity)
        self.seq = 0
        self.ledger = Ledger(self.accounts, self.instances, self.clock.now())
        # Encoded listing entries by instance id, with the inputs they were made from.
        self._instance_json: Dict[str, Tuple[Tuple[Any, ...], bytes]] = {}

    def _touch(self, kind: str, key: str, value: Optional[Any]) -> None:
        self._dirty[(kind, key)] = value

    def _touch_account(self, account: Account) -> None:
        self._touch("account", account.id, asdict(account))

    def _touch_instance(self, instance: Instance) -> None:
        if self._store is not None:  # asdict() is a deep copy: only for the file
            self._touch("instance", instance.id, asdict(instance))

    def _commit(self, clear: bool = False) -> None:
        """Persist the pending changes (and the clock) in one durable transaction."""
        self._clear = self._clear or clear
        if self._store is None:
            self._dirty.clear()
            self._clear = False
            return
        self._touch("meta", "clock", self.clock.snapshot())
        self._touch("meta", "seq", {"seq": self.seq})
        self._touch(
            "meta",
            "capacity",
            [[gpu_type, region, gpus] for (gpu_type, region), gpus in self.capacity.items()],
        )
        changes = list(self._dirty.items())
        self._dirty.clear()
        clear_all, self._clear = self._clear, False
        try:
            self._store.write(changes, clear=clear_all)
        except StoreUnavailable as exc:
            # The change is not on disk, so it must not stay in memory either: an answer
            # of 503 whose effect lingers (and vanishes at the next restart) is the
            # lost acknowledged write of issue 13, item 8. The file is the truth.
            logger.warning("a write could not be committed (%s): rolled back", exc)
            self._reload()
            raise storage_unavailable(str(exc)) from None

    def _reload(self) -> None:
        """Forget memory and take the state back from the file (after a failed commit)."""
        assert self._store is not None
        auth_codes = self.auth_codes  # one-time codes live in memory only
        self._empty()
        self._dirty.clear()
        self._clear = False
        self._load(self._store.load(), commit=False)
        self.auth_codes = auth_codes

    def _load(self, data: Dict[str, Dict[str, Any]], commit: bool = True) -> None:
        meta = data.get("meta", {})
        if "clock" in meta:
            self.clock.restore(meta["clock"])
        self.seq = int(meta.get("seq", {}).get("seq", 0))
        for gpu_type, region, gpus in meta.get("capacity", []):
            self.capacity[(gpu_type, region)] = int(gpus)
        for raw in data.get("account", {}).values():
            account = Account(**raw)
            self.accounts[account.id] = account
            self.ssh_keys[account.id] = {}
            self.account_instances[account.id] = []
        for raw in data.get("apikey", {}).values():
            record = ApiKeyRecord(**raw)
            self.api_keys[record.key_hash] = record
        for raw in sorted(data.get("sshkey", {}).values(), key=lambda r: r["created_at"]):
            ssh_key = SshKey(**raw)
            self.ssh_keys.setdefault(ssh_key.account_id, {})[ssh_key.name] = ssh_key
        for raw in sorted(data.get("instance", {}).values(), key=lambda r: r["seq"]):
            raw["segments"] = [(s, float(t)) for s, t in raw["segments"]]
            instance = Instance(**raw)
            self.instances[instance.id] = instance
            self.account_instances.setdefault(instance.account_id, []).append(instance.id)
        remembered = sorted(data.get("idem", {}).items(), key=lambda item: item[1]["created_at"])
        for record_key, raw in remembered:
            account_id, _, idem_key = record_key.partition(" ")
            self.idempotency[(account_id, idem_key)] = IdempotencyRecord(**raw)
        for token, raw in data.get("session", {}).items():
            self.sessions[token] = Session(**raw)
        for raw in sorted(data.get("payment", {}).values(), key=lambda r: r["created_at"]):
            intent = PaymentIntent(**raw)
            self.payment_intents[intent.id] = intent
        self.ledger.rebuild(self.clock.now())
        # Keys given now on the command line must work even with an older database.
        for api_key in self.settings.effective_api_keys:
            if hash_key(api_key) not in self.api_keys:
                self._new_account(api_key, self.settings.initial_balance, bootstrap=True)
        if commit:
            self._commit()

    def _random(self, purpose: str) -> random.Random:
        """A generator for one decision: derived from the seed when there is one."""
        self.seq += 1
        if self.settings.seed is None:
            return random.Random(self._system_random.getrandbits(64))
        return random.Random(f"{self.settings.seed}:{self.seq}:{purpose}")

    def _uuid(self, purpose: str) -> str:
        return str(uuid.UUID(int=self._random(purpose).getrandbits(128), version=4))

    def _bootstrap_accounts(self) -> None:
        for api_key in self.settings.effective_api_keys:
            self._new_account(api_key, self.settings.initial_balance, bootstrap=True)

    def _new_account(self, api_key: str, balance: float, bootstrap: bool) -> Account:
        now = self.clock.now()
        number = len(self.accounts) + 1
        label = f"account-{number}"
        while any(a.label == label for a in self.accounts.values()):
            number += 1
            label = f"account-{number}"
        user_id = self._uuid("user")
        account = Account(
            id=user_id,
            label=label,
            email=f"{label}@example.com",
            user_id=user_id,
            workos_user_id="user_" + user_id.replace("-", "")[:26].upper(),
            stripe_customer_id="cus_" + user_id.replace("-", "")[:14],
            initial_balance=balance,
            balance_base=balance,
            balance_time=now,
            created_at=now,
            updated_at=now,
            bootstrap=bootstrap,
        )
        self.accounts[account.id] = account
        self.ssh_keys[account.id] = {}
        self.account_instances[account.id] = []
        self.ledger.add_account(account)
        self._touch_account(account)
        self._add_api_key(account, api_key, "default", primary=True)
        return account

    def _add_api_key(self, account: Account, api_key: str, name: str, primary: bool) -> str:
        record = ApiKeyRecord(
            id=self._uuid("apikey"),
            account_id=account.id,
            name=name,
            key_hash=hash_key(api_key),
            created_at=self.clock.now(),
            primary=primary,
        )
        self.api_keys[record.key_hash] = record
        self._touch("apikey", record.key_hash, asdict(record))
        return record.id

    # -- authentication ---------------------------------------------------------------

    def account_for_key(self, api_key: str) -> Optional[Account]:
        record = self.api_keys.get(hash_key(api_key))
        return self.accounts.get(record.account_id) if record is not None else None

    def account_for_session(self, token: str) -> Optional[Account]:
        session = self.sessions.get(token)
        if session is None or self.clock.now() - session.created_at > SESSION_TTL:
            return None
        return self.accounts.get(session.account_id)

    def require_account_for_key(self, api_key: str) -> Account:
        account = self.account_for_key(api_key)
        if account is None:
            raise ApiError(404, "No account has this API key")
        return account

    def new_session(self, account: Account) -> str:
        with self.lock:
            token = "wos_" + secrets.token_urlsafe(32)
            self.sessions[token] = Session(account_id=account.id, created_at=self.clock.now())
            self._touch("session", token, asdict(self.sessions[token]))
            self._commit()
            return token

    def new_auth_code(self, account: Account) -> str:
        with self.lock:
            code = "code_" + secrets.token_urlsafe(16)
            self.auth_codes[code] = account.id
            return code

    def exchange_auth_code(self, code: str) -> Account:
        """``/auth/callback``: a one-time code (or this run's development code) becomes an
        account."""
        with self.lock:
            dev = self.dev_login_code
            if dev is not None and hmac.compare_digest(
                code.encode("utf-8", "surrogatepass"), dev.encode("ascii")
            ):
                bootstrap = [a for a in self.accounts.values() if a.bootstrap]
                if bootstrap:
                    return bootstrap[0]
            account_id = self.auth_codes.pop(code, None)
            account = self.accounts.get(account_id) if account_id else None
            if account is None:
                raise ApiError(401, "Invalid or expired authorization code")
            return account

    # -- control ------------------------------------------------------------------------

    def reset(self, api_key: Optional[str] = None) -> Optional[Account]:
        """Clear everything (bootstrap accounts come back fresh) or one account's state."""
        with self.lock:
            if api_key is None:
                self._empty()
                self._bootstrap_accounts()
                self._commit(clear=True)
                if self.ssh is not None:
                    self.ssh.sync()
                return None
            account = self.require_account_for_key(api_key)
            now = self.clock.now()
            for instance_id in self.account_instances.get(account.id, []):
                self.ledger.forget(instance_id, now)
                self.instances.pop(instance_id, None)
                self._instance_json.pop(instance_id, None)
                self._touch("instance", instance_id, None)
            self.account_instances[account.id] = []
            for name in self.ssh_keys.get(account.id, {}):
                self._touch("sshkey", f"{account.id} {name}", None)
            self.ssh_keys[account.id] = {}
            for key_hash, record in list(self.api_keys.items()):
                if record.account_id == account.id and not record.primary:
                    del self.api_keys[key_hash]
                    self._touch("apikey", key_hash, None)
            for idem in [k for k in self.idempotency if k[0] == account.id]:
                del self.idempotency[idem]
                self._touch("idem", f"{idem[0]} {idem[1]}", None)
            for token in [t for t, s in self.sessions.items() if s.account_id == account.id]:
                del self.sessions[token]
                self._touch("session", token, None)
            for intent_id, intent in list(self.payment_intents.items()):
                if intent.account_id == account.id:
                    del self.payment_intents[intent_id]
                    self._touch("payment", intent_id, None)
            account.balance_base, account.balance_time = account.initial_balance, now
            account.company = {}
            account.auto_terminate_on_depletion = True
            account.updated_at = now
            self.ledger.clear_account(account, now)
            self._touch_account(account)
            self._commit()
            if self.ssh is not None:
                self.ssh.sync()
            return account

    def create_account(self, api_key: str, balance: float) -> Account:
        with self.lock:
            if hash_key(api_key) in self.api_keys:
                raise ApiError(409, "An account with this API key already exists")
            account = self._new_account(api_key, balance, bootstrap=False)
            self._commit()
            return account

    def set_balance(self, api_key: str, balance: float) -> Account:
        with self.lock:
            account = self.require_account_for_key(api_key)
            account.balance_base, account.balance_time = balance, self.clock.now()
            self.ledger.rebase(account)
            self._touch_account(account)
            self._commit()
            return account

    def advance_clock(self, seconds: float) -> None:
        with self.lock:
            self.clock.advance(seconds)
            self._commit()

    def set_capacity(self, gpu_type: str, region: str, gpus: int) -> Dict[str, Any]:
        with self.lock:
            offer = self.catalog.offer(gpu_type)
            if offer is None or region not in offer.regions:
                raise ApiError(400, f"{gpu_type} is not offered in {region}")
            self.capacity[(gpu_type, region)] = gpus
            self._commit()
            return self.capacity_view(gpu_type, region)

    def capacity_view(self, gpu_type: str, region: str) -> Dict[str, Any]:
        total = self.capacity.get((gpu_type, region), 0)
        used = self._used_gpus(gpu_type, region, self.clock.now())
        return {
            "gpu_type": gpu_type,
            "region": region,
            "gpus": total,
            "in_use": used,
            "available": max(0, total - used),
        }

    def capacity_report(self) -> List[Dict[str, Any]]:
        with self.lock:
            return [self.capacity_view(t, r) for (t, r) in self.capacity]

    # -- idempotency --------------------------------------------------------------------

    def idempotent_replay(
        self, account: Account, key: Optional[str], fingerprint: str
    ) -> Optional[Stored]:
        """The stored answer of an earlier request with this key, if any.

        Raises 409 when the key was used for a different request.
        """
        if key is None:
            return None
        if not key or len(key) > 255:
            raise ApiError(400, "Idempotency-Key must be 1 to 255 characters")
        record = self.idempotency.get((account.id, key))
        if record is None or self.clock.now() - record.created_at > IDEMPOTENCY_TTL:
            return None
        if record.fingerprint != fingerprint:
            raise ApiError(
                409,
                f"Idempotency-Key {key!r} was already used with a different request; "
                "use a new key for a new request",
            )
        return Stored(record.status, json.loads(record.body))

    def _remember(
        self, account: Account, key: Optional[str], fingerprint: str, status: int, body: Any
    ) -> None:
        if key is None:
            return
        record = IdempotencyRecord(fingerprint, status, json.dumps(body), self.clock.now())
        self.idempotency.pop((account.id, key), None)  # a renewed key moves to the end
        self.idempotency[(account.id, key)] = record
        self._touch("idem", f"{account.id} {key}", asdict(record))
        self._expire_idempotency()

    def _expire_idempotency(self) -> None:
        """Forget keys older than :data:`IDEMPOTENCY_TTL`, and the oldest past
        :data:`IDEMPOTENCY_LIMIT`: from the front only, so a create costs O(1), not a scan
        of every key (which took keyed creates from 247 to 110 per second at 40,000)."""
        horizon = self.clock.now() - IDEMPOTENCY_TTL
        store = self.idempotency
        while store:
            key, record = next(iter(store.items()))
            if record.created_at >= horizon and len(store) <= IDEMPOTENCY_LIMIT:
                break
            del store[key]
            self._touch("idem", f"{key[0]} {key[1]}", None)

    # -- instances ----------------------------------------------------------------------

    def _used_gpus(self, gpu_type: str, region: str, now: float) -> int:
        return self.ledger.in_use((gpu_type, region), now)

    def _replanned(self, instance: Instance, now: float) -> None:
        """An instance was created or its segments changed at ``now``: count it again
        (capacity, spend, listing) and persist it."""
        self.ledger.track(instance, now)
        self._touch_instance(instance)

    def _free_gpus(self, gpu_type: str, region: str, now: float) -> int:
        return self.capacity.get((gpu_type, region), 0) - self._used_gpus(gpu_type, region, now)

    def _choose_region(
        self, offer: Offer, gpu_count: int, region: Optional[str], now: float
    ) -> str:
        if region is not None:
            if region not in offer.regions:
                raise ApiError(
                    400,
                    f"{offer.gpu_type} is not offered in {region}; "
                    f"available regions: {', '.join(offer.regions)}",
                )
            if self._free_gpus(offer.gpu_type, region, now) < gpu_count:
                raise ApiError(
                    409,
                    f"Out of stock: no capacity for {gpu_count} x {offer.gpu_type} in {region}",
                )
            return region
        for candidate in offer.regions:
            if self._free_gpus(offer.gpu_type, candidate, now) >= gpu_count:
                return candidate
        raise ApiError(
            409,
            f"Out of stock: no capacity for {gpu_count} x {offer.gpu_type} in any region "
            f"({', '.join(offer.regions)})",
        )

    def create_instance(
        self,
        account: Account,
        *,
        name: Optional[str],
        gpu_type: str,
        gpu_count: int,
        ssh_key: str,
        operating_system_label: str,
        region: Optional[str],
        volumes: List[Dict[str, Any]],
        idempotency_key: Optional[str],
        fingerprint: str,
    ) -> Stored:
        """``POST /instances`` (202). Replays the original answer for a repeated key."""
        with self.lock:
            replay = self.idempotent_replay(account, idempotency_key, fingerprint)
            if replay is not None:
                return replay
            now = self.clock.now()
            if ssh_key not in self.ssh_keys.get(account.id, {}):
                raise ApiError(
                    400, f"SSH key {ssh_key!r} not found; create it first with POST /ssh_keys"
                )
            offer = self.catalog.offer(gpu_type)
            if offer is None:
                raise ApiError(
                    400,
                    f"GPU type {gpu_type} is not currently offered; "
                    "see GET /list_available_configurations",
                )
            if gpu_count not in offer.gpu_counts:
                counts = ", ".join(str(c) for c in offer.gpu_counts)
                raise ApiError(
                    400,
                    f"{gpu_type} is offered with {counts} GPUs per instance, not {gpu_count}",
                )
            if operating_system_label not in OS_LABELS:
                raise ApiError(
                    400,
                    f"Unknown operating_system_label {operating_system_label[:80]!r}; "
                    f"available: {', '.join(OS_LABELS)}",
                )
            if self.balance(account, now) <= 0:
                raise ApiError(402, "Insufficient balance: top up your account to create instances")
            chosen_region = self._choose_region(offer, gpu_count, region, now)

            rng = self._random("instance")
            instance_id = str(uuid.UUID(int=rng.getrandbits(128), version=4))
            if not name:
                name = f"{rng.choice(_ADJECTIVES)}-{rng.choice(_NOUNS)}-{rng.getrandbits(16):04x}"
            fails = rng.random() < self.settings.failure_rate
            provisioning = max(offer.provisioning_minutes * 60.0, PENDING_SECONDS + 1.0)
            ready = now + provisioning
            shape = offer.shapes[gpu_count]
            vol_status = "attaching"
            instance = Instance(
                id=instance_id,
                seq=self.seq,
                account_id=account.id,
                name=name,
                gpu_type=gpu_type,
                gpu_memory_gb=offer.gpu_memory_gb,
                gpu_count=gpu_count,
                region=chosen_region,
                operating_system_label=operating_system_label,
                ssh_keys=[ssh_key],
                volumes=[dict(v, status=v.get("status") or vol_status) for v in volumes],
                configuration_id=f"c-{instance_id[:8]}-{gpu_type.lower()}-{gpu_count}",
                cpu_count=shape.cpu_count,
                memory_size_gb=shape.memory_size_gb,
                nvme_storage_size_gb=shape.nvme_storage_size_gb,
                provisioning_minutes=offer.provisioning_minutes,
                price_per_gpu_hr=offer.price_per_gpu_hr,
                stopped_price_per_hour=offer.stopped_price_per_hour,
                ip_address=f"198.51.100.{rng.randint(2, 254)}"
                if rng.random() < 0.5
                else f"203.0.113.{rng.randint(2, 254)}",
                created_at=now,
                segments=[
                    ("pending", now),
                    ("provisioning", now + PENDING_SECONDS),
                    ("failed" if fails else "running", ready),
                ],
            )
            self.instances[instance.id] = instance
            self.account_instances.setdefault(account.id, []).append(instance.id)
            self._replanned(instance, now)
            body = {
                "id": instance.id,
                "name": instance.name,
                "gpu_type": instance.gpu_type,
                "operating_system_label": instance.operating_system_label,
            }
            self._remember(account, idempotency_key, fingerprint, 202, body)
            self._commit()
            return Stored(202, body)

    def bulk_create(self, groups: List[BulkGroup]) -> List[str]:
        """``POST /_emulator/instances``: create every group's instances in one step,
        directly in their status (no request, no balance check, no idempotency key).

        Everything is checked first (accounts, offers, counts, capacity); a refusal
        raises :class:`ApiError` naming the group and changes nothing. Each instance is
        ``age`` seconds old (``created_at``); its status begins now, and so does its
        billing, so seeding does not charge for the age. ``pending``, ``provisioning``,
        ``stopping``, ``starting`` and ``shutting_down`` carry on as they would (and never
        fail); ``unhealthy`` stays so until healed.
        """
        with self.lock:
            now = self.clock.now()
            accounts: List[Account] = []
            needed: Dict[Tuple[str, str], int] = {}
            for index, group in enumerate(groups):
                where = f"instances[{index}]"
                account = self.account_for_key(group.api_key)
                if account is None:
                    raise ApiError(404, f"{where}.api_key: no account has this API key")
                offer = self.catalog.offer(group.gpu_type)
                if offer is None:
                    raise ApiError(400, f"{where}.gpu_type: {group.gpu_type[:80]!r} is not offered")
                if group.gpu_count not in offer.gpu_counts:
                    counts = ", ".join(str(c) for c in offer.gpu_counts)
                    raise ApiError(
                        400,
                        f"{where}.gpu_count: {group.gpu_type} is offered with {counts} GPUs "
                        f"per instance, not {group.gpu_count}",
                    )
                region = group.region if group.region is not None else offer.regions[0]
                if region not in offer.regions:
                    raise ApiError(
                        400,
                        f"{where}.region: {group.gpu_type} is not offered in {region[:80]!r}; "
                        f"available regions: {', '.join(offer.regions)}",
                    )
                if group.operating_system_label not in OS_LABELS:
                    raise ApiError(
                        400,
                        f"{where}.operating_system_label: unknown "
                        f"{group.operating_system_label[:80]!r}; available: {', '.join(OS_LABELS)}",
                    )
                if group.ssh_key is not None and group.ssh_key not in self.ssh_keys.get(
                    account.id, {}
                ):
                    raise ApiError(
                        400, f"{where}.ssh_key: the account has no SSH key {group.ssh_key[:80]!r}"
                    )
                if group.status not in CAPACITY_FREE_STATUSES:
                    key = (group.gpu_type, region)
                    needed[key] = needed.get(key, 0) + group.count * group.gpu_count
                accounts.append(account)
            for (gpu_type, region), gpus in needed.items():
                free = self._free_gpus(gpu_type, region, now)
                if gpus > free:
                    raise ApiError(
                        409,
                        f"Out of stock: these instances need {gpus} x {gpu_type} in {region}, "
                        f"{max(free, 0)} are free; raise it first with PUT /_emulator/capacity",
                    )
            created: List[str] = []
            rng = self._random("bulk")
            for group, account in zip(groups, accounts):
                created.extend(self._bulk_group(group, account, now, rng))
            self._commit()
            return created

    def _bulk_group(
        self, group: BulkGroup, account: Account, now: float, rng: random.Random
    ) -> List[str]:
        offer = self.catalog.offer(group.gpu_type)
        assert offer is not None
        region = group.region if group.region is not None else offer.regions[0]
        shape = offer.shapes[group.gpu_count]
        provisioning = max(offer.provisioning_minutes * 60.0, PENDING_SECONDS + 1.0)
        plans: Dict[str, List[Tuple[str, float]]] = {
            "pending": [("provisioning", PENDING_SECONDS), ("running", provisioning)],
            "provisioning": [("running", provisioning - PENDING_SECONDS)],
            "stopping": [("stopped", STOPPING_SECONDS)],
            "starting": [("running", STARTING_SECONDS)],
            "shutting_down": [("terminated", SHUTDOWN_SECONDS)],
        }
        plan = [(group.status, now)] + [
            (status, now + offset) for status, offset in plans.get(group.status, [])
        ]
        created_at = now - group.age
        ids: List[str] = []
        instances, mine = self.instances, self.account_instances.setdefault(account.id, [])
        for number in range(1, group.count + 1):
            self.seq += 1
            instance_id = str(uuid.UUID(int=rng.getrandbits(128), version=4))
            if group.name_prefix is not None:
                name = f"{group.name_prefix}-{number}"
            else:
                name = f"{rng.choice(_ADJECTIVES)}-{rng.choice(_NOUNS)}-{rng.getrandbits(16):04x}"
            octet = rng.randint(2, 254)
            instance = Instance(
                id=instance_id,
                seq=self.seq,
                account_id=account.id,
                name=name,
                gpu_type=group.gpu_type,
                gpu_memory_gb=offer.gpu_memory_gb,
                gpu_count=group.gpu_count,
                region=region,
                operating_system_label=group.operating_system_label,
                ssh_keys=[group.ssh_key] if group.ssh_key is not None else [],
                volumes=[],
                configuration_id=f"c-{instance_id[:8]}-{group.gpu_type.lower()}-{group.gpu_count}",
                cpu_count=shape.cpu_count,
                memory_size_gb=shape.memory_size_gb,
                nvme_storage_size_gb=shape.nvme_storage_size_gb,
                provisioning_minutes=offer.provisioning_minutes,
                price_per_gpu_hr=offer.price_per_gpu_hr,
                stopped_price_per_hour=offer.stopped_price_per_hour,
                ip_address=f"198.51.100.{octet}" if octet % 2 else f"203.0.113.{octet}",
                created_at=created_at,
                segments=list(plan),
            )
            instances[instance_id] = instance
            mine.append(instance_id)
            self._replanned(instance, now)
            ids.append(instance_id)
        return ids

    def _own_instance(self, account: Account, instance_id: str) -> Instance:
        instance = self.instances.get(instance_id)
        if instance is None or instance.account_id != account.id:
            raise ApiError(404, f"Instance {instance_id[:100]!r} not found")
        return instance

    def instance_view(self, instance: Instance, now: float) -> Dict[str, Any]:
        """``InstanceResponse`` / ``ListInstanceResponse`` at simulated ``now``."""
        status = instance.status_at(now)
        up = status in UP_STATUSES
        account = self.accounts.get(instance.account_id)
        if status in ("terminated", "failed"):
            volume_status = "deleted"
        else:
            volume_status = "attached" if up else "attaching"
        address, port = instance.ip_address, "22"
        if up and self.ssh is not None:  # a real sshd on this machine's loopback
            address, port = "127.0.0.1", str(self.ssh.platform_port(instance.id))
        return {
            "id": instance.id,
            "status": status,
            "username": "ubuntu" if up else None,
            "ssh_port": port if up else None,
            "ssh_keys": list(instance.ssh_keys),
            "ip_address": address if up else None,
            "name": instance.name,
            "current_gpu_hr_cost": instance.rate_per_gpu(status),
            "configuration": {
                "id": instance.configuration_id,
                "gpu_model": {"name": instance.gpu_type, "memory_size_gb": instance.gpu_memory_gb},
                "cpu_model": "generic",
                "gpu_count": instance.gpu_count,
                "cpu_count": instance.cpu_count,
                "nvme_storage_size_gb": instance.nvme_storage_size_gb,
                "memory_size_gb": instance.memory_size_gb,
                "estimated_provisioning_time_minutes": instance.provisioning_minutes,
                "region": instance.region,
            },
            "created_at": iso(instance.created_at),
            "volumes": [
                {
                    "id": f"{v['id']['prefix']}-{v['id']['value']}",
                    "name": v["name"],
                    "size_gb": v["size_gb"],
                    "status": volume_status,
                    "cost_gb_hr": str(v["cost_gb_hr"]),
                    "created_at": v.get("created_at"),
                    "updated_at": v.get("updated_at"),
                }
                for v in instance.volumes
            ],
            "operating_system_label": instance.operating_system_label,
            "user_email": account.email if account is not None else None,
        }

    def get_instance(self, account: Account, instance_id: str) -> Tuple[str, Dict[str, Any]]:
        """The instance's status and view."""
        with self.lock:
            instance = self._own_instance(account, instance_id)
            now = self.clock.now()
            view = self.instance_view(instance, now)
            return str(view["status"]), view

    def list_instances_json(self, account: Account, page: int, include_failed: bool) -> bytes:
        """One page as JSON, in creation order (oldest first), so pages are stable."""
        with self.lock:
            now = self.clock.now()
            size = self.settings.page_size
            ids = self.ledger.page(account.id, (page - 1) * size, size, include_failed, now)
            instances = self.instances
            entries = [self._encoded_instance(instances[i], now) for i in ids]
            return b"[" + b",".join(entries) + b"]"

    def _encoded_instance(self, instance: Instance, now: float) -> bytes:
        # Clients poll listings: re-encode an instance only when something its view is
        # made of has changed. Everything else in the view is fixed at creation.
        account = self.accounts.get(instance.account_id)
        inputs = (
            instance.status_at(now),
            instance.name,
            account.email if account is not None else None,
        )
        cached = self._instance_json.get(instance.id)
        if cached is not None and cached[0] == inputs:
            return cached[1]
        encoded = dumps(self.instance_view(instance, now))
        self._instance_json[instance.id] = (inputs, encoded)
        return encoded

    def _transition(
        self,
        account: Account,
        instance_id: str,
        required: str,
        verb: str,
        plan: List[Tuple[str, float]],
    ) -> Dict[str, Any]:
        with self.lock:
            instance = self._own_instance(account, instance_id)
            now = self.clock.now()
            status = instance.status_at(now)
            if status != required:
                raise ApiError(
                    409,
                    f"Instance {instance.id} is {status}; only a {required} instance can be {verb}",
                )
            instance.cut_future(now)
            instance.segments.extend((s, now + offset) for s, offset in plan)
            self._replanned(instance, now)
            self._commit()
            return self.instance_view(instance, now)

    def stop_instance(self, account: Account, instance_id: str) -> Dict[str, Any]:
        return self._transition(
            account,
            instance_id,
            "running",
            "stopped",
            [("stopping", 0.0), ("stopped", STOPPING_SECONDS)],
        )

    def start_instance(self, account: Account, instance_id: str) -> Dict[str, Any]:
        return self._transition(
            account,
            instance_id,
            "stopped",
            "started",
            [("starting", 0.0), ("running", STARTING_SECONDS)],
        )

    def rename_instance(self, account: Account, instance_id: str, name: str) -> Dict[str, Any]:
        with self.lock:
            instance = self._own_instance(account, instance_id)
            now = self.clock.now()
            if instance.status_at(now) == "terminated":
                raise ApiError(409, f"Instance {instance.id} is terminated and cannot be renamed")
            instance.name = name
            self._touch_instance(instance)
            self._commit()
            return self.instance_view(instance, now)

    def delete_instance(self, account: Account, instance_id: str) -> Dict[str, Any]:
        with self.lock:
            instance = self._own_instance(account, instance_id)
            now = self.clock.now()
            if instance.status_at(now) == "terminated":
                # Orchestrators tear down by deleting every instance of a name, gone ones
                # included, and stop at the first non-2xx: deleting twice must succeed.
                # (A failed instance is deleted as usual: it ends terminated.)
                return {"message": f"Instance {instance.id} terminated"}
            instance.cut_future(now)
            instance.segments.append(("terminated", now))
            self._replanned(instance, now)
            self._commit()
            if self.ssh is not None:
                self.ssh.deleted("platform", instance.id)
            return {"message": f"Instance {instance.id} terminated"}

    # -- ssh keys -----------------------------------------------------------------------

    def list_ssh_keys(self, account: Account) -> List[SshKey]:
        with self.lock:
            return list(self.ssh_keys.get(account.id, {}).values())

    def add_ssh_key(
        self,
        account: Account,
        name: str,
        public_key: str,
        idempotency_key: Optional[str],
        fingerprint: str,
        status: int = 200,
        legacy: bool = False,
    ) -> Stored:
        with self.lock:
            replay = self.idempotent_replay(account, idempotency_key, fingerprint)
            if replay is not None:
                return replay
            keys = self.ssh_keys.setdefault(account.id, {})
            if name in keys:
                raise ApiError(409, f"An SSH key named {name!r} already exists")
            key = SshKey(self._uuid("sshkey"), account.id, name, public_key, self.clock.now())
            keys[name] = key
            self._touch("sshkey", f"{account.id} {name}", asdict(key))
            body: Dict[str, Any] = {"name": name, "public_key": public_key}
            if legacy:
                body = {"id": key.id, **body}
            self._remember(account, idempotency_key, fingerprint, status, body)
            self._commit()
            return Stored(status, body)

    def delete_ssh_key(self, account: Account, name_or_id: str, by_id: bool = False) -> str:
        with self.lock:
            keys = self.ssh_keys.get(account.id, {})
            key = keys.get(name_or_id)
            if key is None and by_id:
                key = next((k for k in keys.values() if k.id == name_or_id), None)
            if key is None:
                raise ApiError(404, f"SSH key {name_or_id[:100]!r} not found")
            del keys[key.name]
            self._touch("sshkey", f"{account.id} {key.name}", None)
            self._commit()
            return key.name

    # -- api keys -----------------------------------------------------------------------

    def list_api_keys(self, account: Account) -> List[Dict[str, Any]]:
        with self.lock:
            records = [r for r in self.api_keys.values() if r.account_id == account.id]
            records.sort(key=lambda r: r.created_at)
            return [{"id": r.id, "name": r.name} for r in records]

    def create_api_key(
        self, account: Account, name: str, idempotency_key: Optional[str], fingerprint: str
    ) -> Stored:
        with self.lock:
            replay = self.idempotent_replay(account, idempotency_key, fingerprint)
            if replay is not None:
                return replay
            # Secrets come from `secrets`, seed or not: a seed makes runs repeatable, and
            # must not make credentials guessable (issue 13, item 3).
            secret = "fs-" + secrets.token_hex(20)
            key_id = self._add_api_key(account, secret, name, primary=False)
            body = {"id": key_id, "name": name, "api_key": secret}
            self._remember(account, idempotency_key, fingerprint, 201, body)
            self._commit()
            return Stored(201, body)

    def delete_api_key(self, account: Account, key_id: str) -> None:
        with self.lock:
            for key_hash, record in self.api_keys.items():
                if record.id == key_id and record.account_id == account.id:
                    del self.api_keys[key_hash]
                    self._touch("apikey", key_hash, None)
                    self._commit()
                    return
            raise ApiError(404, f"API key {key_id[:100]!r} not found")

    # -- user and billing ---------------------------------------------------------------

    def balance(self, account: Account, now: Optional[float] = None) -> float:
        """Balance at ``now``: the last set balance minus what instances cost since."""
        with self.lock:
            at = self.clock.now() if now is None else now
            spent = self.ledger.spent(account, at)
            if spent is None:  # a moment before the ledger's: sum every instance
                spent = sum(
                    self.instances[i].cost_between(account.balance_time, at)
                    for i in self.account_instances.get(account.id, [])
                )
            return round(account.balance_base - spent, 6)

    def user_view(self, account: Account) -> Dict[str, Any]:
        company = account.company
        return {
            "id": account.user_id,
            "first_name": "Emulated",
            "last_name": account.label,
            "email": account.email,
            "stripe_customer_id": account.stripe_customer_id,
            "workos_user_id": account.workos_user_id,
            "workos_organization_id": None,
            "is_banned": False,
            "created_at": iso(account.created_at),
            "updated_at": iso(account.updated_at),
            "auto_topup_enabled": False,
            "auto_topup_amount": 0,
            "auto_topup_minimum_balance": 0,
            "company_name": company.get("company_name"),
            "company_vat_number": company.get("company_vat_number"),
            "company_address": company.get("company_address"),
            "company_tax_id": company.get("company_tax_id"),
            "company_contact_info": company.get("company_contact_info"),
            "auto_terminate_on_depletion": account.auto_terminate_on_depletion,
        }

    def update_company(self, account: Account, changes: Dict[str, Optional[str]]) -> Dict[str, Any]:
        with self.lock:
            account.company = {**account.company, **changes}
            account.updated_at = self.clock.now()
            self._touch_account(account)
            self._commit()
            return self.user_view(account)

    def payment_intent(self, account: Account, amount: int, currency: str) -> Dict[str, Any]:
        """A pending payment intent of ``amount`` cents: the balance grows only when it
        completes (the Stripe webhook, or the control API acting as Stripe)."""
        with self.lock:
            rng = self._random("payment")
            intent_id = "pi_" + "".join(
                rng.choice("ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz23456789")
                for _ in range(24)
            )
            intent = PaymentIntent(
                intent_id, account.id, amount, currency, "requires_payment_method", self.clock.now()
            )
            self.payment_intents[intent_id] = intent
            self._touch("payment", intent_id, asdict(intent))
            if len(self.payment_intents) > PAYMENT_INTENT_LIMIT:
                oldest = next(iter(self.payment_intents))  # dicts keep creation order
                del self.payment_intents[oldest]
                self._touch("payment", oldest, None)
            self._commit()
        secret = secrets.token_hex(12)  # a secret: never from the seed
        return {"client_secret": f"{intent_id}_secret_{secret}"}

    def complete_payment(self, intent_id: str, amount: Optional[int] = None) -> PaymentIntent:
        """Mark a payment intent paid and top up its account by the amount received
        (``amount`` cents; the intent's own by default). Completing it again changes
        nothing: Stripe delivers an event at least once."""
        with self.lock:
            intent = self.payment_intents.get(intent_id)
            if intent is None:
                raise ApiError(404, f"Payment intent {intent_id[:100]!r} not found")
            account = self.accounts.get(intent.account_id)
            if intent.status == "succeeded" or account is None:
                return intent
            received = intent.amount if amount is None else amount
            now = self.clock.now()
            self._settle_depletion(account, now)
            account.balance_base = self.balance(account, now) + received / 100.0
            account.balance_time = now
            self.ledger.rebase(account)
            account.updated_at = now
            intent.status = "succeeded"
            self._touch_account(account)
            self._touch("payment", intent.id, asdict(intent))
            self._commit()
            return intent

    def list_payment_intents(self) -> List[PaymentIntent]:
        with self.lock:
            return list(self.payment_intents.values())

    # -- depletion ----------------------------------------------------------------------

    def set_auto_terminate(self, api_key: str, enabled: bool) -> Account:
        with self.lock:
            account = self.require_account_for_key(api_key)
            now = self.clock.now()
            if enabled:
                self._settle_depletion(account, now)  # before: its balance may be spent
            account.auto_terminate_on_depletion = enabled
            account.updated_at = now
            self._touch_account(account)
            self._commit()
            return account

    def settle(self, account: Account) -> None:
        """Apply what the passage of simulated time did to ``account`` (depletion)."""
        with self.lock:
            if self._settle_depletion(account, self.clock.now()):
                self._commit()

    def _settle_depletion(self, account: Account, now: float) -> bool:
        """With ``auto_terminate_on_depletion``, terminate the account's instances at the
        moment its balance reached zero, if it has by ``now``. True when it did."""
        if not account.auto_terminate_on_depletion or self.balance(account, now) >= 0:
            return False
        # The ledger noted the moment spending passed the balance while integrating it
        # (at balance_time for a balance set negative by hand): no walk over instances
        # per request, and none at all once they are gone (issue 15).
        at = self.ledger.depleted_at(account, now)
        if at is None:
            return False
        return self._terminate_all(account, min(at, now), now)

    def _terminate_all(self, account: Account, at: float, now: float) -> bool:
        ended: List[Instance] = []
        for instance_id in self.account_instances.get(account.id, []):
            instance = self.instances[instance_id]
            if instance.status_at(at) in GONE_STATUSES:
                continue
            instance.cut_future(at)
            instance.segments.append(("terminated", at))
            self._touch_instance(instance)
            ended.append(instance)
        if ended:
            self.ledger.rewrite(account, ended, now)
            logger.info("%s ran out of balance: its instances were terminated", account.label)
        return bool(ended)

    # -- statuses the control API sets --------------------------------------------------

    def set_instance_status(
        self, instance_id: str, status: str, seconds: Optional[float]
    ) -> Dict[str, Any]:
        """Put an instance into ``unhealthy`` (back to ``running`` after ``seconds``, if
        given), ``shutting_down`` (terminated after ``seconds``, 30 by default), or heal
        an unhealthy one (``running``)."""
        with self.lock:
            instance = self.instances.get(instance_id)
            if instance is None:
                raise ApiError(404, f"Instance {instance_id[:100]!r} not found")
            now = self.clock.now()
            current = instance.status_at(now)
            if status == "unhealthy":
                if current not in ("running", "unhealthy"):
                    raise ApiError(
                        409,
                        f"Instance {instance.id} is {current}; "
                        "only a running instance can become unhealthy",
                    )
                plan = [("unhealthy", now)]
                if seconds is not None:
                    plan.append(("running", now + seconds))
            elif status == "running":
                if current != "unhealthy":
                    raise ApiError(
                        409,
                        f"Instance {instance.id} is {current}; "
                        "only an unhealthy instance can be healed",
                    )
                plan = [("running", now)]
            else:  # shutting_down
                if current in GONE_STATUSES:
                    raise ApiError(409, f"Instance {instance.id} is already {current}")
                delay = SHUTDOWN_SECONDS if seconds is None else seconds
                plan = [("shutting_down", now), ("terminated", now + delay)]
            instance.cut_future(now)
            instance.segments.extend(plan)
            self._replanned(instance, now)
            self._commit()
            return self.instance_view(instance, now)

    def iter_accounts(self) -> Iterator[Account]:
        return iter(list(self.accounts.values()))

    def close(self) -> None:
        if self._store is not None:
            self._store.close()
