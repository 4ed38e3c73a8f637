"""fluidctl's own browser login against the emulator, step by step as fluidctl makes it
(its built-in public client id, redirect ``http://localhost:5173``, scopes
``openid profile email offline_access``, a hex verifier and its S256 challenge, the
``audience`` on the authorize URL, then Go oauth2's code exchange)."""

from __future__ import annotations

import base64
import hashlib
import secrets
import time
from typing import Dict
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx
import jwt
import pytest

from fluidstack.emulator import FLUIDCTL_PUBLIC_CLIENT_ID
from fluidstack.testing import EmulatorHandle

REDIRECT = "http://localhost:5173"
SCOPES = "openid profile email offline_access"


def fluidctl_authorize_url(base: str, challenge: str, state: str) -> str:
    """What fluidctl's ``config.AuthCodeURL(state, challenge method, challenge, audience)``
    gives, against the emulator instead of oauth.fluidstack.io."""
    query = {
        "client_id": FLUIDCTL_PUBLIC_CLIENT_ID,
        "code_challenge": challenge,
        "code_challenge_method": "S256",
        "redirect_uri": REDIRECT,
        "response_type": "code",
        "scope": SCOPES,
        "state": state,
        "audience": "https://api.fluidstack.io",
    }
    return f"{base}/authorize?{urlencode(query)}"


def pkce_pair() -> tuple[str, str]:
    verifier = secrets.token_hex(32)  # fluidctl: the hex of 32 random bytes
    digest = hashlib.sha256(verifier.encode()).digest()
    return verifier, base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def exchange(base: str, code: str, verifier: str, in_header: bool) -> httpx.Response:
    """Go oauth2's ``Exchange``: the client in HTTP Basic with an empty secret first
    (AuthStyleInHeader), else in the form (AuthStyleInParams)."""
    form: Dict[str, str] = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": REDIRECT,
        "code_verifier": verifier,
    }
    headers = {}
    if in_header:
        basic = base64.b64encode(f"{FLUIDCTL_PUBLIC_CLIENT_ID}:".encode()).decode()
        headers["authorization"] = f"Basic {basic}"
    else:
        form["client_id"] = FLUIDCTL_PUBLIC_CLIENT_ID
    return httpx.post(f"{base}/oauth/token", data=form, headers=headers)


@pytest.mark.parametrize("in_header", [True, False], ids=["basic-empty-secret", "form"])
def test_fluidctl_browser_login_end_to_end(emulator: EmulatorHandle, in_header: bool) -> None:
    base = emulator.base_url
    verifier, challenge = pkce_pair()
    state = secrets.token_hex(24)
    # The browser opens fluidctl's URL: the login page, not a refusal.
    page = httpx.get(fluidctl_authorize_url(base, challenge, state))
    assert page.status_code == 200
    assert FLUIDCTL_PUBLIC_CLIENT_ID in page.text
    # The user logs in; the browser lands on fluidctl's listener with the code.
    location = emulator.atlas.login(
        REDIRECT, challenge, state, scope=SCOPES, client_id=FLUIDCTL_PUBLIC_CLIENT_ID
    )
    assert location.startswith(REDIRECT + "?")
    query = parse_qs(urlsplit(location).query)
    assert query["state"] == [state]
    answer = exchange(base, query["code"][0], verifier, in_header)
    assert answer.status_code == 200, answer.text
    tokens = answer.json()
    assert tokens["scope"] == SCOPES
    assert tokens["refresh_token"]  # offline_access
    # fluidctl keeps the access token while its exp (read unverified) is in the future.
    claims = jwt.decode(tokens["access_token"], options={"verify_signature": False})
    assert abs(claims["exp"] - (time.time() + tokens["expires_in"])) <= 2
    assert claims["exp"] > time.time()
    assert claims["email"] == emulator.atlas.dev_user_email
    auth = {"authorization": f"Bearer {tokens['access_token']}"}
    assert httpx.get(f"{base}/api/v1alpha1/organizations", headers=auth).status_code == 200


def test_the_code_is_bound_to_fluidctls_client(emulator: EmulatorHandle) -> None:
    verifier, challenge = pkce_pair()
    location = emulator.atlas.login(REDIRECT, challenge, "s", client_id=FLUIDCTL_PUBLIC_CLIENT_ID)
    code = parse_qs(urlsplit(location).query)["code"][0]
    other = httpx.post(
        f"{emulator.base_url}/oauth/token",
        data={
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": REDIRECT,
            "code_verifier": verifier,
            "client_id": emulator.atlas.public_client_id,
        },
    )
    assert other.json()["error"] == "invalid_grant"


def test_a_secret_in_basic_is_still_refused_for_a_public_client(
    emulator: EmulatorHandle,
) -> None:
    basic = base64.b64encode(f"{FLUIDCTL_PUBLIC_CLIENT_ID}:secret".encode()).decode()
    answer = httpx.post(
        f"{emulator.base_url}/oauth/token",
        data={"grant_type": "authorization_code", "code": "x", "redirect_uri": REDIRECT,
              "code_verifier": "v" * 43},
        headers={"authorization": f"Basic {basic}"},
    )  # fmt: skip
    assert answer.status_code == 400
    assert answer.json()["error"] == "invalid_request"
