"""Instances: create, list, get, lifecycle in simulated time, business rules, billing."""

from __future__ import annotations

from typing import Any, Callable, Dict, Iterator, List

import httpx
import pytest
from emulator_support import public_key

from fluidstack.emulator import EmulatorServer, EmulatorSettings
from fluidstack.testing import EmulatorHandle

Create = Callable[..., Dict[str, Any]]


def test_create_answers_202_with_defaults(api: httpx.Client, ssh_key: str) -> None:
    response = api.post("/instances", json={"gpu_type": "L40_48GB", "ssh_key": ssh_key})
    assert response.status_code == 202
    body = response.json()
    assert set(body) == {"id", "name", "gpu_type", "operating_system_label"}
    assert body["gpu_type"] == "L40_48GB"
    assert body["operating_system_label"] == "ubuntu_20_04_lts_nvidia"
    assert body["name"]  # a random name when none is given
    instance = api.get(f"/instances/{body['id']}").json()
    assert instance["configuration"]["gpu_count"] == 1
    assert instance["configuration"]["region"] == "CANADA"
    assert instance["ssh_keys"] == [ssh_key]


def test_create_honours_every_field(api: httpx.Client, create: Create) -> None:
    volume = {
        "id": {"value": "0b5b6f8e-4f8e-4c43-9a3c-3f0e3cf0f9c1", "prefix": "vol"},
        "name": "data",
        "size_gb": 100,
        "cost_gb_hr": 0.0001,
        "created_at": None,
        "updated_at": None,
    }
    body = create(
        "A100_PCIE_80GB",
        name="trainer",
        gpu_count=4,
        region="ARIZONA_USA",
        operating_system_label="ubuntu_22_04_lts_nvidia",
        volumes=[volume],
    )
    assert body["name"] == "trainer"
    assert body["operating_system_label"] == "ubuntu_22_04_lts_nvidia"
    instance = api.get(f"/instances/{body['id']}").json()
    assert instance["configuration"]["region"] == "ARIZONA_USA"
    assert instance["configuration"]["gpu_count"] == 4
    assert instance["configuration"]["cpu_count"] == 124  # observed catalog
    assert instance["volumes"][0]["name"] == "data"
    assert instance["volumes"][0]["cost_gb_hr"] == "0.0001"


def test_lifecycle_follows_the_simulated_clock(
    emulator: EmulatorHandle, api: httpx.Client, create: Create
) -> None:
    instance_id = create("L40_48GB")["id"]  # 5 minutes to provision
    first = api.get(f"/instances/{instance_id}")
    assert first.status_code == 202
    assert first.json()["status"] == "pending"
    assert first.json()["ip_address"] is None
    assert first.json()["current_gpu_hr_cost"] == 0

    emulator.advance(30)
    provisioning = api.get(f"/instances/{instance_id}")
    assert (provisioning.status_code, provisioning.json()["status"]) == (202, "provisioning")

    emulator.advance(270)
    running = api.get(f"/instances/{instance_id}")
    assert running.status_code == 200
    body = running.json()
    assert body["status"] == "running"
    assert body["username"] == "ubuntu"
    assert body["ssh_port"] == "22"
    assert body["ip_address"]
    assert body["current_gpu_hr_cost"] == 1.25

    stopped = api.put(f"/instances/{instance_id}/stop")
    assert stopped.status_code == 200
    assert stopped.json()["status"] == "stopping"
    emulator.advance(45)
    body = api.get(f"/instances/{instance_id}").json()
    assert body["status"] == "stopped"
    assert body["current_gpu_hr_cost"] == pytest.approx(0.0625)

    started = api.put(f"/instances/{instance_id}/start")
    assert started.json()["status"] == "starting"
    emulator.advance(60)
    assert api.get(f"/instances/{instance_id}").json()["status"] == "running"

    deleted = api.delete(f"/instances/{instance_id}")
    assert deleted.status_code == 200
    assert "message" in deleted.json()
    body = api.get(f"/instances/{instance_id}").json()
    assert body["status"] == "terminated"
    assert body["current_gpu_hr_cost"] == 0
    # Terminated instances stay listed.
    assert [i["status"] for i in api.get("/instances").json()] == ["terminated"]


@pytest.mark.parametrize(
    ("action", "wrong_status"),
    [("stop", "pending"), ("start", "pending"), ("start", "running")],
)
def test_transitions_in_the_wrong_status_answer_409_and_change_nothing(
    emulator: EmulatorHandle, api: httpx.Client, create: Create, action: str, wrong_status: str
) -> None:
    instance_id = create()["id"]
    if wrong_status == "running":
        emulator.advance(600)
    response = api.put(f"/instances/{instance_id}/{action}")
    assert response.status_code == 409
    assert wrong_status in response.json()["message"]
    assert api.get(f"/instances/{instance_id}").json()["status"] == wrong_status


