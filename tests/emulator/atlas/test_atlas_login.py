"""Atlas browser login: ``/authorize`` with PKCE, the authorization-code and refresh-token
grants, users, rotation and reuse detection, expiry, isolation, persistence, secrecy."""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import re
import secrets
import signal
import subprocess
import time
from pathlib import Path
from typing import Any, Dict, Iterator, List, Optional, Tuple
from urllib.parse import parse_qs, urlsplit

import httpx
import jwt
import pytest
from atlas_support import AtlasConformance
from process_support import start_emulator

from fluidstack.emulator import (
    DEV_ATLAS_CLIENT_ID,
    DEV_ATLAS_PUBLIC_CLIENT_ID,
    DEV_ATLAS_USER_EMAIL,
    EmulatorServer,
    EmulatorSettings,
)
from fluidstack.emulator.__main__ import build_parser, settings_from_args
from fluidstack.testing import EmulatorHandle
from fluidstack.testing.handle import EmulatorControlError

AUDIENCE = "https://api.fluidstack.io"
REDIRECT = "http://127.0.0.1:5173/callback"
SCOPE = "openid profile email offline_access"


def pkce() -> Tuple[str, str]:
    """A verifier as fluidctl makes it (hex of 32 random bytes) and its S256 challenge."""
    verifier = secrets.token_hex(32)
    digest = hashlib.sha256(verifier.encode()).digest()
    return verifier, base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def authorize_params(challenge: str, **changes: Optional[str]) -> Dict[str, str]:
    params: Dict[str, Optional[str]] = {
        "response_type": "code",
        "client_id": DEV_ATLAS_PUBLIC_CLIENT_ID,
        "redirect_uri": REDIRECT,
        "code_challenge": challenge,
        "code_challenge_method": "S256",
        "state": "st-" + secrets.token_hex(4),
        "scope": SCOPE,
        "audience": AUDIENCE,
    }
    params.update(changes)
    return {k: v for k, v in params.items() if v is not None}


def code_of(location: str) -> Tuple[str, Optional[str]]:
    query = parse_qs(urlsplit(location).query)
    return query["code"][0], query.get("state", [None])[0]


@pytest.fixture
def browser(emulator: EmulatorHandle) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=emulator.base_url, follow_redirects=False) as client:
        yield client


@pytest.fixture
def oauth(emulator: EmulatorHandle, atlas_conformance: AtlasConformance) -> Iterator[httpx.Client]:
    hooks = {"response": [atlas_conformance.check_response]}
    with httpx.Client(base_url=emulator.base_url, event_hooks=hooks) as client:
        yield client


def exchange(oauth: httpx.Client, the_code: str, verifier: str, **changes: str) -> httpx.Response:
    data = {
        "grant_type": "authorization_code",
        "code": the_code,
        "redirect_uri": REDIRECT,
        "client_id": DEV_ATLAS_PUBLIC_CLIENT_ID,
        "code_verifier": verifier,
        **changes,
    }
    return oauth.post("/oauth/token", data=data)


def refresh(oauth: httpx.Client, token: str, client_id: str = DEV_ATLAS_PUBLIC_CLIENT_ID) -> Any:
    return oauth.post(
        "/oauth/token",
        data={"grant_type": "refresh_token", "refresh_token": token, "client_id": client_id},
    )


def login_tokens(
    emulator: EmulatorHandle,
    oauth: httpx.Client,
    scope: str = SCOPE,
    email: Optional[str] = None,
    password: Optional[str] = None,
) -> Dict[str, Any]:
    verifier, challenge = pkce()
    location = emulator.atlas.login(REDIRECT, challenge, "s", scope, email, password)
    response = exchange(oauth, code_of(location)[0], verifier)
    assert response.status_code == 200, response.text
    body: Dict[str, Any] = response.json()
    return body


def bearer(emulator: EmulatorHandle, token: str, path: str, method: str = "GET", **kw: Any) -> Any:
    return httpx.request(
        method,
        emulator.base_url + path,
        headers={"authorization": f"Bearer {token}", **kw.pop("headers", {})},
        **kw,
    )


# -- the whole flow ---------------------------------------------------------------------


