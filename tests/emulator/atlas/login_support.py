"""What the Atlas browser-login tests share: a PKCE pair as fluidctl makes one, the
``/authorize`` query, and the token requests a CLI sends after it (``exchange``,
``refresh``), against the emulator. The ``browser`` and ``oauth`` clients are fixtures in
this folder's ``conftest.py``."""

from __future__ import annotations

import base64
import hashlib
import secrets
from typing import Any, Dict, Optional, Tuple
from urllib.parse import parse_qs, urlsplit

import httpx

from fluidstack.emulator import DEV_ATLAS_PUBLIC_CLIENT_ID
from fluidstack.testing import EmulatorHandle

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
