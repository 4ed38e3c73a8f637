"""``Idempotency-Key`` on POST /instances, /ssh_keys and /api_keys, per account."""

from __future__ import annotations

from collections import OrderedDict
from typing import Any, Iterator

import httpx
import pytest
from emulator_support import ClientFactory, public_key

from fluidstack.emulator import EmulatorSettings
from fluidstack.emulator.platform.state import Account, PlatformState
from fluidstack.testing import EmulatorHandle


def test_repeated_create_returns_the_original_and_creates_nothing(
    api: httpx.Client, ssh_key: str
) -> None:
    body = {"gpu_type": "L40_48GB", "ssh_key": ssh_key}
    first = api.post("/instances", json=body, headers={"Idempotency-Key": "k-1"})
    second = api.post("/instances", json=body, headers={"Idempotency-Key": "k-1"})
    assert (first.status_code, second.status_code) == (202, 202)
    assert first.json() == second.json()
    assert len(api.get("/instances").json()) == 1
    third = api.post("/instances", json=body, headers={"Idempotency-Key": "k-2"})
    assert third.json()["id"] != first.json()["id"]
    assert len(api.get("/instances").json()) == 2


def test_key_reused_for_another_request_answers_409(api: httpx.Client, ssh_key: str) -> None:
    api.post(
        "/instances",
        json={"gpu_type": "L40_48GB", "ssh_key": ssh_key},
        headers={"Idempotency-Key": "same"},
    )
    clash = api.post(
        "/instances",
        json={"gpu_type": "L40_48GB", "ssh_key": ssh_key, "gpu_count": 2},
        headers={"Idempotency-Key": "same"},
    )
    assert clash.status_code == 409
    assert "different request" in clash.json()["message"]
    assert len(api.get("/instances").json()) == 1


def test_keys_are_per_account(
    emulator: EmulatorHandle, api: httpx.Client, client_factory: ClientFactory
) -> None:
    emulator.create_account("other")
    other = client_factory(api_key="other")
    key = public_key()
    headers = {"Idempotency-Key": "shared"}
    mine = api.post("/ssh_keys", json={"name": "k", "public_key": key}, headers=headers)
    theirs = other.post("/ssh_keys", json={"name": "k", "public_key": key}, headers=headers)
    assert (mine.status_code, theirs.status_code) == (200, 200)
    assert other.get("/ssh_keys").json() == [{"name": "k", "public_key": key}]


def test_ssh_key_and_api_key_creates_are_idempotent(api: httpx.Client) -> None:
    key = public_key()
    headers = {"Idempotency-Key": "ssh-1"}
    first = api.post("/ssh_keys", json={"name": "k", "public_key": key}, headers=headers)
    again = api.post("/ssh_keys", json={"name": "k", "public_key": key}, headers=headers)
    assert (first.status_code, again.status_code) == (200, 200)  # not the duplicate 409

    headers = {"Idempotency-Key": "api-1"}
    created = api.post("/api_keys", json={"name": "ci"}, headers=headers)
    replayed = api.post("/api_keys", json={"name": "ci"}, headers=headers)
    assert (created.status_code, replayed.status_code) == (201, 201)
    assert created.json() == replayed.json()
    assert len(api.get("/api_keys").json()) == 2


def test_refusals_are_not_remembered(
    emulator: EmulatorHandle, api: httpx.Client, ssh_key: str
) -> None:
    emulator.set_capacity("L40_48GB", "CANADA", 0)
    body = {"gpu_type": "L40_48GB", "ssh_key": ssh_key}
    headers = {"Idempotency-Key": "retry-me"}
    assert api.post("/instances", json=body, headers=headers).status_code == 409
    emulator.set_capacity("L40_48GB", "CANADA", 8)
    assert api.post("/instances", json=body, headers=headers).status_code == 202


def test_keys_expire_after_a_simulated_day(
    emulator: EmulatorHandle, api: httpx.Client, ssh_key: str
) -> None:
    body = {"gpu_type": "L40_48GB", "ssh_key": ssh_key}
    headers = {"Idempotency-Key": "old"}
    first = api.post("/instances", json=body, headers=headers).json()
    emulator.advance(24 * 3600 + 1)
    second = api.post("/instances", json=body, headers=headers).json()
    assert first["id"] != second["id"]


def test_overlong_key_is_refused(api: httpx.Client, ssh_key: str) -> None:
    response = api.post(
        "/instances",
        json={"gpu_type": "L40_48GB", "ssh_key": ssh_key},
        headers={"Idempotency-Key": "x" * 256},
    )
    assert response.status_code == 400


def _remember_many(state: PlatformState, account: Account, start: int, count: int) -> None:
    """Remember ``count`` keyed answers (what every keyed create does)."""
    for n in range(start, start + count):
        state._remember(account, f"key-{n}", "fingerprint", 201, {"n": n})


class _CountingStore(OrderedDict):  # type: ignore[type-arg]
    """The idempotency store, counting every remembered key that is looked at in bulk
    (iteration, ``keys``, ``values``, ``items``): a remember that scans shows here."""

    visited = 0

    def __iter__(self) -> Iterator[Any]:
        for key in super().__iter__():
            _CountingStore.visited += 1
            yield key

    def items(self) -> Any:
        return ((k, self[k]) for k in self)

    def keys(self) -> Any:
        return iter(self)

    def values(self) -> Any:
        return (self[k] for k in self)


def test_item9_remembering_a_key_costs_the_same_at_40000_keys() -> None:
    # Counted, not timed: before the fix every remember past 1,024 keys scanned them all.
    state = PlatformState(EmulatorSettings(manual_clock=True, api_keys=["k"]))
    account = state.account_for_key("k")
    assert account is not None
    state.idempotency = _CountingStore()
    _remember_many(state, account, 0, 2_000)
    at_start = _CountingStore.visited
    _remember_many(state, account, 2_000, 38_000)
    before_last = _CountingStore.visited
    _remember_many(state, account, 40_000, 2_000)
    at_40000 = _CountingStore.visited - before_last
    assert at_40000 <= at_start + 2_000, (at_start, at_40000)  # about one look per remember
    assert len(state.idempotency) == 42_000


def test_item9_keys_expire_after_a_simulated_day_and_are_bounded_in_number(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    state = PlatformState(EmulatorSettings(manual_clock=True, api_keys=["k"]))
    account = state.account_for_key("k")
    assert account is not None
    _remember_many(state, account, 0, 100)
    state.clock.advance(24 * 3600 + 1)
    _remember_many(state, account, 100, 1)
    assert list(state.idempotency) == [(account.id, "key-100")]  # the old ones are gone
    monkeypatch.setattr("fluidstack.emulator.platform.idempotency.IDEMPOTENCY_LIMIT", 50)
    _remember_many(state, account, 101, 100)
    assert len(state.idempotency) == 50
    assert next(iter(state.idempotency))[1] == "key-151"  # the oldest went first
