"""Snapshots of the whole emulated state (``GET``/``PUT /_emulator/state``,
``--import-state``, ``--export-on-exit``): every API's records as its ``--db`` table holds
them, in one versioned JSON document.

One home for serialisation: a snapshot is each API's table (by kind, then key) as
:meth:`~fluidstack.emulator.journaled.JournaledState.export_records` gives it, and a
restore goes through the same ``_load`` a start from ``--db`` uses. A record kind a mixin
journals therefore travels in snapshots without being named here.

A restore is validated whole before it is kept: the envelope first, then every record
as it loads, then every loaded record's fields against their dataclass's annotations. A
bad snapshot changes nothing and raises :class:`SnapshotError`, which names the first bad
field. With ``--db`` the restore is one transaction over every API's table.

Secrets (API key and client secret hashes, user password hashes, platform sessions,
Atlas refresh tokens, the token-signing key) are left out unless asked for: see
:func:`strip_secrets` for what a snapshot without them restores.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
import sys
import time
import typing
import uuid
from copy import deepcopy
from typing import Any, Callable, Dict, Iterator, List, Optional, Protocol, Set, Tuple

from fluidstack.emulator.atlas.state import AtlasState
from fluidstack.emulator.clock import SimClock, iso
from fluidstack.emulator.faults import FaultBook, Journal
from fluidstack.emulator.journaled import JournaledState
from fluidstack.emulator.platform.records import ApiKeyRecord, hash_key
from fluidstack.emulator.platform.state import PlatformState
from fluidstack.emulator.responses import storage_unavailable
from fluidstack.emulator.settings import EmulatorSettings
from fluidstack.emulator.store import Store, StoreUnavailable

__all__ = [
    "FORMAT",
    "VERSION",
    "SnapshotError",
    "export_state",
    "read_state_file",
    "restore_state",
    "strip_secrets",
    "write_state_file",
]

FORMAT = "fluidstack-emulator-state"
VERSION = 1
"""Bumped when a snapshot written by this version could not be read by an older one."""

_ENVELOPE = {"format", "version", "secrets", "taken_at", "apis"}

# What a snapshot without secrets leaves out. Kinds whose records are credentials (or
# are keyed by one) go whole; fields named like a credential are blanked (an empty hash
# matches no secret); meta records of key material go. By name, so that a credential
# kind or field added later is left out too.
_SECRET_KIND = re.compile(r"apikey|session|refresh|token|secret|password|credential")
_SECRET_FIELD = re.compile(r"(^|_)(hash|secret|password|token)(_|$)")
_SECRET_META = re.compile(r"signing|secret")


class SnapshotError(ValueError):
    """A snapshot that cannot be restored; ``field`` is where (``apis.platform.account.<id>
    .balance_base``), the message says why. Nothing was changed."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field


class Emulator(Protocol):
    """What a snapshot needs of the running emulator
    (:class:`fluidstack.emulator.runtime.Emulator`, which imports this module)."""

    settings: EmulatorSettings
    clock: SimClock
    lock: Any
    store: Optional[Store]
    platform: PlatformState
    atlas: AtlasState
    faults: FaultBook
    journal: Journal
    generation: int
    ssh: Any


def _apis(emulator: Emulator) -> Dict[str, JournaledState]:
    return {"platform": emulator.platform, "atlas": emulator.atlas}


# -- export ----------------------------------------------------------------------------


def export_state(emulator: Emulator, secrets: bool = False) -> Dict[str, Any]:
    """The whole state of every API as a JSON-ready snapshot (see the module's doc)."""
    with emulator.lock:
        apis = {name: state.export_records() for name, state in _apis(emulator).items()}
        taken_at = iso(emulator.clock.now())
    snapshot = {
        "format": FORMAT,
        "version": VERSION,
        "secrets": secrets,
        "taken_at": taken_at,
        "apis": apis,
    }
    return snapshot if secrets else strip_secrets(snapshot)


def strip_secrets(snapshot: Dict[str, Any]) -> Dict[str, Any]:
    """``snapshot`` without credentials. Restored, it keeps every account, organization,
    user and resource, and the importing emulator's own command-line credentials
    (``--api-key``, ``--atlas-client``, ``--atlas-user``, or the development ones) work
    again on the accounts, organizations and users they were made for: API keys go back
    on the bootstrap accounts in order, client secrets and passwords are set again.
    Credentials made at runtime do not come back: mint new ones (``handle.atlas.token``
    needs no secret), or export with secrets. Sessions and refresh tokens are gone (log
    in again); access tokens signed before are refused (clients fetch new ones)."""
    apis: Dict[str, Any] = {}
    for api, records in snapshot["apis"].items():
        kept: Dict[str, Any] = {}
        for kind, rows in records.items():
            if kind == "meta":
                kept[kind] = {k: v for k, v in rows.items() if not _SECRET_META.search(k)}
            elif not _SECRET_KIND.search(kind):
                kept[kind] = {key: _blank_secrets(value) for key, value in rows.items()}
        apis[api] = kept
    return {**snapshot, "secrets": False, "apis": apis}