def test_unknown_instance_answers_404(api: httpx.Client) -> None:
    for method, path in [
        ("GET", "/instances/missing"),
        ("DELETE", "/instances/missing"),
        ("PUT", "/instances/missing/stop"),
        ("PUT", "/instances/missing/start"),
    ]:
        response = api.request(method, path)
        assert response.status_code == 404
        assert "missing" in response.json()["message"]


def test_rename(api: httpx.Client, create: Create) -> None:
    instance_id = create(name="before")["id"]
    response = api.put(f"/instances/{instance_id}/rename", json={"new_instance_name": "after"})
    assert response.status_code == 200
    assert response.json()["name"] == "after"
    assert api.get(f"/instances/{instance_id}").json()["name"] == "after"
    bad = api.put(f"/instances/{instance_id}/rename", json={"new_instance_name": ""})
    assert bad.status_code == 422


@pytest.mark.parametrize(
    ("fields", "fragment"),
    [
        ({"ssh_key": "nope"}, "'nope' not found"),
        ({"gpu_type": "T4_16GB"}, "not currently offered"),
        ({"gpu_count": 3}, "not 3"),
        ({"region": "JAPAN"}, "not offered in JAPAN"),
        ({"operating_system_label": "windows_95"}, "windows_95"),
    ],
)
def test_business_rule_refusals_answer_400_and_create_nothing(
    api: httpx.Client, ssh_key: str, fields: Dict[str, Any], fragment: str
) -> None:
    body = {"gpu_type": "L40_48GB", "ssh_key": ssh_key, **fields}
    response = api.post("/instances", json=body)
    assert response.status_code == 400
    assert fragment in response.json()["message"]
    assert api.get("/instances?include_failed_instances=true").json() == []


def test_out_of_stock_answers_409_naming_what_is_missing(
    emulator: EmulatorHandle, api: httpx.Client, create: Create, ssh_key: str
) -> None:
    emulator.set_capacity("H100_PCIE_80GB", "CANADA", 4)
    emulator.set_capacity("H100_PCIE_80GB", "UTAH_USA", 0)
    first = create("H100_PCIE_80GB", gpu_count=4, region="CANADA")
    response = api.post(
        "/instances",
        json={"gpu_type": "H100_PCIE_80GB", "ssh_key": ssh_key, "gpu_count": 2, "region": "CANADA"},
    )
    assert response.status_code == 409
    assert response.json() == {
        "message": "Out of stock: no capacity for 2 x H100_PCIE_80GB in CANADA"
    }
    anywhere = api.post("/instances", json={"gpu_type": "H100_PCIE_80GB", "ssh_key": ssh_key})
    assert anywhere.status_code == 409
    assert "any region" in anywhere.json()["message"]
    # Terminating frees the capacity.
    api.delete(f"/instances/{first['id']}")
    assert create("H100_PCIE_80GB", gpu_count=2)["gpu_type"] == "H100_PCIE_80GB"
    assert len(api.get("/instances").json()) == 2


def test_region_is_chosen_where_capacity_remains(
    emulator: EmulatorHandle, api: httpx.Client, create: Create
) -> None:
    emulator.set_capacity("A100_PCIE_80GB", "CANADA", 0)
    instance_id = create("A100_PCIE_80GB", gpu_count=8)["id"]
    assert (
        api.get(f"/instances/{instance_id}").json()["configuration"]["region"] == "NORTH_DAKOTA_USA"
    )


def test_balance_draws_down_with_simulated_time(
    emulator: EmulatorHandle, api: httpx.Client, create: Create
) -> None:
    emulator.set_balance(100.0)
    instance_id = create("L40_48GB", gpu_count=2)["id"]  # 2 x 1.25 USD/h once running
    emulator.advance(300)  # provisioning is not billed
    assert api.get("/user/balance").json() == {"balance": 100.0}
    emulator.advance(3600)
    assert api.get("/user/balance").json()["balance"] == pytest.approx(97.5)
    api.put(f"/instances/{instance_id}/stop")
    emulator.advance(45 + 3600)  # stopping bills at the running price, stopped at 0.0625/GPU
    expected = 97.5 - 2 * 1.25 * 45 / 3600 - 2 * 0.0625
    assert api.get("/user/balance").json()["balance"] == pytest.approx(expected)
    api.delete(f"/instances/{instance_id}")
    emulator.advance(7200)
    assert api.get("/user/balance").json()["balance"] == pytest.approx(expected)


def test_no_balance_refuses_create_with_402(
    emulator: EmulatorHandle, api: httpx.Client, ssh_key: str
) -> None:
    emulator.set_balance(0.0)
    response = api.post("/instances", json={"gpu_type": "L40_48GB", "ssh_key": ssh_key})
    assert response.status_code == 402
    assert "balance" in response.json()["message"].lower()


