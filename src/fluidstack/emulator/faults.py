"""Injected faults and the request journal (test tooling, kept in memory only)."""

from __future__ import annotations

import fnmatch
import itertools
from collections import deque
from dataclasses import dataclass
from typing import (
    Any,
    Callable,
    Deque,
    Dict,
    List,
    Literal,
    Optional,
    Sequence,
    Set,
    Tuple,
    Union,
)

from pydantic import BaseModel, ConfigDict, Field, StrictInt, model_validator

__all__ = [
    "FaultBook",
    "FaultRule",
    "FaultSpec",
    "Journal",
    "flat_journal_headers",
    "header_pairs",
    "journal_headers",
]

JOURNAL_LIMIT = 10_000
"""Most entries the journal keeps (the oldest go first)."""
JOURNAL_BYTES = 8 * 1024 * 1024
"""Most bytes (estimated) the journal keeps, whatever the entries hold."""
MAX_JOURNAL_HEADERS = 32
"""Headers kept per entry; each name is clipped to 64 characters and each value to 256."""
MAX_JOURNAL_TEXT = 1024
"""Characters of a path or a query kept per entry."""
REDACTED_HEADERS = frozenset({"api-key", "cookie", "authorization", "x-emulator-token"})


class FaultSpec(BaseModel):
    """``POST /_emulator/faults``: what to break, for which requests, how often."""

    model_config = ConfigDict(extra="forbid")

    method: str = Field(default="*", min_length=1, max_length=16)
    path: str = Field(min_length=1, max_length=1000)
    api_key: Optional[str] = None
    client_id: Optional[str] = Field(default=None, min_length=1, max_length=255)
    """Only requests of that Atlas client's organization."""
    times: Optional[StrictInt] = Field(default=1, ge=1)
    """How many matching requests the rule applies to; ``null`` for every one."""
    action: Literal["error", "drop", "delay", "sshd_delay"] = "error"
    """``sshd_delay`` (with ``--ssh``) is not about requests: an instance whose API path
    matches ``path`` answers SSH only ``seconds`` *simulated* seconds after it is
    ``running`` (each boot uses one of ``times``)."""
    status: StrictInt = Field(default=500, ge=100, le=599)
    body: Optional[Any] = None
    retry_after: Optional[str] = Field(default=None, max_length=200)
    retry_after_ms: Optional[Union[StrictInt, float]] = Field(default=None, ge=0)
    seconds: float = Field(default=0.0, ge=0, le=600)
    perform: bool = False

    @model_validator(mode="after")
    def _check(self) -> FaultSpec:
        if self.api_key is not None and self.client_id is not None:
            raise ValueError("give api_key (a platform account) or client_id (an Atlas org)")
        if self.action in ("delay", "sshd_delay") and self.seconds <= 0:
            raise ValueError(f"a {self.action} fault needs 'seconds' > 0")
        if not self.path.startswith("/"):
            raise ValueError("path must start with '/' (a glob such as '/instances/*')")
        for c in self.retry_after or "":
            if ord(c) < 32 or ord(c) > 126:
                raise ValueError("retry_after must be printable ASCII")
        return self


@dataclass
class FaultRule:
    id: str
    spec: FaultSpec
    remaining: Optional[int]
    account_id: Optional[str]
    """Account of ``spec.api_key`` (or organization of ``spec.client_id``) when the rule
    was added (``None``: any request)."""
    hits: int = 0

    def view(self) -> Dict[str, Any]:
        data = self.spec.model_dump()
        if self.spec.api_key is not None:
            data["api_key"] = "..." + self.spec.api_key[-4:]
        data.update(id=self.id, remaining=self.remaining, hits=self.hits)
        return data


