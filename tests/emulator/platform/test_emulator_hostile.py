"""Hostile input the validation tests do not cover: deep nesting, path traversal and
injection strings in names and ids, on the in-memory store and on SQLite."""

from __future__ import annotations

from typing import Iterator

import httpx
import pytest
from emulator_support import public_key

from fluidstack.emulator import EmulatorServer, EmulatorSettings

KEY = "hostile-key"
NASTY_NAMES = [
    "'; DROP TABLE ssh_keys; --",
    '" OR 1=1 --',
    "<b onmouseover=alert(1)>x",
    "%2e%2e%2f%2e%2e%2f",
    "ü̈ñíçødé 🚀",
    "{{7*7}}${jndi:ldap:x}",
    "..",
]
# SSH keys are addressed by name in the URL path: a "/" or a control character would
# make a key impossible to address, so such names are refused up front.
UNADDRESSABLE_NAMES = ["../../etc/passwd", "<script>alert(1)</script>", "tab\there", "nul\x00"]


@pytest.fixture(scope="module", params=["memory", "sqlite"])
def running(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[EmulatorServer]:
    db = str(tmp_path_factory.mktemp("db") / "state.db") if request.param == "sqlite" else None
    settings = EmulatorSettings(
        port=0, api_keys=[KEY], db_path=db, manual_clock=True, failure_rate=0.0,
        log_level="critical",
    )  # fmt: skip
    with EmulatorServer(settings) as emulator:
        yield emulator


@pytest.fixture
def server(running: EmulatorServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=running.base_url, headers={"api-key": KEY}) as client:
        client.post(
            "/_emulator/reset", json={}, headers={"x-emulator-token": running.control_token}
        ).raise_for_status()
        yield client


def test_deeply_nested_json_is_a_client_error(server: httpx.Client) -> None:
    for depth in (100, 10_000, 200_000):
        body = b"[" * depth + b"]" * depth
        response = server.post(
            "/ssh_keys", content=body, headers={"content-type": "application/json"}
        )
        assert 400 <= response.status_code < 500, (depth, response.status_code)
    nested = b'{"name": ' + b'{"a":' * 5000 + b"1" + b"}" * 5000 + b', "public_key": "x"}'
    response = server.post(
        "/ssh_keys", content=nested, headers={"content-type": "application/json"}
    )
    assert 400 <= response.status_code < 500
    assert server.get("/ssh_keys").json() == []


@pytest.mark.parametrize("name", NASTY_NAMES)
def test_injection_strings_are_stored_verbatim_and_do_nothing_else(
    server: httpx.Client, name: str
) -> None:
    created = server.post("/ssh_keys", json={"name": name, "public_key": public_key()})
    assert created.status_code == 200, created.text
    assert [k["name"] for k in server.get("/ssh_keys").json()] == [name]
    instance = server.post(
        "/instances", json={"gpu_type": "RTX_A4000_16GB", "ssh_key": name, "name": name}
    )
    assert instance.status_code == 202, instance.text
    instance_id = instance.json()["id"]
    fetched = server.get(f"/instances/{instance_id}").json()
    assert (fetched["name"], fetched["ssh_keys"]) == (name, [name])
    renamed = server.put(f"/instances/{instance_id}/rename", json={"new_instance_name": name * 2})
    assert renamed.json()["name"] == name * 2
    deleted = server.delete(f"/ssh_keys/{httpx.URL(path=name).raw_path.decode()}")
    assert deleted.status_code in (200, 404), deleted.text


@pytest.mark.parametrize("name", UNADDRESSABLE_NAMES)
def test_unaddressable_key_names_are_refused_and_store_nothing(
    server: httpx.Client, name: str
) -> None:
    response = server.post("/ssh_keys", json={"name": name, "public_key": public_key()})
    assert response.status_code == 422
    assert "must not contain" in response.text
    assert server.get("/ssh_keys").json() == []


@pytest.mark.parametrize(
    "path",
    [
        "/instances/..%2F..%2Fssh_keys",
        "/instances/%2e%2e",
        "/instances/..%5C..%5Cwindows",
        "/instances/' OR '1'='1",
        "/instances/%00",
        "/ssh_keys/..%2Fapi_keys",
        "/api_keys/1 OR 1=1",
    ],
)
def test_traversal_and_injection_in_ids_answer_404(server: httpx.Client, path: str) -> None:
    before = server.get("/ssh_keys").json()
    for method in ("GET", "DELETE"):
        if path.startswith("/ssh_keys") and method == "GET":
            continue
        response = server.request(method, path)
        assert response.status_code in (404, 405, 422), (method, path, response.text)
    assert server.get("/ssh_keys").json() == before
    assert server.get("/api_keys").status_code == 200
