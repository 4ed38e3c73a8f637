"""``LeanRequest`` (what the pipeline hands ``AioHttpClient``): the URL text and header
pairs it sends without httpx's building are exactly what httpx's ``build_request``
makes, and anything that reads the request gets httpx's own objects."""

from __future__ import annotations

from typing import Any, Dict, List, Optional, Tuple

import httpx
import pytest

from fluidstack.core.config import finish_config
from fluidstack.core.endpoint import Endpoint
from fluidstack.core.request import LeanRequest, RequestParts, build_request, request_path

KEY = "fs-unit-key-0123456789abcdef"
GET: Endpoint[Any] = Endpoint("things.get", "GET", "/things/{thing_id}", None)
LIST: Endpoint[Any] = Endpoint("things.list", "GET", "/things", None)
CREATE: Endpoint[Any] = Endpoint("things.create", "POST", "/things", None, idempotent=False)
EMPTY_POST: Endpoint[Any] = Endpoint("things.poke", "POST", "/things/poke", None)
PUBLIC: Endpoint[Any] = Endpoint("auth.url", "GET", "/auth/url", None, authenticated=False)


def parts(base_url: str, endpoint: Endpoint[Any], **kwargs: Any) -> RequestParts:
    config = finish_config(
        base_url=base_url,
        api_key=KEY,
        timeout=10.0,
        max_retries=2,
        total_timeout=None,
        follow_redirects=True,
        default_headers={"X-Team": "ml"},
        hooks=None,
    )
    return build_request(config, endpoint, **kwargs)


def lean_client(**kwargs: Any) -> httpx.AsyncClient:
    http = httpx.AsyncClient(**kwargs)
    http._sends_lean_requests = True  # type: ignore[attr-defined]
    return http


def as_pairs(headers: httpx.Headers) -> List[Tuple[str, str]]:
    return [(k.decode("latin-1"), v.decode("latin-1")) for k, v in headers.raw]


CASES: List[Tuple[str, Endpoint[Any], Dict[str, Any], Dict[str, Any]]] = [
    ("http://127.0.0.1:8000", GET, {"path_params": {"thing_id": "a/b c?d#é"}}, {}),
    ("https://API.Example.test:443/v1/", LIST, {"query": {"page": 2, "all": True}}, {}),
    ("http://[::1]:9000/api", LIST, {"query": {"q": "a b&c=d/é", "n": None}}, {}),
    ("https://api.example.test", CREATE, {"body": {"name": "é"}}, {}),
    ("https://api.example.test", CREATE, {"body": {"name": "x"}, "headers": {"accept": "*/*"}}, {}),
    ("https://api.example.test", EMPTY_POST, {}, {}),
    ("https://api.example.test", PUBLIC, {"form": {"a": "1"}}, {}),
    ("https://api.example.test", PUBLIC, {}, {"headers": {"api-key": KEY, "X-Team": "x"}}),
    ("http://localhost", LIST, {"request_options": None}, {"headers": {"User-Agent": "mine"}}),
]


@pytest.mark.parametrize(("base_url", "endpoint", "call", "client"), CASES)
def test_a_lean_request_sends_what_httpx_would_build(
    base_url: str, endpoint: Endpoint[Any], call: Dict[str, Any], client: Dict[str, Any]
) -> None:
    call = {k: v for k, v in call.items() if k != "request_options"}
    for headers_on_client in (False, True):
        described = parts(base_url, endpoint, headers_on_client=headers_on_client, **call)
        http = lean_client(**client)
        expected = described.build_httpx(http)
        lean = described.build(http)
        assert type(lean) is LeanRequest
        wire = lean.wire()
        assert wire is not None
        assert wire == (str(expected.url), as_pairs(expected.headers))
        assert request_path(lean) == expected.url.path
        assert lean.content == expected.content
        assert lean.method == expected.method
        # Reading it gives httpx's own objects; the transport then sends those.
        assert lean.url == expected.url
        assert lean.wire() is None
        assert as_pairs(lean.headers) == as_pairs(expected.headers)
        assert request_path(lean) == expected.url.path


def test_a_change_to_the_headers_is_what_gets_sent() -> None:
    lean = parts("https://api.example.test", LIST).build(lean_client())
    assert isinstance(lean, LeanRequest)
    lean.headers["authorization"] = "Bearer t"
    assert lean.wire() is None
    assert lean.headers["authorization"] == "Bearer t"


@pytest.mark.parametrize(
    ("base_url", "call", "client"),
    [
        ("https://user:pw@api.example.test", {}, {}),  # user info: httpx's auth applies
        ("https://api.example.test/a b", {}, {}),  # a path httpx escapes
        ("https://api.example.test/v1/../v2", {}, {}),  # a path httpx normalises
        ("https://api.example.test", {"headers": {"Accept": "*/*"}}, {}),  # sent twice
        ("https://api.example.test", {}, {"cookies": {"wos_session": "s"}}),  # cookies
        ("https://api.example.test", {}, {"params": {"debug": "1"}}),  # client params
    ],
)
def test_httpx_builds_what_a_lean_request_cannot_say(
    base_url: str, call: Dict[str, Any], client: Dict[str, Any]
) -> None:
    described = parts(base_url, LIST, **call)
    request: Optional[httpx.Request] = described.build(lean_client(**client))
    assert type(request) is httpx.Request


def test_a_header_httpx_cannot_encode_is_refused_as_httpx_refuses_it() -> None:
    with pytest.raises(UnicodeEncodeError):
        parts("https://api.example.test", LIST, headers={"x-name": "é"}).build(lean_client())


def test_a_client_that_does_not_ask_for_them_gets_httpx_requests() -> None:
    assert type(parts("https://api.example.test", LIST).build(httpx.AsyncClient())) is (
        httpx.Request
    )


def test_a_change_to_the_clients_headers_between_calls_is_sent() -> None:
    """The client's decoded headers are kept from call to call: a change must show."""
    http = lean_client(headers={"X-Trace": "1"})
    described = parts("https://api.example.test", LIST)
    for value in ("1", "2"):
        http.headers["X-Trace"] = value
        lean = described.build(http)
        assert isinstance(lean, LeanRequest)
        wire = lean.wire()
        assert wire is not None
        assert ("X-Trace", value) in wire[1]
        assert wire == (str(described.build_httpx(http).url), as_pairs(lean.headers))
    http.headers = httpx.Headers([("X-Trace", "1"), ("X-Trace", "2")])  # repeated
    assert type(described.build(http)) is httpx.Request
