"""Building one call's request from an :class:`~fluidstack.core.endpoint.Endpoint`, the
client's configuration and the call's ``request_options`` (headers, query, body,
idempotency key). Pure: raises on bad input before any I/O."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Dict, Mapping, Optional, Tuple, Union
from urllib.parse import quote, urlencode

import httpx

from .config import ClientConfig
from .endpoint import Endpoint
from .errors import (
    MissingApiKeyError,
)
from .request_options import RequestOptions, option

__all__ = ["RequestParts", "build_request"]


def _format_path(template: str, path_params: Optional[Mapping[str, str]]) -> str:
    if not path_params:
        return template
    quoted = {}
    for name, value in path_params.items():
        text = str(value)
        if not text:
            raise ValueError(f"{name} must be a non-empty string")
        # Quote everything, "/" included, so an id can never reach another route.
        quoted[name] = quote(text, safe="")
    return template.format(**quoted)


def _query_value(value: Any) -> Any:
    if isinstance(value, bool):
        return "true" if value else "false"
    return value


@dataclass(frozen=True)
class RequestParts:
    """Everything ``httpx.Client.build_request`` needs for one call."""

    method: str
    url: str
    params: Optional[Dict[str, Any]]
    headers: Dict[str, str]
    content: Optional[bytes]
    drop: Tuple[str, ...] = ()
    """Headers of the httpx client this call must not send (the API key, on a call that
    needs none)."""

    def build(self, http: Union[httpx.Client, httpx.AsyncClient]) -> httpx.Request:
        # Through the client, so that its cookies (the login session) and headers apply.
        request = http.build_request(
            self.method, self.url, params=self.params, headers=self.headers, content=self.content
        )
        for name in self.drop:
            request.headers.pop(name, None)
        return request


def build_request(
    config: ClientConfig,
    endpoint: Endpoint[Any],
    *,
    path_params: Optional[Mapping[str, str]] = None,
    query: Optional[Mapping[str, Any]] = None,
    body: Optional[Mapping[str, Any]] = None,
    form: Optional[Mapping[str, str]] = None,
    options: Optional[RequestOptions] = None,
    headers: Optional[Mapping[str, str]] = None,
    base_url: Optional[str] = None,
    headers_on_client: bool = False,
) -> RequestParts:
    """Describe the request of one call. Raises before any I/O on bad input.

    ``body`` is sent as JSON, ``form`` as ``application/x-www-form-urlencoded`` (OAuth
    token requests). ``base_url`` replaces the client's for this call (an Atlas region,
    the token endpoint). ``headers_on_client``: the httpx client already carries the
    client's fixed headers (``config.headers``), so they are not sent again per call.
    """
    if endpoint.authenticated and config.uses_api_key and config.api_key is None:
        raise MissingApiKeyError(
            "no API key: pass api_key=... to the client or set the FLUIDSTACK_API_KEY "
            "environment variable"
        )
    url = (base_url or config.base_url) + _format_path(endpoint.path, path_params)
    request_headers = {} if headers_on_client else dict(config.headers)
    drop: Tuple[str, ...] = ()
    if not endpoint.authenticated:
        if headers_on_client and "api-key" in config.headers:
            drop = ("api-key",)
        request_headers.pop("api-key", None)
    if headers:
        request_headers.update(headers)
    params: Dict[str, Any] = {}
    if query:
        params = {k: _query_value(v) for k, v in query.items() if v is not None}
    content: Optional[bytes] = None
    if options:
        extra_headers = options.get("additional_headers")
        if extra_headers:
            request_headers.update({k.lower(): v for k, v in extra_headers.items()})
        extra_query = options.get("additional_query_parameters")
        if extra_query:
            params.update({k: _query_value(v) for k, v in extra_query.items()})
        extra_body = options.get("additional_body_parameters")
        if extra_body and body is not None:
            body = {**body, **extra_body}
    if body is not None:
        content = json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode()
        request_headers["content-type"] = "application/json"
    elif form is not None:
        content = urlencode(form).encode("ascii")
        request_headers["content-type"] = "application/x-www-form-urlencoded"
    if (
        not endpoint.idempotent
        and endpoint.sends_idempotency_key
        and "idempotency-key" not in request_headers
    ):
        # One key per call, the same on every attempt: a server that honours it
        # performs the call once however many times the SDK has to send it.
        key = option(options, "idempotency_key")
        import uuid  # here: it imports `platform`, 2 ms of every start-up otherwise

        request_headers["idempotency-key"] = key or str(uuid.uuid4())
    return RequestParts(endpoint.method, url, params or None, request_headers, content, drop)
