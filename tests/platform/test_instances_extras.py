"""Safe creates, pagination, waiters, launch and ephemeral instances (mock server)."""

from __future__ import annotations

import json
from typing import Any, Dict, List

import httpx
import pytest

from fluidstack.core import (
    ApiError,
    BadRequestError,
    InstanceFailedError,
    InternalServerError,
    NoCapacityError,
    WaitTimeoutError,
)
from fluidstack.types import CreateInstanceResponse, InstanceStatus, LaunchPlan
from support import INSTANCE, Harness, json_response, resolve

pytestmark = pytest.mark.anyio

CREATED = {"id": "i-new", "name": "x", "gpu_type": "T4_16GB"}


class FakeServer:
    """Just enough of the API to test client-side logic: instances and the catalog."""

    def __init__(self) -> None:
        self.instances: List[Dict[str, Any]] = []
        self.posts = 0
        self.post_faults: List[Any] = []  # per POST: None, a status, or an exception
        self.out_of_stock: set[str] = set()
        self.page_size = 2
        self.statuses: List[str] = []  # successive statuses GET returns

    def handler(self, request: httpx.Request) -> httpx.Response:
        path = request.url.path
        if request.method == "POST" and path == "/instances":
            self.posts += 1
            body = json.loads(request.content)
            fault = self.post_faults.pop(0) if self.post_faults else None
            if body.get("region") in self.out_of_stock:
                return json_response(409, {"message": f"Out of stock in {body['region']}"})
            if isinstance(fault, int) and fault in (429, 408):
                return json_response(fault)
            instance = {**INSTANCE, "id": f"i-{len(self.instances) + 1}", "name": body["name"]}
            self.instances.append(instance)
            if isinstance(fault, Exception):
                raise fault
            if isinstance(fault, int):
                return json_response(fault, {"message": "performed, then failed"})
            return json_response(
                202, {"id": instance["id"], "name": body["name"], "gpu_type": body["gpu_type"]}
            )
        if request.method == "GET" and path == "/instances":
            page = int(request.url.params.get("page", "1"))
            start = (page - 1) * self.page_size
            return json_response(200, self.instances[start : start + self.page_size])
        if request.method == "GET" and path.startswith("/instances/"):
            status = self.statuses.pop(0) if len(self.statuses) > 1 else self.statuses[0]
            return json_response(
                200 if status != "pending" else 202, {**INSTANCE, "status": status}
            )
        if request.method == "DELETE" and path.startswith("/instances/"):
            ident = path.rsplit("/", 1)[1]
            for instance in self.instances:
                if instance["id"] == ident:
                    instance["status"] = "terminated"
            return json_response(200, {"message": "ok"})
        if path == "/list_available_configurations":
            return json_response(
                200,
                [
                    {
                        "gpu_type": "H100_PCIE_80GB",
                        "gpu_counts": [1, 2],
                        "price_per_gpu_hr": "2.89",
                        "stopped_price_per_hour": "0.1",
                        "regions": ["CANADA", "UTAH_USA"],
                    },
                    {
                        "gpu_type": "A100_PCIE_80GB",
                        "gpu_counts": [1, 2, 4],
                        "price_per_gpu_hr": "1.80",
                        "stopped_price_per_hour": "0.1",
                        "regions": ["ARIZONA_USA", "CANADA"],
                    },
                    {
                        "gpu_type": "L40_48GB",
                        "gpu_counts": [8],
                        "price_per_gpu_hr": "1.25",
                        "stopped_price_per_hour": "0.1",
                        "regions": ["CANADA"],
                    },
                ],
            )
        return json_response(404, {"message": "no route"})


@pytest.fixture
def server() -> FakeServer:
    return FakeServer()


def posts(harness: Harness) -> List[httpx.Request]:
    return [r for r in harness.requests if r.method == "POST"]


@pytest.mark.parametrize(
    "fault",
    [500, 502, 503, httpx.ReadTimeout("lost"), httpx.RemoteProtocolError("dropped")],
    ids=["500", "502", "503", "read-timeout", "dropped"],
)
async def test_create_performed_then_failed_returns_the_one_instance(
    harness: Harness, server: FakeServer, fault: Any
) -> None:
    server.post_faults = [fault]
    client = harness.client(server.handler)
    created = await resolve(client.instances.create(gpu_type="T4_16GB", ssh_key="k"))
    assert isinstance(created, CreateInstanceResponse)
    assert len(server.instances) == 1
    assert created.id == server.instances[0]["id"]
    assert created.name.startswith("fs-")
    assert len(posts(harness)) == 1


