"""The pure-ASGI middleware in front of every API: the ``Host`` check, authentication,
injected faults, body limits and the request journal.

Platform requests go on to the FastAPI app; Atlas requests (``/oauth/token``,
``/api/v1alpha1/...``, ``/regions/...``) to the Atlas dispatcher. Either way the
credentials are checked before the body is read, and faults, the 1 MiB limit and the
journal work the same.
"""

from __future__ import annotations

import asyncio
import email.utils
import hmac
import logging
import time
from typing import Any, Dict, List, Optional, Tuple
from urllib.parse import urlsplit

from starlette.requests import cookie_parser

from fluidstack.emulator.atlas.routes import (
    ATLAS_ORG_KEY,
    ATLAS_SUBJECT_KEY,
    AUTHORIZE_PATH,
    PUBLIC_ATLAS_PATHS,
    TOKEN_PATH,
    AtlasApp,
    is_atlas_path,
)
from fluidstack.emulator.encoding import has_lone_surrogate
from fluidstack.emulator.faults import (
    FaultRule,
    flat_journal_headers,
)
from fluidstack.emulator.hosts import HostPolicy
from fluidstack.emulator.platform.fast import serve_fast
from fluidstack.emulator.platform.records import hash_key
from fluidstack.emulator.platform.routes import (
    ACCOUNT_KEY,
    PUBLIC_PATHS,
    SESSION_COOKIE,
    SESSION_PATH,
    VIA_KEY,
)
from fluidstack.emulator.platform.state import Account
from fluidstack.emulator.recording import (
    ReplayValues,
    credentials,
    redact_header,
    replay_values,
    served_entry,
    served_replay,
    take_origin,
)
from fluidstack.emulator.responses import ASGIApp, Message, Receive, Scope, Send, send_json
from fluidstack.emulator.runtime import Emulator
from fluidstack.emulator.settings import MAX_BODY_BYTES, MAX_HEADER_BYTES, MAX_STATE_BYTES

__all__ = ["ConnectionDropped", "EmulatorMiddleware"]

logger = logging.getLogger("fluidstack.emulator")

BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})
BEARER_CACHE = 1_024
"""Valid ``Authorization`` headers whose fingerprint is kept (see ``_bearer_prints``)."""
REDIRECTS = frozenset({301, 302, 303, 307, 308})
CONTROL_PREFIX = "/_emulator"
STATE_PATH = CONTROL_PREFIX + "/state"
CONTROL_TOKEN_HEADER = b"x-emulator-token"
TOO_LARGE = {"message": "Request body larger than 1 MiB"}
NOT_UNICODE = {
    "message": "The body is not valid Unicode: a string holds a lone surrogate such as \\ud800"
}


class ConnectionDropped(Exception):
    """Raised by a ``drop`` fault after starting a response: the server aborts it."""


async def _drop(send: Send) -> None:
    """Start a response, send part of it, then abort the connection."""
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [(b"content-type", b"application/json"), (b"content-length", b"4096")],
        }
    )
    await send({"type": "http.response.body", "body": b'{"id": "', "more_body": True})
    raise ConnectionDropped("connection dropped by an injected fault")


class _Captured:
    """A response recorded instead of sent (for faults with ``perform: true``)."""

    def __init__(self) -> None:
        self.messages: List[Message] = []

    async def send(self, message: Message) -> None:
        self.messages.append(message)

    async def replay(self, send: Send) -> None:
        for message in self.messages:
            await send(message)


def _fault_error(rule: FaultRule) -> Tuple[int, Any, List[Tuple[bytes, bytes]]]:
    spec = rule.spec
    body = spec.body if spec.body is not None else {"message": "Injected fault"}
    extra: List[Tuple[bytes, bytes]] = []
    if spec.retry_after is not None:
        extra.append((b"retry-after", spec.retry_after.encode("ascii")))
    if spec.retry_after_ms is not None:
        extra.append((b"retry-after-ms", str(spec.retry_after_ms).encode("ascii")))
    return spec.status, body, extra


Denial = Tuple[int, Dict[str, str], List[Tuple[bytes, bytes]]]
"""A refusal decided before the body is read: status, JSON body, extra headers."""

_BEARER_CHALLENGE = [(b"www-authenticate", b'Bearer error="invalid_token"')]


