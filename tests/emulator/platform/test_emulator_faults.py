"""Injected faults (error, drop, delay, perform) and the request journal."""

from __future__ import annotations

import threading
import time
from typing import Any, List

import httpx
import pytest
from emulator_support import ClientFactory

from fluidstack.testing import EmulatorControlError, EmulatorHandle
from support import journal_entries


@pytest.fixture
def raw(client_factory: ClientFactory) -> httpx.Client:
    """Default-account client without conformance checks (injected bodies are arbitrary)."""
    return client_factory(validate=False)


def test_error_fault_with_retry_after_headers(emulator: EmulatorHandle, raw: httpx.Client) -> None:
    rule = emulator.add_fault(
        method="GET", path="/instances", status=503, retry_after="2", retry_after_ms=1500
    )
    assert rule["id"]
    assert rule["remaining"] == 1
    response = raw.get("/instances")
    assert response.status_code == 503
    assert response.json() == {"message": "Injected fault"}
    assert response.headers["retry-after"] == "2"
    assert response.headers["retry-after-ms"] == "1500"
    assert raw.get("/instances").status_code == 200  # times=1: used up
    assert emulator.faults() == []


def test_error_fault_with_custom_body_times_and_glob(
    emulator: EmulatorHandle, raw: httpx.Client
) -> None:
    emulator.add_fault(path="/instances/*", status=429, body={"detail": "slow down"}, times=2)
    assert raw.get("/instances/a").status_code == 429
    assert raw.put("/instances/b/stop").json() == {"detail": "slow down"}
    assert raw.get("/instances/a").status_code == 404
    assert raw.get("/instances").status_code == 200  # the glob needs a segment


def test_unlimited_fault_until_removed(emulator: EmulatorHandle, raw: httpx.Client) -> None:
    rule = emulator.add_fault(path="/user/balance", times=None, status=500)
    assert [raw.get("/user/balance").status_code for _ in range(3)] == [500, 500, 500]
    emulator.remove_fault(rule["id"])
    assert raw.get("/user/balance").status_code == 200
    with pytest.raises(EmulatorControlError):
        emulator.remove_fault(rule["id"])


def test_fault_scoped_to_one_api_key(
    emulator: EmulatorHandle, client_factory: ClientFactory
) -> None:
    emulator.create_account("victim")
    victim = client_factory(api_key="victim", validate=False)
    bystander = client_factory(validate=False)
    emulator.add_fault(path="/instances", api_key="victim", status=500, times=None)
    assert bystander.get("/instances").status_code == 200
    assert victim.get("/instances").status_code == 500
    listed = emulator.faults()
    assert "victim" not in str(listed)  # the key is not echoed back


def test_perform_then_error_creates_the_instance(
    emulator: EmulatorHandle, raw: httpx.Client, ssh_key: str
) -> None:
    emulator.add_fault(method="POST", path="/instances", status=500, perform=True)
    body = {"gpu_type": "L40_48GB", "ssh_key": ssh_key}
    headers = {"Idempotency-Key": "ambiguous"}
    failed = raw.post("/instances", json=body, headers=headers)
    assert failed.status_code == 500
    created = raw.get("/instances").json()
    assert len(created) == 1  # the operation happened although the answer was an error
    retried = raw.post("/instances", json=body, headers=headers)
    assert retried.status_code == 202
    assert retried.json()["id"] == created[0]["id"]  # the key makes the retry safe
    assert len(raw.get("/instances").json()) == 1


def test_drop_closes_the_connection(emulator: EmulatorHandle, raw: httpx.Client) -> None:
    emulator.add_fault(path="/list_available_configurations", action="drop")
    with pytest.raises((httpx.RemoteProtocolError, httpx.ReadError)):
        raw.get("/list_available_configurations")
    assert raw.get("/list_available_configurations").status_code == 200


def test_drop_after_performing(emulator: EmulatorHandle, raw: httpx.Client) -> None:
    emulator.add_fault(method="POST", path="/api_keys", action="drop", perform=True)
    with pytest.raises((httpx.RemoteProtocolError, httpx.ReadError)):
        raw.post("/api_keys", json={"name": "lost"})
    assert [k["name"] for k in raw.get("/api_keys").json()] == ["default", "lost"]