async def test_create_not_performed_is_retried_with_the_same_key_and_name(
    harness: Harness, server: FakeServer
) -> None:
    server.post_faults = [429, httpx.ConnectError("refused")]

    def handler(request: httpx.Request) -> httpx.Response:
        if (
            request.method == "POST"
            and server.post_faults
            and isinstance(server.post_faults[0], Exception)
        ):
            server.post_faults.pop(0)
            raise httpx.ConnectError("refused")
        return server.handler(request)

    client = harness.client(handler)
    created = await resolve(client.instances.create(gpu_type="T4_16GB", ssh_key="k", name="mine"))
    assert created.name == "mine"
    sent = posts(harness)
    assert len(sent) == 3
    assert len({r.headers["idempotency-key"] for r in sent}) == 1
    assert {json.loads(r.content)["name"] for r in sent} == {"mine"}
    assert len(server.instances) == 1


async def test_ambiguous_create_that_left_no_trace_is_retried(
    harness: Harness, server: FakeServer
) -> None:
    calls = {"n": 0}

    def handler(request: httpx.Request) -> httpx.Response:
        if request.method == "POST" and calls["n"] == 0:
            calls["n"] += 1
            return json_response(500, {"message": "failed before acting"})
        return server.handler(request)

    client = harness.client(handler)
    created = await resolve(client.instances.create(gpu_type="T4_16GB", ssh_key="k"))
    assert len(server.instances) == 1
    assert created.id == server.instances[0]["id"]
    assert len(posts(harness)) == 2


async def test_create_without_retries_raises_after_ambiguous_failure_with_no_trace(
    harness: Harness,
) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        if request.method == "POST":
            return json_response(500, {"message": "down"})
        return json_response(200, [])

    client = harness.client(handler, max_retries=0)
    with pytest.raises(InternalServerError):
        await resolve(client.instances.create(gpu_type="T4_16GB", ssh_key="k"))
    assert len(posts(harness)) == 1


async def test_create_with_given_idempotency_key(harness: Harness, server: FakeServer) -> None:
    client = harness.client(server.handler)
    await resolve(
        client.instances.create(
            gpu_type="T4_16GB", ssh_key="k", request_options={"idempotency_key": "abc"}
        )
    )
    assert posts(harness)[0].headers["idempotency-key"] == "abc"


async def test_create_rejects_bad_arguments_before_sending(harness: Harness) -> None:
    client = harness.client(lambda r: json_response(500))
    with pytest.raises(ValueError, match="gpu_count"):
        await resolve(client.instances.create(gpu_type="T4_16GB", ssh_key="k", gpu_count=0))
    with pytest.raises(ValueError, match="ssh_key"):
        await resolve(client.instances.create(gpu_type="T4_16GB", ssh_key=""))
    assert harness.requests == []


async def test_iter_walks_every_page_lazily(harness: Harness, server: FakeServer) -> None:
    server.instances = [{**INSTANCE, "id": f"i-{n}"} for n in range(5)]
    client = harness.client(server.handler)
    pager = client.instances.iter()
    if harness.is_async:
        first = await pager.__anext__()
        ids = [first.id] + [i.id async for i in pager]
    else:
        first = next(pager)
        ids = [first.id] + [i.id for i in pager]
    assert ids == [f"i-{n}" for n in range(5)]
    pages = [r.url.params["page"] for r in harness.requests]
    # Pages of 2, 2, 1: page 1 was full (page 2 followed it), so the short page 3 is the
    # last, and no request for an empty page 4 is sent (issue 24).
    assert pages == ["1", "2", "3"]


async def test_iter_ends_a_short_first_page_once_the_page_size_is_known(
    harness: Harness, server: FakeServer
) -> None:
    server.instances = [{**INSTANCE, "id": f"i-{n}"} for n in range(3)]
    client = harness.client(server.handler)

    async def ids() -> List[str]:
        pager = client.instances.iter()
        return [i.id async for i in pager] if harness.is_async else [i.id for i in pager]

    assert await ids() == ["i-0", "i-1", "i-2"]  # pages of 2 and 1: the size is 2
    del harness.requests[:]
    server.instances = server.instances[:1]
    assert await ids() == ["i-0"]
    assert [r.url.params["page"] for r in harness.requests] == ["1"]
    # Without a known size, a short first page still needs the empty page to end.
    fresh = harness.client(server.handler)
    del harness.requests[:]
    pager = fresh.instances.iter()
    assert [i.id async for i in pager] if harness.is_async else [i.id for i in pager]
    assert [r.url.params["page"] for r in harness.requests] == ["1", "2"]