class EmulatorMiddleware:
    """Pure ASGI (no per-request task or thread): Host check, auth, faults, limits,
    journal.

    ``check_host`` refuses (421) every request whose ``Host`` the settings do not allow
    (see :class:`~fluidstack.emulator.hosts.HostPolicy`), before anything else runs: on
    for the served emulator, off in-process (``httpx.ASGITransport`` sends the base URL's
    made-up name, and no socket means no browser can reach it).
    """

    def __init__(self, app: ASGIApp, emulator: Emulator, check_host: bool = False) -> None:
        self.app = app
        self.emulator = emulator
        self.atlas_app = AtlasApp(emulator.atlas)
        self._date: Tuple[int, bytes] = (-1, b"")
        settings = emulator.settings
        self.hosts = HostPolicy(settings.host, settings.allowed_hosts) if check_host else None
        self._refused_hosts = 0
        self._bearer_prints: Dict[str, Tuple[str, str]] = {}
        """A valid ``Authorization`` header -> its journal form (the token fingerprinted),
        as the credentials :func:`credentials` makes of it alone:
        hashing a ~300-byte token on every Atlas request was ~5 % of a create (py-spy,
        issue 24). The token signer keeps the same verified tokens in its own cache; at
        most :data:`BEARER_CACHE` here."""

    def _date_header(self) -> bytes:
        """``Date`` at the simulated clock's second, formatted once per second."""
        second = int(self.emulator.clock.now())
        if second != self._date[0]:
            self._date = (second, email.utils.formatdate(second, usegmt=True).encode())
        return self._date[1]

    def _authenticate(
        self, path: str, key_hash: Optional[str], cookie: Optional[str]
    ) -> Tuple[Optional[Account], Optional[str]]:
        """The account of the request's session or API key (given as its
        :func:`hash_key`), and which it was."""
        state = self.emulator.platform
        token = cookie_parser(cookie).get(SESSION_COOKIE) if cookie is not None else None
        # Refreshing a session needs the session, whatever else is sent: the vendor's
        # older SDK sends its api-key header on every request, this one included.
        if token is not None and (key_hash is None or path == SESSION_PATH):
            return state.account_for_session(token), "session"
        if key_hash is not None:
            return state.account_for_key_hash(key_hash), "api-key"
        return None, None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        # One pass over the head: its size, and the headers the middleware reads.
        head_size = 0
        api_key = cookie = idem = content_type = content_length = authorization = None
        host: Optional[bytes] = None
        for name, value in scope["headers"]:
            head_size += len(name) + len(value) + 4
            if name == b"host":
                if host is None:  # (the first one, as the Host check has always read it)
                    host = value
            elif name == b"api-key":
                api_key = value.decode("latin-1")
            elif name == b"cookie":
                cookie = value.decode("latin-1")
            elif name == b"authorization":
                authorization = value.decode("latin-1")
            elif name == b"idempotency-key":
                idem = value.decode("latin-1")
            elif name == b"content-type":
                content_type = value.decode("latin-1")
            elif name == b"content-length":
                content_length = value
        if head_size > MAX_HEADER_BYTES:
            # The protocol refuses heads it sees growing past the limit; one that arrived
            # in a single read is refused here.
            message = f"Request headers larger than {MAX_HEADER_BYTES // 1024} KiB"
            await send_json(send, 431, {"message": message})
            return
        if self.hosts is not None and host is not None:
            server = scope.get("server")
            text = host.decode("latin-1")
            if not self.hosts.allows(text, str(server[0]) if server else None):
                await self._refuse_host(text, send)
                return
        if scope["path"].startswith(CONTROL_PREFIX):
            await self._control(scope, receive, send)
            return
        if self.emulator.journal.origin_wanted:
            take_origin(self.emulator)
        started = time.perf_counter()
        clock_at = self.emulator.clock.now()
        method: str = scope["method"]
        path: str = scope["path"]
        # Hashed once: to find the account, and as the journal's fingerprint of the key.
        key_hash = hash_key(api_key) if api_key is not None else None
        bearer: Optional[Tuple[str, str]] = None
        denial: Optional[Denial] = None
        if is_atlas_path(path):
            downstream: ASGIApp = self.atlas_app
            principal_id = label = None
            if path not in PUBLIC_ATLAS_PATHS:
                org, subject, why = self.emulator.atlas.authenticate(authorization)
                scope[ATLAS_ORG_KEY] = org
                scope[ATLAS_SUBJECT_KEY] = subject
                if org is None:
                    denial = (401, {"message": why}, _BEARER_CHALLENGE)
                else:
                    principal_id, label = org.id, org.name
                    assert authorization is not None  # (a valid token came in it)
                    bearer = self._bearer_prints.get(authorization)
                    if bearer is None:
                        if len(self._bearer_prints) >= BEARER_CACHE:
                            self._bearer_prints.clear()
                        bearer = ("authorization", redact_header("authorization", authorization))
                        self._bearer_prints[authorization] = bearer
            atlas = True
        else:
            downstream = self.app
            account, via = self._authenticate(path, key_hash, cookie)
            if account is not None:
                self.emulator.platform.settle(account)  # e.g. ran out of balance meanwhile
            scope[ACCOUNT_KEY] = account
            scope[VIA_KEY] = via if account is not None else None
            principal_id = account.id if account is not None else None
            label = account.label if account is not None else None
            if account is None and path not in PUBLIC_PATHS:
                denial = (401, {"message": _platform_denial(api_key, cookie)}, [])
            atlas = False
        rule = self.emulator.faults.take(method, path, principal_id)
        generation = self.emulator.generation

        status_seen: List[Optional[int]] = [None]
        answer: List[bytes] = []

        async def tracking_send(message: Message) -> None:
            if message["type"] == "http.response.body":
                answer.append(message.get("body", b""))
            elif message["type"] == "http.response.start":
                status_seen[0] = message["status"]
                # The Date of the simulated clock, the one created_at is stamped with:
                # clients measure ages and costs against it (uvicorn's is turned off).
                date = self._date_header()
                message["headers"] = [*message.get("headers", ()), (b"date", date)]
                if message["status"] in REDIRECTS and not atlas:
                    # (Atlas's /authorize redirects to the client's loopback listener.)
                    message["headers"] = _relative_location(message["headers"])
            await send(message)

        request = _Request(downstream, denial, atlas, path, content_type, content_length, idem)
        try:
            if rule is None:  # the usual request: no fault to play (one coroutine fewer)
                await self._perform(scope, receive, tracking_send, request)
            else:
                await self._serve(scope, receive, tracking_send, rule, request, generation)
        finally:
            if rule is not None and rule.spec.action == "drop":
                status_seen[0] = None
            # A request that began before a reset (a delayed one, say) belongs to a
            # world that no longer exists: it must not show in the new journal.
            if generation == self.emulator.generation:
                duration = time.perf_counter() - started
                if bearer is not None and not api_key and not cookie:
                    auth: Tuple[str, ...] = bearer  # what credentials() makes of it alone
                else:
                    auth = credentials(key_hash if api_key else None, authorization, cookie,
                                       bearer[1] if bearer is not None else None)  # fmt: skip
                replay = replay_values(scope, clock_at, auth, request.content_type,
                                       request.body, answer, rule)  # fmt: skip
                self._record(scope, method, path, status_seen[0], label, idem, rule, duration,
                             replay)  # fmt: skip

    async def _refuse_host(self, host: str, send: Send) -> None:
        """Answer 421 (and say so): the request's ``Host`` is not one served here."""
        if not self._refused_hosts:
            logger.warning(
                "refused a request for Host %r (DNS rebinding?); --allowed-host accepts a "
                "name (logged once; later refusals are not)",
                host[:100],
            )
        self._refused_hosts += 1
        await send_json(send, 421, {"message": HostPolicy.refusal(host)})

    async def _control(self, scope: Scope, receive: Receive, send: Send) -> None:
        """The control API: only for a caller that knows the control token, never from a
        web page (a foreign ``Origin``), JSON writes only, 1 MiB at most."""
        if not self.emulator.settings.control:
            await self.app(scope, receive, send)  # not mounted: 404
            return
        denial = _control_denial(scope, self.emulator.settings.control_token or "")
        if denial is not None:
            await send_json(send, denial[0], {"message": denial[1]})
            return
        # A snapshot (PUT /_emulator/state) is the one control body that may be large.
        state = scope["path"] == STATE_PATH and scope["method"] == "PUT"
        try:
            body = await _read_body(receive, MAX_STATE_BYTES if state else MAX_BODY_BYTES)
        except ClientGone:
            return
        if body is None:
            await send_json(send, 413, TOO_LARGE)
            return
        if has_lone_surrogate(body):
            await send_json(send, 400, NOT_UNICODE)
            return
        await self.app(scope, _replaying(body, receive), send)

    def _record(
        self,
        scope: Scope,
        method: str,
        path: str,
        status: Optional[int],
        label: Optional[str],
        idem: Optional[str],
        rule: Optional[FaultRule],
        duration: float,
        replay: Tuple[ReplayValues, int],
    ) -> None:
        """Add one served request to the journal (and the debug log), with what a
        replay needs of it (``replay``: :func:`replay_values` and its size)."""
        raw_query = scope.get("query_string", b"")[:4096]
        headers, size = flat_journal_headers(scope["headers"])
        now = self.emulator.clock.now()
        fault = rule.id if rule is not None else None

        size += 400 + len(path) + len(raw_query) + len(label or "") + len(idem or "")
        values = (now, method, path, raw_query, status, label, headers, idem, fault, duration,
                  *replay[0])  # fmt: skip
        self.emulator.journal.append_lazy(label, size + replay[1], served_entry, values,
                                          served_replay)  # fmt: skip
        if logger.isEnabledFor(logging.DEBUG):
            logger.debug("%s %s -> %s (%s)", method, path, status, label or "anonymous")

    async def _serve(
        self,
        scope: Scope,
        receive: Receive,
        send: Send,
        rule: Optional[FaultRule],
        request: _Request,
        generation: int,
    ) -> None:
        spec = rule.spec if rule is not None else None
        if rule is not None and spec is not None and not spec.perform:
            if spec.action == "error":
                status, body, extra = _fault_error(rule)
                await send_json(send, status, body, extra)
                return
            if spec.action == "drop":
                await _drop(send)
                return
            # The request has arrived, body and all; the server only acts on it later,
            # whether or not the client still waits for the answer (a server cannot
            # tell): the late arrival that makes naive create retries duplicate.
            try:
                early = await _read_body(receive)
            except ClientGone:
                return
            if early is None:
                await send_json(send, 413, TOO_LARGE)
                return
            await asyncio.sleep(spec.seconds)
            if generation != self.emulator.generation:
                # Reset while this request was delayed: performing it now would leak
                # it into the fresh state.
                await _drop(send)
                return
            receive = _replaying(early, receive)
        if spec is not None and spec.perform:
            captured = _Captured()
            await self._perform(scope, receive, captured.send, request)
            if spec.action == "error":
                status, body, extra = _fault_error(rule)  # type: ignore[arg-type]
                await send_json(send, status, body, extra)
            elif spec.action == "drop":
                await _drop(send)
            else:
                await asyncio.sleep(spec.seconds)
                await captured.replay(send)
            return
        await self._perform(scope, receive, send, request)

    async def _perform(self, scope: Scope, receive: Receive, send: Send, request: _Request) -> None:
        if _declared_length(request.content_length) > MAX_BODY_BYTES:
            await send_json(send, 413, TOO_LARGE)
            return
        if request.denial is not None:
            status, content, extra = request.denial
            await send_json(send, status, content, extra)
            return
        try:
            first = await receive()
            chunk = first.get("body", b"")
            if first["type"] == "http.request" and not first.get("more_body", False):
                # The whole body in one message (the usual request): no reading loop.
                body: Optional[bytes] = chunk if len(chunk) <= MAX_BODY_BYTES else None
            else:
                body = await _read_body(receive, first=first)
        except ClientGone:
            return
        if body is None:
            await send_json(send, 413, TOO_LARGE)
            return
        request.body = body
        content_type = request.content_type
        if body and scope["method"] in BODY_METHODS and content_type is not None:
            media = content_type.split(";", 1)[0].strip().lower()
            is_json = media == "application/json" or media.endswith("+json")
            if not request.atlas and not is_json:
                await send_json(
                    send, 415, {"message": "Unsupported Content-Type: send application/json"}
                )
                return
            token_form = request.path in (TOKEN_PATH, AUTHORIZE_PATH) and media in (
                "application/x-www-form-urlencoded",
                "",
            )
            if request.atlas and not is_json and not token_form:
                # The Atlas specs answer every input error with 400 {"message"}.
                await send_json(
                    send, 400, {"message": "Unsupported Content-Type: send application/json"}
                )
                return
        if has_lone_surrogate(body):
            # Valid JSON syntax but no text: stored, it would poison every later answer.
            await send_json(send, 400, NOT_UNICODE)
            return
        if not request.atlas and await serve_fast(
            self.emulator.platform,
            scope.get(ACCOUNT_KEY),
            scope,
            body,
            content_type,
            request.idempotency_key,
            receive,
            send,
        ):
            return
        if request.atlas:  # (the body is read: no replaying receive, issue 24)
            await self.atlas_app.serve(scope, body, send)
            return
        await request.downstream(scope, _replaying(body, receive), send)


