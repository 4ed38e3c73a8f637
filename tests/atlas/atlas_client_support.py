"""Helpers for the Atlas SDK tests: a scripted Atlas server on a mock transport, and
factories of sync and async Atlas clients for it and for the emulator."""

from __future__ import annotations

import base64
import hashlib
import json
import threading
from typing import Any, Callable, Dict, List, Optional, Set, Tuple, Union

import httpx

from fluidstack.atlas import AsyncAtlas, Atlas
from support import AtlasClients as AtlasClients  # moved to support; old imports work
from support import ClientFactory, FakeClock, resolve

PROJECT = "4b0e7b7e-2d43-4bb6-9d8a-3f6f0c3c4a11"
CLIENT_ID = "client-abc"
CLIENT_SECRET = "atlas-SECRET-7c1d9e"
TOKEN_URL = "https://auth.test/oauth/token"
MANAGEMENT = "https://mgmt.test"
REGIONS = {"r1": "https://r1.test", "r2": "https://r2.test/api/v1alpha1"}
"""Region URLs as the management API lists them (one already ending in the prefix)."""

INSTANCE: Dict[str, Any] = {
    "id": "5f0c8a0e-7c84-4d5f-9b7e-2a4c6f1d3e21",
    "name": "trainer",
    "type": "h100-hgx-80gb.8x",
    "state": "running",
    "ip": "10.0.0.2",
    "image": "image://ubuntu22.04",
    "preemptible": False,
    "ephemeral": False,
    "userData": None,
    "filesystems": [],
    "tags": {"team": "ml"},
}

Answer = Union[httpx.Response, Callable[[httpx.Request], httpx.Response], Exception]


def jwt(claims: Dict[str, Any]) -> str:
    """An unsigned JWT carrying ``claims`` (the SDK reads, never verifies, them)."""

    def part(data: Dict[str, Any]) -> str:
        raw = json.dumps(data).encode()
        return base64.urlsafe_b64encode(raw).decode().rstrip("=")

    return f"{part({'alg': 'none', 'typ': 'JWT'})}.{part(claims)}.sig"


def answer(status: int, body: Any = None) -> httpx.Response:
    if body is None:
        return httpx.Response(status)
    return httpx.Response(status, json=body)


class FakeAtlas:
    """Token endpoint, management API and two regions, scripted per test.

    Every request needs a token the fake issued (401 otherwise) except the token
    endpoint. ``routes[(method, url)]`` answers a request to ``url`` (scheme, host and
    path, no query) with a response, a callable, or an exception to raise; a list
    answers with each item in turn (the last one repeating).
    """

    def __init__(self) -> None:
        self.requests: List[httpx.Request] = []
        self.token_requests: List[httpx.Request] = []
        self.issued: List[str] = []
        self.valid: Set[str] = set()
        self.expires_in: Optional[float] = 3600
        self.token_answers: List[Answer] = []
        self.refresh_tokens: Set[str] = {"refresh-1"}
        self.codes: Dict[str, Tuple[str, Optional[str]]] = {}
        """Authorization codes issued, with their PKCE challenge and redirect URI."""
        """Refresh tokens the fake accepts; each is rotated (replaced) when used."""
        self.routes: Dict[Tuple[str, str], Any] = {
            ("GET", MANAGEMENT + "/api/v1alpha1/regions"): answer(
                200, [{"name": n, "url": u} for n, u in REGIONS.items()]
            ),
        }
        self._lock = threading.Lock()

    def route(self, method: str, url: str, *answers: Answer) -> None:
        self.routes[(method, url)] = list(answers) if len(answers) > 1 else answers[0]

    def region(self, name: str, path: str) -> str:
        """The full URL of ``path`` in region ``name``'s API."""
        root = REGIONS[name].rstrip("/")
        if not root.endswith("/api/v1alpha1"):
            root += "/api/v1alpha1"
        return root + path

    def revoke_all(self) -> None:
        self.valid.clear()

    def handler(self, request: httpx.Request) -> httpx.Response:
        request.read()
        # A copy: the client may reuse the request object for its next attempt.
        request = httpx.Request(
            request.method, request.url, headers=request.headers.copy(), content=request.content
        )
        with self._lock:
            self.requests.append(request)
            url = str(request.url.copy_with(query=None))
            if url == TOKEN_URL:
                return self._token(request)
            sent = request.headers.get("authorization", "")
            if not sent.startswith("Bearer ") or sent[len("Bearer ") :] not in self.valid:
                return answer(401, {"message": "invalid or expired token"})
            found = self.routes.get((request.method, url))
        if found is None:
            return answer(404, {"message": f"no route {request.method} {url}"})
        return self._play(found, request)

    def _play(self, found: Any, request: httpx.Request) -> httpx.Response:
        item = found
        if isinstance(found, list):
            item = found.pop(0) if len(found) > 1 else found[0]
        if isinstance(item, Exception):
            raise item
        if callable(item):
            response: httpx.Response = item(request)
            return response
        assert isinstance(item, httpx.Response)
        return item

    def _token(self, request: httpx.Request) -> httpx.Response:
        self.token_requests.append(request)
        if self.token_answers:
            return self._play(self.token_answers, request)
        form = dict(httpx.QueryParams(request.content.decode()))
        token = f"tok-{len(self.issued) + 1}"
        body: Dict[str, Any] = {"access_token": token, "token_type": "Bearer"}
        if form.get("grant_type") == "authorization_code":
            expected = self.codes.pop(form.get("code", ""), None)
            verifier = form.get("code_verifier", "").encode()
            digest = base64.urlsafe_b64encode(hashlib.sha256(verifier).digest()).rstrip(b"=")
            if expected is None or expected != (digest.decode(), form.get("redirect_uri")):
                return answer(400, {"error": "invalid_grant", "error_description": "bad code"})
            body["refresh_token"] = "refresh-1"
            self.refresh_tokens.add("refresh-1")
        if form.get("grant_type") == "refresh_token":
            used = form.get("refresh_token", "")
            if used not in self.refresh_tokens:
                return answer(400, {"error": "invalid_grant", "error_description": "reused"})
            self.refresh_tokens.discard(used)
            rotated = f"refresh-{len(self.issued) + 2}"
            self.refresh_tokens.add(rotated)
            body["refresh_token"] = rotated
        self.issued.append(token)
        self.valid.add(token)
        if self.expires_in is not None:
            body["expires_in"] = self.expires_in
        return answer(200, body)


class AtlasHarness(ClientFactory):
    """Builds sync or async Atlas clients on a :class:`FakeAtlas` with a fake clock."""

    def __init__(self, kind: str) -> None:
        super().__init__(kind, Atlas, AsyncAtlas)
        self.clock = FakeClock()
        self.server = FakeAtlas()

    def client(self, **kwargs: Any) -> Any:
        kwargs.setdefault("client_id", CLIENT_ID)
        kwargs.setdefault("client_secret", CLIENT_SECRET)
        kwargs.setdefault("management_url", MANAGEMENT)
        kwargs.setdefault("token_url", TOKEN_URL)
        kwargs.setdefault("region", "r1")
        kwargs.setdefault("project_id", PROJECT)
        client = self._build(
            transport=httpx.MockTransport(self.server.handler), sleep=self.clock.sleep, **kwargs
        )
        client._pipeline.clock = self.clock
        return client


async def on_project(clients: AtlasClients, **kwargs: Any) -> Any:
    """A client (sync or async, as ``clients`` makes them) on a new project of the
    emulator's development organization."""
    atlas = clients.make(**kwargs)
    project = await resolve(atlas.projects.create(name="e2e"))
    return atlas.with_options(project_id=project.id)