def test_full_flow_with_a_real_pkce_verifier(
    emulator: EmulatorHandle, browser: httpx.Client, oauth: httpx.Client
) -> None:
    verifier, challenge = pkce()
    params = authorize_params(challenge, state="opaque/state ✓ & more")
    page = browser.get("/authorize", params=params)
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert page.headers["cache-control"] == "no-store"
    assert page.headers["x-frame-options"] == "DENY"
    hidden = dict(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)">', page.text))
    assert set(hidden) == set(params)
    form = {**params, "email": emulator.atlas.dev_user_email}
    form["password"] = emulator.atlas.dev_user_password
    answer = browser.post("/authorize", data=form)
    assert answer.status_code == 302
    location = answer.headers["location"]
    assert location.startswith(REDIRECT + "?")
    code, state = code_of(location)
    assert state == params["state"]  # echoed exactly
    assert len(code) >= 40

    token = exchange(oauth, code, verifier)
    assert token.status_code == 200
    assert token.headers["cache-control"] == "no-store"
    body = token.json()
    assert set(body) == {"access_token", "token_type", "expires_in", "refresh_token", "scope"}
    assert body["token_type"] == "Bearer"
    assert body["scope"] == SCOPE
    assert body["expires_in"] == 3600  # --token-ttl: real seconds
    claims = jwt.decode(body["access_token"], options={"verify_signature": False})
    assert claims["email"] == DEV_ATLAS_USER_EMAIL
    assert claims["aud"] == AUDIENCE

    orgs = bearer(emulator, body["access_token"], "/api/v1alpha1/organizations").json()
    assert [o["id"] for o in orgs] == [claims["org_id"]]
    members = bearer(emulator, body["access_token"], "/api/v1alpha1/members").json()
    me = [m for m in members if m["id"] == claims["sub"]]
    assert me
    assert me[0]["email"] == DEV_ATLAS_USER_EMAIL
    # The user's own SSH keys are its own (the token's subject is the user).
    key = "ssh-ed25519 " + base64.b64encode(b"\x00\x00\x00\x0bssh-ed25519" + bytes(36)).decode()
    added = bearer(
        emulator,
        body["access_token"],
        "/api/v1alpha1/user/keys",
        "POST",
        json={"name": "laptop", "key": key},
    )
    assert added.status_code == 200, added.text
    client_keys = bearer(emulator, emulator.atlas.token(), "/api/v1alpha1/user/keys").json()
    assert client_keys == []


def test_handle_login_returns_the_redirect_and_state(
    emulator: EmulatorHandle, oauth: httpx.Client
) -> None:
    verifier, challenge = pkce()
    location = emulator.atlas.login("http://localhost:5173", challenge, "xyz")
    code, state = code_of(location)
    assert location.startswith("http://localhost:5173?code=")
    assert state == "xyz"
    answer = exchange(oauth, code, verifier, redirect_uri="http://localhost:5173")
    assert answer.status_code == 200
    assert emulator.atlas.authorize_url == emulator.base_url + "/authorize"
    assert emulator.atlas.public_client_id == DEV_ATLAS_PUBLIC_CLIENT_ID == "fs-emulator-cli"


@pytest.mark.parametrize(
    "redirect_uri",
    ["http://127.0.0.1:5173/callback", "http://localhost:1", "http://[::1]:65535/cb?x=1"],
)
def test_every_loopback_redirect_with_a_port_is_accepted(
    emulator: EmulatorHandle, oauth: httpx.Client, redirect_uri: str
) -> None:
    verifier, challenge = pkce()
    location = emulator.atlas.login(redirect_uri, challenge, "s")
    assert location.startswith(redirect_uri)
    answer = exchange(oauth, code_of(location)[0], verifier, redirect_uri=redirect_uri)
    assert answer.status_code == 200


# -- refusals at /authorize -------------------------------------------------------------


REFUSED = {
    "unknown client": {"client_id": "nobody"},
    "confidential client": {"client_id": DEV_ATLAS_CLIENT_ID},
    "no client": {"client_id": None},
    "no challenge": {"code_challenge": None},
    "short challenge": {"code_challenge": "abc"},
    "plain method": {"code_challenge_method": "plain"},
    "no method": {"code_challenge_method": None},
    "implicit": {"response_type": "token"},
    "no response type": {"response_type": None},
    "remote redirect": {"redirect_uri": "https://evil.example/callback"},
    "remote http redirect": {"redirect_uri": "http://evil.example:5173/callback"},
    "lookalike host": {"redirect_uri": "http://127.0.0.1.evil.example:5173/"},
    "https loopback": {"redirect_uri": "https://127.0.0.1:5173/"},
    "no port": {"redirect_uri": "http://localhost/callback"},
    "userinfo": {"redirect_uri": "http://evil@127.0.0.1:5173/"},
    "fragment": {"redirect_uri": "http://127.0.0.1:5173/#frag"},
    "no redirect": {"redirect_uri": None},
    "other audience": {"audience": "https://elsewhere.example"},
}


