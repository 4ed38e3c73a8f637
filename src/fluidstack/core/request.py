"""Building one call's request from an :class:`~fluidstack.core.endpoint.Endpoint`, the
client's configuration and the call's ``request_options`` (headers, query, body,
idempotency key). Pure: raises on bad input before any I/O."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any, Dict, List, Mapping, Optional, Tuple, Union
from urllib.parse import quote, unquote, urlencode

import httpx

from .config import ClientConfig
from .endpoint import Endpoint
from .errors import (
    MissingApiKeyError,
)
from .request_options import RequestOptions, option

__all__ = ["LeanRequest", "RequestParts", "build_request", "request_path"]


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
        """The ``httpx.Request`` for ``http``: a :class:`LeanRequest` for a client that
        sends those (``AioHttpClient``) when nothing needs httpx's own building."""
        if getattr(http, "_sends_lean_requests", False):
            lean = LeanRequest.of(self, http)
            if lean is not None:
                return lean
        return self.build_httpx(http)

    def build_httpx(self, http: Union[httpx.Client, httpx.AsyncClient]) -> httpx.Request:
        """The request as httpx's ``build_request`` makes it."""
        # Through the client, so that its cookies (the login session) and headers apply.
        request = http.build_request(
            self.method, self.url, params=self.params, headers=self.headers, content=self.content
        )
        for name in self.drop:
            request.headers.pop(name, None)
        return request


_BASES: Dict[str, Optional[Tuple[str, str]]] = {}
"""Each scheme-and-host a lean request started from: httpx's spelling of it (host in
lower case, a default port left out) and its ``Host`` header, or ``None`` when it has
parts a lean request does not handle (user info)."""

_PLAIN_PATH = re.compile(r"(?:[A-Za-z0-9\-._~!$&'()*+,;=:@/]|%[0-9A-Fa-f]{2})*")
"""A path httpx sends as it is: nothing to percent-encode (a ``%`` starts an escape)."""


def _lean_origin(origin: str) -> Optional[Tuple[str, str]]:
    if origin in _BASES:
        return _BASES[origin]
    parsed = httpx.URL(origin)  # raises httpx.InvalidURL as build_request would
    known = None
    if parsed.scheme in ("http", "https") and parsed.host and not parsed.userinfo:
        known = (str(parsed.copy_with(raw_path=b"")), parsed.netloc.decode("ascii"))
    if len(_BASES) < 64:
        _BASES[origin] = known
    return known


_LAST_CLIENT_HEADERS: Tuple[List[Tuple[bytes, bytes]], Optional[Dict[str, Tuple[str, str]]]]
_LAST_CLIENT_HEADERS = ([], {})
"""The last client's raw headers and their decoded form: decoding them on every call was
~3% of a quick call. One entry (read and replaced whole, so threads may share it)."""


def _client_headers(raw: List[Tuple[bytes, bytes]]) -> Optional[Dict[str, Tuple[str, str]]]:
    """A client's headers by lower-case name, as (name, value) text; ``None`` if a name
    repeats. Do not change the result: it is shared between calls."""
    global _LAST_CLIENT_HEADERS
    last = _LAST_CLIENT_HEADERS
    if raw == last[0]:
        return last[1]
    decoded: Dict[str, Tuple[str, str]] = {}
    result: Optional[Dict[str, Tuple[str, str]]] = decoded
    for raw_key, raw_value in raw:
        key = raw_key.decode("latin-1")
        if key.lower() in decoded:
            result = None
            break
        decoded[key.lower()] = (key, raw_value.decode("latin-1"))
    _LAST_CLIENT_HEADERS = (raw, result)
    return result


