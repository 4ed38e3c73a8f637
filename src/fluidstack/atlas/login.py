"""Logging a person in with a browser: OAuth2 authorization code with PKCE (S256).

The pure half of the flow, shared by both clients; ``Atlas.finish_browser_login`` does
the one request (the code exchange). A program drives it like this::

    login = atlas.start_browser_login(redirect_uri="http://localhost:5173")
    webbrowser.open(login.url)            # the person logs in; the browser is sent to
    query = ...                           # redirect_uri?code=...&state=...
    issued = atlas.finish_browser_login(login, query)
"""

from __future__ import annotations

import base64
import hashlib
import secrets
from dataclasses import dataclass, field
from typing import Dict, Mapping
from urllib.parse import urlencode, urlsplit

from ..core.config import Secret, is_loopback
from ..core.errors import TokenError
from .settings import DEFAULT_SCOPE

__all__ = ["DEFAULT_SCOPE", "AuthorizationCodeLogin"]


def _challenge(verifier: str) -> str:
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).decode("ascii").rstrip("=")


@dataclass(frozen=True)
class AuthorizationCodeLogin:
    """One browser login in progress: where to send the person, and what to check on the
    way back. Its verifier and state are fresh random values, never shown in a repr."""

    client_id: str
    redirect_uri: str
    authorize_url: str
    token_url: str
    audience: str
    scope: str = DEFAULT_SCOPE
    verifier: Secret = field(default_factory=lambda: Secret(secrets.token_urlsafe(48)), repr=False)
    state: Secret = field(default_factory=lambda: Secret(secrets.token_urlsafe(24)), repr=False)

    def __post_init__(self) -> None:
        parts = urlsplit(self.redirect_uri)
        if parts.scheme != "http" or not is_loopback(parts.hostname or "") or not parts.port:
            raise ValueError(
                "redirect_uri must be a loopback address with a port, e.g. "
                f"http://localhost:5173 (got {self.redirect_uri!r})"
            )

    @property
    def url(self) -> str:
        """The address to open in the browser."""
        query = {
            "response_type": "code",
            "client_id": self.client_id,
            "redirect_uri": self.redirect_uri,
            "scope": self.scope,
            "audience": self.audience,
            "code_challenge": _challenge(self.verifier.reveal()),
            "code_challenge_method": "S256",
            "state": self.state.reveal(),
        }
        return f"{self.authorize_url}?{urlencode(query)}"

    def code_from(self, query: Mapping[str, str]) -> str:
        """The authorization code in the redirect's query, after checking its ``state``.

        Raises :class:`TokenError` when the server reported an error, the state does not
        match (the redirect is not the answer to this login: possibly forged), or there is
        no code.
        """
        error = query.get("error")
        if error:
            description = query.get("error_description")
            raise TokenError(
                f"the login was refused: {error}" + (f" ({description})" if description else ""),
                url=self.authorize_url,
                error=error,
                error_description=description,
            )
        if not secrets.compare_digest(query.get("state", ""), self.state.reveal()):
            raise TokenError(
                "the login's answer does not carry this login's state: ignored (it may be "
                "forged); start the login again",
                url=self.authorize_url,
            )
        code = query.get("code", "")
        if not code:
            raise TokenError("the login's answer has no authorization code", url=self.authorize_url)
        return code

    def token_form(self, code: str) -> Dict[str, str]:
        """The authorization-code grant, with the PKCE verifier."""
        return {
            "grant_type": "authorization_code",
            "client_id": self.client_id,
            "code": code,
            "redirect_uri": self.redirect_uri,
            "code_verifier": self.verifier.reveal(),
        }