@pytest.mark.parametrize("change", list(REFUSED.values()), ids=list(REFUSED))
def test_untrustworthy_requests_get_a_400_page_never_a_redirect(
    emulator: EmulatorHandle, browser: httpx.Client, change: Dict[str, Optional[str]]
) -> None:
    _, challenge = pkce()
    params = authorize_params(challenge, **change)
    page = browser.get("/authorize", params=params)
    assert page.status_code == 400
    assert "location" not in page.headers
    assert page.headers["content-type"].startswith("text/html")
    # The same request with good credentials is refused too (hidden fields are re-checked).
    form = {**params, "email": emulator.atlas.dev_user_email}
    form["password"] = emulator.atlas.dev_user_password
    posted = browser.post("/authorize", data=form)
    assert posted.status_code == 400
    assert "location" not in posted.headers
    assert emulator.atlas.dev_user_password not in posted.text


def test_a_repeated_parameter_and_other_methods_are_refused(browser: httpx.Client) -> None:
    _, challenge = pkce()
    query = "&".join(f"{k}={v}" for k, v in authorize_params(challenge).items())
    assert browser.get(f"/authorize?{query}&state=again").status_code == 400
    assert browser.put("/authorize").status_code == 405


def test_the_page_escapes_everything_it_echoes(browser: httpx.Client) -> None:
    _, challenge = pkce()
    hostile = '"><script>alert(1)</script>'
    page = browser.get("/authorize", params=authorize_params(challenge, state=hostile))
    assert page.status_code == 200
    assert "<script>" not in page.text
    assert "&quot;&gt;&lt;script&gt;" in page.text


def test_wrong_credentials_show_the_form_again_without_saying_which(
    emulator: EmulatorHandle, browser: httpx.Client
) -> None:
    _, challenge = pkce()
    params = authorize_params(challenge)
    wrong_password = browser.post(
        "/authorize", data={**params, "email": DEV_ATLAS_USER_EMAIL, "password": "guess-1"}
    )
    unknown_email = browser.post(
        "/authorize", data={**params, "email": "nobody@example.com", "password": "guess-1"}
    )
    for answer in (wrong_password, unknown_email):
        assert answer.status_code == 200
        assert "location" not in answer.headers
        assert "Wrong e-mail or password." in answer.text
        assert "guess-1" not in answer.text
        assert 'type="password"' in answer.text
    assert wrong_password.text.replace(DEV_ATLAS_USER_EMAIL, "X") == unknown_email.text.replace(
        "nobody@example.com", "X"
    )
    with pytest.raises(EmulatorControlError, match="Wrong e-mail or password") as caught:
        emulator.atlas.login(REDIRECT, challenge, "s", password="not-it")
    assert "not-it" not in str(caught.value)


def test_a_login_form_posted_from_another_site_is_refused(
    emulator: EmulatorHandle, browser: httpx.Client
) -> None:
    _, challenge = pkce()
    form = {**authorize_params(challenge), "email": emulator.atlas.dev_user_email}
    form["password"] = emulator.atlas.dev_user_password
    answer = browser.post("/authorize", data=form, headers={"origin": "https://evil.example"})
    assert answer.status_code == 403
    assert "location" not in answer.headers


# -- the authorization-code grant -------------------------------------------------------


def _code(emulator: EmulatorHandle, **login: Any) -> Tuple[str, str]:
    verifier, challenge = pkce()
    location = emulator.atlas.login(login.pop("redirect_uri", REDIRECT), challenge, "s", **login)
    return code_of(location)[0], verifier


def test_a_code_works_once_and_its_reuse_revokes_what_it_gave(
    emulator: EmulatorHandle, oauth: httpx.Client
) -> None:
    code, verifier = _code(emulator)
    first = exchange(oauth, code, verifier)
    assert first.status_code == 200
    again = exchange(oauth, code, verifier)
    assert (again.status_code, again.json()["error"]) == (400, "invalid_grant")
    assert again.headers["cache-control"] == "no-store"
    revoked = refresh(oauth, first.json()["refresh_token"])
    assert (revoked.status_code, revoked.json()["error"]) == (400, "invalid_grant")


