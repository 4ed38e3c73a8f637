"""Issue 23, item 1: DNS rebinding. A web page whose name rebinds to 127.0.0.1 could
drive both APIs (and, with ``--ssh``, run commands on the host through ``userData``).
The served emulator answers only loopback names, its own address and ``--allowed-host``
names; every other ``Host`` gets 421 before any handler runs, on every kind of route."""

from __future__ import annotations

import subprocess
import sys
from typing import Any, Dict, Iterator, List, Optional, Tuple

import httpx
import pytest

from fluidstack.emulator import EmulatorServer, EmulatorSettings, create_app
from fluidstack.emulator.hosts import HostPolicy, split_host
from fluidstack.emulator.settings import DEV_ATLAS_CLIENT_ID, DEV_ATLAS_CLIENT_SECRET

EVIL = "evil.example"
TOKEN_FORM = {
    "grant_type": "client_credentials",
    "client_id": DEV_ATLAS_CLIENT_ID,
    "client_secret": DEV_ATLAS_CLIENT_SECRET,
}


@pytest.fixture(scope="module")
def server() -> Iterator[EmulatorServer]:
    settings = EmulatorSettings(
        port=0,
        manual_clock=True,
        seed=7,
        failure_rate=0.0,
        log_level="error",
        allowed_hosts=["dev.example", "pinned.example:9"],
    )
    with EmulatorServer(settings) as running:
        yield running


def _token(server: EmulatorServer) -> str:
    answer = httpx.post(server.base_url + "/oauth/token", data=TOKEN_FORM)
    assert answer.status_code == 200, answer.text
    return str(answer.json()["access_token"])


def _requests(server: EmulatorServer) -> List[Tuple[str, str, Dict[str, Any]]]:
    """One request of each kind of route, each of which would work with a good Host."""
    key = {"api-key": server.api_key}
    bearer = {"authorization": f"Bearer {_token(server)}"}
    control = {"x-emulator-token": server.control_token}
    ssh_key = {"name": "k", "public_key": "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIMlZrNQiO9x"}
    create = {"gpu_type": "RTX_A4000_16GB", "ssh_key": "k", "name": "rebound"}
    return [
        ("GET", "/healthcheck", {}),  # public platform route
        ("GET", "/instances", {"headers": key}),  # fast route
        ("POST", "/instances", {"headers": key, "json": create}),  # fast route
        ("POST", "/ssh_keys", {"headers": key, "json": ssh_key}),  # FastAPI route
        ("GET", "/auth/url", {}),
        ("POST", "/oauth/token", {"data": TOKEN_FORM}),  # OAuth
        ("GET", "/authorize", {}),
        ("GET", "/api/v1alpha1/regions", {"headers": bearer}),  # Atlas management
        ("GET", "/regions/eu-north-1/api/v1alpha1/projects", {"headers": bearer}),  # regional
        ("POST", "/_emulator/reset", {"headers": control, "json": {}}),  # control API
        ("GET", "/_emulator/journal", {"headers": control}),
    ]


@pytest.mark.parametrize(
    "host", [EVIL, f"{EVIL}:8080", "127.0.0.1.evil.example", "localhost.", "dev.example.evil"]
)
def test_every_route_refuses_a_foreign_host_before_any_handler(
    server: EmulatorServer, host: str
) -> None:
    control = {"x-emulator-token": server.control_token}
    httpx.post(server.base_url + "/_emulator/reset", json={}, headers=control)
    for method, path, options in _requests(server):
        headers = {**options.pop("headers", {}), "host": host}
        answer = httpx.request(method, server.base_url + path, headers=headers, **options)
        assert answer.status_code == 421, (method, path, answer.text)
        message = answer.json()["message"]
        assert "--allowed-host" in message
        assert "access_token" not in answer.text
    # Nothing was performed or journaled: no key, no instance, no token request.
    good = {"api-key": server.api_key}
    assert httpx.get(server.base_url + "/ssh_keys", headers=good).json() == []
    assert httpx.get(server.base_url + "/instances", headers=good).json() == []
    journal = httpx.get(server.base_url + "/_emulator/journal", headers=control).json()
    entries = journal["entries"] if isinstance(journal, dict) else journal
    # (the one good request: the token _requests fetched with the right Host)
    assert [e["path"] for e in entries] == ["/oauth/token", "/ssh_keys", "/instances"]


