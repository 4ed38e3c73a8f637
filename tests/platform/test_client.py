"""Client construction, lifecycle, hooks, logging and secrets, on both clients."""

from __future__ import annotations

import logging
import pickle
import warnings
from typing import Any, List

import httpx
import pytest

import fluidstack
from fluidstack.client import AsyncFluidStack, FluidStack, FluidStackEnvironment
from fluidstack.core import (
    ApiError,
    EventHooks,
    InsecureTransportWarning,
    NotFoundError,
    RequestEvent,
    ResponseEvent,
    RetryEvent,
)
from support import API_KEY, INSTANCE, Harness, json_response, resolve

pytestmark = pytest.mark.anyio


def test_imports_work_as_the_readme_shows() -> None:
    from fluidstack import AsyncFluidStack as A
    from fluidstack import FluidStack as F

    assert F is FluidStack
    assert A is AsyncFluidStack
    assert issubclass(fluidstack.core.ApiError, Exception)
    assert fluidstack.types.GPUType.H100_PCIE_80GB == "H100_PCIE_80GB"
    assert fluidstack.NotFoundError is NotFoundError
    with pytest.raises(AttributeError):
        fluidstack.nothing_here  # noqa: B018


def test_default_base_url_is_production(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("FLUIDSTACK_BASE_URL", raising=False)
    assert FluidStack(api_key="k").base_url == "https://platform.fluidstack.io"
    assert FluidStackEnvironment.DEFAULT.value == "https://platform.fluidstack.io"
    assert FluidStack(api_key="k", environment="https://eu.example").base_url == (
        "https://eu.example"
    )


@pytest.mark.parametrize("cls", [FluidStack, AsyncFluidStack])
def test_constructor_rejects_bad_settings(cls: Any) -> None:
    with pytest.raises(ValueError, match="base_url"):
        cls(api_key="k", base_url="platform.fluidstack.io")
    with pytest.raises(ValueError, match="max_retries"):
        cls(api_key="k", max_retries=-1)
    with pytest.raises(ValueError, match="timeout"):
        cls(api_key="k", timeout=0)
    with pytest.raises(ValueError, match="control character"):
        cls(api_key="abc\ndef")
    with pytest.raises(ValueError, match="empty"):
        cls(api_key="   ")
    with pytest.raises(TypeError, match="not both"):
        cls(api_key="k", httpx_client=httpx.Client(), http_client=httpx.Client())


def test_wrong_kind_of_httpx_client_is_refused() -> None:
    with pytest.raises(TypeError, match=r"httpx\.Client"):
        FluidStack(api_key="k", httpx_client=httpx.AsyncClient())  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"httpx\.AsyncClient"):
        AsyncFluidStack(api_key="k", http_client=httpx.Client())  # type: ignore[arg-type]


def test_plain_http_to_a_remote_host_warns() -> None:
    with pytest.warns(InsecureTransportWarning, match="unencrypted"):
        FluidStack(api_key="k", base_url="http://api.example.com")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        FluidStack(api_key="k", base_url="http://127.0.0.1:8080")
        FluidStack(api_key="k", base_url="http://localhost:8080")
        FluidStack(api_key="k", base_url="http://[::1]:8080")
        FluidStack(api_key=None, base_url="http://api.example.com")


def test_sync_client_closes_its_own_http_client_only() -> None:
    with FluidStack(api_key="k") as client:
        own = client._pipeline.http
    assert own.is_closed
    mine = httpx.Client()
    with FluidStack(api_key="k", http_client=mine):
        pass
    assert not mine.is_closed
    mine.close()


async def test_async_client_closes_its_own_http_client_only() -> None:
    async with AsyncFluidStack(api_key="k") as client:
        own = client._pipeline.http
    assert own.is_closed
    mine = httpx.AsyncClient()
    async with AsyncFluidStack(api_key="k", httpx_client=mine):
        pass
    assert not mine.is_closed
    await mine.aclose()


async def test_both_clients_have_the_same_surface() -> None:
    sync, aio = FluidStack(api_key="k"), AsyncFluidStack(api_key="k")
    groups = [
        "instances",
        "ssh_keys",
        "configurations",
        "templates",
        "user",
        "api_keys",
        "auth",
        "payments",
    ]
    for group in groups:
        public = {n for n in dir(getattr(sync, group)) if not n.startswith("_")}
        assert public == {n for n in dir(getattr(aio, group)) if not n.startswith("_")}
    assert callable(sync.healthcheck)
    assert callable(aio.healthcheck)
    sync.close()
    await aio.aclose()