def _blank_secrets(value: Any) -> Any:
    if not isinstance(value, dict):
        return value
    return {
        k: "" if isinstance(v, str) and _SECRET_FIELD.search(k) else v for k, v in value.items()
    }


def write_state_file(emulator: Emulator, path: str, secrets: bool = False) -> None:
    """Write a snapshot to ``path`` atomically (a reader never sees half a file)."""
    snapshot = export_state(emulator, secrets)
    partial = f"{path}.partial"
    with open(partial, "w", encoding="utf-8") as out:
        json.dump(snapshot, out, separators=(",", ":"))
        out.flush()
        os.fsync(out.fileno())
    os.replace(partial, path)


def read_state_file(path: str) -> Any:
    """The JSON of a snapshot file (:class:`SnapshotError` if it cannot be read or is
    not JSON)."""
    try:
        with open(path, encoding="utf-8") as source:
            return json.load(source)
    except ValueError as exc:
        raise SnapshotError(path, f"not JSON ({exc})") from None
    except OSError as exc:
        raise SnapshotError(path, f"cannot be read ({exc.strerror or exc})") from None


# -- restore ---------------------------------------------------------------------------


def restore_state(
    emulator: Emulator, snapshot: Any, *, copy: bool = True
) -> Dict[str, Dict[str, int]]:
    """Replace every API's state with ``snapshot``'s, atomically; returns how many
    records of each kind were restored. Raises :class:`SnapshotError` (nothing changed)
    for a bad snapshot, and the 503 :class:`~fluidstack.emulator.responses.ApiError`
    (nothing changed) when ``--db`` cannot commit it. Faults and the journal are
    cleared, as by a reset; with ``--ssh``, running instances get their sshd.

    Loading changes the snapshot's dictionaries: ``copy=False`` only for one that is
    used once (just parsed), which saves a deep copy."""
    apis = _envelope(snapshot)
    if copy:
        apis = deepcopy(apis)
    if not snapshot.get("secrets"):
        _rekey(emulator, apis.get("platform", {}))
    states = _apis(emulator)
    with emulator.lock:
        before = {name: state.current_meta() for name, state in states.items()}
        clock = emulator.clock.now()
        try:
            _rewind(emulator, apis)
            for name, state in states.items():
                records = apis.setdefault(name, {})
                try:
                    state.load_records(records)
                except Exception as exc:
                    # What loaded before the failure, checked first: a wrong type is
                    # named exactly (it often fails later, away from its record).
                    _check_types(f"apis.{name}", state, records)
                    raise _load_error(f"apis.{name}", records, exc) from exc
            for name, state in states.items():
                _check_types(f"apis.{name}", state, apis[name])
            changes = {name: state.loaded_changes(apis[name]) for name, state in states.items()}
            if emulator.store is not None:
                emulator.store.replace(
                    {states[name].TABLE: records for name, records in changes.items()}
                )
        except BaseException as exc:
            emulator.clock.rewind(clock)
            for name, state in states.items():
                state.rollback_load(before[name])
            _sync_ssh(emulator)
            if isinstance(exc, StoreUnavailable):
                raise storage_unavailable(str(exc)) from None
            raise
        for name, state in states.items():
            state.commit_loaded(changes[name])
        emulator.generation += 1
        emulator.faults.clear()
        emulator.journal.clear()
        _sync_ssh(emulator)
    return {
        name: {kind: len(rows) for kind, rows in records.items() if kind != "meta"}
        for name, records in apis.items()
    }


