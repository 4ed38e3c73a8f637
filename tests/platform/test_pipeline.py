"""The request pipeline, on both clients: retries, delays, timeouts, errors, parsing."""

from __future__ import annotations

import email.utils
import json
import time
from typing import Any, List

import httpx
import pytest

import fluidstack
from fluidstack.client import AsyncFluidStack, FluidStack
from fluidstack.core import (
    ApiConnectionError,
    ApiError,
    ApiTimeoutError,
    AuthenticationError,
    BadRequestError,
    ConflictError,
    InternalServerError,
    MissingApiKeyError,
    NotFoundError,
    NotSupportedError,
    PermissionDeniedError,
    RateLimitError,
    ResponseValidationError,
    UnprocessableEntityError,
)
from fluidstack.types import InstanceResponse, InstanceStatus, ListInstanceResponse
from support import API_KEY, INSTANCE, Harness, json_response, resolve

pytestmark = pytest.mark.anyio


def sequence(*responses: Any) -> Any:
    """A handler answering with each response (or raising each exception) in turn."""
    queue: List[Any] = list(responses)

    def handler(request: httpx.Request) -> httpx.Response:
        item = queue.pop(0) if len(queue) > 1 else queue[0]
        if isinstance(item, Exception):
            raise item
        return item

    return handler


async def test_retries_5xx_with_exponential_backoff_then_succeeds(harness: Harness) -> None:
    client = harness.client(
        sequence(json_response(503), json_response(502), json_response(200, INSTANCE))
    )
    instance = await resolve(client.instances.get("i-1"))
    assert isinstance(instance, InstanceResponse)
    assert len(harness.requests) == 3
    first, second = harness.clock.sleeps
    assert 0.375 <= first <= 0.5
    assert 0.75 <= second <= 1.0


async def test_gives_up_after_max_retries_with_typed_error(harness: Harness) -> None:
    client = harness.client(sequence(json_response(500, {"message": "boom"})))
    with pytest.raises(InternalServerError) as info:
        await resolve(client.instances.get("i-1"))
    assert len(harness.requests) == 3  # default max_retries = 2
    assert info.value.status_code == 500
    assert info.value.body == {"message": "boom"}
    assert str(info.value) == "500 Internal Server Error: boom"


async def test_max_retries_per_client_and_per_request(harness: Harness) -> None:
    client = harness.client(sequence(json_response(503)), max_retries=4)
    with pytest.raises(InternalServerError):
        await resolve(client.instances.get("i-1"))
    assert len(harness.requests) == 5
    harness.requests.clear()
    with pytest.raises(InternalServerError):
        await resolve(client.instances.get("i-1", request_options={"max_retries": 0}))
    assert len(harness.requests) == 1


async def test_backoff_is_capped(harness: Harness) -> None:
    client = harness.client(sequence(json_response(503)), max_retries=7)
    with pytest.raises(InternalServerError):
        await resolve(client.instances.get("i-1"))
    assert max(harness.clock.sleeps) <= 8.0
    assert harness.clock.sleeps[-1] >= 6.0


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({"retry-after": "3"}, 3.0),
        ({"retry-after": "0.25"}, 0.25),
        ({"retry-after-ms": "1500"}, 1.5),
        ({"retry-after-ms": "250", "retry-after": "9"}, 0.25),
    ],
)
async def test_retries_429_honouring_retry_after(
    harness: Harness, headers: dict[str, str], expected: float
) -> None:
    client = harness.client(sequence(json_response(429, headers=headers), json_response(200, [])))
    assert await resolve(client.instances.list()) == []
    assert harness.clock.sleeps == [expected]


async def test_retry_after_as_http_date(harness: Harness) -> None:
    when = email.utils.formatdate(time.time() + 4, usegmt=True)
    client = harness.client(
        sequence(json_response(429, headers={"retry-after": when}), json_response(200, []))
    )
    await resolve(client.instances.list())
    (slept,) = harness.clock.sleeps
    assert 2.0 <= slept <= 4.0


@pytest.mark.parametrize(
    "headers",
    [
        {"retry-after": "soon"},
        {"retry-after": "-5"},
        {"retry-after-ms": "abc"},
        {"retry-after": "3600"},
    ],
)
async def test_malformed_or_huge_retry_after_falls_back_to_backoff(
    harness: Harness, headers: dict[str, str]
) -> None:
    client = harness.client(sequence(json_response(429, headers=headers), json_response(200, [])))
    await resolve(client.instances.list())
    (slept,) = harness.clock.sleeps
    assert 0.375 <= slept <= 0.5


async def test_retries_408(harness: Harness) -> None:
    client = harness.client(sequence(json_response(408), json_response(200, [])))
    await resolve(client.instances.list())
    assert len(harness.requests) == 2