class FaultBook:
    """Active fault rules, matched in the order they were added."""

    def __init__(self) -> None:
        self._rules: Dict[str, FaultRule] = {}
        self._ids = itertools.count(1)

    def add(self, spec: FaultSpec, account_id: Optional[str]) -> FaultRule:
        rule = FaultRule(f"fault-{next(self._ids)}", spec, spec.times, account_id)
        self._rules[rule.id] = rule
        return rule

    def list(self) -> List[FaultRule]:
        return list(self._rules.values())

    def remove(self, rule_id: str) -> bool:
        return self._rules.pop(rule_id, None) is not None

    def clear(self, account_id: Optional[str] = None) -> None:
        if account_id is None:
            self._rules.clear()
        else:
            for rule in [r for r in self._rules.values() if r.account_id == account_id]:
                del self._rules[rule.id]

    def take(self, method: str, path: str, account_id: Optional[str]) -> Optional[FaultRule]:
        """The first rule matching this request, consuming one of its uses."""
        if not self._rules:
            return None
        return self._take(
            path,
            account_id,
            lambda spec: (
                spec.action != "sshd_delay"
                and (spec.method == "*" or spec.method.upper() == method)
            ),
        )

    def take_sshd_delay(self, instance_path: str, owner_id: Optional[str]) -> float:
        """Simulated seconds an instance's sshd waits after ``running`` in the boot that
        starts now (0 without a matching ``sshd_delay`` rule), consuming one use."""
        rule = self._take(instance_path, owner_id, lambda spec: spec.action == "sshd_delay")
        return 0.0 if rule is None else rule.spec.seconds

    def _take(
        self, path: str, owner_id: Optional[str], applies: Callable[[FaultSpec], bool]
    ) -> Optional[FaultRule]:
        """The first rule that ``applies``, for ``owner_id`` (when the rule is scoped) and
        whose ``path`` glob matches, with one of its uses consumed."""
        for rule in list(self._rules.values()):
            spec = rule.spec
            if not applies(spec):
                continue
            if rule.account_id is not None and rule.account_id != owner_id:
                continue
            if not fnmatch.fnmatchcase(path, spec.path):
                continue
            rule.hits += 1
            if rule.remaining is not None:
                rule.remaining -= 1
                if rule.remaining <= 0:
                    del self._rules[rule.id]
            return rule
        return None


Builder = Callable[[Tuple[Any, ...]], Dict[str, Any]]
"""Makes a journal entry (or its replay part) from the plain values kept while serving."""

_Kept = Tuple[Any, ...]
"""A lazy entry: (seq, account, builder index, replay builder index or -1, *values)."""


class Journal:
    """The last requests served, with secrets removed: a ring buffer bounded both by a
    count and by (estimated) bytes, so that no stream of requests, large-headed or
    unauthenticated, can make it grow without end."""

    def __init__(self, limit: int = JOURNAL_LIMIT, byte_limit: int = JOURNAL_BYTES) -> None:
        self._entries: Deque[Union[Dict[str, Any], _Kept]] = deque()
        self._sizes: Deque[int] = deque()
        self._seq = itertools.count(1)
        self._builders: List[Builder] = []
        self._builder_index: Dict[Builder, int] = {}
        self.limit = limit
        self.byte_limit = byte_limit
        self.bytes = 0
        """The estimated size of what is kept."""
        self.origin: Optional[Dict[str, Any]] = None
        """The state (a snapshot without secrets) just before the first request kept,
        for a replay; taken when that request arrives (see :attr:`origin_wanted`)."""
        self.origin_wanted = True
        """Set when the journal starts afresh (start, full reset, restore, clear): the
        next request takes :attr:`origin` first."""
        self.truncated = False
        """Entries since :attr:`origin` were dropped (the oldest, or one account's): a
        replay of what is left may differ."""

    def append(self, entry: Dict[str, Any]) -> None:
        entry["seq"] = next(self._seq)
        self._keep(entry, _estimated_size(entry))

    def append_lazy(
        self,
        account: Optional[str],
        size: int,
        build: Builder,
        values: Tuple[Any, ...],
        replay: Optional[Builder] = None,
    ) -> None:
        """An entry whose dictionary is ``build(values)``, built only when the journal is
        read (serving a request then costs a tuple, not a dictionary of decoded text:
        issue 15), and whose ``replay`` part, if any, is ``replay(values)``, built only
        for a replay file. ``size`` is its estimated size; ``values`` must hold no
        secret. The entry is kept as one tuple of plain values (text, bytes, numbers,
        tuples of them; the builders by index, not reference), which the cyclic
        collector stops tracking, so the thousands the journal holds are not walked
        by every collection (issue 24). It untracks a tuple only once the tuples in it
        are untracked, one level per collection: ``values`` are kept in the entry's
        own tuple, and are best plain or flat tuples."""
        replay_index = self._index(replay) if replay is not None else -1
        kept = (next(self._seq), account, self._index(build), replay_index, *values)
        self._keep(kept, size)

    def _index(self, build: Builder) -> int:
        index = self._builder_index.get(build)
        if index is None:
            index = self._builder_index[build] = len(self._builders)
            self._builders.append(build)
        return index

    def _keep(self, entry: Union[Dict[str, Any], _Kept], size: int) -> None:
        self._entries.append(entry)
        self._sizes.append(size)
        self.bytes += size
        if len(self._entries) > self.limit or self.bytes > self.byte_limit:
            self._evict()

    def _evict(self) -> None:
        while self._entries and (len(self._entries) > self.limit or self.bytes > self.byte_limit):
            self._entries.popleft()
            self.bytes -= self._sizes.popleft()
            self.truncated = True

    def entries(self, since: Optional[int] = None, replay: bool = False) -> List[Dict[str, Any]]:
        """The entries kept (after ``since``); ``replay`` adds each one's ``replay``
        part (the clock, fingerprinted credentials, bodies, the fault)."""
        return [
            e if isinstance(e, dict) else self._built(e, replay)
            for e in self._entries
            if since is None or _seq(e) > since
        ]

    def _built(self, kept: _Kept, replay: bool) -> Dict[str, Any]:
        seq, _, build, replay_build = kept[:4]
        values = kept[4:]
        entry = self._builders[build](values)
        entry["seq"] = seq
        if replay:
            entry["replay"] = self._builders[replay_build](values) if replay_build >= 0 else None
        return entry

    def clear(self, account_label: Optional[str] = None) -> None:
        if account_label is None:
            self.origin, self.origin_wanted, self.truncated = None, True, False
        else:
            self.truncated = True
        kept = [
            (e, n)
            for e, n in zip(self._entries, self._sizes)
            if account_label is not None and _account(e) != account_label
        ]
        self._entries = deque(e for e, _ in kept)
        self._sizes = deque(n for _, n in kept)
        self.bytes = sum(self._sizes)

    def __len__(self) -> int:
        return len(self._entries)