def test_list_filters_failed_and_keeps_creation_order(create: Create, api: httpx.Client) -> None:
    ids = [create()["id"] for _ in range(3)]
    assert [i["id"] for i in api.get("/instances").json()] == ids
    assert api.get("/instances?page=2").json() == []
    assert api.get("/instances?page=0").status_code == 422
    assert api.get("/instances?include_failed_instances=maybe").status_code == 422


@pytest.fixture
def small_pages() -> Iterator[httpx.Client]:
    settings = EmulatorSettings(
        port=0, manual_clock=True, seed=7, failure_rate=0.5, page_size=2, log_level="warning"
    )
    with (
        EmulatorServer(settings) as server,
        httpx.Client(base_url=server.base_url, headers=_headers(server)) as client,
    ):
        yield client


def _headers(server: EmulatorServer) -> Dict[str, str]:
    """The account's key, and the control token (for /_emulator/* on the same client)."""
    return {"api-key": server.api_key, "x-emulator-token": server.control_token}


def _statuses_after_provisioning(client: httpx.Client, count: int) -> List[str]:
    client.post("/ssh_keys", json={"name": "k", "public_key": public_key()})
    ids = []
    for _ in range(count):
        response = client.post("/instances", json={"gpu_type": "RTX_A4000_16GB", "ssh_key": "k"})
        ids.append(response.json()["id"])
    client.post("/_emulator/clock/advance", json={"seconds": 3600})
    return [client.get(f"/instances/{i}").json()["status"] for i in ids]


def test_seeded_failure_rate_is_deterministic_and_pages_are_stable(
    small_pages: httpx.Client,
) -> None:
    statuses = _statuses_after_provisioning(small_pages, 8)
    assert set(statuses) == {"running", "failed"}  # seed 7 at 50 %: both outcomes
    failed = statuses.count("failed")

    visible: List[Dict[str, Any]] = []
    page = 1
    while True:
        batch = small_pages.get(f"/instances?page={page}").json()
        assert len(batch) <= 2
        if not batch:
            break
        visible.extend(batch)
        page += 1
    assert len(visible) == 8 - failed
    assert all(i["status"] != "failed" for i in visible)
    everything = [
        i
        for p in range(1, 6)
        for i in small_pages.get(f"/instances?page={p}&include_failed_instances=true").json()
    ]
    assert len(everything) == 8

    # The same seed replays the same outcome.
    settings = EmulatorSettings(port=0, manual_clock=True, seed=7, failure_rate=0.5)
    with (
        EmulatorServer(settings) as server,
        httpx.Client(base_url=server.base_url, headers=_headers(server)) as again,
    ):
        assert _statuses_after_provisioning(again, 8) == statuses


def test_failed_provisioning_frees_capacity(small_pages: httpx.Client) -> None:
    statuses = _statuses_after_provisioning(small_pages, 8)
    report = small_pages.get("/_emulator/capacity").json()
    norway = next(
        r for r in report if r["gpu_type"] == "RTX_A4000_16GB" and r["region"] == "NORWAY"
    )
    assert norway["in_use"] == statuses.count("running")


def test_configurations_and_templates(api: httpx.Client) -> None:
    configurations = api.get("/list_available_configurations").json()
    by_type = {c["gpu_type"]: c for c in configurations}
    assert by_type["H100_PCIE_80GB"]["price_per_gpu_hr"] == "2.89"
    assert by_type["H100_PCIE_80GB"]["regions"] == ["UTAH_USA", "CANADA"]
    assert by_type["A100_PCIE_80GB"]["gpu_counts"] == [1, 2, 4, 8]
    assert len(by_type) > 10
    assert all(isinstance(c["stopped_price_per_hour"], str) for c in configurations)
    labels = [t["label"] for t in api.get("/list_available_os_templates").json()]
    assert labels == ["ubuntu_20_04_lts_nvidia", "ubuntu_22_04_lts_nvidia"]


def test_listing_follows_every_change_of_an_instance(
    api: httpx.Client, create: Create, emulator: EmulatorHandle
) -> None:
    """Listings are served from encoded entries cached per instance: every change that
    shows in an instance's view must show in the next listing."""
    instance = create()

    def listed() -> Dict[str, Any]:
        (entry,) = api.get("/instances").json()
        assert entry == api.get(f"/instances/{instance['id']}").json()
        return dict(entry)

    assert listed()["status"] == "pending"
    emulator.advance(3600)
    first = listed()
    assert (first["status"], first["current_gpu_hr_cost"] > 0) == ("running", True)
    api.put(f"/instances/{instance['id']}/rename", json={"new_instance_name": "renamed"})
    assert listed()["name"] == "renamed"
    api.put(f"/instances/{instance['id']}/stop")
    assert listed()["status"] == "stopping"
    emulator.advance(3600)
    assert listed()["status"] == "stopped"
    api.delete(f"/instances/{instance['id']}")
    gone = listed()
    assert (gone["status"], gone["ip_address"], gone["current_gpu_hr_cost"]) == (
        "terminated",
        None,
        0.0,
    )
