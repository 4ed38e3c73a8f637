"""Atlas authentication, on both clients: the client-credentials grant, the token cache,
refresh before expiry and after a 401, one refresh at a time, and token-endpoint errors."""

from __future__ import annotations

import time
from typing import List
from urllib.parse import parse_qs

import anyio
import httpx
import pytest
from atlas_client_support import (
    CLIENT_ID,
    CLIENT_SECRET,
    INSTANCE,
    TOKEN_URL,
    AtlasHarness,
    answer,
    jwt,
)

from fluidstack.atlas import AsyncAtlas, Atlas, IssuedToken
from fluidstack.core import (
    ApiError,
    AuthenticationError,
    MissingCredentialsError,
    TokenError,
)
from support import resolve

pytestmark = pytest.mark.anyio


def _instances(h: AtlasHarness) -> str:
    url = h.server.region("r1", "/instances")
    h.server.route("GET", url, answer(200, [INSTANCE]))
    return url


async def test_client_credentials_grant_as_fluidstack_clients_send_it(
    atlas_harness: AtlasHarness,
) -> None:
    h = atlas_harness
    _instances(h)
    atlas = h.client()
    await resolve(atlas.instances.list())
    (token_request,) = h.server.token_requests
    assert token_request.headers["content-type"] == "application/x-www-form-urlencoded"
    form = parse_qs(token_request.content.decode())
    assert form == {
        "grant_type": ["client_credentials"],
        "client_id": [CLIENT_ID],
        "client_secret": [CLIENT_SECRET],
        "audience": ["https://api.fluidstack.io"],
    }
    assert "authorization" not in token_request.headers
    sent = h.server.requests[-1]
    assert sent.headers["authorization"] == "Bearer tok-1"
    assert sent.headers["x-project-id"] == "4b0e7b7e-2d43-4bb6-9d8a-3f6f0c3c4a11"
    assert "idempotency-key" not in sent.headers


async def test_token_is_cached_across_calls_and_views(atlas_harness: AtlasHarness) -> None:
    h = atlas_harness
    _instances(h)
    atlas = h.client()
    for _ in range(5):
        await resolve(atlas.instances.list())
    other = atlas.with_options(project_id="0b8f6f0a-1c7e-4d16-8a3c-5e9b2d4f6a77")
    await resolve(other.instances.list())
    assert len(h.server.token_requests) == 1
    assert h.server.requests[-1].headers["x-project-id"].startswith("0b8f6f0a")


async def test_token_replaced_shortly_before_expires_in(atlas_harness: AtlasHarness) -> None:
    h = atlas_harness
    _instances(h)
    h.server.expires_in = 600
    atlas = h.client()
    await resolve(atlas.instances.list())
    h.clock.advance(600 - 61)  # the margin is 60 s (at most 10 % of the lifetime)
    await resolve(atlas.instances.list())
    assert len(h.server.token_requests) == 1
    h.clock.advance(2)
    await resolve(atlas.instances.list())
    assert len(h.server.token_requests) == 2
    assert h.server.requests[-1].headers["authorization"] == "Bearer tok-2"


async def test_jwt_exp_shortens_a_longer_expires_in(atlas_harness: AtlasHarness) -> None:
    h = atlas_harness
    _instances(h)
    token = jwt({"sub": CLIENT_ID, "exp": time.time() + 100})
    h.server.token_answers = [answer(200, {"access_token": token, "expires_in": 86400})]
    h.server.valid.add(token)
    atlas = h.client()
    await resolve(atlas.instances.list())
    h.clock.advance(95)  # within 10 % of a 100 s lifetime
    await resolve(atlas.instances.list())
    assert len(h.server.token_requests) == 2


async def test_a_401_is_answered_by_one_new_token_and_the_call_again(
    atlas_harness: AtlasHarness,
) -> None:
    h = atlas_harness
    url = _instances(h)
    atlas = h.client()
    await resolve(atlas.instances.list())
    h.server.revoke_all()  # e.g. the server's clock says the token expired
    instances = await resolve(atlas.instances.list())
    assert instances[0].name == "trainer"
    assert len(h.server.token_requests) == 2
    sent = [r.headers.get("authorization") for r in h.server.requests if str(r.url) == url]
    assert sent == ["Bearer tok-1", "Bearer tok-1", "Bearer tok-2"]
    assert h.clock.sleeps == []  # a refresh is not a retry: no back-off