@pytest.mark.parametrize(
    "change",
    [
        {"redirect_uri": "http://127.0.0.1:5174/callback"},
        {"client_id": DEV_ATLAS_CLIENT_ID},
        {"client_id": "nobody"},
        {"code_verifier": secrets.token_hex(32)},
        {"code_verifier": "short"},
        {"code": "not-a-code-" + "x" * 32},
    ],
    ids=["redirect", "confidential client", "unknown client", "verifier", "bad verifier", "code"],
)
def test_every_mismatch_is_invalid_grant_and_burns_the_code(
    emulator: EmulatorHandle, oauth: httpx.Client, change: Dict[str, str]
) -> None:
    code, verifier = _code(emulator)
    answer = exchange(oauth, code, verifier, **change)
    assert (answer.status_code, answer.json()["error"]) == (400, "invalid_grant")
    if "code" not in change:
        # A code is tried once: even the right request fails after a wrong one.
        assert exchange(oauth, code, verifier).json()["error"] == "invalid_grant"


def test_missing_parameters_and_secrets_are_invalid_request(
    emulator: EmulatorHandle, oauth: httpx.Client
) -> None:
    code, verifier = _code(emulator)
    for name in ("code", "redirect_uri", "client_id", "code_verifier"):
        data = {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": REDIRECT,
            "client_id": DEV_ATLAS_PUBLIC_CLIENT_ID,
            "code_verifier": verifier,
        }
        del data[name]
        answer = oauth.post("/oauth/token", data=data)
        assert (answer.status_code, answer.json()["error"]) == (400, "invalid_request"), name
    with_secret = exchange(oauth, code, verifier, client_secret="x")
    assert with_secret.json()["error"] == "invalid_request"
    assert exchange(oauth, code, verifier).status_code == 200  # none of that burnt it


def test_json_token_requests_work_too(emulator: EmulatorHandle, oauth: httpx.Client) -> None:
    code, verifier = _code(emulator)
    data = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": REDIRECT,
        "client_id": DEV_ATLAS_PUBLIC_CLIENT_ID,
        "code_verifier": verifier,
    }
    answer = oauth.post("/oauth/token", json=data)
    assert answer.status_code == 200
    rotated = oauth.post(
        "/oauth/token",
        json={
            "grant_type": "refresh_token",
            "refresh_token": answer.json()["refresh_token"],
            "client_id": DEV_ATLAS_PUBLIC_CLIENT_ID,
        },
    )
    assert rotated.status_code == 200


def test_a_code_expires_after_60_simulated_seconds(
    emulator: EmulatorHandle, oauth: httpx.Client
) -> None:
    code, verifier = _code(emulator)
    emulator.advance(59)
    assert exchange(oauth, code, verifier).status_code == 200
    code, verifier = _code(emulator)
    emulator.advance(60)
    assert exchange(oauth, code, verifier).json()["error"] == "invalid_grant"


def test_without_offline_access_there_is_no_refresh_token(
    emulator: EmulatorHandle, oauth: httpx.Client
) -> None:
    body = login_tokens(emulator, oauth, scope="openid email")
    assert "refresh_token" not in body
    assert body["scope"] == "openid email"


# -- refresh tokens ---------------------------------------------------------------------


def test_refresh_rotates_and_reuse_revokes_the_whole_login(
    emulator: EmulatorHandle, oauth: httpx.Client
) -> None:
    other_login = login_tokens(emulator, oauth)["refresh_token"]
    first = login_tokens(emulator, oauth)
    r1 = first["refresh_token"]
    second = refresh(oauth, r1)
    assert second.status_code == 200
    body = second.json()
    assert set(body) == {"access_token", "token_type", "expires_in", "refresh_token", "scope"}
    r2 = body["refresh_token"]
    assert r2 != r1
    assert body["access_token"] != first["access_token"]
    claims = jwt.decode(body["access_token"], options={"verify_signature": False})
    assert claims["email"] == DEV_ATLAS_USER_EMAIL
    r3 = refresh(oauth, r2).json()["refresh_token"]

    reused = refresh(oauth, r1)  # rotated twice ago: someone else has it
    assert (reused.status_code, reused.json()["error"]) == (400, "invalid_grant")
    assert "revoked" in reused.json()["error_description"]
    for token in (r2, r3):  # every refresh token of that login is gone
        assert refresh(oauth, token).json()["error"] == "invalid_grant"
    # Another login of the same user is untouched.
    assert refresh(oauth, other_login).status_code == 200


