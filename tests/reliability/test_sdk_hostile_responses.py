"""Hostile input to the SDK: whatever a server or proxy sends back, the SDK raises only
``ApiError`` subclasses with a useful message, never a bare parsing exception."""

from __future__ import annotations

import json
from typing import Any, Callable, List

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fluidstack.client import FluidStack
from fluidstack.core import ApiError, InternalServerError, ResponseValidationError
from support import INSTANCE

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda children: (
        st.lists(children, max_size=5) | st.dictionaries(st.text(), children, max_size=5)
    ),
    max_leaves=20,
)

valid_instance = json.dumps(INSTANCE).encode()

bodies = st.one_of(
    json_values.map(lambda v: json.dumps(v).encode()),
    st.binary(max_size=300),
    st.integers(min_value=0, max_value=len(valid_instance)).map(lambda n: valid_instance[:n]),
    st.just(b"<html><head><title>502 Bad Gateway</title></head><body>nginx</body></html>"),
    st.just(b"\xff\xfe\x00garbage"),
    # A valid instance with one field's value replaced by something of the wrong type.
    st.tuples(st.sampled_from(sorted(INSTANCE)), json_values).map(
        lambda kv: json.dumps({**INSTANCE, kv[0]: kv[1]}).encode()
    ),
)

statuses = st.sampled_from(
    [200, 201, 202, 204, 301, 400, 401, 403, 404, 409, 418, 422, 429, 500, 502]
)
content_types = st.sampled_from(["application/json", "text/html", "text/plain", ""])
# A proxy may claim a compression the body does not have.
content_encodings = st.sampled_from(["", "", "gzip", "deflate", "br", "zstd", "bogus"])

CALLS: List[Callable[[FluidStack], Any]] = [
    lambda c: c.instances.list(),
    lambda c: c.instances.get("i-1"),
    lambda c: c.instances.create(gpu_type="T4_16GB", ssh_key="k"),
    lambda c: c.instances.delete("i-1"),
    lambda c: c.ssh_keys.list(),
    lambda c: c.configurations.list(),
    lambda c: c.user.get_balance(),
    lambda c: c.auth.get_url(),
]


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    status=statuses,
    body=bodies,
    content_type=content_types,
    content_encoding=content_encodings,
    call=st.sampled_from(CALLS),
)
def test_any_response_yields_a_result_or_an_api_error(
    status: int,
    body: bytes,
    content_type: str,
    content_encoding: str,
    call: Callable[[FluidStack], Any],
) -> None:
    headers = {"content-type": content_type} if content_type else {}
    if content_encoding:
        headers["content-encoding"] = content_encoding

    def handler(request: httpx.Request) -> httpx.Response:
        # Every request gets it, the listing a create's recovery makes included.
        return httpx.Response(status, content=body, headers=headers)

    with FluidStack(
        api_key="k",
        base_url="https://api.test",
        max_retries=0,
        httpx_client=httpx.Client(transport=httpx.MockTransport(handler)),
    ) as client:
        error = None
        try:
            call(client)
        except ApiError as exc:
            error = exc
    if error is not None:
        text = str(error)
        assert text
        assert "\n" not in text
        if error.status_code is not None:
            assert error.status_code == status or isinstance(error, ResponseValidationError)


@pytest.mark.parametrize("size", [10_000])
def test_huge_listing_parses(size: int) -> None:
    payload = json.dumps([{**INSTANCE, "id": f"i-{n}"} for n in range(size)]).encode()

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=payload)

    with FluidStack(
        api_key="k",
        base_url="https://api.test",
        httpx_client=httpx.Client(transport=httpx.MockTransport(handler)),
    ) as client:
        instances = client.instances.list()
    assert len(instances) == size
    assert instances[-1].id == f"i-{size - 1}"


def test_huge_error_page_gives_a_short_message() -> None:
    page = b"<html>" + b"x" * 2_000_000 + b"</html>"

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(503, content=page, headers={"content-type": "text/html"})

    with (
        FluidStack(
            api_key="k",
            base_url="https://api.test",
            max_retries=0,
            httpx_client=httpx.Client(transport=httpx.MockTransport(handler)),
        ) as client,
        pytest.raises(InternalServerError) as info,
    ):
        client.instances.list()
    assert len(str(info.value)) < 400
    assert info.value.body == page.decode()
