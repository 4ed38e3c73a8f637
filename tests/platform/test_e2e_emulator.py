"""Every operation, end to end over real HTTP against the emulator, on both clients.

Also the promises that need a real server: safe creates under the emulator's faults,
waiters on its clock, launches against its capacity.
"""

from __future__ import annotations

from typing import Any, Callable, List
from urllib.parse import urlsplit

import httpx
import pytest

from fluidstack import AsyncFluidStack, FluidStack
from fluidstack.core import (
    ApiConnectionError,
    AuthenticationError,
    BadRequestError,
    ConflictError,
    InternalServerError,
    NotFoundError,
    RateLimitError,
    UnprocessableEntityError,
)
from fluidstack.testing.handle import EmulatorHandle
from fluidstack.types import (
    APIKeyResponse,
    ConfigurationResponse,
    CreateInstanceResponse,
    InstanceResponse,
    ListInstanceResponse,
    OperatingSystemResponse,
    SSHKeyResponse,
    User,
)
from support import Clients, journal_entries, resolve

pytestmark = pytest.mark.anyio

PUBLIC_KEY = (
    "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIMlZrNQiO9x/cSV8+8kF4khUmIupYM4FWj8WT0wfbsoV you@laptop"
)


def instances_named(emulator: EmulatorHandle, name: str) -> List[Any]:
    listing = httpx.get(
        f"{emulator.base_url}/instances",
        params={"include_failed_instances": "true"},
        headers={"api-key": emulator.api_key},
    ).json()
    return [i for i in listing if i["name"] == name]


async def add_key(client: Any, name: str = "laptop") -> SSHKeyResponse:
    key: SSHKeyResponse = await resolve(client.ssh_keys.create(name=name, public_key=PUBLIC_KEY))
    return key


async def test_every_operation_end_to_end(clients: Clients, emulator: EmulatorHandle) -> None:
    client = clients.make()
    assert (await resolve(client.healthcheck())).status == "ok"

    key = await add_key(client)
    assert key.name == "laptop"
    assert [k.name for k in await resolve(client.ssh_keys.list())] == ["laptop"]
    assert [k.name for k in await resolve(client.ssh_keys.list(show_all=True))] == ["laptop"]

    configurations = await resolve(client.configurations.list())
    assert configurations
    assert all(isinstance(c, ConfigurationResponse) for c in configurations)
    templates = await resolve(client.templates.list())
    assert {str(t.label) for t in templates} >= {"ubuntu_20_04_lts_nvidia"}
    assert all(isinstance(t, OperatingSystemResponse) for t in templates)

    created = await resolve(
        client.instances.create(gpu_type="RTX_A4000_16GB", ssh_key="laptop", name="e2e")
    )
    assert isinstance(created, CreateInstanceResponse)
    assert (created.name, str(created.gpu_type)) == ("e2e", "RTX_A4000_16GB")
    raw = await resolve(client.instances.with_raw_response.get(created.id))
    assert raw.status_code == 202
    assert raw.parse().status == "pending"

    emulator.advance(3600)
    running = await resolve(client.instances.get(created.id))
    assert isinstance(running, InstanceResponse)
    assert running.status == "running"
    assert running.ip_address
    assert running.ssh_keys == ["laptop"]

    stopping = await resolve(client.instances.stop(created.id))
    assert isinstance(stopping, ListInstanceResponse)
    assert stopping.status in ("stopping", "stopped")
    with pytest.raises(ConflictError):
        await resolve(client.instances.stop(created.id))
    emulator.advance(600)
    assert (await resolve(client.instances.get(created.id))).status == "stopped"
    assert (await resolve(client.instances.start(created.id))).status in ("starting", "running")
    emulator.advance(600)
    renamed = await resolve(client.instances.rename(created.id, "e2e-renamed"))
    assert renamed.name == "e2e-renamed"
    listed = await resolve(client.instances.list(page=1, include_failed_instances=True))
    assert [i.id for i in listed] == [created.id]

    assert await resolve(client.instances.delete(created.id)) is None
    assert (await resolve(client.instances.get(created.id))).status == "terminated"
    assert await resolve(client.ssh_keys.delete("laptop")) is None
    with pytest.raises(NotFoundError):
        await resolve(client.ssh_keys.delete("laptop"))

    balance = await resolve(client.user.get_balance())
    assert 0 < balance.balance < 1000.0  # an hour of running was billed
    user = await resolve(client.user.update_company_details(company_name="Acme GPU Ltd"))
    assert isinstance(user, User)
    assert user.company_name == "Acme GPU Ltd"

    new_key = await resolve(client.api_keys.create(name="ci"))
    assert isinstance(new_key, APIKeyResponse)
    assert new_key.api_key
    assert new_key.api_key not in repr(new_key)
    assert "ci" in [k.name for k in await resolve(client.api_keys.list())]
    other = clients.make(api_key=new_key.api_key)
    assert (await resolve(other.user.get_balance())).balance == balance.balance
    assert await resolve(client.api_keys.delete(new_key.id)) is None
    with pytest.raises(AuthenticationError):
        await resolve(other.user.get_balance())

    intent = await resolve(client.payments.create_intent(amount=5000, currency="usd"))
    assert intent.client_secret


