"""The pure-ASGI middleware in front of every API: the ``Host`` check, authentication,
injected faults, body limits and the request journal.

Platform requests go on to the FastAPI app; Atlas requests (``/oauth/token``,
``/api/v1alpha1/...``, ``/regions/...``) to the Atlas dispatcher. Either way the
credentials are checked before the body is read, and faults, the 1 MiB limit and the
journal work the same.

This module holds the per-request path (one pass over the headers, authentication,
serving, the journal entry), kept in one class because every call and attribute lookup
on it counts (docs/benchmarks.md). The parts off that path have their own modules:
:mod:`~fluidstack.emulator.host_guard` (the 421 refusal),
:mod:`~fluidstack.emulator.control_gate` (the control API's gate),
:mod:`~fluidstack.emulator.fault_play` (playing an injected fault),
:mod:`~fluidstack.emulator.request_body` (reading a body within its limit) and
:mod:`~fluidstack.emulator.request_plan` (what is decided before serving).
``ConnectionDropped`` and ``ClientGone`` are still importable from here.
"""

from __future__ import annotations

import email.utils
import logging
import time
from typing import Dict, List, Optional, Tuple
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
from fluidstack.emulator.control_gate import CONTROL_PREFIX, serve_control
from fluidstack.emulator.encoding import has_lone_surrogate
from fluidstack.emulator.fault_play import ConnectionDropped, play_fault
from fluidstack.emulator.faults import FaultRule, flat_journal_headers
from fluidstack.emulator.host_guard import HostGuard
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
from fluidstack.emulator.request_body import (
    BODY_METHODS,
    NOT_UNICODE,
    TOO_LARGE,
    ClientGone,
    declared_length,
    read_body,
    replaying,
)
from fluidstack.emulator.request_plan import Denial, RequestPlan, platform_denial
from fluidstack.emulator.responses import ASGIApp, Message, Receive, Scope, Send, send_json
from fluidstack.emulator.runtime import Emulator
from fluidstack.emulator.settings import MAX_BODY_BYTES, MAX_HEADER_BYTES

__all__ = ["ClientGone", "ConnectionDropped", "EmulatorMiddleware"]

logger = logging.getLogger("fluidstack.emulator")

BEARER_CACHE = 1_024
"""Valid ``Authorization`` headers whose fingerprint is kept (see ``_bearer_prints``)."""
REDIRECTS = frozenset({301, 302, 303, 307, 308})

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
        self.hosts = HostGuard(settings.host, settings.allowed_hosts) if check_host else None
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
                await self.hosts.refuse(text, send)
                return
        if scope["path"].startswith(CONTROL_PREFIX):
            await serve_control(self.app, self.emulator, scope, receive, send)
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
                denial = (401, {"message": platform_denial(api_key, cookie)}, [])
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

        request = RequestPlan(downstream, denial, atlas, path, content_type, content_length, idem)
        try:
            if rule is None:  # the usual request: no fault to play (one coroutine fewer)
                await self._perform(scope, receive, tracking_send, request)
            else:
                await play_fault(self._perform, self.emulator, scope, receive, tracking_send, rule,
                                 request, generation)  # fmt: skip
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

    async def _perform(
        self, scope: Scope, receive: Receive, send: Send, request: RequestPlan
    ) -> None:
        if declared_length(request.content_length) > MAX_BODY_BYTES:
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
                body = await read_body(receive, first=first)
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
        await request.downstream(scope, replaying(body, receive), send)


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