@pytest.mark.parametrize(
    ("status", "error"),
    [
        (400, BadRequestError),
        (401, AuthenticationError),
        (403, PermissionDeniedError),
        (404, NotFoundError),
        (409, ConflictError),
        (422, UnprocessableEntityError),
        (418, ApiError),
    ],
)
async def test_4xx_maps_to_typed_error_and_is_never_retried(
    harness: Harness, status: int, error: type
) -> None:
    client = harness.client(sequence(json_response(status, {"message": "nope"})))
    with pytest.raises(error) as info:
        await resolve(client.instances.get("i-1"))
    assert type(info.value) is error
    assert isinstance(info.value, fluidstack.core.ApiError)
    assert info.value.status_code == status
    assert info.value.body == {"message": "nope"}
    assert len(harness.requests) == 1
    assert "nope" in str(info.value)


async def test_501_is_never_retried_and_names_what_is_not_supported(harness: Harness) -> None:
    client = harness.client(sequence(json_response(501, {"message": "not here"})))
    with pytest.raises(NotSupportedError) as info:
        await resolve(client.instances.stop("i-1"))
    assert isinstance(info.value, InternalServerError)  # still a 5xx for broad handlers
    assert len(harness.requests) == 1
    assert info.value.capability == "instances.stop"
    assert str(info.value) == "501 Not Implemented: instances.stop is not supported (not here)"


async def test_rate_limit_error_after_exhausting_retries(harness: Harness) -> None:
    client = harness.client(sequence(json_response(429, {"message": "slow down"})), max_retries=1)
    with pytest.raises(RateLimitError) as info:
        await resolve(client.instances.list())
    assert info.value.status_code == 429
    assert len(harness.requests) == 2


async def test_422_validation_detail_is_parsed(harness: Harness) -> None:
    body = {
        "detail": [
            {"loc": ["body", "gpu_type"], "msg": "Input should be 'A'", "type": "enum"},
            {"loc": ["body", "ssh_key"], "msg": "Field required", "type": "missing"},
        ]
    }
    client = harness.client(sequence(json_response(422, body)))
    with pytest.raises(UnprocessableEntityError) as info:
        await resolve(client.instances.create(gpu_type="X", ssh_key="k"))
    errors = info.value.errors
    assert [e.field for e in errors] == ["gpu_type", "ssh_key"]
    assert errors[1].msg == "Field required"
    assert str(info.value) == (
        "422 Unprocessable Entity: gpu_type: Input should be 'A'; ssh_key: Field required"
    )


async def test_connection_errors_are_retried_then_raised(harness: Harness) -> None:
    client = harness.client(sequence(httpx.ConnectError("refused")))
    with pytest.raises(ApiConnectionError) as info:
        await resolve(client.instances.list())
    assert info.value.status_code is None
    assert isinstance(info.value.__cause__, httpx.ConnectError)
    assert len(harness.requests) == 3


async def test_read_timeouts_are_retried_for_reads(harness: Harness) -> None:
    client = harness.client(sequence(httpx.ReadTimeout("slow"), json_response(200, [])))
    assert await resolve(client.instances.list()) == []
    assert len(harness.requests) == 2


async def test_timeout_error_after_exhausting_retries(harness: Harness) -> None:
    client = harness.client(sequence(httpx.ReadTimeout("slow")), max_retries=1)
    with pytest.raises(ApiTimeoutError) as info:
        await resolve(client.instances.list())
    assert info.value.status_code is None
    assert isinstance(info.value, ApiConnectionError)


async def test_default_timeout_is_60_seconds() -> None:
    assert FluidStack(api_key="k").timeout == httpx.Timeout(60.0)
    assert AsyncFluidStack(api_key="k").timeout == httpx.Timeout(60.0)


async def test_custom_httpx_client_keeps_its_own_timeout_unless_told(harness: Harness) -> None:
    client = harness.client(sequence(json_response(200, [])))
    await resolve(client.instances.list())
    assert harness.requests[-1].extensions["timeout"]["read"] == 5.0  # httpx's default


async def test_timeout_per_client_and_per_request(harness: Harness) -> None:
    client = harness.client(sequence(json_response(200, [])), timeout=60)
    await resolve(client.instances.list())
    assert harness.requests[-1].extensions["timeout"]["read"] == 60.0
    await resolve(client.instances.list(request_options={"timeout_in_seconds": 20}))
    assert harness.requests[-1].extensions["timeout"] == {
        "connect": 20,
        "read": 20,
        "write": 20,
        "pool": 20,
    }
    other = harness.client(sequence(json_response(200, [])), timeout=httpx.Timeout(5, read=30))
    await resolve(other.instances.list())
    assert harness.requests[-1].extensions["timeout"]["read"] == 30
    assert harness.requests[-1].extensions["timeout"]["connect"] == 5