def test_a_refresh_token_is_bound_to_its_client(
    emulator: EmulatorHandle, oauth: httpx.Client
) -> None:
    token = login_tokens(emulator, oauth)["refresh_token"]
    wrong = refresh(oauth, token, client_id=DEV_ATLAS_CLIENT_ID)
    assert wrong.json()["error"] == "invalid_grant"
    assert refresh(oauth, token).status_code == 200


def test_refresh_tokens_expire_after_30_simulated_days(
    emulator: EmulatorHandle, oauth: httpx.Client
) -> None:
    token = login_tokens(emulator, oauth)["refresh_token"]
    emulator.advance(29 * 86400)
    token = refresh(oauth, token).json()["refresh_token"]  # a fresh 30 days
    emulator.advance(29 * 86400)
    token = refresh(oauth, token).json()["refresh_token"]
    emulator.advance(30 * 86400)
    assert refresh(oauth, token).json()["error"] == "invalid_grant"


def test_user_access_tokens_expire_and_the_refresh_token_gets_a_new_one(
    emulator: EmulatorHandle, oauth: httpx.Client
) -> None:
    body = login_tokens(emulator, oauth)
    assert bearer(emulator, body["access_token"], "/api/v1alpha1/organizations").status_code == 200
    exp = jwt.decode(body["access_token"], options={"verify_signature": False})["exp"]
    assert abs(exp - (time.time() + body["expires_in"])) <= 2
    emulator.atlas.expire_tokens()  # as if its hour had passed, without waiting
    expired = bearer(emulator, body["access_token"], "/api/v1alpha1/organizations")
    assert expired.status_code == 401
    fresh = refresh(oauth, body["refresh_token"]).json()["access_token"]
    assert bearer(emulator, fresh, "/api/v1alpha1/organizations").status_code == 200


def test_removing_a_user_revokes_its_tokens(emulator: EmulatorHandle, oauth: httpx.Client) -> None:
    user = emulator.atlas.add_user("ada@example.com")
    assert user["email"] == "ada@example.com"
    assert len(user["password"]) >= 16
    body = login_tokens(emulator, oauth, email="ada@example.com", password=user["password"])
    assert (
        jwt.decode(body["access_token"], options={"verify_signature": False})["sub"] == user["id"]
    )
    admin = emulator.atlas.token()
    members = bearer(emulator, admin, "/api/v1alpha1/members").json()
    assert user["id"] in [m["id"] for m in members]
    assert (
        bearer(emulator, admin, f"/api/v1alpha1/members/{user['id']}", "DELETE").status_code == 204
    )
    assert refresh(oauth, body["refresh_token"]).json()["error"] == "invalid_grant"
    gone = bearer(emulator, body["access_token"], "/api/v1alpha1/organizations")
    assert gone.status_code == 401
    with pytest.raises(EmulatorControlError, match="Wrong e-mail or password"):
        emulator.atlas.login(REDIRECT, pkce()[1], "s", email="ada@example.com", password="x")


# -- users ------------------------------------------------------------------------------


def test_users_through_the_control_api(emulator: EmulatorHandle) -> None:
    chosen = emulator.atlas.add_user("bob@example.com", password="correct horse")
    assert chosen["password"] == "correct horse"
    with pytest.raises(EmulatorControlError, match="409"):
        emulator.atlas.add_user("BOB@example.com")
    for bad in ({"email": "not-an-email"}, {"email": "c@example.com", "password": " x"}):
        with pytest.raises(EmulatorControlError, match="4"):
            emulator.atlas.add_user(**bad)  # type: ignore[arg-type]
    with pytest.raises(EmulatorControlError, match="404"):
        emulator.atlas.add_user("d@example.com", client_id="nobody")
    listed = {u["email"]: u for u in emulator.atlas.users()}
    assert set(listed) == {DEV_ATLAS_USER_EMAIL, "bob@example.com"}
    assert all("password" not in u for u in listed.values())
    # Runtime users vanish on a full reset; the development user comes back, same id.
    dev_id = listed[DEV_ATLAS_USER_EMAIL]["id"]
    emulator.reset()
    assert [(u["email"], u["id"]) for u in emulator.atlas.users()] == [
        (DEV_ATLAS_USER_EMAIL, dev_id)
    ]


