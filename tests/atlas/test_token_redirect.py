"""Issue 23, item 5: a client secret never follows a redirect to another origin.

The token request is a form holding ``client_secret`` (or a refresh token). httpx
re-sends a body on 307 and 308, and the SDK only stripped credential *headers* when a
redirect left the origin: a token endpoint answering 307 with another host or port got
the secret sent there. Now such a redirect is refused before anything is sent, with a
:class:`TokenError` that names the other origin and never the secret. A redirect within
the origin is still followed.
"""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Dict, Iterator, List, Tuple

import pytest

from fluidstack import AsyncFluidStack, FluidStack
from fluidstack.atlas import AsyncAtlas, Atlas
from fluidstack.core import RedirectRefusedError, TokenError

pytestmark = pytest.mark.anyio

SECRET = "atlas-client-SECRET-redirected-0123456789"


class _Server:
    """A loopback HTTP server: ``answer(method, path)`` gives (status, headers, body);
    every request it receives (path and body) is kept in ``seen``."""

    def __init__(self, answer: Any) -> None:
        seen: List[Tuple[str, bytes]] = []
        self.seen = seen

        class Handler(BaseHTTPRequestHandler):
            def _serve(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                seen.append((self.path, self.rfile.read(length)))
                status, headers, body = answer(self.command, self.path)
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("content-length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            do_GET = do_POST = _serve

            def log_message(self, *args: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.httpd.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


TOKEN_BODY = json.dumps(
    {"access_token": "issued-token", "token_type": "Bearer", "expires_in": 3600}
).encode()


@pytest.fixture
def elsewhere() -> Iterator[_Server]:
    """Another origin, which would accept the token request (and keeps what it got)."""

    def answer(method: str, path: str) -> Tuple[int, Dict[str, str], bytes]:
        return 200, {"content-type": "application/json"}, TOKEN_BODY if method == "POST" else b"[]"

    server = _Server(answer)
    yield server
    server.close()


def _redirecting_to(location: str, status: int = 307) -> _Server:
    def answer(method: str, path: str) -> Tuple[int, Dict[str, str], bytes]:
        if path == "/oauth/token":
            return status, {"location": location}, b""
        if path == "/oauth/token-here":
            return 200, {"content-type": "application/json"}, TOKEN_BODY
        return 404, {}, b""

    return _Server(answer)


async def _token(kind: str, token_url: str) -> str:
    settings: Any = {
        "client_id": "someone",
        "client_secret": SECRET,
        "management_url": token_url.rsplit("/oauth", 1)[0],
        "token_url": token_url,
        "region": "eu-north-1",
        "max_retries": 0,
    }
    if kind == "sync":
        with Atlas(**settings) as atlas:
            return str(atlas._auth.token().reveal())
    async with AsyncAtlas(**settings) as async_atlas:
        return str((await async_atlas._auth.token()).reveal())


@pytest.fixture(params=["sync", "async"])
def kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.mark.parametrize("status", [307, 308])
@pytest.mark.parametrize("other", ["port", "host"])
async def test_a_token_request_does_not_follow_a_redirect_to_another_origin(
    kind: str, elsewhere: _Server, status: int, other: str
) -> None:
    host = "127.0.0.1" if other == "port" else "localhost"
    target = f"http://{host}:{elsewhere.port}/oauth/token"
    server = _redirecting_to(target, status)
    try:
        with pytest.raises(TokenError) as caught:
            await _token(kind, server.url + "/oauth/token")
    finally:
        server.close()
    assert elsewhere.seen == [], "the token request reached the other origin"
    assert [path for path, _ in server.seen] == ["/oauth/token"]
    assert SECRET.encode() in server.seen[0][1]  # (it was sent to the endpoint itself)
    error = caught.value
    message = str(error)
    assert "another origin" in message
    assert f"{host}:{elsewhere.port}" in message
    assert error.status_code == status
    assert isinstance(error.__cause__, RedirectRefusedError)
    said = " ".join(repr(e) + str(e) for e in (error, error.__cause__, error.__context__))
    assert SECRET not in said


async def test_a_redirect_within_the_origin_is_still_followed(kind: str) -> None:
    server = _redirecting_to("/oauth/token-here")
    try:
        assert await _token(kind, server.url + "/oauth/token") == "issued-token"
    finally:
        server.close()
    assert [path for path, _ in server.seen] == ["/oauth/token", "/oauth/token-here"]
    assert all(SECRET.encode() in body for _, body in server.seen)


async def test_no_request_body_follows_a_redirect_to_another_origin(
    kind: str, elsewhere: _Server
) -> None:
    """The rule is the pipeline's, for every call: a platform create's body (which may
    hold user data with secrets) does not follow a 307 to another origin either."""
    server = _Server(lambda m, p: (307, {"location": elsewhere.url + p}, b""))
    try:
        with pytest.raises(RedirectRefusedError) as caught:
            await _create_key(kind, server.url)
    finally:
        server.close()
    assert elsewhere.seen == []
    assert caught.value.location == elsewhere.url


async def _create_key(kind: str, url: str) -> None:
    if kind == "sync":
        with FluidStack(api_key="k", base_url=url, max_retries=0) as client:
            client.ssh_keys.create(name="k", public_key="ssh-ed25519 AAAA x")
        return
    async with AsyncFluidStack(api_key="k", base_url=url, max_retries=0) as async_client:
        await async_client.ssh_keys.create(name="k", public_key="ssh-ed25519 AAAA x")


async def test_a_get_still_follows_a_redirect_to_another_origin(
    kind: str, elsewhere: _Server
) -> None:
    """Without a body there is nothing to leak but headers, which are stripped."""
    server = _Server(lambda m, p: (307, {"location": elsewhere.url + p}, b""))
    try:
        if kind == "sync":
            with FluidStack(api_key="k", base_url=server.url, max_retries=0) as client:
                assert client.instances.list() == []
        else:
            async with AsyncFluidStack(
                api_key="k", base_url=server.url, max_retries=0
            ) as async_client:
                assert await async_client.instances.list() == []
    finally:
        server.close()
    assert len(elsewhere.seen) == 1