async def test_login_flow_uses_the_session_cookie(
    clients: Clients, emulator: EmulatorHandle
) -> None:
    client = clients.make(api_key=None)
    url = await resolve(client.auth.get_url())
    assert urlsplit(url).path == "/auth/callback"
    code = emulator.auth_code()
    await resolve(client.auth.get_callback(code))
    session = await resolve(client.auth.get_session())
    assert isinstance(session, dict)
    user = await resolve(client.auth.get_user())
    assert isinstance(user, dict)
    assert user


async def test_explicit_session_cookie(clients: Clients, emulator: EmulatorHandle) -> None:
    client = clients.make(api_key=None)
    user = await resolve(client.auth.get_user(wos_session=emulator.session_cookie()))
    assert user
    with pytest.raises(AuthenticationError):
        await resolve(client.auth.get_user(wos_session="forged"))


async def test_errors_from_the_emulator_are_typed(clients: Clients) -> None:
    client = clients.make()
    with pytest.raises(NotFoundError) as missing:
        await resolve(client.instances.get("no-such-instance"))
    assert "no-such-instance" in str(missing.value)
    with pytest.raises(BadRequestError, match="nope"):
        await resolve(client.instances.create(gpu_type="RTX_A4000_16GB", ssh_key="nope"))
    with pytest.raises(UnprocessableEntityError) as invalid:
        await resolve(client.ssh_keys.create(name="bad", public_key="not a key"))
    assert invalid.value.errors
    wrong = clients.make(api_key="wrong-key")
    with pytest.raises(AuthenticationError):
        await resolve(wrong.instances.list())


@pytest.mark.parametrize("strip_idempotency", [False, True], ids=["key-honoured", "key-ignored"])
@pytest.mark.parametrize(
    "fault",
    [
        {"action": "error", "status": 500},
        {"action": "error", "status": 503},
        {"action": "drop"},
        {"action": "delay", "seconds": 3.0},
    ],
    ids=["500", "503", "dropped", "read-timeout"],
)
async def test_create_performed_then_failed_makes_exactly_one_instance(
    clients: Clients, emulator: EmulatorHandle, fault: Any, strip_idempotency: bool
) -> None:
    # 1 s: the recovery's lookups must not time out on a loaded machine; the delayed
    # create (3 s) always does.
    client = clients.make(strip_idempotency=strip_idempotency, timeout=1.0)
    await add_key(client)
    emulator.add_fault(method="POST", path="/instances", perform=True, **fault)
    created = await resolve(client.instances.create(gpu_type="RTX_A4000_16GB", ssh_key="laptop"))
    made = instances_named(emulator, created.name)
    assert len(made) == 1
    assert made[0]["id"] == created.id
    # The SDK did not send the create twice: it found the instance the failed answer hid.
    (post,) = journal_entries(emulator, "/instances", method="POST")
    if strip_idempotency:  # the server saw no key, and the lookup still found it
        assert post["idempotency_key"] is None
    else:  # a real key went with the create (None would pass a "one key" check)
        assert isinstance(post["idempotency_key"], str)
        assert post["idempotency_key"]


async def test_gpu_types_and_regions_are_accepted_in_any_case(clients: Clients) -> None:
    client = clients.make()
    await add_key(client)
    created = await resolve(
        client.instances.create(gpu_type="rtx_a4000_16gb", ssh_key="laptop", region="norway")
    )
    assert created.gpu_type == "RTX_A4000_16GB"
    plan = await resolve(
        client.instances.launch(gpu_type="rtx_a4000_16gb", ssh_key="laptop", dry_run=True)
    )
    assert plan.options
    assert {str(o.gpu_type) for o in plan.options} == {"RTX_A4000_16GB"}


async def test_create_not_performed_is_retried(clients: Clients, emulator: EmulatorHandle) -> None:
    client = clients.make()
    await add_key(client)
    emulator.add_fault(
        method="POST", path="/instances", action="error", status=429, times=2, retry_after="1"
    )
    created = await resolve(
        client.instances.create(gpu_type="RTX_A4000_16GB", ssh_key="laptop", name="once")
    )
    assert len(instances_named(emulator, "once")) == 1
    assert clients.sleeps == [1.0, 1.0]
    posts = [e for e in emulator.journal() if e["method"] == "POST" and e["path"] == "/instances"]
    assert [e["status"] for e in posts] == [429, 429, 202]
    (key,) = {e["idempotency_key"] for e in posts}  # one key, sent on every attempt
    assert isinstance(key, str)
    assert key
    assert created.name == "once"


