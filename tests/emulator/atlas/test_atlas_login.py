"""Atlas browser login: ``/authorize`` with PKCE, the whole flow, the requests it refuses,
secrecy, the user flags and persistence. The tokens it gives (the authorization-code and
refresh-token grants, rotation and reuse detection, expiry, users, isolation) are tested
in ``test_atlas_login_tokens.py``."""

from __future__ import annotations

import base64
import json
import logging
import re
import signal
import subprocess
from pathlib import Path
from typing import Any, Dict, List, Optional

import httpx
import jwt
import pytest
from login_support import (
    AUDIENCE,
    REDIRECT,
    SCOPE,
    authorize_params,
    bearer,
    code_of,
    exchange,
    pkce,
    refresh,
)
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