def test_a_users_token_sees_only_its_organization(
    emulator: EmulatorHandle, oauth: httpx.Client
) -> None:
    emulator.atlas.create_organization("tenant-b", "b-secret")
    a_token = emulator.atlas.token()
    region = "/regions/eu-north-1/api/v1alpha1"
    project = bearer(emulator, a_token, f"{region}/projects", "POST", json={"name": "a-only"})
    a_project = project.json()["id"]
    user = emulator.atlas.add_user("carol@b.example", client_id="tenant-b")
    body = login_tokens(emulator, oauth, email="carol@b.example", password=user["password"])
    token = body["access_token"]
    orgs = bearer(emulator, token, "/api/v1alpha1/organizations").json()
    b_org = bearer(emulator, emulator.atlas.token("tenant-b"), "/api/v1alpha1/organizations")
    assert orgs == b_org.json()
    assert bearer(emulator, token, f"{region}/projects").json() == []
    assert bearer(emulator, token, f"{region}/projects/{a_project}").status_code == 404
    members = bearer(emulator, token, "/api/v1alpha1/members").json()
    assert DEV_ATLAS_USER_EMAIL not in [m["email"] for m in members]
    assert "carol@b.example" in [m["email"] for m in members]
    # A per-organization reset of B drops its runtime users and their logins.
    emulator.reset(client_id="tenant-b")
    assert refresh(oauth, body["refresh_token"]).json()["error"] == "invalid_grant"


# -- secrecy ----------------------------------------------------------------------------