class _Request:
    """What the middleware decided about one request before serving it."""

    __slots__ = (
        "atlas",
        "body",
        "content_length",
        "content_type",
        "denial",
        "downstream",
        "idempotency_key",
        "path",
    )

    def __init__(
        self,
        downstream: ASGIApp,
        denial: Optional[Denial],
        atlas: bool,
        path: str,
        content_type: Optional[str],
        content_length: Optional[bytes],
        idempotency_key: Optional[str],
    ) -> None:
        self.idempotency_key = idempotency_key
        self.downstream = downstream
        self.denial = denial
        self.atlas = atlas
        self.path = path
        self.content_type = content_type
        self.content_length = content_length
        self.body: Optional[bytes] = None
        """The body as read (for the journal)."""


def _platform_denial(api_key: Optional[str], cookie: Optional[str]) -> str:
    if api_key is not None:
        return "Invalid API key"
    if cookie is not None:
        return "Invalid or expired session: send the 'api-key' header or log in again"
    return "Missing API key: send it in the 'api-key' header"


def _replaying(body: bytes, receive: Receive) -> Receive:
    """A ``receive`` that yields ``body`` (already read) first, then defers to ``receive``."""
    replayed = False

    async def replay() -> Message:
        nonlocal replayed
        if not replayed:
            replayed = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay


