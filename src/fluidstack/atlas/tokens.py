"""Access tokens: what the token endpoint answers, when a token needs replacing, and how
a failure to get one is reported. Pure functions; the I/O is in ``_async/auth.py``."""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Dict, Optional

from ..core.config import Secret
from ..core.errors import ApiError, TokenError, TokenRateLimitError

if TYPE_CHECKING:
    from .token_endpoint import TOKEN, TokenResponse

__all__ = [
    "TOKEN",
    "CachedToken",
    "IssuedToken",
    "TokenResponse",
    "client_credentials_form",
    "jwt_claims",
    "jwt_expiry",
    "refresh_token_form",
    "token_error",
]

REFRESH_MARGIN = 60.0
"""Seconds before expiry at which a token is replaced (at most 10 % of its lifetime)."""


def client_credentials_form(client_id: str, client_secret: Secret, audience: str) -> Dict[str, str]:
    """The client-credentials grant as FluidStack's own clients send it: credentials in
    the form body, an ``audience``, no scope."""
    return {
        "grant_type": "client_credentials",
        "client_id": client_id,
        "client_secret": client_secret.reveal(),
        "audience": audience,
    }


def refresh_token_form(
    client_id: str, refresh_token: Secret, client_secret: Optional[Secret]
) -> Dict[str, str]:
    """The refresh-token grant: a new access token (and, with rotation, a new refresh
    token) for the login that ``refresh_token`` came from."""
    form = {
        "grant_type": "refresh_token",
        "client_id": client_id,
        "refresh_token": refresh_token.reveal(),
    }
    if client_secret is not None:
        form["client_secret"] = client_secret.reveal()
    return form


@dataclass(frozen=True)
class IssuedToken:
    """A token the client obtained, as given to ``Atlas(on_token=...)``: keep it (e.g. in
    a 0600 file) to start the next process without a new login. Both tokens show as
    ``[redacted]``; ``.reveal()`` gives them."""

    access_token: Secret
    refresh_token: Optional[Secret]
    """The refresh token to use from now on (a rotated one replaces the old), or
    ``None`` when the grant gave none (client credentials)."""
    expires_at: Optional[float]
    """When the access token expires, in epoch seconds (``None`` when unknown)."""


def jwt_claims(token: str) -> Dict[str, Any]:
    """The claims of a JWT, read without verifying its signature (only the server can);
    empty when ``token`` is not a JWT."""
    parts = token.split(".")
    if len(parts) != 3:
        return {}
    payload = parts[1] + "=" * (-len(parts[1]) % 4)
    try:
        claims = json.loads(base64.urlsafe_b64decode(payload))
    except (binascii.Error, ValueError):
        return {}
    return claims if isinstance(claims, dict) else {}


def jwt_expiry(token: str) -> Optional[float]:
    """The JWT's ``exp`` claim (epoch seconds), unverified; ``None`` without one."""
    exp = jwt_claims(token).get("exp")
    if isinstance(exp, (int, float)) and not isinstance(exp, bool):
        return float(exp)
    return None


@dataclass(frozen=True)
class CachedToken:
    """A token and when to replace it."""

    value: Secret
    refresh_at: Optional[float]
    """On the monotonic clock; ``None`` when its lifetime is unknown: it is used until
    the server refuses it."""
    expires_at: Optional[float] = None
    """In epoch seconds, when known."""

    @classmethod
    def issued(
        cls, value: Secret, expires_in: Optional[float], now: float, wall_now: float
    ) -> CachedToken:
        """A token received at ``now`` (monotonic) / ``wall_now`` (epoch seconds).

        Its lifetime is the shorter of ``expires_in`` and what its JWT ``exp`` claim says:
        either may be missing, and a server whose clock disagrees with ours states an
        ``exp`` that does not match its ``expires_in``.
        """
        lifetimes = []
        if expires_in is not None and expires_in > 0:
            lifetimes.append(float(expires_in))
        exp = jwt_expiry(value.reveal())
        if exp is not None:
            lifetimes.append(exp - wall_now)
        if not lifetimes:
            return cls(value, None)
        life = max(0.0, min(lifetimes))
        return cls(value, now + life - min(REFRESH_MARGIN, life * 0.1), wall_now + life)

    def fresh(self, now: float) -> bool:
        """Whether the token can still be sent at ``now`` (monotonic)."""
        return self.refresh_at is None or now < self.refresh_at


def token_error(url: str, error: ApiError) -> TokenError:
    """The :class:`TokenError` for a failed token request: which endpoint, and why."""
    if error.status_code is None:
        return TokenError(
            f"could not reach the token endpoint {url}: {error.message}",
            url=url,
        )
    body = error.body if isinstance(error.body, dict) else {}
    code = body.get("error") if isinstance(body.get("error"), str) else None
    description = body.get("error_description")
    description = description if isinstance(description, str) else None
    if code is None and not (400 <= error.status_code < 500):
        reason = f"it answered {error}"
    elif code is None:
        reason = f"it refused the request: {error}"
    else:
        reason = code + (f" ({description})" if description else "")
        if code in ("invalid_client", "access_denied", "unauthorized_client"):
            reason += ": check the client id and secret"
    if error.status_code == 429:
        # Already retried as long as the budget allowed; raised as the API's 429s are,
        # with the answer's headers (its Retry-After).
        limited = TokenRateLimitError(
            f"the token endpoint {url} gave no access token: {reason}",
            url=url,
            error=code,
            error_description=description,
            status_code=429,
        )
        limited.headers = dict(error.headers)
        return limited
    return TokenError(
        f"the token endpoint {url} gave no access token: {reason}",
        url=url,
        error=code,
        error_description=description,
        status_code=error.status_code,
    )


def __getattr__(name: str) -> Any:
    # The token endpoint's pydantic model is loaded with the first token request, not
    # with the client: building pydantic's BaseModel machinery cost a quarter of
    # ``from fluidstack.atlas import Atlas`` (issue 24).
    if name in ("TOKEN", "TokenResponse"):
        from . import token_endpoint

        return getattr(token_endpoint, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
