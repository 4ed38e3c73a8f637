"""Issue 13, emulator items: what an attacker who can reach the port (or a web page the
user visits) could do, and can no longer do.

Each test names the item it pins down; the figures are in docs/reliability.md.
"""

from __future__ import annotations

import re
import socket
import subprocess
from typing import Any, List

import httpx
import pytest
from process_support import start_emulator

from fluidstack.emulator import EmulatorServer, EmulatorSettings
from fluidstack.testing import EmulatorHandle

OLD_FIXED_CODE = "fs-emulator-dev-code"


# -- item 1: the development login ------------------------------------------------------


def test_item1_the_fixed_development_code_no_longer_logs_in(emulator: EmulatorHandle) -> None:
    with httpx.Client(base_url=emulator.base_url) as anon:
        url = anon.get("/auth/url").json()
        assert "code=" not in url
        assert anon.get("/auth/callback", params={"code": OLD_FIXED_CODE}).status_code == 401
        assert anon.get("/auth/callback", params={"code": url}).status_code == 401
        assert "wos_session" not in anon.cookies
        # This run's code (from the control API, or stderr) works, and is not the old one.
        code = emulator.dev_login_code
        assert code != OLD_FIXED_CODE
        assert len(code) >= 24
        assert anon.get("/auth/callback", params={"code": code}).status_code == 200


def test_item1_the_development_code_is_random_per_run_even_with_a_seed() -> None:
    codes = []
    for _ in range(2):
        with EmulatorServer(EmulatorSettings(port=0, seed=7, manual_clock=True)) as server:
            codes.append(server.app.state.platform.dev_login_code)
    assert codes[0] != codes[1]
    assert all(codes)


def test_item1_with_no_control_there_is_no_development_login_unless_asked(
    processes: List[subprocess.Popen[str]],
) -> None:
    process, url = start_emulator("--no-control")
    processes.append(process)
    with httpx.Client(base_url=url) as anon:
        for code in (OLD_FIXED_CODE, "fs-dev-x"):
            assert anon.get("/auth/callback", params={"code": code}).status_code == 401
    process.terminate()
    _, err = process.communicate(timeout=10)
    assert "development login" not in err

    process, url = start_emulator("--no-control", "--dev-login")
    processes.append(process)
    process.terminate()
    _, err = process.communicate(timeout=10)
    match = re.search(r"/auth/callback\?code=(\S+) logs in", err)
    assert match is not None, err
    with EmulatorServer(EmulatorSettings(port=0, control=False, dev_login=True)) as server:
        code = server.app.state.platform.dev_login_code
        with httpx.Client(base_url=server.base_url) as anon:
            assert anon.get("/auth/callback", params={"code": code}).status_code == 200


# -- item 2: the control API's token -----------------------------------------------------


def test_item2_the_control_api_wants_its_token(emulator: EmulatorHandle) -> None:
    emulator.create_account("victim", balance=50)
    base = emulator.base_url
    token = emulator.control_headers["x-emulator-token"]
    attempts = [
        ("GET", "/_emulator/journal", {}),
        ("GET", "/_emulator/faults", {}),
        ("POST", "/_emulator/reset", {"content-type": "application/json"}),
        ("POST", "/_emulator/reset", {"x-emulator-token": "wrong-token-1234"}),
        ("POST", "/_emulator/atlas/tokens", {"x-emulator-token": token[:-1]}),
        ("GET", "/_emulator/atlas/dev-user", {}),
    ]
    for method, path, headers in attempts:
        answer = httpx.request(method, base + path, headers=headers, content=b"{}")
        assert answer.status_code == 401, (method, path, headers)
        assert token not in answer.text
    # Nothing was reset: the account made above is still there.
    assert emulator.set_balance(7, api_key="victim") is None


def test_item2_a_web_page_cannot_reset_the_emulator(emulator: EmulatorHandle) -> None:
    emulator.create_account("victim", balance=50)
    base = emulator.base_url
    # A cross-origin "simple" request: text/plain, no custom header, any Origin.
    simple = httpx.post(
        base + "/_emulator/reset",
        content=b"{}",
        headers={"content-type": "text/plain", "origin": "https://evil.example"},
    )
    assert simple.status_code in (401, 403)
    # Even with the token, a foreign Origin or a non-JSON write is refused.
    token = emulator.control_headers
    foreign = httpx.post(
        base + "/_emulator/reset", json={}, headers={**token, "origin": "https://evil.example"}
    )
    assert foreign.status_code == 403
    null_origin = httpx.post(
        base + "/_emulator/reset", json={}, headers={**token, "origin": "null"}
    )
    assert null_origin.status_code == 403
    text = httpx.post(
        base + "/_emulator/reset",
        content=b"{}",
        headers={**token, "content-type": "text/plain"},
    )
    assert text.status_code == 415
    with httpx.Client(base_url=base, headers={"api-key": "victim"}) as victim:
        assert victim.get("/user/balance").json() == {"balance": 50}
    same_origin = httpx.post(
        base + "/_emulator/journal", json={}, headers={**token, "origin": base}
    )
    assert same_origin.status_code == 405  # the check passed; the route has no POST