def test_delay_then_normal_answer(emulator: EmulatorHandle, raw: httpx.Client) -> None:
    emulator.add_fault(path="/healthcheck", action="delay", seconds=0.3)
    started = time.perf_counter()
    response = raw.get("/healthcheck")
    assert time.perf_counter() - started >= 0.3
    assert response.json() == {"status": "ok"}
    emulator.add_fault(path="/healthcheck", action="delay", seconds=0.5)
    with pytest.raises(httpx.ReadTimeout):
        raw.get("/healthcheck", timeout=0.1)
    journal_entries(emulator, "/healthcheck", count=2)


def test_a_delayed_request_is_performed_even_if_its_client_gave_up(
    emulator: EmulatorHandle, api: httpx.Client
) -> None:
    """A delay without ``perform`` models a request that reaches the server late: it is
    carried out when the delay ends, whether or not the client still waits (issue 13,
    item 14: the late create that naive retries duplicate)."""
    # Long enough that "not yet" is read well before the delay ends, even under load.
    emulator.add_fault(method="POST", path="/api_keys", action="delay", seconds=3)
    with pytest.raises(httpx.ReadTimeout):
        api.post("/api_keys", json={"name": "late"}, timeout=0.1)
    assert [k["name"] for k in api.get("/api_keys").json()] == ["default"]  # not yet
    deadline = time.monotonic() + 30  # the event waited for is the key's arrival
    while [k["name"] for k in api.get("/api_keys").json()] != ["default", "late"]:
        assert time.monotonic() < deadline, "the late request was never carried out"
        time.sleep(0.05)


def test_delay_after_performing(emulator: EmulatorHandle, raw: httpx.Client) -> None:
    emulator.add_fault(method="POST", path="/api_keys", action="delay", seconds=0.5, perform=True)
    with pytest.raises(httpx.ReadTimeout):
        raw.post("/api_keys", json={"name": "slow"}, timeout=0.2)
    journal_entries(emulator, "/api_keys")
    assert [k["name"] for k in raw.get("/api_keys").json()] == ["default", "slow"]


def test_faults_never_match_the_control_api(emulator: EmulatorHandle) -> None:
    emulator.add_fault(path="/*", times=None, status=500)
    assert emulator.clock()["manual"] is True
    emulator.clear_faults()
    assert emulator.faults() == []


@pytest.mark.parametrize(
    "rule",
    [
        {"path": "no-slash"},
        {"path": "/x", "action": "explode"},
        {"path": "/x", "action": "delay"},
        {"path": "/x", "times": 0},
        {"path": "/x", "status": 99},
        {"path": "/x", "unknown": 1},
    ],
)
def test_bad_fault_rules_are_refused(emulator: EmulatorHandle, rule: dict) -> None:  # type: ignore[type-arg]
    response = httpx.post(
        f"{emulator.base_url}/_emulator/faults", json=rule, headers=emulator.control_headers
    )
    assert response.status_code == 422


def test_journal_records_requests_without_secrets(
    emulator: EmulatorHandle, api: httpx.Client, client_factory: ClientFactory
) -> None:
    cookie = emulator.session_cookie()
    api.get("/instances?page=1", headers={"Authorization": "Bearer secret", "X-Trace": "t1"})
    client_factory(api_key=None, cookies={"wos_session": cookie}).get("/ssh_keys")
    client_factory(api_key="wrong-secret-key").get("/instances")
    rule = emulator.add_fault(path="/user/balance", status=502)
    client_factory(validate=False).get("/user/balance", headers={"Idempotency-Key": "idem-1"})

    entries = emulator.journal()
    assert [(e["method"], e["path"], e["status"]) for e in entries] == [
        ("GET", "/instances", 200),
        ("GET", "/ssh_keys", 200),
        ("GET", "/instances", 401),
        ("GET", "/user/balance", 502),
    ]
    first = entries[0]
    assert first["query"] == "page=1"
    assert first["account"] == "account-1"
    assert first["headers"]["x-trace"] == "t1"
    assert entries[2]["account"] is None
    assert entries[3]["fault"] == rule["id"]
    assert entries[3]["idempotency_key"] == "idem-1"
    text = str(entries)
    for secret in (emulator.api_key, "wrong-secret-key", cookie, "Bearer secret"):
        assert secret not in text
    assert all(not {"api-key", "cookie", "authorization"} & set(e["headers"]) for e in entries)

    assert [e["seq"] for e in emulator.journal(since=entries[1]["seq"])] == [
        e["seq"] for e in entries[2:]
    ]
    emulator.clear_journal()
    assert emulator.journal() == []


