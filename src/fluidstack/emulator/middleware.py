"""The pure-ASGI middleware in front of every API: authentication, injected faults, body
limits and the request journal.

Platform requests go on to the FastAPI app; Atlas requests (``/oauth/token``,
``/api/v1alpha1/...``, ``/regions/...``) to the Atlas dispatcher. Either way the
credentials are checked before the body is read, and faults, the 1 MiB limit and the
journal work the same.
"""

from __future__ import annotations

import asyncio
import email.utils
import logging
import time
from typing import Any, Dict, List, Optional, Tuple
from urllib.parse import unquote

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
from fluidstack.emulator.clock import iso
from fluidstack.emulator.faults import FaultRule, redact_headers
from fluidstack.emulator.platform.routes import ACCOUNT_KEY, PUBLIC_PATHS, SESSION_COOKIE, VIA_KEY
from fluidstack.emulator.platform.state import Account
from fluidstack.emulator.responses import ASGIApp, Message, Receive, Scope, Send, send_json
from fluidstack.emulator.runtime import Emulator
from fluidstack.emulator.settings import MAX_BODY_BYTES

__all__ = ["ConnectionDropped", "EmulatorMiddleware"]

logger = logging.getLogger("fluidstack.emulator")

BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})


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
    """Pure ASGI (no per-request task or thread): auth, faults, limits, journal."""

    def __init__(self, app: ASGIApp, emulator: Emulator) -> None:
        self.app = app
        self.emulator = emulator
        self.atlas_app = AtlasApp(emulator.atlas)

    def _authenticate(
        self, api_key: Optional[str], cookie: Optional[str]
    ) -> Tuple[Optional[Account], Optional[str]]:
        state = self.emulator.platform
        if api_key is not None:
            return state.account_for_key(api_key), "api-key"
        if cookie is not None:
            token = cookie_parser(cookie).get(SESSION_COOKIE)
            if token is not None:
                return state.account_for_session(token), "session"
        return None, None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"].startswith("/_emulator"):
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        method: str = scope["method"]
        path: str = scope["path"]
        api_key = cookie = idem = content_type = content_length = authorization = None
        for name, value in scope["headers"]:
            if name == b"api-key":
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
            atlas = True
        else:
            downstream = self.app
            account, via = self._authenticate(api_key, cookie)
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

        async def tracking_send(message: Message) -> None:
            if message["type"] == "http.response.start":
                status_seen[0] = message["status"]
                # The Date of the simulated clock, the one created_at is stamped with:
                # clients measure ages and costs against it (uvicorn's is turned off).
                date = email.utils.formatdate(self.emulator.clock.now(), usegmt=True)
                message["headers"] = [*message.get("headers", ()), (b"date", date.encode())]
            await send(message)

        request = _Request(downstream, denial, atlas, path, content_type, content_length)
        try:
            await self._serve(scope, receive, tracking_send, rule, request, generation)
        finally:
            if rule is not None and rule.spec.action == "drop":
                status_seen[0] = None
            # A request that began before a reset (a delayed one, say) belongs to a
            # world that no longer exists: it must not show in the new journal.
            if generation == self.emulator.generation:
                self._record(scope, method, path, status_seen[0], label, idem, rule, started)

    def _record(
        self,
        scope: Scope,
        method: str,
        path: str,
        status: Optional[int],
        label: Optional[str],
        idem: Optional[str],
        rule: Optional[FaultRule],
        started: float,
    ) -> None:
        """Add one served request to the journal (and the debug log)."""
        self.emulator.journal.append(
            {
                "time": iso(self.emulator.clock.now()),
                "method": method,
                "path": path,
                "query": unquote(scope.get("query_string", b"").decode("latin-1")),
                "status": status,
                "account": label,
                "headers": redact_headers(scope["headers"]),
                "idempotency_key": idem,
                "fault": rule.id if rule is not None else None,
                "duration_ms": round((time.perf_counter() - started) * 1000, 3),
            }
        )
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
            await asyncio.sleep(spec.seconds)
            if generation != self.emulator.generation:
                # Reset while this request was delayed: performing it now would leak
                # it into the fresh state.
                await _drop(send)
                return
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
        if request.content_length is not None:
            try:
                declared = int(request.content_length)
            except ValueError:
                declared = 0
            if declared > MAX_BODY_BYTES:
                await send_json(send, 413, {"message": "Request body larger than 1 MiB"})
                return
        if request.denial is not None:
            status, content, extra = request.denial
            await send_json(send, status, content, extra)
            return
        chunks: List[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                return  # the client went away
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > MAX_BODY_BYTES:
                await send_json(send, 413, {"message": "Request body larger than 1 MiB"})
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
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
        replayed = False

        async def replay_receive() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await request.downstream(scope, replay_receive, send)


class _Request:
    """What the middleware decided about one request before serving it."""

    __slots__ = ("atlas", "content_length", "content_type", "denial", "downstream", "path")

    def __init__(
        self,
        downstream: ASGIApp,
        denial: Optional[Denial],
        atlas: bool,
        path: str,
        content_type: Optional[str],
        content_length: Optional[bytes],
    ) -> None:
        self.downstream = downstream
        self.denial = denial
        self.atlas = atlas
        self.path = path
        self.content_type = content_type
        self.content_length = content_length


def _platform_denial(api_key: Optional[str], cookie: Optional[str]) -> str:
    if api_key is not None:
        return "Invalid API key"
    if cookie is not None:
        return "Invalid or expired session: send the 'api-key' header or log in again"
    return "Missing API key: send it in the 'api-key' header"