@pytest.mark.parametrize(
    ("headers", "expected"),
    [({"retry_after": "2"}, 2.0), ({"retry_after_ms": 1500}, 1.5)],
)
async def test_rate_limits_from_the_emulator_honour_retry_after(
    clients: Clients, emulator: EmulatorHandle, headers: Any, expected: float
) -> None:
    client = clients.make()
    emulator.add_fault(method="GET", path="/instances", action="error", status=429, **headers)
    assert await resolve(client.instances.list()) == []
    assert clients.sleeps == [expected]


async def test_retries_are_exhausted_on_persistent_5xx(
    clients: Clients, emulator: EmulatorHandle
) -> None:
    client = clients.make()
    emulator.add_fault(method="GET", path="/instances", action="error", status=502, times=10)
    with pytest.raises(InternalServerError) as info:
        await resolve(client.instances.list())
    assert info.value.status_code == 502
    assert len([e for e in emulator.journal() if e["path"] == "/instances"]) == 3


async def test_dropped_connections_are_retried_for_reads(
    clients: Clients, emulator: EmulatorHandle
) -> None:
    client = clients.make()
    emulator.add_fault(method="GET", path="/instances", action="drop", times=2)
    assert await resolve(client.instances.list()) == []
    emulator.add_fault(method="GET", path="/instances", action="drop", times=5)
    with pytest.raises(ApiConnectionError):
        await resolve(client.instances.list(request_options={"max_retries": 1}))


async def test_latency_past_the_timeout(clients: Clients, emulator: EmulatorHandle) -> None:
    client = clients.make(timeout=1.0)  # the retry, with no fault, answers well within it
    emulator.add_fault(method="GET", path="/instances", action="delay", seconds=3.0)
    assert await resolve(client.instances.list()) == []


async def test_wait_follows_the_emulator_clock(clients: Clients, emulator: EmulatorHandle) -> None:
    client = clients.make()
    await add_key(client)
    created = await resolve(client.instances.create(gpu_type="RTX_A4000_16GB", ssh_key="laptop"))
    seen: List[str] = []

    def tick(instance: InstanceResponse) -> None:
        seen.append(str(instance.status))
        emulator.advance(60)

    instance = await resolve(client.instances.wait(created.id, poll_interval=1, on_poll=tick))
    assert instance.status == "running"
    assert seen[0] == "pending"
    assert seen[-1] == "running"


async def test_launch_falls_back_when_the_emulator_is_out_of_stock(
    clients: Clients, emulator: EmulatorHandle
) -> None:
    client = clients.make()
    await add_key(client)
    plan = await resolve(
        client.instances.launch(gpu_type="A100_PCIE_80GB", ssh_key="laptop", dry_run=True)
    )
    assert len(plan) >= 2
    emulator.set_capacity("A100_PCIE_80GB", str(plan.options[0].region), 0)
    created = await resolve(client.instances.launch(gpu_type="A100_PCIE_80GB", ssh_key="laptop"))
    emulator.advance(3600)
    instance = await resolve(client.instances.get(created.id))
    assert instance.configuration is not None
    assert str(instance.configuration.region) == str(plan.options[1].region)


def _raises_keyboard_interrupt(instance: Any) -> None:
    raise KeyboardInterrupt


async def test_ephemeral_instance_is_terminated_on_ctrl_c(
    clients: Clients, emulator: EmulatorHandle
) -> None:
    client = clients.make()
    await add_key(client)
    body: Callable[[Any], None] = _raises_keyboard_interrupt
    options = {"gpu_type": "RTX_A4000_16GB", "ssh_key": "laptop", "name": "scratch"}

    async def use() -> None:
        if clients.is_async:
            async with client.instances.ephemeral(**options, poll_interval=1) as instance:
                body(instance)
        else:
            with client.instances.ephemeral(**options, poll_interval=1) as instance:
                body(instance)

    with pytest.raises(KeyboardInterrupt):
        await use()
    (made,) = instances_named(emulator, "scratch")
    assert made["status"] == "terminated"


async def test_rate_limit_error_when_retries_run_out(
    clients: Clients, emulator: EmulatorHandle
) -> None:
    client = clients.make(max_retries=0)
    emulator.add_fault(method="GET", path="/user/balance", action="error", status=429)
    with pytest.raises(RateLimitError):
        await resolve(client.user.get_balance())


@pytest.mark.parametrize("kind", ["sync", "async"])
async def test_a_client_of_its_own_sends_the_key_only_where_needed(
    emulator: EmulatorHandle, kind: str
) -> None:
    # A client that builds its own httpx client puts the fixed headers (API key
    # included) on it once; a call that needs no key must still go without it.
    cls: Any = AsyncFluidStack if kind == "async" else FluidStack
    client = cls(api_key=emulator.api_key, base_url=emulator.base_url)
    try:
        assert client._pipeline.headers_on_client
        await resolve(client.instances.list())
        await resolve(client.auth.get_url())
    finally:
        await resolve(client.aclose() if kind == "async" else client.close())
    listed, login = emulator.journal()[-2:]
    assert (listed["path"], login["path"]) == ("/instances", "/auth/url")
    assert listed["account"] is not None
    assert login["account"] is None
