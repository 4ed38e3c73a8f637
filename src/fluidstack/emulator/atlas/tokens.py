"""Access tokens: HS256 JWTs signed with a key drawn from ``secrets`` per emulator.

``iat``/``exp`` are wall-clock epoch seconds, consistent with the token endpoint's
``expires_in``, and expiry is judged on the wall clock: a client that reads ``exp`` (as
fluidctl does) must agree with the server on when a token dies, and simulated time
runs hours ahead of real time. A test expires every token at once through the control
API instead (a ``gen`` claim older than the state's generation). Verified tokens are
cached, so that a request costs a dictionary lookup rather than an HMAC.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Dict, Optional

import jwt

__all__ = ["AUDIENCE", "TokenClaims", "TokenSigner", "new_signing_key"]

AUDIENCE = "https://api.fluidstack.io"
"""The only ``audience`` the token endpoint accepts (NOTES.md section 3)."""
ALGORITHM = "HS256"
CACHE_LIMIT = 10_000


def new_signing_key() -> str:
    """A fresh signing key (hex), never derived from ``--seed``."""
    return secrets.token_hex(32)


@dataclass(frozen=True)
class TokenClaims:
    subject: str
    org_id: str
    expires: float
    email: Optional[str] = None
    """Set on a user's token (browser login); a client's token has none."""
    generation: int = 0
    """The token generation it was minted in (``gen``): one older than the state's
    current generation was expired by the control API."""


class TokenSigner:
    """Mints and verifies the emulator's access tokens with one secret key."""

    def __init__(self, key_hex: str) -> None:
        self._key = bytes.fromhex(key_hex)
        self._verified: Dict[str, TokenClaims] = {}

    def __repr__(self) -> str:
        return "TokenSigner(key=<redacted>)"

    def mint(
        self,
        subject: str,
        org_id: str,
        issued: float,
        expires: float,
        issuer: str,
        extra: Optional[Dict[str, str]] = None,
        generation: int = 0,
    ) -> str:
        claims: Dict[str, object] = {
            "iss": issuer,
            "sub": subject,
            "aud": AUDIENCE,
            "org_id": org_id,
            "iat": int(issued),
            "exp": int(expires),
        }
        if generation:
            claims["gen"] = generation
        if extra:
            claims.update(extra)
        return jwt.encode(claims, self._key, algorithm=ALGORITHM)

    def verify(self, token: str) -> Optional[TokenClaims]:
        """The token's claims when its signature, algorithm and audience are right."""
        cached = self._verified.get(token)
        if cached is not None:
            return cached
        try:
            claims = jwt.decode(
                token,
                self._key,
                algorithms=[ALGORITHM],
                audience=AUDIENCE,
                options={
                    # The caller checks expiry (and the token generation).
                    "verify_exp": False,
                    "verify_iat": False,
                    "verify_nbf": False,
                    "require": ["exp", "iat", "sub", "aud", "org_id"],
                },
            )
        except (jwt.PyJWTError, ValueError, TypeError):
            return None
        subject, org_id, expires = claims.get("sub"), claims.get("org_id"), claims.get("exp")
        if not isinstance(subject, str) or not isinstance(org_id, str):
            return None
        if not isinstance(expires, (int, float)) or isinstance(expires, bool):
            return None
        email = claims.get("email")
        if email is not None and not isinstance(email, str):
            return None
        generation = claims.get("gen", 0)
        if not isinstance(generation, int) or isinstance(generation, bool):
            return None
        verified = TokenClaims(subject, org_id, float(expires), email, generation)
        if len(self._verified) >= CACHE_LIMIT:
            self._verified.clear()
        self._verified[token] = verified
        return verified