def test_no_secret_of_the_flow_reaches_the_journal_or_the_logs(
    emulator: EmulatorHandle, oauth: httpx.Client, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    for name in ("fluidstack", "fluidstack.emulator", "uvicorn", "uvicorn.error", "httpx"):
        caplog.set_level(logging.DEBUG, logger=name)
    user = emulator.atlas.add_user("eve@example.com")
    verifier, challenge = pkce()
    location = emulator.atlas.login(
        REDIRECT, challenge, "s", email="eve@example.com", password=user["password"]
    )
    code = code_of(location)[0]
    body = exchange(oauth, code, verifier).json()
    rotated = refresh(oauth, body["refresh_token"]).json()
    refresh(oauth, body["refresh_token"])  # reuse: revocation
    secrets_seen = [
        user["password"],
        emulator.atlas.dev_user_password,
        code,
        verifier,
        body["access_token"],
        body["refresh_token"],
        rotated["access_token"],
        rotated["refresh_token"],
    ]
    journal = json.dumps(emulator.journal())
    assert "/authorize" in journal
    assert "/oauth/token" in journal
    # The emulator's own records (the test's httpx/httpcore are the browser's side).
    logs = "\n".join(
        f"{r.getMessage()} {r.exc_text or ''}"
        for r in caplog.records
        if r.name.startswith(("fluidstack.emulator", "uvicorn"))
    )
    assert "/authorize" in logs
    for secret in secrets_seen:
        assert secret not in journal
        assert secret not in logs


def test_development_passwords_are_random_per_run_even_with_a_seed() -> None:
    passwords = []
    for _ in range(2):
        settings = EmulatorSettings(port=0, manual_clock=True, seed=7)
        with EmulatorServer(settings) as server:
            handle = EmulatorHandle(
                server.base_url, server.api_key, control_token=server.control_token
            )
            try:
                passwords.append(handle.atlas.dev_user_password)
                assert handle.atlas.dev_user_email == DEV_ATLAS_USER_EMAIL
            finally:
                handle.close()
    assert passwords[0] != passwords[1]
    assert all(len(p) >= 16 for p in passwords)


def test_with_no_control_the_flow_works_with_real_credentials_only() -> None:
    settings = EmulatorSettings(
        port=0,
        manual_clock=True,
        control=False,
        atlas_users=["ada@example.com:s3cret-pw", f"bo@example.com:pw2:{DEV_ATLAS_CLIENT_ID}"],
    )
    with EmulatorServer(settings) as server:
        handle = EmulatorHandle(server.base_url, server.api_key, control_token="any-token")
        try:
            with pytest.raises(EmulatorControlError, match="404"):
                _ = handle.atlas.dev_user_password
            verifier, challenge = pkce()
            with pytest.raises(EmulatorControlError, match="Wrong e-mail or password"):
                handle.atlas.login(
                    REDIRECT, challenge, "s", email=DEV_ATLAS_USER_EMAIL, password="x"
                )
            location = handle.atlas.login(
                REDIRECT, challenge, "s", email="ada@example.com", password="s3cret-pw"
            )
            with httpx.Client(base_url=server.base_url) as oauth:
                token = exchange(oauth, code_of(location)[0], verifier)
            assert token.status_code == 200
        finally:
            handle.close()
    assert "s3cret-pw" not in repr(settings)


# -- flags and persistence --------------------------------------------------------------


def test_atlas_user_flags() -> None:
    parser = build_parser()
    settings = settings_from_args(
        parser.parse_args(
            ["--atlas-client", "a:1", "--atlas-client", "b:2", "--atlas-user", "x@y.z:pw:b"]
        )
    )
    assert settings.effective_atlas_users == [("x@y.z", "pw", "b")]
    for bad in ("x@y.z", "x@y.z:", "nope:pw", "x@y.z:p:w:q", "x@y.z: pw"):
        with pytest.raises(SystemExit):
            parser.parse_args(["--atlas-user", bad])
    with pytest.raises(ValueError, match="not one of the --atlas-client"):
        EmulatorSettings(atlas_users=["x@y.z:pw:other"])
    with pytest.raises(ValueError, match="twice"):
        EmulatorSettings(atlas_users=["x@y.z:pw", "X@y.z:pw2"])
    with pytest.raises(ValueError) as caught:
        EmulatorSettings(atlas_users=["x@y.z: hidden-password"])
    assert "hidden-password" not in str(caught.value)


def _dev_password(process: subprocess.Popen[str]) -> str:
    assert process.stderr is not None
    for _ in range(10):
        line = process.stderr.readline()
        match = re.search(
            r"development user '([^']+)' logs in at /authorize with the password '([^']+)'", line
        )
        if match:
            assert match.group(1) == DEV_ATLAS_USER_EMAIL
            return match.group(2)
    raise AssertionError("the development user's password was not announced")


def _login(url: str, email: str, password: str) -> Dict[str, Any]:
    handle = EmulatorHandle(url, "unused")
    try:
        verifier, challenge = pkce()
        location = handle.atlas.login(REDIRECT, challenge, "s", email=email, password=password)
    finally:
        handle.close()
    with httpx.Client(base_url=url) as oauth:
        answer = exchange(oauth, code_of(location)[0], verifier)
    assert answer.status_code == 200, answer.text
    body: Dict[str, Any] = answer.json()
    return body


def test_refresh_tokens_and_users_survive_kill_9_with_db(
    tmp_path: Path, processes: List[subprocess.Popen[str]]
) -> None:
    db = str(tmp_path / "atlas.db")
    process, url = start_emulator("--db", db, "--no-control")
    processes.append(process)
    first_password = _dev_password(process)
    body = _login(url, DEV_ATLAS_USER_EMAIL, first_password)
    with httpx.Client(base_url=url) as oauth:
        rotated = refresh(oauth, body["refresh_token"]).json()
    process.send_signal(signal.SIGKILL)
    process.communicate(timeout=10)

    process, url = start_emulator("--db", db, "--no-control")
    processes.append(process)
    second_password = _dev_password(process)
    assert second_password != first_password  # a new password every run
    with pytest.raises(EmulatorControlError, match="Wrong e-mail or password"):
        _login(url, DEV_ATLAS_USER_EMAIL, first_password)
    with httpx.Client(base_url=url) as oauth:
        # The access token and the current refresh token outlive the restart...
        orgs = httpx.get(
            url + "/api/v1alpha1/organizations",
            headers={"authorization": f"Bearer {rotated['access_token']}"},
        )
        assert orgs.status_code == 200
        assert refresh(oauth, rotated["refresh_token"]).status_code == 200
        # ... and so does what reuse detection needs: the retired token still revokes.
        assert refresh(oauth, body["refresh_token"]).json()["error"] == "invalid_grant"
    assert _login(url, DEV_ATLAS_USER_EMAIL, second_password)["refresh_token"]
    raw = Path(db).read_bytes()
    for secret in (first_password, second_password, body["refresh_token"]):
        assert secret.encode() not in raw
