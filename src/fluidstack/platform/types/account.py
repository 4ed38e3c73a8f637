"""Models of SSH keys, API keys, the user, payments and health."""

from __future__ import annotations

import datetime as dt
from typing import List, Optional, Union

from pydantic import Field

from ...core.models import FluidStackModel

__all__ = [
    "APIKeyResponse",
    "ApiKeyResponse",
    "CreatePaymentResponse",
    "HTTPValidationError",
    "HealthCheckOutSchema",
    "SSHKeyResponse",
    "SshKeyResponse",
    "User",
    "UserBalanceResponse",
    "ValidationError",
]


class SSHKeyResponse(FluidStackModel):
    """An SSH public key stored in the account. Keys are addressed by name."""

    name: str
    public_key: Optional[str] = None


SshKeyResponse = SSHKeyResponse
"""Alias of :class:`SSHKeyResponse`."""


class APIKeyResponse(FluidStackModel):
    """An API key. ``api_key`` (the secret) is only present right after creation."""

    id: str
    name: Optional[str] = None
    api_key: Optional[str] = Field(default=None, repr=False)


ApiKeyResponse = APIKeyResponse
"""Alias of :class:`APIKeyResponse`."""


class UserBalanceResponse(FluidStackModel):
    """The account's credit balance, in USD."""

    balance: float


class User(FluidStackModel):
    """The account's user and company details."""

    id: str
    first_name: Optional[str] = None
    last_name: Optional[str] = None
    email: str
    stripe_customer_id: Optional[str] = None
    workos_user_id: str
    workos_organization_id: Optional[str] = None
    is_banned: bool = False
    created_at: Optional[dt.datetime] = None
    updated_at: Optional[dt.datetime] = None
    auto_topup_enabled: bool = False
    auto_topup_amount: int = 0
    auto_topup_minimum_balance: int = 0
    company_name: Optional[str] = None
    company_vat_number: Optional[str] = None
    company_address: Optional[str] = None
    company_tax_id: Optional[str] = None
    company_contact_info: Optional[str] = None
    auto_terminate_on_depletion: bool = True


class CreatePaymentResponse(FluidStackModel):
    """A payment intent; pass ``client_secret`` to the payment form."""

    client_secret: Optional[str] = Field(default=None, repr=False)


class HealthCheckOutSchema(FluidStackModel):
    """The API's health."""

    status: str = "ok"


class ValidationError(FluidStackModel):
    """One problem in a 422 response."""

    loc: List[Union[str, int]]
    msg: str
    type: str


class HTTPValidationError(FluidStackModel):
    """The body of a 422 response."""

    detail: List[ValidationError] = Field(default_factory=list)
