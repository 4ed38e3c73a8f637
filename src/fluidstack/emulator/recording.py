"""What the request journal keeps so that a run can be replayed (issue 27): each
request's body and answer, with every secret replaced by its fingerprint.

The journal never shows a secret (API keys, bearer tokens, session cookies, client
secrets, passwords, authorization codes): a credential header, and a JSON or form field
named like one, is kept as ``<secret:FINGERPRINT>`` (the first 16 hex digits of its
SHA-256). Credentials a client sends (headers, request bodies) are replaced as the
request is served and never kept; an answer's body is kept as the bytes that were sent
(in memory only) and redacted whenever the journal is read.

A replay (``emulator/replay.py``) maps each fingerprint to the replay target's own
credential: the ones it was started with, and the ones its answers hand out as the
replay goes (a token from ``/oauth/token``, a key from ``POST /api_keys``), at the same
place in the same answer.

Bodies up to :data:`MAX_KEPT_BODY` bytes are kept; a larger one only as its length.
"""

from __future__ import annotations

import hashlib
import json
import re
from typing import Any, Dict, List, Mapping, Optional, Tuple
from urllib.parse import parse_qsl, unquote, urlencode

__all__ = [
    "FORMAT",
    "MAX_KEPT_BODY",
    "ORIGIN_LIMIT",
    "PLACEHOLDER",
    "REPLAY_SETTINGS",
    "SECRET_FIELD",
    "SECRET_HEADERS",
    "VERSION",
    "body_bytes",
    "capture",
    "credentials",
    "expand",
    "export_journal",
    "fingerprint",
    "kept_body",
    "learn_secrets",
    "placeholder",
    "redact_header",
    "redact_value",
    "replay_entry",
    "replay_values",
    "served_entry",
    "served_replay",
    "substitute",
    "substitute_value",
    "take_origin",
]

FORMAT = "fluidstack-emulator-replay"
VERSION = 1
"""Bumped when a replay file written by this version could not be read by an older one."""

REPLAY_SETTINGS = (
    "seed",
    "failure_rate",
    "page_size",
    "initial_balance",
    "atlas_regions",
    "atlas_max_projects",
    "token_ttl",
    "auth_attempt_limit",
    "auth_attempt_window",
    "time_scale",
    "manual_clock",
)
"""The settings that shape answers, recorded in a replay file and given to the emulator
a replay starts (credentials are not among them: see the module's doc)."""

ORIGIN_LIMIT = 2_000
"""Most instances (both APIs together) a journal's origin is exported with: a larger
state (bulk-made instances, a restored world) is not copied before the first request
(at 10,000 instances that costs a quarter second, at 100,000 seconds); a replay of such
a journal takes the origin from a snapshot instead (``replay --state``)."""

MAX_KEPT_BODY = 64 * 1024
"""Largest request or answer body the journal keeps whole (bytes)."""

SECRET_HEADERS = ("api-key", "authorization", "cookie")
"""Request headers that carry credentials: kept as fingerprints."""

SECRET_FIELD = re.compile(
    r"^(key|api_key|secret|client_secret|password|token|access_token|refresh_token|id_token"
    r"|code|code_verifier|session)$"
)
"""JSON and form fields holding a credential (by name, so a new one is covered when it
follows the house naming)."""

# A cheap first look (bytes) before parsing a body for secret fields: most bodies have
# none. A JSON body can hold one only as a field so named (``"token": ...``); a body that
# is not JSON is judged by the words alone.
_SECRET_NAMES = rb"key|api_key|secret|client_secret|password|token|access_token|refresh_token"
_MAYBE_SECRET_FIELD = re.compile(
    rb'"(?:' + _SECRET_NAMES + rb'|id_token|code|code_verifier|session)"\s*:'
)
_MAYBE_SECRET = re.compile(rb"key|secret|password|token|code|session", re.IGNORECASE)
_ENDINGS = (b'key"', b'secret"', b'password"', b'token"', b'code"', b'code_verifier"', b'session"')
"""How every secret field's quoted name ends: searched for first (``in`` on bytes is a
fast scan, a regex over every answer is not: a tenth of a millisecond per 13 KB)."""


def _may_hold_secret_field(body: bytes) -> bool:
    if len(body) <= 1024:
        # One scan: every match holds one of the endings, so the answer is the same
        # (seven scans and a generator cost a small body more than the regex; issue 24).
        return _MAYBE_SECRET_FIELD.search(body) is not None
    return any(ending in body for ending in _ENDINGS) and bool(_MAYBE_SECRET_FIELD.search(body))


