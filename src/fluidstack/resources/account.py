"""The account: user details, balance, API keys, the browser login flow, payments, health."""

from __future__ import annotations

from typing import Any, Dict, List

from ..core.endpoint import Endpoint
from ..types.account import (
    APIKeyResponse,
    CreatePaymentResponse,
    HealthCheckOutSchema,
    User,
    UserBalanceResponse,
)

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