async def test_total_timeout_bounds_retries_and_backoff(harness: Harness) -> None:
    client = harness.client(sequence(json_response(503)), max_retries=10, total_timeout=2.0)
    with pytest.raises(InternalServerError):
        await resolve(client.instances.get("i-1"))
    assert sum(harness.clock.sleeps) < 2.0
    assert len(harness.requests) < 11


async def test_total_timeout_shrinks_each_attempt(harness: Harness) -> None:
    client = harness.client(sequence(json_response(200, [])))
    await resolve(client.instances.list(request_options={"total_timeout_in_seconds": 3}))
    assert harness.requests[-1].extensions["timeout"]["read"] == 3


async def test_total_timeout_raises_timeout_when_deadline_passes(harness: Harness) -> None:
    def slow(request: httpx.Request) -> httpx.Response:
        harness.clock.advance(5)
        raise httpx.ReadTimeout("slow")

    client = harness.client(slow, total_timeout=4.0)
    with pytest.raises(ApiTimeoutError, match="total timeout of 4s"):
        await resolve(client.instances.list())
    assert len(harness.requests) == 1


async def test_get_pending_instance_answers_202_and_is_not_an_error(harness: Harness) -> None:
    pending = {**INSTANCE, "status": "pending", "ip_address": None}
    client = harness.client(sequence(json_response(202, pending)))
    instance = await resolve(client.instances.get("i-1"))
    assert instance.status is InstanceStatus.PENDING
    assert instance.ip_address is None


@pytest.mark.parametrize(
    ("status", "body"), [(204, None), (200, {"message": "deleted"}), (200, None)]
)
async def test_delete_accepts_200_json_and_204_empty(
    harness: Harness, status: int, body: Any
) -> None:
    client = harness.client(sequence(json_response(status, body)))
    assert await resolve(client.instances.delete("i-1")) is None
    assert harness.requests[0].method == "DELETE"


async def test_unknown_fields_and_enum_values_parse(harness: Harness) -> None:
    body = {
        **INSTANCE,
        "status": "hibernating",
        "brand_new_field": {"x": 1},
        "configuration": {**INSTANCE["configuration"], "region": "MARS_1"},
    }
    client = harness.client(sequence(json_response(200, [body])))
    (instance,) = await resolve(client.instances.list())
    assert isinstance(instance, ListInstanceResponse)
    assert instance.status == "hibernating"
    assert isinstance(instance.status, InstanceStatus)
    assert not instance.status.is_known
    assert instance.configuration.region == "MARS_1"
    assert instance.brand_new_field == {"x": 1}
    assert instance.model_extra == {"brand_new_field": {"x": 1}}


async def test_malformed_success_body_raises_response_validation_error(harness: Harness) -> None:
    client = harness.client(sequence(httpx.Response(200, content=b'{"id": 1')))
    with pytest.raises(ResponseValidationError) as info:
        await resolve(client.instances.get("i-1"))
    assert info.value.status_code == 200
    assert isinstance(info.value, ApiError)


async def test_html_error_page_from_a_proxy(harness: Harness) -> None:
    page = b"<html><body><h1>502 Bad Gateway</h1></body></html>"
    client = harness.client(sequence(httpx.Response(502, content=page)), max_retries=0)
    with pytest.raises(InternalServerError) as info:
        await resolve(client.instances.list())
    assert info.value.body == page.decode()
    assert "502 Bad Gateway" in str(info.value)


