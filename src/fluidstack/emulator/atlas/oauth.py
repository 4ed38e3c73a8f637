"""Atlas's OAuth2 endpoints: ``POST /oauth/token`` and the browser login ``/authorize``.

Grants of the token endpoint:

- ``client_credentials`` (machine access; client id and secret in the body or HTTP Basic);
- ``authorization_code`` with PKCE (S256), for the public clients (``fs-emulator-cli``,
  and fluidctl's built-in ``diPhN35HH6jVXs615vsafkdIQM4Y5rF8``), after a user logged in
  at ``/authorize`` (what ``fluidctl`` does against ``https://oauth.fluidstack.io``,
  NOTES.md section 3);
- ``refresh_token``, which rotates the refresh token (see :mod:`.users`).

``/authorize`` is what a browser sees: ``GET`` checks the request and answers a login
page; ``POST`` (the page's form) checks the e-mail and password and redirects to the
client's loopback ``redirect_uri`` with a one-time ``code`` and the ``state``. A request
that cannot be trusted (an unknown client, a redirect that is not loopback, no S256
challenge) gets a 400 page, never a redirect: redirecting would hand a code, or at least
an error, to a page the user did not choose.
"""

from __future__ import annotations

import base64
import binascii
import html
import json
import re
from dataclasses import dataclass
from typing import Any, Dict, List, Optional, Tuple
from urllib.parse import parse_qsl, unquote_plus, urlencode, urlsplit

from fluidstack.emulator.atlas.state import AtlasState
from fluidstack.emulator.atlas.tokens import AUDIENCE
from fluidstack.emulator.atlas.users import PUBLIC_CLIENTS, GrantError
from fluidstack.emulator.encoding import dumps
from fluidstack.emulator.throttle import Throttled

__all__ = [
    "AUTHORIZE_PATH",
    "NO_STORE",
    "TOKEN_PATH",
    "OAuthError",
    "Page",
    "authorize",
    "issue_token",
]

TOKEN_PATH = "/oauth/token"
AUTHORIZE_PATH = "/authorize"
NO_STORE = [(b"cache-control", b"no-store"), (b"pragma", b"no-cache")]
DEFAULT_SCOPE = "openid profile email"
"""What a login grants when its request names no scope (no ``offline_access``, so no
refresh token)."""

_CHALLENGE = re.compile(r"^[A-Za-z0-9_-]{43}$")
"""An S256 challenge: base64url of a SHA-256 digest, unpadded (RFC 7636 section 4.2)."""
_SCOPE_TOKEN = re.compile(r"^[\x21\x23-\x5b\x5d-\x7e]{1,128}$")
"""A scope token (RFC 6749 section 3.3)."""
_LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1")
_MAX_FIELD = 2048


class OAuthError(Exception):
    """An error of the token endpoint, in RFC 6749's shape."""

    def __init__(self, status: int, error: str, description: str) -> None:
        super().__init__(description)
        self.status = status
        self.error = error
        self.description = description


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def form_params(headers: Dict[str, str], body: bytes) -> Dict[str, str]:
    """A form-urlencoded or JSON-object body as strings; a repeated parameter is refused."""
    media = headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if media == "application/json" or media.endswith("+json"):
        try:
            data = json.loads(body, parse_constant=_no_constant) if body.strip() else {}
        except (ValueError, RecursionError):
            raise OAuthError(400, "invalid_request", "The body is not valid JSON") from None
        if not isinstance(data, dict):
            raise OAuthError(400, "invalid_request", "The body must be a JSON object")
        params: Dict[str, str] = {}
        for key, value in data.items():
            if not isinstance(value, str):
                raise OAuthError(400, "invalid_request", f"'{key[:40]}' must be a string")
            params[key] = value
        return _unicode_checked(params)
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise OAuthError(400, "invalid_request", "The body is not valid UTF-8") from None
    try:
        pairs = parse_qsl(text, keep_blank_values=True, strict_parsing=bool(text))
    except ValueError:
        raise OAuthError(400, "invalid_request", "The body is not form-urlencoded") from None
    params = {}
    for key, value in pairs:
        if key in params:
            raise OAuthError(400, "invalid_request", f"Parameter '{key[:40]}' repeated")
        params[key] = value
    return _unicode_checked(params)


def _unicode_checked(params: Dict[str, str]) -> Dict[str, str]:
    for key, value in params.items():
        try:
            key.encode("utf-8")
            value.encode("utf-8")
        except UnicodeEncodeError:  # a lone surrogate from JSON's "\ud800"
            raise OAuthError(400, "invalid_request", "Parameters must be valid Unicode") from None
    return params


