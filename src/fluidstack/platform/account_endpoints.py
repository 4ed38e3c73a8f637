"""The platform API's account endpoints (user details, balance, API keys, the browser
login flow, payments, health) and its SSH keys. Pure, like
:mod:`fluidstack.platform.endpoints`, which re-exports every name here.

A module of its own so that only a call on the account or on SSH keys builds these
endpoints and the account models they parse into; a listing of instances does not
(issue 24, sixth round).
"""

from __future__ import annotations

from typing import Any, Dict, List, Optional, Sequence

from ..core.endpoint import Endpoint
from .types.account import (
    APIKeyResponse,
    CreatePaymentResponse,
    HealthCheckOutSchema,
    SSHKeyResponse,
    User,
    UserBalanceResponse,
)

__all__ = [
    "AUTH_CALLBACK",
    "AUTH_SESSION",
    "AUTH_URL",
    "AUTH_USER",
    "CREATE_API_KEY",
    "CREATE_PAYMENT_INTENT",
    "DELETE_API_KEY",
    "GET_BALANCE",
    "HEALTHCHECK",
    "LIST_API_KEYS",
    "SSH_KEYS",
    "SSH_KEY_CREATE",
    "SSH_KEY_DELETE",
    "UPDATE_COMPANY_DETAILS",
    "find_stored",
]

HEALTHCHECK: Endpoint[HealthCheckOutSchema] = Endpoint(
    "healthcheck", "GET", "/healthcheck", HealthCheckOutSchema, authenticated=False
)

UPDATE_COMPANY_DETAILS: Endpoint[User] = Endpoint(
    "user.update_company_details", "PUT", "/user/company-details", User
)
GET_BALANCE: Endpoint[UserBalanceResponse] = Endpoint(
    "user.get_balance", "GET", "/user/balance", UserBalanceResponse
)

LIST_API_KEYS: Endpoint[List[APIKeyResponse]] = Endpoint(
    "api_keys.list", "GET", "/api_keys", List[APIKeyResponse]
)
CREATE_API_KEY: Endpoint[APIKeyResponse] = Endpoint(
    "api_keys.create", "POST", "/api_keys", APIKeyResponse, idempotent=False
)
DELETE_API_KEY: Endpoint[None] = Endpoint(
    "api_keys.delete", "DELETE", "/api_keys/{api_key_id}", None
)

# The browser login flow authenticates with the `wos_session` cookie, not the API key.
AUTH_URL: Endpoint[str] = Endpoint("auth.get_url", "GET", "/auth/url", str, authenticated=False)
AUTH_CALLBACK: Endpoint[Dict[str, Any]] = Endpoint(
    "auth.get_callback", "GET", "/auth/callback", Dict[str, Any], authenticated=False
)
AUTH_SESSION: Endpoint[Dict[str, Any]] = Endpoint(
    "auth.get_session", "GET", "/auth/session", Dict[str, Any], authenticated=False
)
AUTH_USER: Endpoint[Dict[str, Any]] = Endpoint(
    "auth.get_user", "GET", "/auth/user", Dict[str, Any], authenticated=False
)

CREATE_PAYMENT_INTENT: Endpoint[CreatePaymentResponse] = Endpoint(
    "payments.create_intent",
    "POST",
    "/payments/create-intent",
    CreatePaymentResponse,
    idempotent=False,
)

# -- SSH keys, addressed by name.

SSH_KEYS: Endpoint[List[SSHKeyResponse]] = Endpoint(
    "ssh_keys.list", "GET", "/ssh_keys", List[SSHKeyResponse]
)
SSH_KEY_CREATE: Endpoint[SSHKeyResponse] = Endpoint(
    "ssh_keys.create", "POST", "/ssh_keys", SSHKeyResponse, idempotent=False
)
SSH_KEY_DELETE: Endpoint[None] = Endpoint(
    "ssh_keys.delete", "DELETE", "/ssh_keys/{ssh_key_name}", None
)


def find_stored(
    keys: Sequence[SSHKeyResponse], name: str, public_key: str
) -> Optional[SSHKeyResponse]:
    """The key a create stored, if the listing shows the same name and the same key."""
    for key in keys:
        if key.name == name and (key.public_key or "").split()[:2] == public_key.split()[:2]:
            return key
    return None