def _declared_length(value: Optional[bytes]) -> int:
    if value is None:
        return 0
    try:
        return int(value)
    except ValueError:
        return 0


class ClientGone(Exception):
    """The client disconnected before sending its whole body: nothing is performed."""


async def _read_body(
    receive: Receive, limit: int = MAX_BODY_BYTES, first: Optional[Message] = None
) -> Optional[bytes]:
    """The whole request body, or ``None`` past ``limit`` bytes (never buffered beyond
    it); ``first``: its first message, already received. Raises :class:`ClientGone`
    when the client went away."""
    chunks: List[bytes] = []
    size = 0
    while True:
        message, first = (first, None) if first is not None else (await receive(), None)
        if message["type"] != "http.request":
            raise ClientGone()
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)


def _control_denial(scope: Scope, token: str) -> Optional[Tuple[int, str]]:
    given: Optional[bytes] = None
    origin = host = content_type = None
    for name, value in scope["headers"]:
        if name == CONTROL_TOKEN_HEADER:
            given = value
        elif name == b"origin":
            origin = value.decode("latin-1")
        elif name == b"host":
            host = value.decode("latin-1")
        elif name == b"content-type":
            content_type = value.decode("latin-1")
    if origin is not None:
        parts = urlsplit(origin) if origin != "null" else None
        if parts is None or host is None or parts.netloc.lower() != host.lower():
            return 403, "The control API refuses requests from web pages (a foreign Origin)"
    if given is None or not hmac.compare_digest(given, token.encode("ascii")):
        return 401, (
            "Missing or wrong control token: send it in the x-emulator-token header "
            "(printed at start, or --control-token)"
        )
    if scope["method"] in BODY_METHODS:
        media = (content_type or "").split(";", 1)[0].strip().lower()
        if media != "application/json":
            return 415, "Control API writes take JSON: send Content-Type: application/json"
    return None


def _relative_location(headers: List[Tuple[bytes, bytes]]) -> List[Tuple[bytes, bytes]]:
    """A redirect's ``Location`` as a path: Starlette builds the trailing-slash redirect
    from the ``Host`` header, so a forged ``Host`` would send the client elsewhere."""
    fixed = []
    for name, value in headers:
        if name.lower() == b"location":
            parts = urlsplit(value.decode("latin-1"))
            path = parts.path or "/"
            if path.startswith("//"):  # not a scheme-relative URL either
                path = "/" + path.lstrip("/")
            value = (path + (f"?{parts.query}" if parts.query else "")).encode("latin-1")
        fixed.append((name, value))
    return fixed