async def test_iter_stops_when_the_server_ignores_page(harness: Harness) -> None:
    client = harness.client(lambda r: json_response(200, [INSTANCE]))
    pager = client.instances.iter()
    ids = [i.id async for i in pager] if harness.is_async else [i.id for i in pager]
    assert ids == ["i-1"]
    assert len(harness.requests) == 2


async def test_wait_polls_with_backoff_until_running(harness: Harness, server: FakeServer) -> None:
    server.statuses = ["pending", "provisioning", "provisioning", "running"]
    seen: List[str] = []
    client = harness.client(server.handler)
    instance = await resolve(
        client.instances.wait("i-1", poll_interval=2, on_poll=lambda i: seen.append(str(i.status)))
    )
    assert instance.status is InstanceStatus.RUNNING
    assert seen == ["pending", "provisioning", "provisioning", "running"]
    assert harness.clock.sleeps == [2.0, 3.0, 4.5]


async def test_wait_raises_at_once_when_instance_fails(
    harness: Harness, server: FakeServer
) -> None:
    server.statuses = ["pending", "failed"]
    client = harness.client(server.handler)
    with pytest.raises(InstanceFailedError, match="failed") as info:
        await resolve(client.instances.wait("i-1"))
    assert isinstance(info.value, ApiError)
    assert info.value.instance.status == "failed"
    assert len(harness.requests) == 2


async def test_wait_for_terminated_does_not_fail_on_terminated(
    harness: Harness, server: FakeServer
) -> None:
    server.statuses = ["running", "terminated"]
    client = harness.client(server.handler)
    instance = await resolve(client.instances.wait("i-1", until="terminated", poll_interval=1))
    assert instance.status == "terminated"


async def test_wait_times_out_at_the_deadline(harness: Harness, server: FakeServer) -> None:
    server.statuses = ["provisioning"]
    client = harness.client(server.handler)
    with pytest.raises(WaitTimeoutError, match="within 60s") as info:
        await resolve(client.instances.wait("i-1", timeout=60, poll_interval=5))
    assert info.value.instance.status == "provisioning"
    assert sum(harness.clock.sleeps) == pytest.approx(60)
    # every poll request was bounded by what was left of the deadline
    assert all(r.extensions["timeout"]["read"] <= 60 for r in harness.requests)


async def test_wait_rejects_bad_arguments(harness: Harness) -> None:
    client = harness.client(lambda r: json_response(200, INSTANCE))
    with pytest.raises(ValueError, match="timeout"):
        await resolve(client.instances.wait("i-1", timeout=0))
    with pytest.raises(ValueError, match="poll_interval"):
        await resolve(client.instances.wait("i-1", poll_interval=-1))


async def test_create_and_wait(harness: Harness, server: FakeServer) -> None:
    server.statuses = ["pending", "running"]
    client = harness.client(server.handler)
    instance = await resolve(
        client.instances.create_and_wait(gpu_type="T4_16GB", ssh_key="k", poll_interval=1)
    )
    assert instance.status == "running"


async def test_launch_dry_run_orders_cheapest_first(harness: Harness, server: FakeServer) -> None:
    client = harness.client(server.handler)
    plan = await resolve(
        client.instances.launch(gpu_type=None, ssh_key="k", gpu_count=2, dry_run=True)
    )
    assert isinstance(plan, LaunchPlan)
    assert [(str(o.gpu_type), str(o.region), str(o.price_per_hour)) for o in plan] == [
        ("A100_PCIE_80GB", "ARIZONA_USA", "3.60"),
        ("A100_PCIE_80GB", "CANADA", "3.60"),
        ("H100_PCIE_80GB", "CANADA", "5.78"),
        ("H100_PCIE_80GB", "UTAH_USA", "5.78"),
    ]
    assert posts(harness) == []