@pytest.mark.parametrize(
    "host",
    [
        None,  # the port is added: "127.0.0.1:PORT"
        "localhost",
        "LOCALHOST:1234",
        "127.0.0.1",
        "127.9.8.7:80",
        "[::1]",
        "[::1]:8080",
        "dev.example",
        "dev.example:443",
        "pinned.example:9",
    ],
)
def test_loopback_names_the_bound_address_and_allowed_hosts_are_served(
    server: EmulatorServer, host: Optional[str]
) -> None:
    headers = {"api-key": server.api_key}
    if host is not None:
        headers["host"] = host
    answer = httpx.get(server.base_url + "/instances", headers=headers)
    assert answer.status_code == 200, answer.text


def test_an_allowed_host_with_a_port_allows_only_that_port(server: EmulatorServer) -> None:
    answer = httpx.get(server.base_url + "/healthcheck", headers={"host": "pinned.example:10"})
    assert answer.status_code == 421


def test_region_urls_come_from_the_servers_address_not_from_host(
    server: EmulatorServer,
) -> None:
    bearer = {"authorization": f"Bearer {_token(server)}", "host": "dev.example"}
    regions = httpx.get(server.base_url + "/api/v1alpha1/regions", headers=bearer).json()
    assert [r["url"] for r in regions] == [
        f"http://127.0.0.1:{server.port}/regions/{name}" for name in ("eu-north-1", "us-east-1")
    ]


def test_in_process_apps_keep_answering_made_up_names() -> None:
    # httpx.ASGITransport sends the base URL's name; there is no socket to rebind to.
    app = create_app(EmulatorSettings(manual_clock=True))
    transport = httpx.ASGITransport(app=app)

    async def call() -> Any:
        async with httpx.AsyncClient(transport=transport, base_url="http://emu") as client:
            token = await client.post("/oauth/token", data=TOKEN_FORM)
            auth = {"authorization": f"Bearer {token.json()['access_token']}"}
            return (await client.get("/api/v1alpha1/regions", headers=auth)).json()

    import asyncio

    regions = asyncio.run(call())
    assert regions[0]["url"] == "http://emu/regions/eu-north-1"
    app.state.emulator.close()


def test_an_app_served_elsewhere_can_check_hosts_too() -> None:
    app = create_app(EmulatorSettings(manual_clock=True), check_host=True)
    transport = httpx.ASGITransport(app=app)

    async def call(base: str) -> int:
        async with httpx.AsyncClient(transport=transport, base_url=base) as client:
            return (await client.get("/healthcheck")).status_code

    import asyncio

    assert asyncio.run(call("http://emu")) == 421
    assert asyncio.run(call("http://localhost:8080")) == 200
    app.state.emulator.close()


@pytest.mark.parametrize(
    ("value", "parts"),
    [
        ("Example.COM:80", ("example.com", "80")),
        ("[::1]", ("[::1]", None)),
        ("[::1]:9", ("[::1]", "9")),
        ("::1", None),
        ("a:b", None),
        ("[::1", None),
        ("[::1]x", None),
        ("", None),
    ],
)
def test_split_host(value: str, parts: Optional[Tuple[str, Optional[str]]]) -> None:
    assert split_host(value) == parts


def test_the_policy_accepts_the_bound_address_and_ip_literals_of_the_connection() -> None:
    policy = HostPolicy("10.1.2.3")
    assert policy.allows("10.1.2.3:8080")
    assert not policy.allows("10.1.2.4:8080")
    wildcard = HostPolicy("0.0.0.0")
    assert wildcard.allows("192.168.1.5:8080", local="192.168.1.5")
    assert not wildcard.allows("192.168.1.6:8080", local="192.168.1.5")
    assert not wildcard.allows("0.0.0.0:8080", local="192.168.1.5")
    assert not wildcard.allows("evil.example", local="evil.example")  # names never
    assert HostPolicy("::1").allows("[::1]:1")
    assert not HostPolicy("127.0.0.1").allows("[127.0.0.1]")
    assert HostPolicy("127.0.0.1").allows(None)  # HTTP/1.0 without Host


def test_the_command_line_flag_allows_a_name(tmp_path: Any) -> None:
    command = [sys.executable, "-m", "fluidstack.emulator", "--port", "0", "--log-level",
               "warning", "--allowed-host", "Box.Example", "--no-control"]  # fmt: skip
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        assert "listening on" in line, line
        base = line.split("listening on ")[1].strip()
        allowed = httpx.get(base + "/healthcheck", headers={"host": "box.example:80"})
        refused = httpx.get(base + "/healthcheck", headers={"host": "other.example"})
        assert allowed.status_code == 200
        assert refused.status_code == 421
        assert "--allowed-host other.example" in refused.json()["message"]
    finally:
        process.terminate()
        process.communicate(timeout=10)


def test_a_malformed_allowed_host_is_refused_at_start() -> None:
    with pytest.raises(ValueError, match="allowed host"):
        EmulatorSettings(allowed_hosts=["http://x/"])
