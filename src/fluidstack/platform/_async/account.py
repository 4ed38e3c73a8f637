"""``client.user``, ``client.api_keys``, ``client.auth`` and ``client.payments``."""

from __future__ import annotations

from typing import Any, Dict, List, Optional

from ...core._async._resource import AsyncResource, raw_method
from ...core.request_options import RequestOptions
from .. import endpoints as api
from ..types.account import APIKeyResponse, CreatePaymentResponse, User, UserBalanceResponse

__all__ = [
    "AsyncApiKeysResource",
    "AsyncApiKeysResourceWithRawResponse",
    "AsyncAuthResource",
    "AsyncAuthResourceWithRawResponse",
    "AsyncPaymentsResource",
    "AsyncPaymentsResourceWithRawResponse",
    "AsyncUserResource",
    "AsyncUserResourceWithRawResponse",
]


class AsyncUserResource(AsyncResource):
    """The account's user: company details and credit balance."""

    @property
    def with_raw_response(self) -> AsyncUserResourceWithRawResponse:
        """The same methods, returning a :class:`~fluidstack.core.RawResponse`."""
        return AsyncUserResourceWithRawResponse(self)

    async def update_company_details(
        self,
        *,
        company_name: Optional[str] = None,
        company_vat_number: Optional[str] = None,
        company_address: Optional[str] = None,
        company_tax_id: Optional[str] = None,
        company_contact_info: Optional[str] = None,
        request_options: Optional[RequestOptions] = None,
    ) -> User:
        """Update the company details used on invoices; fields left ``None`` are not sent."""
        fields = {
            "company_name": company_name,
            "company_vat_number": company_vat_number,
            "company_address": company_address,
            "company_tax_id": company_tax_id,
            "company_contact_info": company_contact_info,
        }
        body = {k: v for k, v in fields.items() if v is not None}
        return await self._pipeline.call(
            api.UPDATE_COMPANY_DETAILS, body=body, request_options=request_options
        )

    async def get_balance(
        self, *, request_options: Optional[RequestOptions] = None
    ) -> UserBalanceResponse:
        """The account's remaining credit, in USD."""
        return await self._pipeline.call(api.GET_BALANCE, request_options=request_options)


class AsyncApiKeysResource(AsyncResource):
    """API keys of the account."""

    @property
    def with_raw_response(self) -> AsyncApiKeysResourceWithRawResponse:
        """The same methods, returning a :class:`~fluidstack.core.RawResponse`."""
        return AsyncApiKeysResourceWithRawResponse(self)

    async def list(
        self, *, request_options: Optional[RequestOptions] = None
    ) -> List[APIKeyResponse]:
        """List the account's API keys (without their secrets)."""
        return await self._pipeline.call(api.LIST_API_KEYS, request_options=request_options)

    async def create(
        self, *, name: str, request_options: Optional[RequestOptions] = None
    ) -> APIKeyResponse:
        """Create an API key. Its secret, ``api_key``, is only returned now: store it."""
        if not name:
            raise ValueError("name must be a non-empty string")
        return await self._pipeline.call(
            api.CREATE_API_KEY, body={"name": name}, request_options=request_options
        )

    async def delete(
        self, api_key_id: str, *, request_options: Optional[RequestOptions] = None
    ) -> None:
        """Revoke an API key by id."""
        await self._pipeline.call(
            api.DELETE_API_KEY,
            path_params={"api_key_id": api_key_id},
            request_options=request_options,
        )


def _session_cookie(wos_session: Optional[str]) -> Optional[Dict[str, str]]:
    return None if wos_session is None else {"cookie": f"wos_session={wos_session}"}


class AsyncAuthResource(AsyncResource):
    """The browser login flow. The session travels in the ``wos_session`` cookie.

    ``get_callback`` stores the cookie the server sets in the client, so the later calls
    carry it; or pass ``wos_session=`` explicitly.
    """

    @property
    def with_raw_response(self) -> AsyncAuthResourceWithRawResponse:
        """The same methods, returning a :class:`~fluidstack.core.RawResponse`."""
        return AsyncAuthResourceWithRawResponse(self)

    async def get_url(self, *, request_options: Optional[RequestOptions] = None) -> str:
        """The URL to open in a browser to log in."""
        return await self._pipeline.call(api.AUTH_URL, request_options=request_options)

    async def get_callback(
        self, code: str, *, request_options: Optional[RequestOptions] = None
    ) -> Dict[str, Any]:
        """Exchange the login ``code`` for a session (the server sets ``wos_session``)."""
        return await self._pipeline.call(
            api.AUTH_CALLBACK, query={"code": code}, request_options=request_options
        )

    async def get_session(
        self, *, wos_session: Optional[str] = None, request_options: Optional[RequestOptions] = None
    ) -> Dict[str, Any]:
        """Refresh the current session."""
        return await self._pipeline.call(
            api.AUTH_SESSION, headers=_session_cookie(wos_session), request_options=request_options
        )

    async def get_user(
        self, *, wos_session: Optional[str] = None, request_options: Optional[RequestOptions] = None
    ) -> Dict[str, Any]:
        """The user of the current session."""
        return await self._pipeline.call(
            api.AUTH_USER, headers=_session_cookie(wos_session), request_options=request_options
        )


class AsyncPaymentsResource(AsyncResource):
    """Adding credit."""

    @property
    def with_raw_response(self) -> AsyncPaymentsResourceWithRawResponse:
        """The same methods, returning a :class:`~fluidstack.core.RawResponse`."""
        return AsyncPaymentsResourceWithRawResponse(self)

    async def create_intent(
        self,
        *,
        amount: int,
        currency: str = "usd",
        request_options: Optional[RequestOptions] = None,
    ) -> CreatePaymentResponse:
        """Start a payment of ``amount`` (in the currency's smallest unit, e.g. cents)."""
        if isinstance(amount, bool) or amount <= 0:
            raise ValueError("amount must be a positive integer")
        return await self._pipeline.call(
            api.CREATE_PAYMENT_INTENT,
            body={"amount": amount, "currency": currency},
            request_options=request_options,
        )


class AsyncUserResourceWithRawResponse:
    """``client.user.with_raw_response``."""

    def __init__(self, resource: AsyncUserResource) -> None:
        self.update_company_details = raw_method(resource.update_company_details)
        self.get_balance = raw_method(resource.get_balance)


class AsyncApiKeysResourceWithRawResponse:
    """``client.api_keys.with_raw_response``."""

    def __init__(self, resource: AsyncApiKeysResource) -> None:
        self.list = raw_method(resource.list)
        self.create = raw_method(resource.create)
        self.delete = raw_method(resource.delete)


class AsyncAuthResourceWithRawResponse:
    """``client.auth.with_raw_response``."""

    def __init__(self, resource: AsyncAuthResource) -> None:
        self.get_url = raw_method(resource.get_url)
        self.get_callback = raw_method(resource.get_callback)
        self.get_session = raw_method(resource.get_session)
        self.get_user = raw_method(resource.get_user)


class AsyncPaymentsResourceWithRawResponse:
    """``client.payments.with_raw_response``."""

    def __init__(self, resource: AsyncPaymentsResource) -> None:
        self.create_intent = raw_method(resource.create_intent)