def _envelope(snapshot: Any) -> Dict[str, Dict[str, Dict[str, Any]]]:
    """The ``apis`` of a well-formed snapshot."""
    if not isinstance(snapshot, dict):
        raise SnapshotError("(snapshot)", "expected a JSON object")
    for name in snapshot:
        if name not in _ENVELOPE:
            raise SnapshotError(str(name), "unknown field")
    if snapshot.get("format", FORMAT) != FORMAT:
        raise SnapshotError("format", f"expected {FORMAT!r}")
    version = snapshot.get("version")
    if version != VERSION or isinstance(version, bool):
        raise SnapshotError("version", f"expected {VERSION} (this emulator's format)")
    if not isinstance(snapshot.get("secrets", False), bool):
        raise SnapshotError("secrets", "expected true or false")
    apis = snapshot.get("apis")
    if not isinstance(apis, dict):
        raise SnapshotError("apis", "expected an object of APIs")
    for api, records in apis.items():
        if api not in ("platform", "atlas"):
            raise SnapshotError(f"apis.{api}", "unknown API (expected platform, atlas)")
        if not isinstance(records, dict):
            raise SnapshotError(f"apis.{api}", "expected an object of record kinds")
        for kind, rows in records.items():
            if not isinstance(rows, dict):
                raise SnapshotError(f"apis.{api}.{kind}", "expected an object of records")
            for key, value in rows.items():
                if kind != "meta" and not isinstance(value, dict):
                    raise SnapshotError(f"apis.{api}.{kind}.{key}", "expected an object")
    clock = apis.get("platform", {}).get("meta", {}).get("clock")
    if clock is not None and not (
        isinstance(clock, dict) and isinstance(clock.get("sim"), (int, float))
    ):
        raise SnapshotError("apis.platform.meta.clock.sim", "expected a number")
    result: Dict[str, Dict[str, Dict[str, Any]]] = apis
    return result


def _rewind(emulator: Emulator, apis: Dict[str, Dict[str, Dict[str, Any]]]) -> None:
    """Put the clock where the snapshot's was, before anything loads (statuses, spend
    and expiries are computed from it), even backwards."""
    for records in apis.values():
        clock = records.get("meta", {}).get("clock")
        if isinstance(clock, dict) and isinstance(clock.get("sim"), (int, float)):
            emulator.clock.rewind(float(clock["sim"]))
            # The snapshot's time as of now: loading must not add the real time since.
            clock["wall"] = time.time()


def _rekey(emulator: Emulator, platform: Dict[str, Dict[str, Any]]) -> None:
    """A snapshot without keys: this emulator's command-line keys go back on the
    bootstrap accounts, in the order they were made (else each would get a new one)."""
    accounts = platform.get("account", {})
    if platform.get("apikey") or not isinstance(accounts, dict):
        return
    bootstrap = sorted(
        (a for a in accounts.values() if isinstance(a, dict) and a.get("bootstrap") is True),
        key=lambda a: (str(a.get("created_at")), str(a.get("label"))),
    )
    keys = platform.setdefault("apikey", {})
    for account, api_key in zip(bootstrap, emulator.settings.effective_api_keys):
        record = ApiKeyRecord(
            id=str(uuid.uuid5(uuid.NAMESPACE_URL, f"fluidstack-emulator:{account.get('id')}")),
            account_id=str(account.get("id")),
            name="default",
            key_hash=hash_key(api_key),
            created_at=float(account.get("created_at") or 0.0),
            primary=True,
        )
        keys[record.key_hash] = dataclasses.asdict(record)


def _sync_ssh(emulator: Emulator) -> None:
    """With ``--ssh``: machines of instances that are gone go; instances that exist
    (running ones included) get their sshd, as after a start from ``--db``."""
    if emulator.ssh is not None:
        emulator.ssh.sync()
        emulator.ssh._restore()


# -- locating the first bad field ------------------------------------------------------


def _load_error(where: str, records: Dict[str, Dict[str, Any]], exc: Exception) -> SnapshotError:
    """A :class:`SnapshotError` for an exception raised while loading ``records``,
    naming the record being loaded (the dictionary the innermost frame was reading)."""
    index = {id(v): f"{k}.{key}" for k, rows in records.items() for key, v in rows.items()}
    place = ""
    tb = exc.__traceback__
    while tb is not None:
        for value in tb.tb_frame.f_locals.values():
            if id(value) in index:
                place = "." + index[id(value)]
        tb = tb.tb_next
    named = None
    if isinstance(exc, KeyError) and exc.args:
        named = str(exc.args[0])
    elif isinstance(exc, TypeError):
        found = re.search(r"argument[s]?:? '([A-Za-z_][A-Za-z0-9_]*)'", str(exc))
        named = found.group(1) if found else None
    field = f".{named}" if named and place else ""
    detail = f"{type(exc).__name__}: {exc}"[:300]
    return SnapshotError(f"{where}{place}{field}", f"cannot be loaded ({detail})")


# -- type checks -----------------------------------------------------------------------