def _basic_credentials(headers: Dict[str, str]) -> Optional[Tuple[str, str]]:
    header = headers.get("authorization")
    if header is None:
        return None
    scheme, _, encoded = header.partition(" ")
    if scheme.lower() != "basic":
        raise OAuthError(401, "invalid_client", "Client authentication must use HTTP Basic")
    try:
        decoded = base64.b64decode(encoded.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise OAuthError(401, "invalid_client", "Malformed HTTP Basic credentials") from None
    client_id, sep, secret = decoded.partition(":")
    if not sep:
        raise OAuthError(401, "invalid_client", "Malformed HTTP Basic credentials")
    return unquote_plus(client_id), unquote_plus(secret)


def _required(params: Dict[str, str], *names: str) -> List[str]:
    values = []
    for name in names:
        value = params.get(name, "")
        if not value:
            raise OAuthError(400, "invalid_request", f"Missing parameter '{name}'")
        values.append(value)
    return values


def issue_token(
    state: AtlasState,
    headers: Dict[str, str],
    body: bytes,
    base: str,
    peer: str = "",
) -> bytes:
    """``POST /oauth/token``: the JSON answer of a grant (raises :class:`OAuthError`, or
    :class:`~fluidstack.emulator.throttle.Throttled` after too many wrong secrets)."""
    params = form_params(headers, body)
    grant = params.get("grant_type")
    if not grant:
        raise OAuthError(400, "invalid_request", "Missing parameter 'grant_type'")
    if grant == "client_credentials":
        return _client_credentials(state, headers, params, base, peer)
    if grant in ("authorization_code", "refresh_token"):
        return _user_grant(state, headers, params, grant, base)
    raise OAuthError(
        400,
        "unsupported_grant_type",
        "Supported grants: client_credentials, authorization_code, refresh_token",
    )


def _client_credentials(
    state: AtlasState,
    headers: Dict[str, str],
    params: Dict[str, str],
    base: str,
    peer: str,
) -> bytes:
    basic = _basic_credentials(headers)
    if basic is not None:
        if "client_secret" in params or params.get("client_id", basic[0]) != basic[0]:
            raise OAuthError(
                400, "invalid_request", "Send the client credentials in one place only"
            )
        client_id, secret = basic
    else:
        client_id, secret = _required(params, "client_id", "client_secret")
    state.guesses.check(client_id, peer)  # before the secret: a locked client learns nothing
    org = state.authenticate_client(client_id, secret)
    if org is None:
        state.guesses.failed(client_id, peer)
        raise OAuthError(401, "invalid_client", "Unknown client or wrong client secret")
    audience = params.get("audience")
    if audience is not None and audience != AUDIENCE:
        raise OAuthError(403, "access_denied", f"Unknown audience; use {AUDIENCE}")
    token, expires_in = state.mint_token(org, state.settings.token_ttl, base + "/")
    return dumps({"access_token": token, "token_type": "Bearer", "expires_in": expires_in})


def _user_grant(
    state: AtlasState, headers: Dict[str, str], params: Dict[str, str], grant: str, base: str
) -> bytes:
    """The public client's grants: a code (with its PKCE verifier), or a refresh token."""
    params = _public_client_in_basic(headers, params)
    if "client_secret" in params:
        raise OAuthError(
            400, "invalid_request", "The public client authenticates with PKCE, not a secret"
        )
    if grant == "authorization_code":
        code, redirect_uri, client_id, verifier = _required(
            params, "code", "redirect_uri", "client_id", "code_verifier"
        )
    else:
        (refresh, client_id) = _required(params, "refresh_token", "client_id")
    # The code or refresh token names its client: any other client id is a mismatch
    # (invalid_grant), checked once the grant is found.
    with state.lock:
        try:
            if grant == "authorization_code":
                result = state.logins.exchange_code(code, client_id, redirect_uri, verifier)
            else:
                result = state.logins.use_refresh(refresh, client_id)
        except GrantError as exc:
            raise OAuthError(400, "invalid_grant", str(exc)) from None
        access, expires_in = state.mint_user_token(result.user, result.scope, base + "/")
    answer: Dict[str, Any] = {
        "access_token": access,
        "token_type": "Bearer",
        "expires_in": expires_in,
    }
    if result.refresh_token is not None:
        answer["refresh_token"] = result.refresh_token
    answer["scope"] = result.scope
    return dumps(answer)


def _public_client_in_basic(headers: Dict[str, str], params: Dict[str, str]) -> Dict[str, str]:
    """A public client may name itself in HTTP Basic with an empty secret: Go's oauth2
    (fluidctl's code exchange) tries that first. Anything else in ``Authorization`` is a
    secret, which a public client has none of."""
    header = headers.get("authorization")
    if header is None:
        return params
    refused = OAuthError(
        400, "invalid_request", "The public client authenticates with PKCE, not a secret"
    )
    if not header.lower().startswith("basic "):
        raise refused
    try:
        basic = _basic_credentials(headers)
    except OAuthError:
        raise refused from None
    assert basic is not None
    client_id, secret = basic
    if secret or client_id not in PUBLIC_CLIENTS:
        raise refused
    if params.get("client_id", client_id) != client_id:
        raise OAuthError(400, "invalid_request", "Send the client id in one place only")
    return {**params, "client_id": client_id}


# -- /authorize ------------------------------------------------------------------------


@dataclass(frozen=True)
class Page:
    """An HTML answer (or a redirect) of ``/authorize``."""

    status: int
    body: bytes
    headers: List[Tuple[bytes, bytes]]


_PAGE_HEADERS = [
    (b"content-type", b"text/html; charset=utf-8"),
    *NO_STORE,
    (b"x-frame-options", b"DENY"),
    (
        b"content-security-policy",
        b"default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'; base-uri 'none'",
    ),
    (b"referrer-policy", b"no-referrer"),
    (b"x-content-type-options", b"nosniff"),
]

_STYLE = (
    "body{font-family:system-ui,sans-serif;max-width:24rem;margin:4rem auto;padding:0 1rem}"
    "label{display:block;margin:.8rem 0}input{display:block;width:100%;padding:.4rem}"
    ".error{color:#a40000}button{margin-top:1rem;padding:.5rem 1.5rem}"
)


class LoginRequestError(Exception):
    """A login request that must not be redirected anywhere: answered with a 400 page."""


@dataclass(frozen=True)
class LoginRequest:
    """The parameters of an authorization request, checked."""

    client_id: str
    redirect_uri: str
    challenge: str
    state: Optional[str]
    scope: str
    params: Dict[str, str]
    """The request's parameters as received, carried by the page's hidden fields."""


_REQUEST_FIELDS = (
    "response_type",
    "client_id",
    "redirect_uri",
    "code_challenge",
    "code_challenge_method",
    "state",
    "scope",
    "audience",
)


def _loopback_redirect(uri: str) -> bool:
    """``http://127.0.0.1:PORT/...``, ``http://localhost:PORT/...`` or ``http://[::1]:PORT/...``
    (any port, RFC 8252 section 7.3), without credentials or a fragment."""
    try:
        parts = urlsplit(uri)
        port = parts.port
    except ValueError:
        return False
    return (
        parts.scheme == "http"
        and parts.hostname in _LOOPBACK_HOSTS
        and port is not None
        and port > 0
        and "@" not in parts.netloc
        and not parts.fragment
        and "#" not in uri
        and all(0x21 <= ord(c) <= 0x7E for c in uri)
    )


def check_login_request(params: Dict[str, str]) -> LoginRequest:
    """Validate an authorization request (``GET`` query or ``POST`` hidden fields)."""
    for name in _REQUEST_FIELDS:
        value = params.get(name)
        if value is not None and (
            len(value) > _MAX_FIELD or any(ord(c) < 32 or ord(c) == 127 for c in value)
        ):
            raise LoginRequestError(f"Parameter '{name}' is too long or has control characters")
    client_id = params.get("client_id", "")
    if client_id not in PUBLIC_CLIENTS:
        raise LoginRequestError(
            "Unknown client: browser logins use the public client "
            + ", ".join(sorted(PUBLIC_CLIENTS))
        )
    redirect_uri = params.get("redirect_uri", "")
    if not _loopback_redirect(redirect_uri):
        raise LoginRequestError(
            "redirect_uri must be a loopback address with a port: http://127.0.0.1:PORT/..., "
            "http://localhost:PORT/... or http://[::1]:PORT/..."
        )
    if params.get("response_type") != "code":
        raise LoginRequestError("response_type must be 'code'")
    if params.get("code_challenge_method") != "S256":
        raise LoginRequestError("code_challenge_method must be 'S256' (plain is not accepted)")
    challenge = params.get("code_challenge", "")
    if not _CHALLENGE.match(challenge):
        raise LoginRequestError(
            "code_challenge must be the S256 challenge: 43 base64url characters"
        )
    audience = params.get("audience")
    if audience is not None and audience != AUDIENCE:
        raise LoginRequestError(f"Unknown audience; use {AUDIENCE}")
    scope_text = params.get("scope")
    if scope_text is None or not scope_text.strip():
        scope_text = DEFAULT_SCOPE
    tokens = list(dict.fromkeys(scope_text.split()))
    if not all(_SCOPE_TOKEN.match(t) for t in tokens):
        raise LoginRequestError("scope must be space-separated scope names")
    kept = {name: params[name] for name in _REQUEST_FIELDS if name in params}
    return LoginRequest(
        client_id=client_id,
        redirect_uri=redirect_uri,
        challenge=challenge,
        state=params.get("state"),
        scope=" ".join(tokens),
        params=kept,
    )


def _page(status: int, title: str, content: str) -> Page:
    text = (
        '<!doctype html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>{html.escape(title)} · FluidStack emulator</title><style>{_STYLE}</style>"
        f"</head><body><h1>{html.escape(title)}</h1>\n{content}\n</body></html>\n"
    )
    return Page(status, text.encode("utf-8"), list(_PAGE_HEADERS))


def refusal_page(status: int, message: str) -> Page:
    return _page(status, "Login request refused", f'<p class="error">{html.escape(message)}</p>')


def login_page(request: LoginRequest, email: str = "", error: Optional[str] = None) -> Page:
    """The form: e-mail, password, and the request in hidden fields."""
    hidden = "".join(
        f'<input type="hidden" name="{html.escape(name)}" value="{html.escape(value)}">'
        for name, value in request.params.items()
    )
    notice = f'<p class="error" role="alert">{html.escape(error)}</p>' if error else ""
    form = (
        f"<p>Log in to continue to <code>{html.escape(request.client_id)}</code>.</p>{notice}"
        f'<form method="post" action="{AUTHORIZE_PATH}">{hidden}'
        '<label>E-mail <input type="email" name="email" autocomplete="username" required'
        f' value="{html.escape(email)}"></label>'
        '<label>Password <input type="password" name="password"'
        ' autocomplete="current-password" required></label>'
        '<button type="submit">Log in</button></form>'
    )
    return _page(200, "Log in", form)


def _redirect(request: LoginRequest, code: str) -> Page:
    query = {"code": code}
    if request.state is not None:
        query["state"] = request.state
    separator = "&" if urlsplit(request.redirect_uri).query else "?"
    location = request.redirect_uri + separator + urlencode(query)
    headers = [(b"location", location.encode("ascii")), *NO_STORE, (b"content-length", b"0")]
    return Page(302, b"", [*headers, (b"referrer-policy", b"no-referrer")])


def authorize(
    state: AtlasState,
    method: str,
    query: str,
    headers: Dict[str, str],
    body: bytes,
    base: str,
    peer: str = "",
) -> Page:
    """``GET``/``POST /authorize``."""
    if method not in ("GET", "POST"):
        page = refusal_page(405, "Method not allowed")
        return Page(405, page.body, [*page.headers, (b"allow", b"GET, POST")])
    try:
        if method == "GET":
            params = _query_params(query)
        else:
            origin = headers.get("origin")
            if origin is not None and origin.rstrip("/") != base:
                # A form posted from another site (a login CSRF): refuse it.
                return refusal_page(403, "Cross-origin login requests are refused")
            params = form_params(headers, body)
        request = check_login_request(params)
    except (LoginRequestError, OAuthError) as exc:
        return refusal_page(400, str(exc))
    if method == "GET":
        return login_page(request)
    email, password = params.get("email", ""), params.get("password", "")
    if not email or not password:
        return login_page(request, email, "Enter your e-mail and password.")
    try:
        state.guesses.check(email.lower(), peer)
    except Throttled as exc:
        page = refusal_page(429, str(exc).capitalize() + ".")
        return Page(429, page.body, [*page.headers, exc.header])
    user = state.logins.authenticate(email, password)
    if user is None:
        state.guesses.failed(email.lower(), peer)
        # The same answer for an unknown e-mail and a wrong password.
        return login_page(request, email, "Wrong e-mail or password.")
    with state.lock:
        if not state.logins.is_current(user.id, user.org_id):
            return login_page(request, email, "Wrong e-mail or password.")
        code = state.logins.issue_code(
            user, request.client_id, request.redirect_uri, request.challenge, request.scope
        )
    return _redirect(request, code)


def _query_params(query: str) -> Dict[str, str]:
    try:
        pairs = parse_qsl(query, keep_blank_values=True, strict_parsing=bool(query))
    except (ValueError, UnicodeDecodeError):
        raise LoginRequestError("The query string is malformed") from None
    params: Dict[str, str] = {}
    for key, value in pairs:
        if key in params:
            raise LoginRequestError(f"Parameter '{key[:40]}' repeated")
        params[key] = value
    return params