async def test_launch_respects_budget_and_region_preference(
    harness: Harness, server: FakeServer
) -> None:
    client = harness.client(server.handler)
    plan = await resolve(
        client.instances.launch(
            gpu_type=["A100_PCIE_80GB", "H100_PCIE_80GB"],
            ssh_key="k",
            regions=["CANADA", "ARIZONA_USA"],
            max_price_per_hour=2.0,
            dry_run=True,
        )
    )
    assert [(str(o.gpu_type), str(o.region)) for o in plan] == [
        ("A100_PCIE_80GB", "CANADA"),
        ("A100_PCIE_80GB", "ARIZONA_USA"),
    ]


async def test_launch_falls_back_to_the_next_region_when_out_of_stock(
    harness: Harness, server: FakeServer
) -> None:
    server.out_of_stock = {"ARIZONA_USA"}
    client = harness.client(server.handler)
    created = await resolve(client.instances.launch(gpu_type="A100_PCIE_80GB", ssh_key="k"))
    regions = [json.loads(r.content)["region"] for r in posts(harness)]
    assert regions == ["ARIZONA_USA", "CANADA"]
    assert created.id == server.instances[0]["id"]
    assert len(server.instances) == 1


async def test_launch_raises_no_capacity_with_every_attempt(
    harness: Harness, server: FakeServer
) -> None:
    server.out_of_stock = {"ARIZONA_USA", "CANADA"}
    client = harness.client(server.handler)
    with pytest.raises(NoCapacityError) as info:
        await resolve(client.instances.launch(gpu_type="A100_PCIE_80GB", ssh_key="k"))
    assert [str(option.region) for option, _ in info.value.attempts] == ["ARIZONA_USA", "CANADA"]
    with pytest.raises(NoCapacityError, match="no configuration"):
        await resolve(client.instances.launch(gpu_type="T4_16GB", ssh_key="k"))


async def test_launch_stops_on_errors_other_than_stock(
    harness: Harness, server: FakeServer
) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        if request.method == "POST":
            return json_response(400, {"message": "Unknown SSH key 'k'"})
        return server.handler(request)

    client = harness.client(handler)
    with pytest.raises(BadRequestError, match="Unknown SSH key"):
        await resolve(client.instances.launch(gpu_type="A100_PCIE_80GB", ssh_key="k"))
    assert len(posts(harness)) == 1


def _deleted(harness: Harness) -> List[str]:
    return [r.url.path for r in harness.requests if r.method == "DELETE"]


async def _use_ephemeral(client: Any, harness: Harness, body: Any) -> Any:
    if harness.is_async:
        async with client.instances.ephemeral(
            gpu_type="T4_16GB", ssh_key="k", poll_interval=1
        ) as instance:
            return body(instance)
    with client.instances.ephemeral(gpu_type="T4_16GB", ssh_key="k", poll_interval=1) as instance:
        return body(instance)


async def test_ephemeral_deletes_on_normal_exit(harness: Harness, server: FakeServer) -> None:
    server.statuses = ["pending", "running"]
    client = harness.client(server.handler)
    status = await _use_ephemeral(client, harness, lambda i: str(i.status))
    assert status == "running"
    assert _deleted(harness) == ["/instances/i-1"]


@pytest.mark.parametrize("exc", [RuntimeError("boom"), KeyboardInterrupt()])
async def test_ephemeral_deletes_on_exception_and_ctrl_c(
    harness: Harness, server: FakeServer, exc: BaseException
) -> None:
    server.statuses = ["running"]
    client = harness.client(server.handler)

    def fail(instance: Any) -> None:
        raise exc

    with pytest.raises(type(exc)):
        await _use_ephemeral(client, harness, fail)
    assert _deleted(harness) == ["/instances/i-1"]


async def test_ephemeral_deletes_when_the_wait_fails(harness: Harness, server: FakeServer) -> None:
    server.statuses = ["pending", "failed"]
    client = harness.client(server.handler)
    with pytest.raises(InstanceFailedError):
        await _use_ephemeral(client, harness, lambda i: None)
    assert _deleted(harness) == ["/instances/i-1"]


async def test_ephemeral_cleans_up_after_an_interrupted_create(
    harness: Harness, server: FakeServer
) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        response = server.handler(request)
        if request.method == "POST":
            raise KeyboardInterrupt  # the server made it; the client never heard back
        return response

    client = harness.client(handler)
    with pytest.raises(KeyboardInterrupt):
        await _use_ephemeral(client, harness, lambda i: None)
    assert server.instances[0]["status"] == "terminated"


