"""The OAuth2 token endpoint and its answer's model (a pydantic model: loaded with the
first token request, so that importing the Atlas client stays cheap)."""

from __future__ import annotations

from typing import Optional

from pydantic import BaseModel, ConfigDict, SecretStr

from ..core.endpoint import Endpoint

__all__ = ["TOKEN", "TokenResponse"]


class TokenResponse(BaseModel):
    """An OAuth2 token endpoint's answer. Tokens show as ``**********`` in reprs."""

    # Unknown fields are dropped rather than kept: one might be another credential.
    model_config = ConfigDict(extra="ignore", defer_build=True)

    access_token: SecretStr
    token_type: str = "Bearer"
    expires_in: Optional[float] = None
    """Seconds the token is valid for, counted from when it was issued."""
    refresh_token: Optional[SecretStr] = None


# The token endpoint is an endpoint like any other: same timeouts, retries and hooks.
# Asking for a token twice is harmless, so it is retried after any transient failure.
TOKEN: Endpoint[TokenResponse] = Endpoint(
    "oauth.token", "POST", "", TokenResponse, authenticated=False
)