_JSON_START = re.compile(rb"\s*[\[{]")

PLACEHOLDER = re.compile(r"<secret:([0-9a-f]{16})>")
"""A secret as the journal keeps it."""


def fingerprint(secret: str) -> str:
    """The 16 hex digits that stand for ``secret`` (SHA-256; names it, never reveals it)."""
    return hashlib.sha256(secret.encode("utf-8", "surrogatepass")).hexdigest()[:16]


def placeholder(secret: str) -> str:
    return f"<secret:{fingerprint(secret)}>"


def redact_header(name: str, value: str) -> str:
    """A credential header's value with the secret replaced (``Bearer`` kept)."""
    if name == "authorization":
        scheme, _, token = value.partition(" ")
        if token:
            return f"{scheme} {placeholder(token.strip())}"
    if name == "cookie":
        parts = []
        for item in value.split(";"):
            cookie, sep, content = item.strip().partition("=")
            parts.append(f"{cookie}={placeholder(content)}" if sep else item.strip())
        return "; ".join(parts)
    return placeholder(value)


def redact_value(value: Any) -> Any:
    """``value`` (parsed JSON) with every field named like a credential fingerprinted."""
    if isinstance(value, dict):
        return {
            k: (
                placeholder(v)
                if isinstance(v, str) and SECRET_FIELD.match(k) and not PLACEHOLDER.fullmatch(v)
                else redact_value(v)
            )
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [redact_value(v) for v in value]
    return value


def kept_body(body: Optional[bytes], form: bool = False) -> Optional[Dict[str, Any]]:
    """What the journal keeps of a body: ``{"json": ...}`` (parsed, secrets
    fingerprinted), ``{"form": ...}`` (a form body, likewise), ``{"text": ...}``, or
    ``{"length": n}`` alone for one over :data:`MAX_KEPT_BODY`; ``None`` for no body."""
    if not body:
        return None
    if len(body) > MAX_KEPT_BODY:
        return {"length": len(body)}
    if form:
        try:
            pairs = parse_qsl(body.decode("utf-8"), keep_blank_values=True, strict_parsing=True)
        except (UnicodeDecodeError, ValueError):
            pairs = None
        if pairs is not None:
            return {"form": [[k, placeholder(v) if SECRET_FIELD.match(k) else v] for k, v in pairs]}
    try:
        value = redact_value(json.loads(body))
    except (UnicodeDecodeError, ValueError):
        if _MAYBE_SECRET.search(body):
            return {"length": len(body)}  # not JSON: its secrets cannot be found
        return {"text": body.decode("utf-8", "replace"), "length": len(body)}
    except RecursionError:  # nested deeper than Python parses (the answer was a 4xx)
        return {"length": len(body)}
    return {"json": value}


Captured = Tuple[str, Any]
"""A body as served (see :func:`capture`); :func:`expand` makes it JSON-ready."""


def capture(body: Optional[bytes], form: bool = False, answer: bool = False) -> Optional[Captured]:
    """What to keep of a body while serving, at the least cost. An answer is kept as the
    bytes already in memory, parsed and redacted only when the journal is read (scanning
    every answer as it leaves would cost a list of 100 instances a tenth of its time).
    A request body that may hold a secret is redacted now: credentials a client sends
    are never kept; one that cannot is kept as it is. A body over
    :data:`MAX_KEPT_BODY` is kept as ``("length", n)``: plain values, which the cyclic
    collector stops tracking (issue 24)."""
    if not body:
        return None
    if len(body) > MAX_KEPT_BODY:
        return ("length", len(body))
    if answer:
        return ("raw", body)
    if form or not _JSON_START.match(body) or _may_hold_secret_field(body):
        return ("kept", kept_body(body, form))
    return ("raw", body)


def expand(captured: Optional[Captured]) -> Optional[Dict[str, Any]]:
    """The JSON-ready form of :func:`capture`'s result (see :func:`kept_body`)."""
    if captured is None:
        return None
    kind, data = captured
    if kind == "raw":
        return kept_body(data)
    return {"length": data} if kind == "length" else dict(data)


def credentials(
    api_key_hash: Optional[str],
    authorization: Optional[str],
    cookie: Optional[str],
    redacted_authorization: Optional[str] = None,
) -> Tuple[str, ...]:
    """A request's credential headers as the journal keeps them (:func:`redact_header`),
    in this order, those sent only, as one flat tuple (name, value, name, value, ...).
    The API key comes as the SHA-256 (hex) the authentication already computed: its
    fingerprint is that hash's first 16 digits, so the key is not hashed twice; and
    ``redacted_authorization`` is the ``Authorization`` header's journal form, when the
    caller has it already."""
    auth: List[str] = []
    if api_key_hash is not None:
        auth += ("api-key", f"<secret:{api_key_hash[:16]}>")
    if authorization:
        if redacted_authorization is None:
            redacted_authorization = redact_header("authorization", authorization)
        auth += ("authorization", redacted_authorization)
    if cookie:
        auth += ("cookie", redact_header("cookie", cookie))
    return tuple(auth)


ReplayValues = Tuple[
    float, bytes, Tuple[str, ...], Optional[Captured], Optional[Captured],
    Optional[Dict[str, Any]],
]  # fmt: skip
"""What :func:`replay_values` keeps of one request: :func:`replay_entry`'s arguments."""


def replay_values(
    scope: Mapping[str, Any],
    clock_at: float,
    auth: Tuple[str, ...],
    content_type: Optional[str],
    body: Optional[bytes],
    answer: List[bytes],
    rule: Any,
) -> Tuple[ReplayValues, int]:
    """What a replay needs of one request just served, kept in its journal entry: the
    clock when it came, its exact target, its credentials as fingerprints
    (:func:`credentials`), its body and the answer's, and the injected fault
    (``rule``), if any, to inject again; with the estimated bytes it adds. Plain values
    only (text, bytes, numbers, tuples of them: see :meth:`Journal.append_lazy`); the
    ``replay`` part is made of them by :func:`replay_entry` when the journal is read."""
    form = False
    if content_type is not None and content_type != "application/json":
        media = content_type.split(";", 1)[0].strip().lower()
        form = media == "application/x-www-form-urlencoded"
    sent = capture(body, form=form)
    size = sum(len(chunk) for chunk in answer)
    received: Optional[Captured] = ("length", size)  # not joined: too large
    if size <= MAX_KEPT_BODY:
        received = capture(answer[0] if len(answer) == 1 else b"".join(answer), answer=True)
        answer_kept = size
    else:
        answer_kept = sum(len(chunk) for chunk in answer if len(chunk) <= MAX_KEPT_BODY)
    fault = rule.spec.model_dump(exclude={"api_key", "client_id"}) if rule else None
    target = scope.get("raw_path") or scope["path"].encode()
    if scope.get("query_string"):
        target += b"?" + scope["query_string"]
    body_kept = len(body) if body and len(body) <= MAX_KEPT_BODY else 0
    return (clock_at, target, auth, sent, received, fault), body_kept + answer_kept + len(target)


def replay_entry(
    clock_at: float,
    target: bytes,
    auth: Tuple[str, ...],
    sent: Optional[Captured],
    received: Optional[Captured],
    fault: Optional[Dict[str, Any]],
) -> Dict[str, Any]:
    """The ``replay`` part of a journal entry, built when the journal is read."""
    return {
        "clock": clock_at,
        "target": target.decode("latin-1"),
        "auth": dict(zip(auth[::2], auth[1::2])),
        "body": expand(sent),
        "answer": expand(received),
        "fault": fault,
    }


def served_entry(values: Tuple[Any, ...]) -> Dict[str, Any]:
    """A served request's journal entry, built when the journal is read: ``values`` as
    the middleware keeps them (its time, method, path, query, status, account, flat
    headers, idempotency key, fault id, duration, then :func:`replay_values`)."""
    from fluidstack.emulator.clock import iso
    from fluidstack.emulator.faults import clip, header_pairs, redact_headers

    now, method, path, raw_query, status, label, headers, idem, fault, duration = values[:10]
    return {
        "time": iso(now),
        "method": method,
        "path": clip(path),
        "query": clip(unquote(raw_query.decode("latin-1"))) if raw_query else "",
        "status": status,
        "account": label,
        "headers": redact_headers(header_pairs(headers)),
        "idempotency_key": clip(idem, 255) if idem is not None else None,
        "fault": fault,
        "duration_ms": round(duration * 1000, 3),
    }


def served_replay(values: Tuple[Any, ...]) -> Dict[str, Any]:
    """A served request's ``replay`` part (see :func:`served_entry` and
    :func:`replay_entry`)."""
    return replay_entry(*values[10:])


def body_bytes(kept: Optional[Dict[str, Any]], secrets: Dict[str, str]) -> bytes:
    """The body to send again for ``kept`` (see :func:`kept_body`), each fingerprint
    replaced by the secret ``secrets`` maps it to (left as is when unknown)."""
    if kept is None:
        return b""
    if "form" in kept:
        pairs: List[Tuple[str, str]] = [(k, substitute(v, secrets)) for k, v in kept["form"]]
        return urlencode(pairs).encode()
    if "json" in kept:
        return json.dumps(substitute_value(kept["json"], secrets)).encode()
    return str(kept.get("text", "")).encode()


def substitute(text: str, secrets: Dict[str, str]) -> str:
    """``text`` with each known ``<secret:...>`` replaced by its secret."""
    if "<secret:" not in text:
        return text
    return PLACEHOLDER.sub(lambda m: secrets.get(m.group(1), m.group(0)), text)


def substitute_value(value: Any, secrets: Dict[str, str]) -> Any:
    if isinstance(value, str):
        return substitute(value, secrets)
    if isinstance(value, dict):
        return {k: substitute_value(v, secrets) for k, v in value.items()}
    if isinstance(value, list):
        return [substitute_value(v, secrets) for v in value]
    return value


def learn_secrets(recorded: Any, answered: Any, secrets: Dict[str, str]) -> None:
    """Walk a recorded answer (fingerprinted) beside the replayed one (not yet): where
    the recorded one has ``<secret:F>`` and the replayed one a secret, the replay uses
    that secret for ``F`` from now on (a token, a new key)."""
    if isinstance(recorded, str) and isinstance(answered, str):
        match = PLACEHOLDER.fullmatch(recorded)
        if match is not None and not PLACEHOLDER.fullmatch(answered):
            secrets[match.group(1)] = answered
    elif isinstance(recorded, dict) and isinstance(answered, dict):
        for key, value in recorded.items():
            if key in answered:
                learn_secrets(value, answered[key], secrets)
    elif isinstance(recorded, list) and isinstance(answered, list):
        for a, b in zip(recorded, answered):
            learn_secrets(a, b, secrets)


def take_origin(emulator: Any) -> None:
    """Keep the state the journal's first request meets (a snapshot without secrets),
    for a replay: called before that request when :attr:`Journal.origin_wanted`."""
    from fluidstack.emulator import snapshot

    journal = emulator.journal
    journal.origin_wanted = False
    instances = len(emulator.platform.instances) + len(emulator.atlas.instances)
    if instances > ORIGIN_LIMIT:
        journal.origin = {"omitted": f"{instances} instances (over {ORIGIN_LIMIT})"}
    else:
        journal.origin = snapshot.export_state(emulator)


def export_journal(emulator: Any) -> Dict[str, Any]:
    """The journal as a replay file (``GET /_emulator/journal?format=replay``): the
    emulator's version and the settings that matter, the state the first request met
    (``origin``, a snapshot without secrets, or ``{"omitted": why}`` for a large state:
    see :data:`ORIGIN_LIMIT`), and every request with its answer. ``complete`` is false
    when entries since the origin were dropped (the journal keeps the last 10,000, or
    one account was reset): a replay of the rest may differ."""
    from fluidstack._version import __version__

    journal = emulator.journal
    with emulator.lock:
        entries = journal.entries(replay=True)
        origin = journal.origin
        complete = not journal.truncated and all(e.get("replay") for e in entries)
    settings = emulator.settings
    requests = []
    for entry in entries:
        replay = entry.get("replay") or {}
        requests.append(
            {
                "seq": entry["seq"],
                "clock": replay.get("clock"),
                "method": entry["method"],
                "path": entry["path"],
                "query": entry["query"],
                "target": replay.get("target"),
                "headers": {**entry["headers"], **replay.get("auth", {})},
                "body": replay.get("body"),
                "fault": replay.get("fault"),
                "account": entry.get("account"),
                "status": entry["status"],
                "answer": replay.get("answer"),
            }
        )
    return {
        "format": FORMAT,
        "version": VERSION,
        "emulator_version": __version__,
        "settings": {name: getattr(settings, name) for name in REPLAY_SETTINGS},
        "complete": complete,
        "origin": origin,
        "requests": requests,
    }
