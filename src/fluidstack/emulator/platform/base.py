"""The platform emulator's store: its records in memory, how they load from and are
journaled to the ``--db`` file, and the few helpers every resource needs (the account of
a key, an account's own instance, capacity in use).

:class:`PlatformBase` is the shared :class:`~fluidstack.emulator.journaled.JournaledState`
specialised for the platform API. Behaviour lives in one mixin per resource on top of it
(``instances.py``, ``keys.py``, ``billing.py``, ``sessions.py``, ``idempotency.py``,
``admin.py``), composed into :class:`~fluidstack.emulator.platform.state.PlatformState`.

Every public mutating method validates first and mutates only when the operation will
succeed, so a refused request changes nothing; mutations are persisted in one SQLite
transaction before the method returns (with ``--db``).
"""

from __future__ import annotations

import secrets
import threading
from collections import OrderedDict
from dataclasses import asdict
from typing import Any, Dict, Iterator, List, Optional, Tuple

from fluidstack.emulator.clock import SimClock
from fluidstack.emulator.journaled import JournaledState
from fluidstack.emulator.platform.catalog import Catalog, load_catalog
from fluidstack.emulator.platform.ledger import Ledger
from fluidstack.emulator.platform.records import (
    Account,
    ApiKeyRecord,
    IdempotencyRecord,
    Instance,
    PaymentIntent,
    Session,
    SshKey,
    hash_key,
)
from fluidstack.emulator.responses import ApiError
from fluidstack.emulator.settings import EmulatorSettings
from fluidstack.emulator.ssh.hooks import SshHooks
from fluidstack.emulator.store import Store

__all__ = ["PlatformBase"]


class PlatformBase(JournaledState):
    """All platform records, guarded by one lock; persisted to SQLite when configured.

    The clock, the lock and the store may be shared with the emulator's other APIs
    (one simulated timeline, one lock, one database file); by default they are its own.
    """

    TABLE = "records"
    WHAT = "a write"

    def __init__(
        self,
        settings: EmulatorSettings,
        catalog: Optional[Catalog] = None,
        *,
        clock: Optional[SimClock] = None,
        lock: Optional[threading.RLock] = None,
        store: Optional[Store] = None,
    ) -> None:
        super().__init__(settings, clock=clock, lock=lock, store=store)
        self.catalog = catalog if catalog is not None else load_catalog()
        self.ssh: Optional[SshHooks] = None
        """The emulator's sshd (``--ssh``): instances then answer SSH on loopback."""
        self.dev_login_code: Optional[str] = (
            "fs-dev-" + secrets.token_urlsafe(18) if settings.dev_login_enabled else None
        )
        """This run's development login code (``/auth/callback``), drawn from ``secrets``;
        ``None`` when it is off (``--no-control`` without ``--dev-login``)."""
        self._empty()
        loaded = self._load_stored()
        if loaded:
            self._load(loaded)
        else:
            self._bootstrap_accounts()
            self._commit(clear=True)

    # -- the records and their journal ------------------------------------------------

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

    def _touch_account(self, account: Account) -> None:
        self._touch("account", account.id, asdict(account))

    def _touch_instance(self, instance: Instance) -> None:
        # asdict() is a deep copy: only for the file; without one, the record itself
        # (serialised only if a snapshot is taken).
        self._touch("instance", instance.id, asdict(instance) if self._store else instance)

    def _meta(self, clear: bool) -> List[Tuple[str, Any]]:
        capacity = [[gpu_type, region, gpus] for (gpu_type, region), gpus in self.capacity.items()]
        return [*super()._meta(clear), ("capacity", capacity)]

    def _memory_only(self) -> Any:
        return self.auth_codes  # one-time codes live in memory only

    def _restore_memory_only(self, kept: Any) -> None:
        self.auth_codes = kept

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

    # -- helpers every resource uses -----------------------------------------------------

    def account_for_key(self, api_key: str) -> Optional[Account]:
        return self.account_for_key_hash(hash_key(api_key))

    def account_for_key_hash(self, key_hash: str) -> Optional[Account]:
        """The account of the API key whose :func:`hash_key` is ``key_hash``."""
        record = self.api_keys.get(key_hash)
        return self.accounts.get(record.account_id) if record is not None else None

    def require_account_for_key(self, api_key: str) -> Account:
        account = self.account_for_key(api_key)
        if account is None:
            raise ApiError(404, "No account has this API key")
        return account

    def _own_instance(self, account: Account, instance_id: str) -> Instance:
        instance = self.instances.get(instance_id)
        if instance is None or instance.account_id != account.id:
            raise ApiError(404, f"Instance {instance_id[:100]!r} not found")
        return instance

    def _used_gpus(self, gpu_type: str, region: str, now: float) -> int:
        return self.ledger.in_use((gpu_type, region), now)

    def _free_gpus(self, gpu_type: str, region: str, now: float) -> int:
        return self.capacity.get((gpu_type, region), 0) - self._used_gpus(gpu_type, region, now)

    def _replanned(self, instance: Instance, now: float) -> None:
        """An instance was created or its segments changed at ``now``: count it again
        (capacity, spend, listing) and persist it."""
        self.ledger.track(instance, now)
        self._touch_instance(instance)

    def iter_accounts(self) -> Iterator[Account]:
        return iter(list(self.accounts.values()))
