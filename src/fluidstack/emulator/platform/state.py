"""The emulated platform: accounts, keys, instances and their lifecycle, billing.

:class:`PlatformState` is composed of one mixin per resource on a shared store, as
moto splits its larger backends (``moto/ec2/models/``): a mixin is one file a reader
can take in at once, and adding a field or a rule means opening only the file of its
resource. Mixins rather than separate stores per resource, because the platform's
operations cross resources under one lock and one transaction (a create checks keys,
balance and capacity; a depletion rewrites instances and the ledger), and a mixin keeps
those calls plain method calls on one object, as before.

- :mod:`~fluidstack.emulator.platform.records`: the dataclasses and timings.
- :mod:`~fluidstack.emulator.platform.base`: the records in memory, load and journal
  (on :class:`~fluidstack.emulator.journaled.JournaledState`, shared with Atlas).
- ``idempotency.py``, ``sessions.py``, ``keys.py``, ``billing.py``, ``instances.py``,
  ``admin.py``: the behaviour, one resource each.

The names below were importable from this module before the split and stay so.
"""

from __future__ import annotations

from fluidstack.emulator.platform.admin import AdminMixin
from fluidstack.emulator.platform.keys import KeysMixin
from fluidstack.emulator.platform.records import (
    BILLED_AT_RUNNING_PRICE,
    GONE_STATUSES,
    IDEMPOTENCY_LIMIT,
    IDEMPOTENCY_TTL,
    PAYMENT_INTENT_LIMIT,
    PENDING_SECONDS,
    SESSION_TTL,
    SHUTDOWN_SECONDS,
    STARTING_SECONDS,
    STOPPING_SECONDS,
    UP_STATUSES,
    Account,
    ApiKeyRecord,
    BulkGroup,
    IdempotencyRecord,
    Instance,
    PaymentIntent,
    Session,
    SshKey,
    Stored,
    hash_key,
)
from fluidstack.emulator.platform.sessions import SessionsMixin

__all__ = [
    "BILLED_AT_RUNNING_PRICE",
    "GONE_STATUSES",
    "IDEMPOTENCY_LIMIT",
    "IDEMPOTENCY_TTL",
    "PAYMENT_INTENT_LIMIT",
    "PENDING_SECONDS",
    "SESSION_TTL",
    "SHUTDOWN_SECONDS",
    "STARTING_SECONDS",
    "STOPPING_SECONDS",
    "UP_STATUSES",
    "Account",
    "ApiKeyRecord",
    "BulkGroup",
    "IdempotencyRecord",
    "Instance",
    "PaymentIntent",
    "PlatformState",
    "Session",
    "SshKey",
    "Stored",
    "hash_key",
]


class PlatformState(AdminMixin, KeysMixin, SessionsMixin):
    """All platform state, guarded by one lock; persisted to SQLite when configured.

    The clock, the lock and the store may be shared with the emulator's other APIs
    (one simulated timeline, one lock, one database file); by default they are its own.
    Construct it as ``PlatformState(settings, catalog=None, *, clock=None, lock=None,
    store=None)`` (see :class:`~fluidstack.emulator.platform.base.PlatformBase`).
    """