async def test_event_hooks_see_request_retry_and_response(harness: Harness) -> None:
    events: List[Any] = []
    hooks = EventHooks(on_request=[events.append], on_response=[events.append])
    hooks.on_retry.append(events.append)
    calls = iter([json_response(503), json_response(200, INSTANCE)])
    client = harness.client(lambda r: next(calls), event_hooks=hooks)
    await resolve(client.instances.get("i-1"))
    kinds = [type(e).__name__ for e in events]
    assert kinds == ["RequestEvent", "ResponseEvent", "RetryEvent", "RequestEvent", "ResponseEvent"]
    first, failed, retry = events[0], events[1], events[2]
    assert isinstance(first, RequestEvent)
    assert first.operation == "instances.get"
    assert first.path == "/instances/i-1"
    assert first.attempt == 1
    assert isinstance(failed, ResponseEvent)
    assert failed.status_code == 503
    assert isinstance(retry, RetryEvent)
    assert retry.reason == "503"
    assert retry.delay > 0
    assert events[4].attempt == 2


async def test_event_hooks_see_transport_errors(harness: Harness) -> None:
    events: List[Any] = []

    def broken(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused")

    client = harness.client(
        broken, event_hooks=EventHooks(on_response=[events.append]), max_retries=0
    )
    with pytest.raises(ApiError):
        await resolve(client.instances.list())
    assert events[0].status_code is None
    assert events[0].error == "ConnectError"


async def test_events_reach_a_subclass_and_the_log_without_hooks(
    harness: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    """The pipeline builds events only when something listens: a subclass's own
    ``request``/``response`` and the log listen, with no hook in the lists."""
    seen: List[Any] = []

    class Recording(EventHooks):
        def request(self, event: RequestEvent) -> None:
            seen.append(event)

        def response(self, event: ResponseEvent) -> None:
            seen.append(event)

    client = harness.client(lambda r: json_response(200, INSTANCE), event_hooks=Recording())
    await resolve(client.instances.get("i-1"))
    assert [type(e).__name__ for e in seen] == ["RequestEvent", "ResponseEvent"]

    quiet = harness.client(lambda r: json_response(200, INSTANCE))
    with caplog.at_level(logging.DEBUG, logger="fluidstack"):
        await resolve(quiet.instances.get("i-1"))
    text = "\n".join(r.getMessage() for r in caplog.records)
    assert "GET /instances/i-1 attempt=1" in text
    assert "GET /instances/i-1 -> 200 attempt=1" in text


async def test_logs_never_contain_the_key_or_bodies(
    harness: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    public_key = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGq secret-comment"
    stored = {"name": "k", "public_key": public_key}
    calls = iter([json_response(500), json_response(200, []), json_response(200, stored)])
    client = harness.client(lambda r: next(calls))
    with caplog.at_level(logging.DEBUG, logger="fluidstack"):
        await resolve(client.ssh_keys.create(name="k", public_key=public_key))
    text = "\n".join(r.getMessage() for r in caplog.records)
    assert "POST /ssh_keys -> 500 attempt=1" in text
    assert "retrying after 500" in text
    assert "GET /ssh_keys -> 200 attempt=1" in text
    assert "POST /ssh_keys -> 200 attempt=2" in text
    assert API_KEY not in text
    assert "secret-comment" not in text


def test_errors_pickle_and_keep_their_fields() -> None:
    error = NotFoundError(status_code=404, body={"message": "gone"}, headers={"x": "1"})
    clone = pickle.loads(pickle.dumps(error))
    assert type(clone) is NotFoundError
    assert (clone.status_code, clone.body, clone.headers) == (404, {"message": "gone"}, {"x": "1"})
    assert str(clone) == "404 Not Found: gone"


def test_sync_and_async_methods_have_identical_signatures() -> None:
    import inspect

    sync, aio = FluidStack(api_key="k"), AsyncFluidStack(api_key="k")
    groups = ["instances", "ssh_keys", "configurations", "templates", "user", "api_keys"]
    checked = 0
    for group in [*groups, "auth", "payments"]:
        for name in dir(getattr(sync, group)):
            method = getattr(getattr(sync, group), name)
            if name.startswith("_") or not callable(method):
                continue
            twin = getattr(getattr(aio, group), name)
            sync_params = inspect.signature(method).parameters
            async_params = inspect.signature(twin).parameters
            assert [(p.name, p.kind, p.default) for p in sync_params.values()] == [
                (p.name, p.kind, p.default) for p in async_params.values()
            ], f"{group}.{name}"
            checked += 1
    assert checked >= 25
    sync.close()