def _check_types(where: str, state: JournaledState, records: Dict[str, Any]) -> None:
    """Every loaded record's fields against its dataclass's annotations (a string where
    a number belongs loads, then fails on the first request that reads it)."""
    seen: Set[int] = set()
    package = type(state).__module__.rpartition(".")[0]
    roots: List[Any] = [state]
    for value in vars(state).values():  # helpers of the API (its users and logins)
        if type(value).__module__.startswith(package + ".") and hasattr(value, "__dict__"):
            roots.append(value)
    for root in roots:
        # Not private attributes: caches, and the mirror of the state being replaced.
        public = [v for k, v in vars(root).items() if not k.startswith("_")]
        for record in _records_in(public, seen, 3):
            problem = _bad_field(record)
            if problem is not None:
                name, message = problem
                raise SnapshotError(_place(where, records, record, name), message)


def _records_in(values: Any, seen: Set[int], depth: int) -> Iterator[Any]:
    for value in values:
        if dataclasses.is_dataclass(value) and not isinstance(value, type):
            if id(value) not in seen:
                seen.add(id(value))
                yield value
        elif depth and isinstance(value, dict):
            yield from _records_in(value.values(), seen, depth - 1)
        elif depth and isinstance(value, list):
            yield from _records_in(value, seen, depth - 1)


Checker = Callable[[Any], bool]
_FIELDS: Dict[type, List[Tuple[str, Any, Checker]]] = {}


def _fields(cls: type) -> List[Tuple[str, Any, Checker]]:
    """``(name, annotation, check)`` of each field of a record class (made once)."""
    if cls not in _FIELDS:
        try:
            hints = typing.get_type_hints(cls, vars(sys.modules[cls.__module__]))
            fields = [f.name for f in dataclasses.fields(cls) if f.init]
            _FIELDS[cls] = [(name, hints[name], _checker(hints[name])) for name in fields]
        except Exception:  # an annotation that cannot be resolved: not checked
            _FIELDS[cls] = []
    return _FIELDS[cls]


def _bad_field(record: Any) -> Optional[Tuple[str, str]]:
    for name, hint, check in _fields(type(record)):
        value = getattr(record, name, None)
        if not check(value):
            shown = json.dumps(value, default=str)[:80]
            return name, f"expected {_describe(hint)}, got {shown}"
    return None


def _anything(value: Any) -> bool:
    return True


def _checker(hint: Any) -> Checker:
    """A function telling whether a value loaded from JSON fits ``hint`` (a list fits a
    tuple: loading may leave one as it came)."""
    if hint is Any:
        return _anything
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin is typing.Union:
        options = [_checker(arg) for arg in args]
        return lambda value: any(check(value) for check in options)
    if origin is typing.Literal:
        return lambda value: value in args
    if origin in (list, tuple, set, frozenset):
        return _sequence_checker(origin, args)
    if origin is dict or (isinstance(origin, type) and issubclass(origin, dict)):
        if len(args) != 2:
            return lambda value: isinstance(value, dict)
        key_ok, value_ok = _checker(args[0]), _checker(args[1])
        return lambda value: (
            isinstance(value, dict) and all(key_ok(k) and value_ok(v) for k, v in value.items())
        )
    if hint is type(None):
        return lambda value: value is None
    if hint is float:
        return lambda value: type(value) is float or type(value) is int
    if hint is int:
        return lambda value: type(value) is int
    if hint in (str, bool, list, dict) or dataclasses.is_dataclass(hint):
        return lambda value: isinstance(value, hint)
    # Another class (an enum kept as its JSON value, say) or a construct this check does
    # not know: trusted, rather than refusing a snapshot the emulator itself wrote.
    return _anything


def _sequence_checker(origin: Any, args: Tuple[Any, ...]) -> Checker:
    kinds = (list, tuple, set, frozenset)
    if origin is tuple and args and args[-1] is not Ellipsis:
        parts = [_checker(arg) for arg in args]
        return lambda value: (
            isinstance(value, kinds)
            and len(value) == len(parts)
            and all(check(item) for check, item in zip(parts, value))
        )
    if not args:
        return lambda value: isinstance(value, kinds)
    item_ok = _checker(args[0])
    return lambda value: isinstance(value, kinds) and all(item_ok(item) for item in value)


def _describe(hint: Any) -> str:
    return getattr(hint, "__name__", None) or str(hint).replace("typing.", "")


def _place(where: str, records: Dict[str, Any], record: Any, name: str) -> str:
    """Where in the snapshot ``record.name`` came from: the record whose value for
    ``name`` is that very object (loading passes values on as they are)."""
    value = getattr(record, name, None)
    for kind, rows in records.items():
        for key, raw in rows.items():
            if isinstance(raw, dict) and name in raw and raw[name] is value:
                return f"{where}.{kind}.{key}.{name}"
    return f"{where}.({type(record).__name__}).{name}"