def _seq(entry: Union[Dict[str, Any], _Kept]) -> int:
    return int(entry["seq"]) if isinstance(entry, dict) else entry[0]


def _account(entry: Union[Dict[str, Any], _Kept]) -> Any:
    return entry.get("account") if isinstance(entry, dict) else entry[1]


_REDACTED_BYTES = frozenset(name.encode() for name in REDACTED_HEADERS)


def journal_headers(raw: List[Any]) -> Tuple[Tuple[Tuple[bytes, bytes], ...], int]:
    """What the journal keeps of a request's headers, still as bytes: every header but
    the secret ones (dropped here, so no secret is ever kept), within the first
    :data:`MAX_JOURNAL_HEADERS` names, clipped; and their estimated size.
    :func:`redact_headers` of the result is what :func:`redact_headers` of ``raw`` is."""
    flat, size = flat_journal_headers(raw)
    return tuple(zip(flat[::2], flat[1::2])), size


def flat_journal_headers(raw: List[Any]) -> Tuple[Tuple[bytes, ...], int]:
    """:func:`journal_headers` as one flat tuple (name, value, name, value, ...): no
    tuple inside, so the collector untracks it at once (see :meth:`Journal.append_lazy`);
    :func:`header_pairs` makes the pairs again."""
    if len(raw) <= MAX_JOURNAL_HEADERS:  # the usual head: no name can be over the limit
        kept: List[bytes] = []
        append = kept.append
        for name_bytes, value_bytes in raw:
            name = name_bytes[:64].lower()
            if name not in _REDACTED_BYTES:
                append(name)
                append(value_bytes[:256])
        return tuple(kept), sum(map(len, kept)) + 50 * len(kept)
    kept = []
    names: Set[bytes] = set()
    size = 0
    for name_bytes, value_bytes in raw:
        name = name_bytes[:64].lower()
        if name in _REDACTED_BYTES:
            continue
        if name not in names:
            if len(names) >= MAX_JOURNAL_HEADERS:
                continue
            names.add(name)
        value = value_bytes[:256]
        kept += (name, value)
        size += len(name) + len(value) + 100
    return tuple(kept), size  # a tuple of bytes: untracked by the cyclic collector


def header_pairs(flat: Sequence[bytes]) -> List[Tuple[bytes, bytes]]:
    """The (name, value) pairs of a :func:`flat_journal_headers` tuple."""
    return list(zip(flat[::2], flat[1::2]))


def _estimated_size(entry: Dict[str, Any]) -> int:
    """Bytes an entry takes, roughly: its text plus a fixed overhead per field."""
    size = 400
    for value in entry.values():
        if isinstance(value, str):
            size += len(value)
        elif isinstance(value, dict):
            size += sum(len(k) + len(v) + 100 for k, v in value.items())
    return size


def clip(text: str, limit: int = MAX_JOURNAL_TEXT) -> str:
    return text if len(text) <= limit else text[:limit] + "…"


def redact_headers(raw: Sequence[Any]) -> Dict[str, str]:
    """Request headers for the journal: never the API key, cookies, authorization or the
    control token; at most :data:`MAX_JOURNAL_HEADERS` of them, clipped."""
    headers: Dict[str, str] = {}
    for name_bytes, value_bytes in raw:
        name = name_bytes[:64].decode("latin-1").lower()
        if name in REDACTED_HEADERS:
            continue
        if name not in headers and len(headers) >= MAX_JOURNAL_HEADERS:
            continue
        value = value_bytes[:256].decode("latin-1")
        joined = f"{headers[name]}, {value}" if name in headers else value
        headers[name] = clip(joined, 256)
    return headers