async def test_ephemeral_makes_no_calls_after_a_rejected_create(harness: Harness) -> None:
    client = harness.client(lambda r: json_response(400, {"message": "bad gpu"}))
    with pytest.raises(BadRequestError):
        await _use_ephemeral(client, harness, lambda i: None)
    assert [r.method for r in harness.requests] == ["POST"]


async def test_ephemeral_reports_an_instance_it_could_not_delete(
    harness: Harness, server: FakeServer
) -> None:
    server.statuses = ["running"]

    def handler(request: httpx.Request) -> httpx.Response:
        if request.method == "DELETE":
            return json_response(403, {"message": "forbidden"})
        return server.handler(request)

    client = harness.client(handler)
    with pytest.raises(ApiError, match=r"i-1.*fluidstack instances delete i-1"):
        await _use_ephemeral(client, harness, lambda i: None)


async def test_create_reports_its_own_failure_when_the_lookup_fails_too(
    harness: Harness,
) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        if request.method == "POST":
            return json_response(502, {"message": "bad gateway"})
        return json_response(503, {"message": "listing down"})

    client = harness.client(handler)
    with pytest.raises(InternalServerError, match="bad gateway") as info:
        await resolve(client.instances.create(gpu_type="T4_16GB", ssh_key="k"))
    assert info.value.status_code == 502
    assert "listing down" in str(info.value.__context__)
    assert len(posts(harness)) == 1  # never resent without knowing


async def test_side_lookups_keep_timeouts_but_not_the_create_s_extra_parameters(
    harness: Harness, server: FakeServer
) -> None:
    server.post_faults = [500]
    client = harness.client(server.handler)
    await resolve(
        client.instances.create(
            gpu_type="T4_16GB",
            ssh_key="k",
            request_options={
                "timeout_in_seconds": 7,
                "additional_headers": {"x-team": "ml"},
                "additional_query_parameters": {"dry": "1"},
                "additional_body_parameters": {"extra": 1},
            },
        )
    )
    post, lookup = harness.requests[0], harness.requests[1]
    assert post.url.params["dry"] == "1"
    assert lookup.method == "GET"
    assert "dry" not in lookup.url.params
    assert lookup.headers["x-team"] == "ml"
    assert lookup.extensions["timeout"]["read"] == 7


async def test_ephemeral_deletes_when_its_task_is_cancelled(server: FakeServer) -> None:
    import anyio

    from fluidstack.client import AsyncFluidStack

    server.statuses = ["running"]
    seen: List[str] = []

    async def slow_handler(request: httpx.Request) -> httpx.Response:
        # A real network call yields to the event loop, where cancellation strikes.
        await anyio.sleep(0.01)
        seen.append(f"{request.method} {request.url.path}")
        return server.handler(request)

    http = httpx.AsyncClient(transport=httpx.MockTransport(slow_handler))
    client = AsyncFluidStack(api_key="k", base_url="https://api.test", httpx_client=http)
    inside = anyio.Event()

    async def use() -> None:
        async with client.instances.ephemeral(gpu_type="T4_16GB", ssh_key="k"):
            inside.set()
            await anyio.sleep_forever()

    async with anyio.create_task_group() as tasks:
        tasks.start_soon(use)
        await inside.wait()
        tasks.cancel_scope.cancel()
    assert seen[-1] == "DELETE /instances/i-1"
    assert server.instances[0]["status"] == "terminated"
    await http.aclose()


async def test_wait_refuses_a_status_it_does_not_know_before_any_request(
    harness: Harness, server: FakeServer
) -> None:
    """A typo would poll for the whole timeout (900 s): it is refused at once, with the
    status it probably meant; a status this SDK does not list is waited for when passed
    as a member of the enumeration."""
    server.statuses = ["pending", "resizing"]
    client = harness.client(server.handler)
    with pytest.raises(ValueError, match=r"until='runing'.*did you mean 'running'\?"):
        await resolve(client.instances.wait("i-1", until="runing"))
    with pytest.raises(ValueError, match=r"InstanceStatus\('RUNNING'\)"):
        await resolve(client.instances.wait("i-1", until=["ssh", "RUNNING"]))
    assert harness.requests == []
    found = await resolve(
        client.instances.wait("i-1", until=InstanceStatus("resizing"), poll_interval=1)
    )
    assert found.status == "resizing"
