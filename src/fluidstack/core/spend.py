"""Never pay for a forgotten GPU: what both APIs' sweeps, leases and spend limits share.

Everything here is pure (no I/O). The clients' ``instances.sweep``, ``create(lease=...)``
and ``max_hourly_spend`` use it with their own API's calls:

- durations and leases: ``lease=timedelta(hours=2)`` becomes an expiry on the server's
  clock (:func:`lease_expiry`);
- sweeps: what selects an instance (:class:`SweepCriteria`, :func:`evaluate`) and what a
  sweep returns (:class:`SweepResult`);
- spend limits: :func:`spend_limit` reads one, :func:`check_spend` enforces it.

Times are always the server's (``client.server_time()``): the server stamped the
instances' creation times with its clock, and this machine's can differ by hours.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import (
    Callable,
    Dict,
    FrozenSet,
    Generic,
    Iterable,
    List,
    Mapping,
    Optional,
    Tuple,
    TypeVar,
    Union,
)

from .errors import ApiError, SpendLimitError

__all__ = [
    "Duration",
    "InstanceFacts",
    "SweepCriteria",
    "SweepFailure",
    "SweepMatch",
    "SweepResult",
    "SweepUndecided",
    "age_of",
    "check_spend",
    "cost_so_far",
    "duration_seconds",
    "evaluate",
    "format_duration",
    "lease_expiry",
    "select",
    "spend_limit",
    "unknown_spend",
    "usd",
]

T = TypeVar("T")

Duration = Union[dt.timedelta, int, float]
"""A length of time: a ``datetime.timedelta`` or a number of seconds."""

UTC = dt.timezone.utc


def duration_seconds(value: Duration, what: str) -> float:
    """``value`` in seconds; a clear error for anything but a positive finite duration."""
    if isinstance(value, bool) or not isinstance(value, (dt.timedelta, int, float)):
        raise TypeError(
            f"{what} must be a datetime.timedelta or a number of seconds, "
            f"got {type(value).__name__}"
        )
    seconds = value.total_seconds() if isinstance(value, dt.timedelta) else float(value)
    if not math.isfinite(seconds) or seconds <= 0:
        raise ValueError(f"{what} must be longer than 0 seconds, got {value!r}")
    return seconds


def lease_expiry(now: dt.datetime, lease: Duration) -> dt.datetime:
    """When a lease of length ``lease`` taken at ``now`` (the server's time) ends, in UTC
    and to the second, rounded up: a lease is never shorter than asked for."""
    end = _utc(now) + dt.timedelta(seconds=duration_seconds(lease, "lease"))
    if end.microsecond:
        end = end.replace(microsecond=0) + dt.timedelta(seconds=1)
    return end


def format_duration(seconds: float) -> str:
    """``2d 03h``, ``3h 05m``, ``12m 30s`` or ``45s``: two units at most, for people."""
    total = int(abs(seconds))
    days, rest = divmod(total, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days}d {hours:02d}h"
    if hours:
        return f"{hours}h {minutes:02d}m"
    if minutes:
        return f"{minutes}m {secs:02d}s"
    return f"{secs}s"


def usd(value: Decimal) -> str:
    """``$12.34``: an amount of USD for messages, to the cent."""
    return f"${value.quantize(Decimal('0.01'))}"


# -- spend limits -----------------------------------------------------------------------


def spend_limit(value: Union[Decimal, int, float, str, None]) -> Optional[Decimal]:
    """``max_hourly_spend`` as an exact ``Decimal`` of USD per hour (``None``: no limit).

    A float is read by its shortest decimal form (``12.3`` is exactly 12.3)."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (Decimal, int, float, str)):
        raise TypeError(
            f"max_hourly_spend must be a number of USD per hour, got {type(value).__name__}"
        )
    try:
        limit = Decimal(str(value).strip()) if not isinstance(value, Decimal) else value
    except InvalidOperation:
        raise ValueError(
            f"max_hourly_spend must be a number of USD per hour, got {value!r}"
        ) from None
    if not limit.is_finite() or limit <= 0:
        raise ValueError(f"max_hourly_spend must be more than 0 USD per hour, got {value!r}")
    return limit


def check_spend(limit: Decimal, current: Decimal, adding: Decimal, what: str) -> None:
    """Raise :class:`SpendLimitError` if ``adding`` USD/hour on top of the ``current``
    burn would be over ``limit``; ``what`` names the call (``"creating 2 x H100"``)."""
    total = current + adding
    if total > limit:
        raise SpendLimitError(
            f"{what} would add {usd(adding)}/h to the {usd(current)}/h already being "
            f"spent: {usd(total)}/h is over max_hourly_spend {usd(limit)}/h; nothing was "
            "sent (stop or delete instances, or raise the limit)",
            limit=limit,
            current=current,
            adding=adding,
        )


def unknown_spend(limit: Decimal, why: str, current: Optional[Decimal] = None) -> SpendLimitError:
    """The error for a call whose spend cannot be worked out: with a limit set, an
    unknown price is refused rather than guessed (the limit would mean nothing)."""
    return SpendLimitError(
        f"max_hourly_spend {usd(limit)}/h cannot be checked: {why}; nothing was sent",
        limit=limit,
        current=current,
    )


# -- sweeps -----------------------------------------------------------------------------


@dataclass(frozen=True)
class SweepCriteria:
    """What a sweep selects. Every criterion given must hold (they combine with AND);
    at least one is required, so that a sweep never selects everything by default."""

    older_than: Optional[float] = None
    """Seconds: instances at least this old, on the server's clock."""
    name_prefix: Optional[str] = None
    """Instances whose name starts with this."""
    tags: Optional[Dict[str, str]] = None
    """Instances carrying all these tags (Atlas only: platform instances have no tags)."""
    statuses: Optional[FrozenSet[str]] = None
    """Instances in one of these statuses (Atlas: states)."""
    expired: bool = False
    """Instances whose lease (``create(..., lease=...)``) has run out."""

    @classmethod
    def build(
        cls,
        *,
        older_than: Optional[Duration] = None,
        name_prefix: Optional[str] = None,
        tags: Optional[Mapping[str, str]] = None,
        statuses: Union[str, Iterable[str], None] = None,
        expired: bool = False,
    ) -> SweepCriteria:
        """Check the criteria of a sweep call; raises ``ValueError`` when none is given."""
        seconds = None if older_than is None else duration_seconds(older_than, "older_than")
        if name_prefix is not None and (not isinstance(name_prefix, str) or not name_prefix):
            raise ValueError("name_prefix must be a non-empty string")
        wanted_tags: Optional[Dict[str, str]] = None
        if tags is not None:
            wanted_tags = {}
            for key, value in dict(tags).items():
                if not isinstance(key, str) or not key or not isinstance(value, str):
                    raise ValueError(f"tags must map names to strings, got {key!r}: {value!r}")
                wanted_tags[key] = value
            if not wanted_tags:
                raise ValueError("tags={} selects everything; give at least one tag")
        wanted_statuses: Optional[FrozenSet[str]] = None
        if statuses is not None:
            items = [statuses] if isinstance(statuses, str) else list(statuses)
            wanted_statuses = frozenset(str(s).lower() for s in items)
            if not wanted_statuses:
                raise ValueError("statuses=[] selects nothing; pass None for any status")
        if not isinstance(expired, bool):
            raise TypeError("expired must be True or False")
        criteria = cls(seconds, name_prefix, wanted_tags, wanted_statuses, expired)
        if not criteria.any():
            raise ValueError(
                "a sweep needs at least one criterion (older_than, name_prefix, tags, "
                "statuses or expired=True): it never selects every instance by default"
            )
        return criteria

    def any(self) -> bool:
        """Whether at least one criterion is given."""
        return bool(
            self.older_than is not None
            or self.name_prefix is not None
            or self.tags
            or self.statuses
            or self.expired
        )

    def describe(self) -> str:
        """The criteria in words: ``older than 2h 00m, lease expired``."""
        parts = []
        if self.expired:
            parts.append("lease expired")
        if self.older_than is not None:
            parts.append(f"older than {format_duration(self.older_than)}")
        if self.name_prefix is not None:
            parts.append(f"name starting with {self.name_prefix!r}")
        if self.tags:
            parts.append("tagged " + ", ".join(f"{k}={v}" for k, v in sorted(self.tags.items())))
        if self.statuses:
            parts.append("status " + " or ".join(sorted(self.statuses)))
        return ", ".join(parts)


@dataclass(frozen=True)
class InstanceFacts:
    """What a sweep needs to know about one instance, read from either API's model."""

    id: str
    name: str
    status: str
    tags: Mapping[str, str] = field(default_factory=dict)
    created_at: Optional[dt.datetime] = None
    """On the server's clock; ``None`` when unknown (``age_unknown`` says why)."""
    age_unknown: Optional[str] = None
    lease_expires: Optional[dt.datetime] = None
    region: Optional[str] = None


def evaluate(
    criteria: SweepCriteria, facts: InstanceFacts, now: dt.datetime
) -> Tuple[Optional[Tuple[str, ...]], Optional[str]]:
    """Whether ``criteria`` select the instance at ``now`` (the server's time).

    Returns ``(reasons, None)`` when they do, ``(None, None)`` when they do not, and
    ``(None, why)`` when every other criterion holds but its age, which ``older_than``
    needs, is unknown: such an instance is never swept, but it is reported.
    """
    now = _utc(now)
    reasons: List[str] = []
    if criteria.statuses is not None:
        if facts.status.lower() not in criteria.statuses:
            return None, None
        reasons.append(f"status {facts.status}")
    if criteria.name_prefix is not None:
        if not facts.name.startswith(criteria.name_prefix):
            return None, None
        reasons.append(f"name starts with {criteria.name_prefix!r}")
    if criteria.tags:
        if any(facts.tags.get(k) != v for k, v in criteria.tags.items()):
            return None, None
        reasons.append("tagged " + ", ".join(f"{k}={v}" for k, v in sorted(criteria.tags.items())))
    if criteria.expired:
        if facts.lease_expires is None or facts.lease_expires > now:
            return None, None
        ago = (now - facts.lease_expires).total_seconds()
        reasons.append(f"lease expired {format_duration(ago)} ago")
    if criteria.older_than is not None:
        if facts.created_at is None:
            return None, f"age unknown: {facts.age_unknown or 'no creation time'}"
        age = (now - _utc(facts.created_at)).total_seconds()
        if age < 0:
            return None, (
                f"created {format_duration(-age)} after the server's time now: the clocks disagree"
            )
        if age < criteria.older_than:
            return None, None
        reasons.append(f"age {format_duration(age)}")
    return tuple(reasons), None


def age_of(facts: InstanceFacts, now: dt.datetime) -> Optional[dt.timedelta]:
    """The instance's age at ``now`` (the server's time); ``None`` when unknown."""
    if facts.created_at is None:
        return None
    age = _utc(now) - _utc(facts.created_at)
    return age if age >= dt.timedelta(0) else None


@dataclass(frozen=True)
class SweepMatch(Generic[T]):
    """An instance a sweep selected, and why."""

    instance: T
    """The instance as the listing showed it."""
    id: str
    name: str
    status: str
    reasons: Tuple[str, ...]
    """Why it matched, one phrase per criterion (``age 2d 03h``, ``lease expired 5m ago``)."""
    age: Optional[dt.timedelta]
    """Its age on the server's clock (``None`` when unknown)."""
    lease_expires: Optional[dt.datetime]
    """When its lease ran out or runs out (``None``: no lease)."""
    hourly: Optional[Decimal]
    """What it costs per hour now, in USD (``None`` where no price is known: Atlas
    without a ``prices`` table)."""
    cost_so_far: Optional[Decimal]
    """An estimate of what it has cost since it was created, in USD: its current hourly
    price over its age (``None`` when either is unknown)."""
    region: Optional[str] = None
    """Atlas: the region it is in."""


@dataclass(frozen=True)
class SweepUndecided(Generic[T]):
    """An instance every other criterion selected, but whose age ``older_than`` could
    not be judged (unknown, or after the server's "now"): it is left alone."""

    instance: T
    id: str
    name: str
    reason: str


@dataclass(frozen=True)
class SweepFailure(Generic[T]):
    """A selected instance whose delete failed; ``error`` says why."""

    match: SweepMatch[T]
    error: ApiError


@dataclass
class SweepResult(Generic[T]):
    """What a sweep selected and what it did.

    A dry run (the default) deletes nothing: ``matched`` is what a real sweep would
    delete, and ``deleted`` and ``failed`` are empty.
    """

    criteria: SweepCriteria
    checked_at: dt.datetime
    """The server's time the instances were judged at."""
    dry_run: bool
    matched: List[SweepMatch[T]] = field(default_factory=list)
    deleted: List[SweepMatch[T]] = field(default_factory=list)
    """Selected and confirmed deleted (gone, or ``terminated``)."""
    failed: List[SweepFailure[T]] = field(default_factory=list)
    undecided: List[SweepUndecided[T]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """No delete failed."""
        return not self.failed

    @property
    def hourly(self) -> Decimal:
        """What the selected instances cost per hour together (those with a known price)."""
        return sum((m.hourly for m in self.matched if m.hourly is not None), Decimal(0))

    @property
    def cost_so_far(self) -> Decimal:
        """What the selected instances have cost so far together (estimated, known ones)."""
        return sum((m.cost_so_far for m in self.matched if m.cost_so_far is not None), Decimal(0))


def select(
    listing: Iterable[T],
    criteria: SweepCriteria,
    now: dt.datetime,
    *,
    dry_run: bool,
    facts_of: Callable[[T], InstanceFacts],
    hourly_of: Callable[[T, InstanceFacts], Optional[Decimal]],
    gone: FrozenSet[str],
) -> SweepResult[T]:
    """The sweep of ``listing`` at ``now`` (the server's time), before any delete: what
    ``criteria`` select, with the age, price and cost so far of each, and the instances
    whose age could not be judged. Instances in a ``gone`` status are never selected."""
    result: SweepResult[T] = SweepResult(criteria, now, dry_run)
    for instance in listing:
        known = facts_of(instance)
        if known.status in gone:
            continue
        reasons, undecided = evaluate(criteria, known, now)
        if undecided is not None:
            result.undecided.append(SweepUndecided(instance, known.id, known.name, undecided))
            continue
        if reasons is None:
            continue
        age = age_of(known, now)
        hourly = hourly_of(instance, known)
        result.matched.append(
            SweepMatch(
                instance=instance,
                id=known.id,
                name=known.name,
                status=known.status,
                reasons=reasons,
                age=age,
                lease_expires=known.lease_expires,
                hourly=hourly,
                cost_so_far=cost_so_far(hourly, age),
                region=known.region,
            )
        )
    return result


def cost_so_far(hourly: Optional[Decimal], age: Optional[dt.timedelta]) -> Optional[Decimal]:
    """``hourly`` over ``age``, to the cent (``None`` when either is unknown)."""
    if hourly is None or age is None or hourly.is_nan():
        return None
    hours = Decimal(repr(age.total_seconds())) / Decimal(3600)
    return (hourly * hours).quantize(Decimal("0.01"))


def _utc(moment: dt.datetime) -> dt.datetime:
    # The platform API sends naive timestamps in UTC.
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
