"""The platform emulator's records: what it stores (accounts, keys, instances, payment
intents, sessions, remembered idempotent answers), the lifecycle timings, and the small
rules that belong to one record (an instance's status and cost at a moment).

Records are plain dataclasses: :mod:`~fluidstack.emulator.platform.base` keeps them in
dictionaries and persists them with :func:`dataclasses.asdict` (the ``--db`` format),
and the resource modules (``instances.py``, ``keys.py``, ``billing.py``, ...) change them.

An instance stores its timeline as a list of ``(status, simulated start time)``
segments, decided when an operation happens (create, stop, start, delete); its status at
any moment is the last segment that has begun. Billing integrates the same segments.
"""

from __future__ import annotations

import hashlib
import random
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Tuple

from fluidstack.emulator.journaled import draw_below
from fluidstack.emulator.ledger import state_at

__all__ = [
    "Account",
    "ApiKeyRecord",
    "BulkGroup",
    "IdempotencyRecord",
    "Instance",
    "PaymentIntent",
    "Session",
    "SshKey",
    "Stored",
    "hash_key",
    "random_name",
    "status_at",
]

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


status_at = state_at
"""The status of the last segment begun at ``now`` (the first one before any): the
rule both APIs share (:func:`fluidstack.emulator.ledger.state_at`)."""


def random_name(rng: random.Random) -> str:
    """A name for an instance created without one (``brave-otter-1a2b``)."""
    adjective = _ADJECTIVES[draw_below(rng, len(_ADJECTIVES))]  # rng.choice's draw
    noun = _NOUNS[draw_below(rng, len(_NOUNS))]
    return f"{adjective}-{noun}-{rng.getrandbits(16):04x}"


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
    """Change them only through :meth:`PlatformBase._replanned` (or tell the ledger):
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
