"""Every fault the emulator can inject, on both clients: success within the expected
attempts and time, or the right typed error once retries run out.

(The "performed, then failed" create is in tests/platform/test_e2e_emulator.py.)
"""

from __future__ import annotations

import email.utils
import time
from typing import Any, Dict, Type

import pytest

from fluidstack.core import (
    ApiConnectionError,
    ApiError,
    ApiTimeoutError,
    InternalServerError,
)
from fluidstack.core.errors import may_have_acted
from support import Clients, resolve

pytestmark = pytest.mark.anyio


def attempts(clients: Clients, path: str) -> int:
    return sum(1 for e in clients.emulator.journal() if e["path"] == path)


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({"retry_after": "3"}, 3.0),
        ({"retry_after_ms": 250}, 0.25),
        ("http-date", 5.0),
    ],
    ids=["seconds", "milliseconds", "http-date"],
)
async def test_429_honours_each_retry_after_form(
    clients: Clients, headers: Any, expected: float
) -> None:
    if headers == "http-date":
        headers = {"retry_after": email.utils.formatdate(time.time() + 5, usegmt=True)}
    clients.emulator.add_fault(method="GET", path="/user/balance", status=429, **headers)
    client = clients.make()
    await resolve(client.user.get_balance())
    assert attempts(clients, "/user/balance") == 2
    (slept,) = clients.sleeps
    assert expected - 1.5 <= slept <= expected


@pytest.mark.parametrize("status", [500, 502, 503, 504])
async def test_a_burst_of_5xx_is_ridden_out(clients: Clients, status: int) -> None:
    clients.emulator.add_fault(method="GET", path="/instances", status=status, times=2)
    client = clients.make()
    assert await resolve(client.instances.list()) == []
    assert attempts(clients, "/instances") == 3
    assert 0.375 + 0.75 <= sum(clients.sleeps) <= 0.5 + 1.0


@pytest.mark.parametrize("status", [500, 502, 503, 504])
async def test_a_longer_burst_of_5xx_exhausts_retries(clients: Clients, status: int) -> None:
    clients.emulator.add_fault(method="GET", path="/instances", status=status, times=3)
    client = clients.make()
    with pytest.raises(InternalServerError) as info:
        await resolve(client.instances.list())
    assert info.value.status_code == status
    assert attempts(clients, "/instances") == 3


FAULTS: Dict[str, Dict[str, Any]] = {
    # An attempt timeout of 1 s (not less: a loaded machine can take that long to answer
    # a request with no fault) and a delay well past it.
    "latency": {"action": "delay", "seconds": 3.0},
    "dropped": {"action": "drop"},
}
ERRORS: Dict[str, Type[ApiError]] = {"latency": ApiTimeoutError, "dropped": ApiConnectionError}


@pytest.mark.parametrize("fault", sorted(FAULTS))
async def test_transport_faults_are_retried(clients: Clients, fault: str) -> None:
    clients.emulator.add_fault(method="GET", path="/ssh_keys", times=2, **FAULTS[fault])
    client = clients.make(timeout=1.0)
    started = time.monotonic()
    assert await resolve(client.ssh_keys.list()) == []
    assert time.monotonic() - started < 2 * 3.0  # never waited out a delayed answer
    assert len(clients.sleeps) == 2


@pytest.mark.parametrize("fault", sorted(FAULTS))
async def test_transport_faults_exhaust_retries(clients: Clients, fault: str) -> None:
    clients.emulator.add_fault(method="GET", path="/ssh_keys", times=3, **FAULTS[fault])
    client = clients.make(timeout=1.0)
    with pytest.raises(ERRORS[fault]) as info:
        await resolve(client.ssh_keys.list())
    assert info.value.status_code is None
    assert len(clients.sleeps) == 2


async def test_total_timeout_caps_a_call_under_faults(clients: Clients) -> None:
    clients.emulator.add_fault(
        method="GET", path="/ssh_keys", times=None, action="delay", seconds=20
    )
    client = clients.make(timeout=30.0, fake_sleep=False)
    started = time.monotonic()
    with pytest.raises(ApiTimeoutError, match="total timeout"):
        await resolve(client.ssh_keys.list(request_options={"total_timeout_in_seconds": 0.5}))
    assert time.monotonic() - started < 10  # cut at 0.5 s, far before 20 s or 30 s
    clients.emulator.clear_faults()


async def test_a_create_lost_after_it_was_sent_is_not_repeated(clients: Clients) -> None:
    # The server performed the request, then dropped the connection before answering:
    # on every transport that is "may have acted", never "never sent" (which would
    # repeat a create that has no idempotency key and make a second API key).
    clients.emulator.add_fault(method="POST", path="/api_keys", action="drop", perform=True)
    client = clients.make()
    with pytest.raises(ApiConnectionError) as info:
        await resolve(client.api_keys.create(name="lost"))
    assert may_have_acted(info.value)
    posts = [e for e in clients.emulator.journal() if e["method"] == "POST"]
    assert [e["path"] for e in posts] == ["/api_keys"]
    assert [k.name for k in await resolve(client.api_keys.list())].count("lost") == 1