async def test_a_second_401_stands(atlas_harness: AtlasHarness) -> None:
    h = atlas_harness
    url = h.server.region("r1", "/instances")
    h.server.route("GET", url, answer(401, {"message": "not for you"}))
    atlas = h.client()
    with pytest.raises(AuthenticationError) as info:
        await resolve(atlas.instances.list())
    assert "not for you" in str(info.value)
    calls = [r for r in h.server.requests if str(r.url) == url]
    assert len(calls) == 2  # the refresh bought exactly one more attempt
    assert len(h.server.token_requests) == 2


async def test_a_fixed_token_is_sent_as_given_and_never_refreshed(
    atlas_harness: AtlasHarness,
) -> None:
    h = atlas_harness
    _instances(h)
    h.server.valid.add("given-token")
    atlas = h.client(client_id=None, client_secret=None, token="given-token")
    await resolve(atlas.instances.list())
    assert h.server.requests[-1].headers["authorization"] == "Bearer given-token"
    h.server.revoke_all()
    with pytest.raises(AuthenticationError):
        await resolve(atlas.instances.list())
    assert h.server.token_requests == []


async def test_a_fixed_token_with_credentials_is_replaced_when_refused(
    atlas_harness: AtlasHarness,
) -> None:
    h = atlas_harness
    _instances(h)
    atlas = h.client(token="Bearer stale-token")  # the "Bearer " prefix is tolerated
    await resolve(atlas.instances.list())
    sent = [r.headers.get("authorization") for r in h.server.requests]
    assert sent == ["Bearer stale-token", None, "Bearer tok-1", "Bearer tok-1"]
    assert len(h.server.token_requests) == 1


