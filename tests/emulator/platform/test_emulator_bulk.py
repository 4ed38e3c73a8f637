"""``POST /_emulator/instances``: many instances in one control call, validated, all or
nothing (issue 15, item 5)."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any, Dict, List

import httpx
import pytest

from fluidstack.emulator.platform.state import BulkGroup, PlatformState
from fluidstack.emulator.responses import ApiError
from fluidstack.emulator.settings import EmulatorSettings
from fluidstack.testing import EmulatorControlError, EmulatorHandle

GPU = "RTX_A4000_16GB"


def _listing(api: httpx.Client, page: int = 1, failed: bool = False) -> List[Dict[str, Any]]:
    params = {"page": page, "include_failed_instances": "true" if failed else "false"}
    response = api.get("/instances", params=params)
    assert response.status_code == 200
    items: List[Dict[str, Any]] = response.json()
    return items


def _seconds(stamp: str) -> float:
    return datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()


def test_creates_every_group_in_its_status_age_and_account(
    emulator: EmulatorHandle, api: httpx.Client
) -> None:
    emulator.create_account("tenant-b")
    now = _seconds(emulator.clock()["now"])
    answer = emulator.create_instances(
        {"count": 30, "gpu_type": GPU, "status": "running", "age_seconds": 3600},
        {"count": 20, "gpu_type": GPU, "status": "stopped", "name_prefix": "idle"},
        {"count": 10, "gpu_type": GPU, "status": "failed"},
        {"count": 5, "gpu_type": "L40_48GB", "status": "pending", "api_key": "tenant-b"},
        {"count": 2, "gpu_type": GPU, "status": "unhealthy"},
        {"count": 2, "gpu_type": GPU, "status": "shutting_down"},
        return_ids=True,
    )
    assert answer["created"] == 69
    assert len(answer["ids"]) == 69
    listed = _listing(api) + _listing(api, 2)
    mine = answer["ids"][:50] + answer["ids"][65:]  # failed ones are hidden
    assert [i["id"] for i in listed] == mine
    assert [i["status"] for i in listed] == ["running"] * 30 + ["stopped"] * 20 + [
        "unhealthy"
    ] * 2 + ["shutting_down"] * 2
    assert all(_seconds(i["created_at"]) == now - 3600 for i in listed[:30])
    assert [i["name"] for i in listed[30:33]] == ["idle-1", "idle-2", "idle-3"]
    assert all(i["ip_address"] and i["username"] == "ubuntu" for i in listed[:50])
    everything = _listing(api, 1, failed=True)
    assert [i["status"] for i in everything[50:60]] == ["failed"] * 10
    other = httpx.Client(base_url=emulator.base_url, headers={"api-key": "tenant-b"})
    with other:
        theirs = other.get("/instances").json()
        assert [i["status"] for i in theirs] == ["pending"] * 5
        emulator.advance(3600)  # they carry on: provisioning, then running
        assert {i["status"] for i in other.get("/instances").json()} == {"running"}
    statuses = [api.get(f"/instances/{i}").json()["status"] for i in answer["ids"][65:]]
    assert statuses == ["unhealthy", "unhealthy", "terminated", "terminated"]  # 30 s on
    first = api.get(f"/instances/{answer['ids'][0]}")
    assert first.status_code == 200
    assert first.json()["configuration"]["gpu_model"]["name"] == GPU


def test_seeded_instances_hold_capacity_and_are_billed_from_now(
    emulator: EmulatorHandle, api: httpx.Client
) -> None:
    region = "NORWAY"
    emulator.set_capacity(GPU, region, 40)
    emulator.create_instances(
        {"count": 10, "gpu_type": GPU, "region": region, "status": "running", "age_seconds": 86400},
        {"count": 10, "gpu_type": GPU, "region": region, "status": "terminated"},
    )
    capacity = {(c["gpu_type"], c["region"]): c for c in emulator._call("GET", "/capacity")}
    assert capacity[(GPU, region)]["in_use"] == 10
    assert api.get("/user/balance").json() == {"balance": 1000.0}  # the age is not charged
    price = float(
        next(c for c in api.get("/list_available_configurations").json() if c["gpu_type"] == GPU)[
            "price_per_gpu_hr"
        ]
    )
    emulator.advance(3600)
    assert api.get("/user/balance").json() == {"balance": round(1000.0 - 10 * price, 6)}


def test_too_little_capacity_creates_nothing(emulator: EmulatorHandle, api: httpx.Client) -> None:
    emulator.set_capacity(GPU, "NORWAY", 5)
    with pytest.raises(EmulatorControlError) as refused:
        emulator.create_instances(
            {"count": 3, "gpu_type": GPU, "region": "NORWAY"},
            {"count": 3, "gpu_type": GPU, "region": "NORWAY", "status": "stopped"},
        )
    assert "409" in str(refused.value)
    assert "need 6 x RTX_A4000_16GB in NORWAY, 5 are free" in str(refused.value)
    assert "PUT /_emulator/capacity" in str(refused.value)
    assert _listing(api, failed=True) == []
    # Terminated and failed instances hold nothing: these fit.
    emulator.create_instances({"count": 50, "gpu_type": GPU, "status": "terminated"})
    assert len(_listing(api)) == 50


@pytest.mark.parametrize(
    ("group", "status", "message"),
    [
        ({"gpu_type": "NO_SUCH_GPU"}, 400, "instances[1].gpu_type: 'NO_SUCH_GPU' is not offered"),
        ({"api_key": "nobody"}, 404, "instances[1].api_key: no account has this API key"),
        ({"region": "ATLANTIS"}, 400, "instances[1].region: RTX_A4000_16GB is not offered in"),
        ({"gpu_count": 3}, 400, "instances[1].gpu_count: RTX_A4000_16GB is offered with"),
        ({"ssh_key": "none-here"}, 400, "instances[1].ssh_key: the account has no SSH key"),
        ({"operating_system_label": "dos"}, 400, "instances[1].operating_system_label"),
        ({"status": "exploded"}, 422, "status"),
        ({"count": 0}, 422, "count"),
        ({"age_seconds": -1}, 422, "age_seconds"),
        ({"name_prefix": " x"}, 422, "name_prefix"),
        ({"colour": "red"}, 422, "colour"),
        ({"count": 999_999}, 400, "1000009 instances asked for; one request creates 1000000"),
    ],
)
def test_a_bad_group_is_refused_and_nothing_is_created(
    emulator: EmulatorHandle,
    api: httpx.Client,
    group: Dict[str, Any],
    status: int,
    message: str,
) -> None:
    http = httpx.Client(base_url=emulator.base_url, headers=emulator.control_headers)
    with http:
        body = {
            "instances": [
                {"api_key": emulator.api_key, "count": 10, "gpu_type": GPU},
                {"api_key": emulator.api_key, "count": 1, "gpu_type": GPU, **group},
            ]
        }
        response = http.post("/_emulator/instances", json=body)
    assert response.status_code == status, response.text
    assert message in response.text
    assert _listing(api, failed=True) == []


def test_bulk_creation_needs_the_control_token(emulator: EmulatorHandle, api: httpx.Client) -> None:
    body = {"instances": [{"api_key": emulator.api_key, "count": 1, "gpu_type": GPU}]}
    refused = httpx.post(f"{emulator.base_url}/_emulator/instances", json=body)
    assert refused.status_code == 401
    assert _listing(api) == []


@pytest.mark.slow
def test_one_call_stands_up_100_000_instances(emulator: EmulatorHandle, api: httpx.Client) -> None:
    emulator.set_capacity(GPU, "NORWAY", 100_000)
    assert emulator.create_instances({"count": 100_000, "gpu_type": GPU}) == {"created": 100_000}
    last = _listing(api, 1000)
    assert len(last) == 100
    assert _listing(api, 1001) == []
    assert last[-1]["status"] == "running"
    emulator.reset()


def test_bulk_created_instances_survive_a_restart(tmp_path: Path) -> None:
    settings = EmulatorSettings(manual_clock=True, seed=3, db_path=str(tmp_path / "e.db"))
    state = PlatformState(settings)
    account = next(state.iter_accounts())
    key = settings.effective_api_keys[0]
    state.set_capacity(GPU, "NORWAY", 200)
    ids = state.bulk_create(
        [
            BulkGroup(api_key=key, count=120, gpu_type=GPU, status="stopping"),
            BulkGroup(api_key=key, count=7, gpu_type=GPU, status="failed"),
        ]
    )
    with pytest.raises(ApiError):  # refused whole: nothing reaches the file either
        state.bulk_create(
            [
                BulkGroup(api_key=key, count=5, gpu_type=GPU),
                BulkGroup(api_key=key, count=5, gpu_type="NOPE"),
            ]
        )
    before = state.list_instances_json(account, 2, True)
    state.close()
    again = PlatformState(settings)
    again_account = again.accounts[account.id]
    assert list(again.instances) == ids
    assert again.list_instances_json(again_account, 2, True) == before
    again.clock.advance(60)
    assert {i.status_at(again.clock.now()) for i in again.instances.values()} == {
        "stopped",
        "failed",
    }
    again.close()