async def test_missing_key_fails_before_sending(
    harness: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("FLUIDSTACK_API_KEY", raising=False)
    client = harness.client(sequence(json_response(200, [])), api_key=None)
    with pytest.raises(MissingApiKeyError, match="FLUIDSTACK_API_KEY"):
        await resolve(client.instances.list())
    assert harness.requests == []


async def test_healthcheck_needs_no_key(harness: Harness, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("FLUIDSTACK_API_KEY", raising=False)
    client = harness.client(sequence(json_response(200, {"status": "ok"})), api_key=None)
    assert (await resolve(client.healthcheck())).status == "ok"
    assert "api-key" not in harness.requests[0].headers


async def test_api_key_read_from_environment_when_client_is_built(
    harness: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FLUIDSTACK_API_KEY", "env-key")
    client = harness.client(sequence(json_response(200, [])), api_key=None)
    monkeypatch.setenv("FLUIDSTACK_API_KEY", "changed-later")
    await resolve(client.instances.list())
    assert harness.requests[0].headers["api-key"] == "env-key"


async def test_base_url_from_environment(harness: Harness, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FLUIDSTACK_BASE_URL", "http://127.0.0.1:9999/")
    client = harness.client(sequence(json_response(200, [])), base_url=None)
    await resolve(client.instances.list())
    assert str(harness.requests[0].url) == "http://127.0.0.1:9999/instances"


async def test_sends_user_agent_key_and_json(harness: Harness) -> None:
    created_body = {"id": "i-9", "name": "n", "gpu_type": "T4_16GB"}
    client = harness.client(sequence(json_response(202, created_body)))
    created = await resolve(
        client.instances.create(gpu_type="T4_16GB", ssh_key="laptop", name="n", gpu_count=2)
    )
    assert created.id == "i-9"
    request = harness.requests[0]
    assert request.headers["user-agent"].startswith(f"fluidstack-python/{fluidstack.__version__}")
    assert request.headers["api-key"] == API_KEY
    assert request.headers["content-type"] == "application/json"
    assert json.loads(request.content) == {
        "gpu_type": "T4_16GB",
        "ssh_key": "laptop",
        "name": "n",
        "gpu_count": 2,
    }
    assert request.headers["idempotency-key"]


async def test_additional_headers_query_and_body(harness: Harness) -> None:
    key = {"name": "k", "public_key": "ssh-ed25519 A"}
    client = harness.client(sequence(json_response(200, key)))
    await resolve(
        client.ssh_keys.create(
            name="k",
            public_key="ssh-ed25519 A",
            request_options={
                "additional_headers": {"X-Trace": "abc"},
                "additional_query_parameters": {"dry": True},
                "additional_body_parameters": {"comment": "hi"},
            },
        )
    )
    request = harness.requests[0]
    assert request.headers["x-trace"] == "abc"
    assert request.url.params["dry"] == "true"
    assert json.loads(request.content)["comment"] == "hi"


async def test_path_parameters_are_escaped(harness: Harness) -> None:
    client = harness.client(sequence(json_response(200, INSTANCE)))
    await resolve(client.instances.get("../ssh_keys?x=1"))
    assert harness.requests[0].url.raw_path == b"/instances/..%2Fssh_keys%3Fx%3D1"


async def test_query_parameters_booleans_and_none(harness: Harness) -> None:
    client = harness.client(sequence(json_response(200, [])))
    await resolve(client.instances.list(page=2, include_failed_instances=True))
    await resolve(client.instances.list())
    assert harness.requests[0].url.query == b"page=2&include_failed_instances=true"
    assert harness.requests[1].url.query == b""


async def test_cross_origin_redirect_drops_the_api_key(harness: Harness) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.host == "api.test":
            return httpx.Response(302, headers={"location": "https://elsewhere.test/instances"})
        return json_response(200, [])

    client = harness.client(handler)
    await resolve(client.instances.list())
    assert [r.url.host for r in harness.requests] == ["api.test", "elsewhere.test"]
    assert "api-key" in harness.requests[0].headers
    assert "api-key" not in harness.requests[1].headers


async def test_redirects_can_be_turned_off(harness: Harness) -> None:
    client = harness.client(
        sequence(httpx.Response(301, headers={"location": "https://api.test/x"})),
        follow_redirects=False,
    )
    with pytest.raises(ApiError) as info:
        await resolve(client.instances.list())
    assert info.value.status_code == 301
    assert len(harness.requests) == 1


async def test_key_never_appears_in_error_text_or_reprs(harness: Harness) -> None:
    client = harness.client(
        sequence(json_response(401, {"message": f"invalid api key {API_KEY}"})), max_retries=0
    )
    with pytest.raises(AuthenticationError) as info:
        await resolve(client.instances.list())
    assert API_KEY not in str(info.value)
    assert API_KEY not in repr(info.value)
    assert API_KEY not in repr(client)
    assert API_KEY not in repr(client._config)


async def test_raw_response_gives_status_headers_and_parse(harness: Harness) -> None:
    client = harness.client(
        sequence(json_response(202, {**INSTANCE, "status": "pending"}, headers={"x-req": "7"}))
    )
    raw = await resolve(client.instances.with_raw_response.get("i-1"))
    assert raw.status_code == 202
    assert raw.headers["x-req"] == "7"
    assert raw.json()["id"] == "i-1"
    instance = raw.parse()
    assert isinstance(instance, InstanceResponse)
    assert raw.parse() is instance
    assert raw.retries_taken == 0


async def test_raw_response_counts_retries_and_covers_every_group(harness: Harness) -> None:
    client = harness.client(sequence(json_response(500), json_response(200, {"balance": 12.5})))
    raw = await resolve(client.user.with_raw_response.get_balance())
    assert raw.retries_taken == 1
    assert raw.parse().balance == 12.5
    for group in ("instances", "ssh_keys", "configurations", "templates", "user", "api_keys"):
        assert getattr(client, group).with_raw_response is not None
    for group in ("auth", "payments"):
        assert getattr(client, group).with_raw_response is not None