async def test_no_credentials_fail_before_anything_is_sent(
    atlas_harness: AtlasHarness, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("FLUIDSTACK_CLIENT_ID", "FLUIDSTACK_CLIENT_SECRET", "FLUIDSTACK_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    h = atlas_harness
    atlas = h.client(client_id=None, client_secret=None)
    with pytest.raises(MissingCredentialsError, match="FLUIDSTACK_CLIENT_ID"):
        await resolve(atlas.instances.list())
    assert h.server.requests == []


def test_half_of_the_client_credentials_is_refused_at_construction(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("FLUIDSTACK_CLIENT_SECRET", raising=False)
    with pytest.raises(ValueError, match="client_secret"):
        Atlas(client_id="only-the-id")


@pytest.mark.parametrize(
    ("status", "body", "code", "fragment"),
    [
        (401, {"error": "invalid_client", "error_description": "Unknown client"}, "invalid_client",
         "invalid_client (Unknown client): check the client id and secret"),
        (403, {"error": "access_denied", "error_description": "Service not found"},
         "access_denied", "access_denied (Service not found)"),
        (400, {"error": "unsupported_grant_type"}, "unsupported_grant_type",
         "unsupported_grant_type"),
        (400, "<html>bad</html>", None, "it refused the request"),
    ],
)  # fmt: skip
async def test_token_endpoint_refusals_say_which_url_and_why(
    atlas_harness: AtlasHarness, status: int, body: object, code: str, fragment: str
) -> None:
    h = atlas_harness
    h.server.token_answers = [
        httpx.Response(status, json=body)
        if isinstance(body, dict)
        else httpx.Response(status, text=str(body))
    ]
    atlas = h.client()
    with pytest.raises(TokenError) as info:
        await resolve(atlas.instances.list())
    error = info.value
    assert error.url == TOKEN_URL
    assert error.error == code
    assert error.status_code == status
    assert TOKEN_URL in str(error)
    assert fragment in str(error)
    assert len(h.server.token_requests) == 1  # a refusal is not retried
    assert CLIENT_SECRET not in str(error) + repr(error)


async def test_token_endpoint_unreachable_is_retried_then_reported(
    atlas_harness: AtlasHarness,
) -> None:
    h = atlas_harness
    h.server.token_answers = [httpx.ConnectError("connection refused")]
    atlas = h.client()
    with pytest.raises(TokenError) as info:
        await resolve(atlas.instances.list())
    assert info.value.error is None
    assert info.value.status_code is None
    assert "could not reach the token endpoint https://auth.test/oauth/token" in str(info.value)
    assert isinstance(info.value.__cause__, ApiError)
    assert len(h.server.token_requests) == 3  # the default two retries
    assert len(h.clock.sleeps) == 2


async def test_token_endpoint_5xx_is_retried(atlas_harness: AtlasHarness) -> None:
    h = atlas_harness
    _instances(h)
    ok = {"access_token": "tok-x", "token_type": "bearer", "expires_in": 60}
    h.server.valid.add("tok-x")
    h.server.token_answers = [answer(503, {"error": "temporarily_unavailable"}), answer(200, ok)]
    atlas = h.client()
    await resolve(atlas.instances.list())
    assert len(h.server.token_requests) == 2


async def test_a_non_bearer_token_is_refused(atlas_harness: AtlasHarness) -> None:
    h = atlas_harness
    h.server.token_answers = [answer(200, {"access_token": "x", "token_type": "mac"})]
    atlas = h.client()
    with pytest.raises(TokenError, match="Bearer"):
        await resolve(atlas.instances.list())


async def test_one_token_request_for_100_concurrent_async_calls() -> None:
    server = AtlasHarness("async").server
    url = server.region("r1", "/instances")
    server.route("GET", url, answer(200, [INSTANCE]))

    async def slow_server(request: httpx.Request) -> httpx.Response:
        # A slow token endpoint, so that every call is waiting while the token comes.
        if str(request.url) == TOKEN_URL:
            await anyio.sleep(0.05)
        return server.handler(request)

    http = httpx.AsyncClient(transport=httpx.MockTransport(slow_server))
    atlas = AsyncAtlas(
        client_id=CLIENT_ID,
        client_secret=CLIENT_SECRET,
        management_url="https://mgmt.test",
        token_url=TOKEN_URL,
        region="r1",
        project_id="4b0e7b7e-2d43-4bb6-9d8a-3f6f0c3c4a11",
        httpx_client=http,
    )
    results: List[int] = []

    async def one() -> None:
        results.append(len(await atlas.instances.list()))

    async with anyio.create_task_group() as group:
        for _ in range(100):
            group.start_soon(one)
    assert results == [1] * 100
    assert len(server.token_requests) == 1
    regions = [r for r in server.requests if r.url.path.endswith("/regions")]
    assert len(regions) == 1  # region discovery is shared the same way
    # Every token is refused at once: 100 calls get a 401, one new token is asked for.
    server.revoke_all()
    async with anyio.create_task_group() as group:
        for _ in range(100):
            group.start_soon(one)
    assert len(results) == 200
    assert len(server.token_requests) == 2
    await http.aclose()


def test_one_token_request_for_20_threads_on_a_sync_client() -> None:
    import concurrent.futures

    h = AtlasHarness("sync")
    h.server.route("GET", h.server.region("r1", "/instances"), answer(200, [INSTANCE]))
    with h.client() as atlas, concurrent.futures.ThreadPoolExecutor(20) as pool:
        counts = list(pool.map(lambda _: len(atlas.instances.list()), range(60)))
    assert counts == [1] * 60
    assert len(h.server.token_requests) == 1


def test_token_and_secret_are_redacted_in_reprs() -> None:
    atlas = Atlas(
        client_id=CLIENT_ID,
        client_secret=CLIENT_SECRET,
        management_url="https://mgmt.test",
        region="r1",
    )
    text = repr(atlas) + repr(atlas._settings) + repr(atlas._auth.__dict__)
    assert CLIENT_SECRET not in text
    assert "client credentials" in repr(atlas)
    fixed = AsyncAtlas(token="tok-SECRET-123", management_url="https://mgmt.test")
    assert "tok-SECRET-123" not in repr(fixed) + repr(fixed._settings)
    atlas.close()


async def test_a_refresh_token_gets_access_tokens_and_is_rotated(
    atlas_harness: AtlasHarness,
) -> None:
    h = atlas_harness
    _instances(h)
    h.server.expires_in = 600
    issued: List[IssuedToken] = []
    atlas = h.client(
        client_id="public-cli",
        client_secret=None,
        refresh_token="refresh-1",
        on_token=issued.append,
    )
    await resolve(atlas.instances.list())
    form = parse_qs(h.server.token_requests[0].content.decode())
    assert form == {
        "grant_type": ["refresh_token"],
        "client_id": ["public-cli"],
        "refresh_token": ["refresh-1"],
    }
    assert [t.refresh_token.reveal() for t in issued if t.refresh_token] == ["refresh-2"]
    assert issued[0].access_token.reveal() == "tok-1"
    assert issued[0].expires_at is not None
    assert abs(issued[0].expires_at - (time.time() + 600)) < 5
    h.clock.advance(600)  # expired: the rotated refresh token is the one used next
    await resolve(atlas.instances.list())
    assert parse_qs(h.server.token_requests[1].content.decode())["refresh_token"] == ["refresh-2"]
    assert [t.refresh_token.reveal() for t in issued if t.refresh_token] == [
        "refresh-2",
        "refresh-3",
    ]
    text = repr(issued) + repr(atlas) + repr(atlas._settings)
    assert "refresh-" not in text
    assert "tok-" not in text


async def test_a_refused_refresh_token_says_so(atlas_harness: AtlasHarness) -> None:
    h = atlas_harness
    atlas = h.client(client_id="public-cli", client_secret=None, refresh_token="stolen")
    with pytest.raises(TokenError) as info:
        await resolve(atlas.regions.list())
    assert info.value.error == "invalid_grant"
    assert "stolen" not in str(info.value)


def test_a_refresh_token_needs_its_client_id() -> None:
    with pytest.raises(ValueError, match="client_id is missing"):
        Atlas(refresh_token="r")


async def test_browser_login_with_pkce_then_refresh(atlas_harness: AtlasHarness) -> None:
    h = atlas_harness
    _instances(h)
    issued: List[IssuedToken] = []
    atlas = h.client(client_id=None, client_secret=None, on_token=issued.append)
    login = atlas.start_browser_login(redirect_uri="http://localhost:5173")
    url = httpx.URL(login.url)
    params = dict(url.params)
    assert str(url.copy_with(query=None)) == "https://oauth.fluidstack.io/authorize"
    assert params["client_id"] == "diPhN35HH6jVXs615vsafkdIQM4Y5rF8"  # fluidctl's client
    assert params["code_challenge_method"] == "S256"
    assert params["scope"] == "openid profile email offline_access"
    assert params["audience"] == "https://api.fluidstack.io"
    assert login.verifier.reveal() not in login.url
    # The browser comes back with a code bound to the challenge.
    h.server.codes["code-1"] = (params["code_challenge"], "http://localhost:5173")
    got = await resolve(
        atlas.finish_browser_login(login, {"code": "code-1", "state": params["state"]})
    )
    assert got.refresh_token is not None
    assert got.refresh_token.reveal() == "refresh-1"
    assert issued == [got]
    await resolve(atlas.instances.list())  # with the new access token
    h.server.revoke_all()
    await resolve(atlas.instances.list())  # a 401: a new token from the refresh token
    rotated = issued[-1].refresh_token
    assert rotated is not None
    assert rotated.reveal() != "refresh-1"
    assert h.server.refresh_tokens == {rotated.reveal()}  # the old one was used up
    assert "refresh-" not in repr(login) + repr(atlas)


async def test_browser_login_refuses_a_foreign_state_or_a_bad_code(
    atlas_harness: AtlasHarness,
) -> None:
    h = atlas_harness
    atlas = h.client(client_id=None, client_secret=None)
    login = atlas.start_browser_login(redirect_uri="http://127.0.0.1:43210/callback")
    with pytest.raises(TokenError, match="state"):
        await resolve(atlas.finish_browser_login(login, {"code": "c", "state": "forged"}))
    with pytest.raises(TokenError, match="access_denied"):
        await resolve(atlas.finish_browser_login(login, {"error": "access_denied", "state": "x"}))
    state = login.state.reveal()
    with pytest.raises(TokenError) as info:
        await resolve(atlas.finish_browser_login(login, {"code": "unknown", "state": state}))
    assert info.value.error == "invalid_grant"
    assert h.server.token_requests  # the code was sent; the verifier with it
    assert login.verifier.reveal() not in str(info.value)


def test_browser_login_needs_a_loopback_redirect() -> None:
    atlas = Atlas(token="t")
    with pytest.raises(ValueError, match="loopback"):
        atlas.start_browser_login(redirect_uri="https://evil.example/callback")
    emulated = Atlas(token="t", management_url="http://127.0.0.1:8080")
    login = emulated.start_browser_login(redirect_uri="http://localhost:9999")
    assert login.authorize_url == "http://127.0.0.1:8080/authorize"
    assert login.client_id == "fs-emulator-cli"
    assert login.token_url == "http://127.0.0.1:8080/oauth/token"