def test_reset_of_one_account(
    emulator: EmulatorHandle, api: httpx.Client, client_factory: ClientFactory, ssh_key: str
) -> None:
    emulator.create_account("second", balance=10)
    second = client_factory(api_key="second")
    second.post("/api_keys", json={"name": "extra"})
    emulator.set_balance(3, api_key="second")
    emulator.reset(api_key="second")
    assert second.get("/user/balance").json() == {"balance": 10}
    assert [k["name"] for k in second.get("/api_keys").json()] == ["default"]
    assert [k["name"] for k in api.get("/ssh_keys").json()] == [ssh_key]  # untouched
    with pytest.raises(EmulatorControlError):
        emulator.reset(api_key="nobody")


def test_full_reset_keeps_command_line_accounts_only(
    emulator: EmulatorHandle, api: httpx.Client, ssh_key: str
) -> None:
    emulator.create_account("temporary")
    emulator.reset()
    assert api.get("/ssh_keys").json() == []
    assert (
        httpx.get(f"{emulator.base_url}/instances", headers={"api-key": "temporary"}).status_code
        == 401
    )


def test_control_api_validation(emulator: EmulatorHandle) -> None:
    http = httpx.Client(headers=emulator.control_headers)
    base = emulator.base_url
    assert http.post(f"{base}/_emulator/clock/advance", json={"seconds": -1}).status_code == 422
    assert http.post(f"{base}/_emulator/accounts", json={"api_key": ""}).status_code == 422
    emulator.create_account("dup")
    assert http.post(f"{base}/_emulator/accounts", json={"api_key": "dup"}).status_code == 409
    assert (
        http.put(f"{base}/_emulator/accounts/nobody/balance", json={"balance": 1}).status_code
        == 404
    )
    assert http.post(f"{base}/_emulator/sessions", json={"api_key": "nobody"}).status_code == 404
    bad_capacity = {"gpu_type": "T4_16GB", "region": "NORWAY", "gpus": 1}
    assert http.put(f"{base}/_emulator/capacity", json=bad_capacity).status_code == 400
    before = emulator.clock()
    after = emulator.advance(90)
    assert before["time_scale"] == after["time_scale"] == 100.0
    assert after["now"] > before["now"]


def test_a_request_delayed_across_a_reset_leaves_no_trace(
    emulator: EmulatorHandle, raw: httpx.Client
) -> None:
    """A client gives up on a slow request; the test resets; the slow request must not
    land in the fresh state or journal afterwards (it would leak between tests)."""
    emulator.add_fault(method="POST", path="/ssh_keys", action="delay", seconds=2)
    key = {"name": "late", "public_key": "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGqk you@x"}
    answered: List[Any] = []

    def send() -> None:  # waits for the answer: its arrival says the server is done
        try:
            answered.append(raw.post("/ssh_keys", json=key, timeout=60))
        except httpx.HTTPError as exc:
            answered.append(exc)

    sender = threading.Thread(target=send)
    sender.start()
    deadline = time.monotonic() + 30
    while emulator.faults():  # the one-shot rule is used up: the request is in its delay
        assert time.monotonic() < deadline, "the delayed request never arrived"
        time.sleep(0.02)
    emulator.reset()
    sender.join(timeout=60)
    assert answered, "the delayed request never finished"
    assert emulator.journal() == []
    assert raw.get("/ssh_keys").json() == []