class LeanRequest(httpx.Request):
    """An ``httpx.Request`` whose URL and headers are built by httpx only when something
    reads them (an event hook, auth, a redirect, an error message); until then the
    transport sends the URL text and header pairs made here, which are what httpx would
    have built (a test compares both). On ``AioHttpClient`` this saves parsing the URL
    and merging and encoding the headers: a sixth of a call.

    Only made for a request httpx sends as given: an ``http`` or ``https`` URL without
    user info whose path needs no escaping, ASCII headers, no cookies or query
    parameters on the client."""

    _parts: Tuple[RequestParts, Union[httpx.Client, httpx.AsyncClient]]
    _wire: Optional[Tuple[str, List[Tuple[str, str]]]]
    _path: str
    _url: Optional[httpx.URL]
    _headers: Optional[httpx.Headers]

    @classmethod
    def of(
        cls, parts: RequestParts, http: Union[httpx.Client, httpx.AsyncClient]
    ) -> Optional[LeanRequest]:
        """The lean request for ``parts`` on ``http``, or ``None`` when it needs httpx."""
        if http.cookies.jar or http.params:
            return None
        url = parts.url
        scheme_end = url.find("://")
        path_at = url.find("/", scheme_end + 3) if scheme_end > 0 else -1
        if path_at < 0:
            return None
        origin = _lean_origin(url[:path_at])
        path = url[path_at:]
        if origin is None or "/." in path or not _PLAIN_PATH.fullmatch(path):
            return None  # httpx would escape or normalise something: let it
        # The headers as httpx merges them: the client's, less those the call sets
        # (names compared case-insensitively), then the call's; the host first.
        client_headers = _client_headers(http.headers.raw)
        if client_headers is None:
            return None  # a repeated header: httpx's merge keeps both
        merged = dict(client_headers)
        called: Dict[str, Tuple[str, str]] = {}
        for key, value in parts.headers.items():
            if not (key.isascii() and value.isascii()) or key.lower() in called:
                return None  # httpx's own encoding decides (and refuses)
            merged.pop(key.lower(), None)
            called[key.lower()] = (key, value)
        merged.update(called)
        for name in parts.drop:
            merged.pop(name, None)
        if "host" in merged or "content-length" in merged or "transfer-encoding" in merged:
            return None
        pairs = [("Host", origin[1]), *merged.values()]
        if parts.content:
            pairs.append(("Content-Length", str(len(parts.content))))
        elif parts.method.upper() in ("POST", "PUT", "PATCH"):
            pairs.insert(1, ("Content-Length", "0"))
        query = "?" + str(httpx.QueryParams(parts.params)) if parts.params else ""
        request = cls.__new__(cls)
        request.method = parts.method.upper()
        request.extensions = {}
        content = parts.content or b""
        request.stream = httpx.ByteStream(content)
        request._content = content
        request._parts = (parts, http)
        request._wire = (origin[0] + path + query, pairs)
        request._path = unquote(path)
        request._url = None
        request._headers = None
        return request

    def wire(self) -> Optional[Tuple[str, List[Tuple[str, str]]]]:
        """The URL text and header pairs to send, while httpx has not built its own."""
        return self._wire

    def _built(self) -> httpx.Request:
        parts, http = self._parts
        built = parts.build_httpx(http)
        self._url, self._headers, self._wire = built.url, built.headers, None
        return built

    @property
    def url(self) -> httpx.URL:
        if self._url is None:
            self._built()
        assert self._url is not None
        return self._url

    @url.setter
    def url(self, value: httpx.URL) -> None:
        if self._url is None:
            self._built()
        self._url = value

    @property
    def headers(self) -> httpx.Headers:
        if self._headers is None:
            self._built()
        assert self._headers is not None
        return self._headers

    @headers.setter
    def headers(self, value: httpx.Headers) -> None:
        if self._headers is None:
            self._built()
        self._headers = value


def request_path(request: httpx.Request) -> str:
    """The path of ``request`` (decoded, as ``request.url.path``), for hooks and logs."""
    if type(request) is LeanRequest and request._url is None:
        return request._path
    return request.url.path


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