def test_item2_the_token_is_never_journaled_or_shown(emulator: EmulatorHandle) -> None:
    token = emulator.control_headers["x-emulator-token"]
    httpx.get(emulator.base_url + "/healthcheck", headers=emulator.control_headers)
    assert "/healthcheck" in str(emulator.journal())
    assert token not in str(emulator.journal())
    assert token not in repr(emulator)
    settings = EmulatorSettings(control_token="given-token-123")
    assert "given-token-123" not in repr(settings)
    with pytest.raises(ValueError, match="control token"):
        EmulatorSettings(control_token="short")


def test_item2_the_command_prints_a_generated_token_only(
    processes: List[subprocess.Popen[str]],
) -> None:
    process, url = start_emulator()
    processes.append(process)
    assert httpx.post(url + "/_emulator/reset", json={}).status_code == 401
    process.terminate()
    _, err = process.communicate(timeout=10)
    match = re.search(r"x-emulator-token to /_emulator/\*\): (\S+)", err)
    assert match is not None, err

    process, url = start_emulator("--control-token", "chosen-token-42")
    processes.append(process)
    ok = httpx.post(
        url + "/_emulator/reset", json={}, headers={"x-emulator-token": "chosen-token-42"}
    )
    assert ok.status_code == 200
    process.terminate()
    _, err = process.communicate(timeout=10)
    assert "chosen-token-42" not in err


# -- item 3: secrets never follow the seed ----------------------------------------------


def test_item3_minted_api_keys_are_unpredictable_even_with_a_seed() -> None:
    keys, secrets_seen, ids = [], [], []
    for _ in range(2):
        settings = EmulatorSettings(port=0, seed=1234, manual_clock=True, api_keys=["k"])
        with (
            EmulatorServer(settings) as server,
            httpx.Client(base_url=server.base_url, headers={"api-key": "k"}) as api,
        ):
            created = api.post("/api_keys", json={"name": "ci"}).json()
            keys.append(created["api_key"])
            ids.append(created["id"])
            intent = api.post("/payments/create-intent", json={"amount": 100, "currency": "usd"})
            secrets_seen.append(intent.json()["client_secret"].split("_secret_")[1])
    assert ids[0] == ids[1]  # ids still follow the seed (repeatable runs) ...
    assert keys[0] != keys[1]  # ... credentials never do
    assert secrets_seen[0] != secrets_seen[1]
    assert all(re.fullmatch(r"fs-[0-9a-f]{40}", key) for key in keys)  # 160 random bits


# -- item 4: a lone surrogate is a client error ------------------------------------------

SURROGATE = "\\ud800"  # as JSON text: a valid escape of no character


def _raw(template: str) -> bytes:
    return template.replace("@", SURROGATE).encode()


PLATFORM_BODIES = [
    ("POST", "/instances", '{"gpu_type": "@", "ssh_key": "k"}'),
    ("POST", "/instances", '{"gpu_type": "L40_48GB", "ssh_key": "k", "name": "@"}'),
    ("POST", "/instances", '{"gpu_type": "L40_48GB", "ssh_key": "@"}'),
    ("POST", "/instances", '{"gpu_type": "L40_48GB", "ssh_key": "k", "region": "@"}'),
    ("POST", "/ssh_keys", '{"name": "@", "public_key": "ssh-ed25519 AAAA"}'),
    ("POST", "/list_user_ssh_keys", '{"name": "k2", "public_key": "@"}'),
    ("POST", "/api_keys", '{"name": "@"}'),
    ("PUT", "/user/company-details", '{"company_name": "@"}'),
    ("POST", "/payments/create-intent", '{"amount": 1, "currency": "@"}'),
    ("POST", "/ssh_keys", '{"@": "x"}'),
]


def test_item4_a_lone_surrogate_in_any_platform_body_is_a_400(
    emulator: EmulatorHandle, api: httpx.Client, ssh_key: str, create: Any
) -> None:
    instance = create()["id"]
    bodies = [
        *PLATFORM_BODIES,
        ("PUT", f"/instances/{instance}/rename", '{"new_instance_name": "@"}'),
    ]
    for method, path, template in bodies:
        answer = api.request(
            method, path, content=_raw(template), headers={"content-type": "application/json"}
        )
        assert answer.status_code == 400, (path, template, answer.text)
        assert answer.json()["message"]
    # Nothing was stored, and every listing still answers.
    assert [k["name"] for k in api.get("/ssh_keys").json()] == [ssh_key]
    assert [k["name"] for k in api.get("/api_keys").json()] == ["default"]
    assert len(api.get("/instances").json()) == 1
    assert api.get(f"/instances/{instance}").status_code in (200, 202)


