"""``Idempotency-Key`` on POST /instances, /ssh_keys and /api_keys, per account."""

from __future__ import annotations

import httpx
from emulator_support import ClientFactory, public_key

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
