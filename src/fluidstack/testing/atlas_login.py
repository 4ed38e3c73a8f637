"""The browser login of the pytest handle, ``handle.atlas.login`` and
``handle.atlas.login_tokens``: a mixin of :class:`~fluidstack.testing.handle.AtlasControl`,
kept apart so that each module stays short."""

from __future__ import annotations

import base64
import hashlib
import secrets
from html.parser import HTMLParser
from typing import Any, Dict, List, Optional, Protocol, Tuple
from urllib.parse import parse_qs, urlsplit

import httpx

from fluidstack.emulator.settings import DEV_ATLAS_PUBLIC_CLIENT_ID
from fluidstack.testing.errors import EmulatorControlError

__all__ = ["ATLAS_AUDIENCE", "DEFAULT_LOGIN_SCOPE", "BrowserLogin"]

ATLAS_AUDIENCE = "https://api.fluidstack.io"
DEFAULT_LOGIN_SCOPE = "openid profile email offline_access"


class _Emulator(Protocol):
    """What the login needs of the handle: its address and control connection."""

    base_url: str
    _http: httpx.Client


class BrowserLogin:
    """Logs users in at ``/authorize`` as a browser (and fluidctl) would."""

    public_client_id = DEV_ATLAS_PUBLIC_CLIENT_ID
    """The emulator's public OAuth client of the browser login (``fs-emulator-cli``)."""
    _handle: _Emulator

    def _dev(self) -> Dict[str, Any]:
        raise NotImplementedError

    def login(
        self,
        redirect_uri: str,
        code_challenge: str,
        state: Optional[str],
        scope: str = DEFAULT_LOGIN_SCOPE,
        email: Optional[str] = None,
        password: Optional[str] = None,
        client_id: Optional[str] = None,
    ) -> str:
        """Log in at ``/authorize`` as a browser would (``GET`` the page, ``POST`` its form)
        with the public client and an S256 ``code_challenge``; returns the redirect's
        ``Location`` (``redirect_uri?code=...&state=...``). Default: the development user
        and the emulator's public client (``client_id`` may name fluidctl's).

        Raises :class:`EmulatorControlError` when the page refuses the request or the
        credentials (the password is never in the message).
        """
        if email is None:
            email = str(self._dev()["email"])
            if password is None:
                password = str(self._dev()["password"])
        if password is None:
            raise ValueError("give the user's password (only the development user's is known)")
        params = {
            "response_type": "code",
            "client_id": client_id or self.public_client_id,
            "redirect_uri": redirect_uri,
            "code_challenge": code_challenge,
            "code_challenge_method": "S256",
            "scope": scope,
            "audience": ATLAS_AUDIENCE,
        }
        if state is not None:
            params["state"] = state
        base = self._handle.base_url
        with httpx.Client(base_url=base, follow_redirects=False, timeout=30.0) as browser:
            page = browser.get("/authorize", params=params)
            if page.status_code != 200:
                raise EmulatorControlError(
                    f"GET /authorize answered {page.status_code}: {_page_error(page.text)}"
                )
            form = _FormReader.read(page.text)
            answer = browser.post(
                "/authorize",
                data={**form, "email": email, "password": password},
                headers={"origin": base},
            )
        if answer.status_code != 302:
            raise EmulatorControlError(
                f"POST /authorize answered {answer.status_code}: {_page_error(answer.text)}"
            )
        return str(answer.headers["location"])

    def login_tokens(
        self,
        email: Optional[str] = None,
        password: Optional[str] = None,
        client_id: Optional[str] = None,
        redirect_uri: str = "http://127.0.0.1:5173/callback",
    ) -> Dict[str, Any]:
        """The whole browser login of a user (default: the development user): ``login``
        with a fresh PKCE pair, then the code exchange with its ``code_verifier``, as
        fluidctl does. Returns the token endpoint's answer (``access_token``,
        ``refresh_token``, ``expires_in``, ``scope``)."""
        verifier = secrets.token_hex(32)  # as fluidctl makes it
        digest = hashlib.sha256(verifier.encode("ascii")).digest()
        challenge = base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")
        client_id = client_id or self.public_client_id
        location = self.login(redirect_uri, challenge, None, email=email, password=password,
                              client_id=client_id)  # fmt: skip
        form = {
            "grant_type": "authorization_code",
            "client_id": client_id,
            "code": parse_qs(urlsplit(location).query)["code"][0],
            "redirect_uri": redirect_uri,
            "code_verifier": verifier,
        }
        answer = self._handle._http.post("/oauth/token", data=form)
        if answer.status_code != 200:
            raise EmulatorControlError(f"the code exchange answered {answer.status_code}")
        result: Dict[str, Any] = answer.json()
        return result


class _FormReader(HTMLParser):
    """The hidden fields of the login page's form, and its error message."""

    def __init__(self) -> None:
        super().__init__()
        self.hidden: Dict[str, str] = {}
        self.errors: List[str] = []
        self._in_error = False

    def handle_starttag(self, tag: str, attrs: List[Tuple[str, Optional[str]]]) -> None:
        values = dict(attrs)
        if tag == "input" and values.get("type") == "hidden" and values.get("name"):
            self.hidden[str(values["name"])] = values.get("value") or ""
        self._in_error = tag == "p" and values.get("class") == "error"

    def handle_endtag(self, tag: str) -> None:
        self._in_error = False

    def handle_data(self, data: str) -> None:
        if self._in_error and data.strip():
            self.errors.append(data.strip())

    @classmethod
    def read(cls, text: str) -> Dict[str, str]:
        reader = cls()
        reader.feed(text)
        return reader.hidden


def _page_error(text: str) -> str:
    reader = _FormReader()
    reader.feed(text)
    return "; ".join(reader.errors) or "no error shown"