def test_item4_a_lone_surrogate_keeps_the_connection_alive(emulator: EmulatorHandle) -> None:
    host, port = emulator.base_url.split("//")[1].split(":")
    body = _raw('{"gpu_type": "@", "ssh_key": "k"}')
    request = (
        b"POST /instances HTTP/1.1\r\nHost: localhost\r\napi-key: " + emulator.api_key.encode()
        + b"\r\ncontent-type: application/json\r\ncontent-length: "
        + str(len(body)).encode() + b"\r\n\r\n" + body
    )  # fmt: skip
    follow_up = b"GET /healthcheck HTTP/1.1\r\nHost: localhost\r\n\r\n"
    with socket.create_connection((host, int(port)), timeout=5) as sock:
        sock.sendall(request)
        first = _read_response(sock)
        sock.sendall(follow_up)  # the same connection, kept alive
        second = _read_response(sock)
    assert first.startswith(b"HTTP/1.1 400")
    assert second.startswith(b"HTTP/1.1 200")


def _read_response(sock: socket.socket) -> bytes:
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        assert chunk, "connection closed"
        data += chunk
    head, _, rest = data.partition(b"\r\n\r\n")
    length = int(re.search(rb"content-length: (\d+)", head, re.I).group(1))  # type: ignore[union-attr]
    while len(rest) < length:
        chunk = sock.recv(65536)
        assert chunk, "connection closed"
        rest += chunk
    return head + b"\r\n\r\n" + rest


def test_item4_a_lone_surrogate_in_atlas_and_control_bodies_is_a_400(
    emulator: EmulatorHandle, eu: httpx.Client, mgmt: httpx.Client
) -> None:
    json_type = {"content-type": "application/json"}
    for client, method, path, template in [
        (eu, "POST", "/projects", '{"name": "@"}'),
        (eu, "POST", "/instances", '{"name": "@", "type": "cpu.2x"}'),
        (eu, "POST", "/instances", '{"name": "n", "type": "cpu.2x", "tags": {"a": "@"}}'),
        (eu, "POST", "/filesystems", '{"name": "f", "size": "@"}'),
        (mgmt, "POST", "/invitations", '{"email": "@@x.y"}'),
        (mgmt, "POST", "/user/keys", '{"name": "@", "key": "x"}'),
    ]:
        answer = client.request(method, path, content=_raw(template), headers=json_type)
        assert answer.status_code == 400, (path, answer.text)
    token = httpx.post(
        emulator.base_url + "/oauth/token",
        content=_raw('{"grant_type": "client_credentials", "client_id": "@"}'),
        headers=json_type,
    )
    assert token.status_code == 400
    control = httpx.post(
        emulator.base_url + "/_emulator/accounts",
        content=_raw('{"api_key": "@"}'),
        headers={**json_type, **emulator.control_headers},
    )
    assert control.status_code == 400
    assert eu.get("/instances").json() == []


# -- item 10: one rule for instance names; relative redirects ----------------------------

BAD_INSTANCE_NAMES = ["", " leading", "trailing ", "nul\x00", "bell\x07", "line\nbreak", "del\x7f"]


@pytest.mark.parametrize("name", BAD_INSTANCE_NAMES)
def test_item10_create_and_rename_refuse_the_same_names(
    api: httpx.Client, ssh_key: str, create: Any, name: str
) -> None:
    made = api.post("/instances", json={"gpu_type": "L40_48GB", "ssh_key": ssh_key, "name": name})
    assert made.status_code == 422, made.text
    instance = create()["id"]
    renamed = api.put(f"/instances/{instance}/rename", json={"new_instance_name": name})
    assert renamed.status_code == 422
    assert [i["id"] for i in api.get("/instances").json()] == [instance]


@pytest.mark.parametrize("name", ["a/b", "../../etc/passwd", "ok name", "ü 🚀"])
def test_item10_create_and_rename_accept_the_same_names(
    api: httpx.Client, ssh_key: str, name: str
) -> None:
    made = api.post("/instances", json={"gpu_type": "L40_48GB", "ssh_key": ssh_key, "name": name})
    assert made.status_code == 202, made.text
    renamed = api.put(f"/instances/{made.json()['id']}/rename", json={"new_instance_name": name})
    assert renamed.status_code == 200


def test_item10_the_trailing_slash_redirect_is_relative(emulator: EmulatorHandle) -> None:
    # (A foreign Host is refused outright since issue 23: see test_dns_rebinding.py.)
    headers = {"api-key": emulator.api_key, "host": "localhost"}
    answer = httpx.get(emulator.base_url + "/instances/?page=2", headers=headers)
    assert answer.status_code == 307
    assert answer.headers["location"] == "/instances?page=2"
    followed = httpx.get(
        emulator.base_url + "/ssh_keys/",
        headers={"api-key": emulator.api_key},
        follow_redirects=True,
    )
    assert followed.status_code == 200
    assert followed.url.path == "/ssh_keys"
