"""Issue 13, emulator items: what an attacker who can reach the port (or a web page the
user visits) could do, and can no longer do.

Each test names the item it pins down; the figures are in docs/reliability.md.
"""

from __future__ import annotations

import re
import subprocess
from typing import Iterator, List

import httpx
import pytest
from test_emulator_cli import _start

from fluidstack.emulator import EmulatorServer, EmulatorSettings
from fluidstack.testing import EmulatorHandle

OLD_FIXED_CODE = "fs-emulator-dev-code"


@pytest.fixture
def processes() -> Iterator[List[subprocess.Popen[str]]]:
    started: List[subprocess.Popen[str]] = []
    yield started
    for process in started:
        if process.poll() is None:
            process.kill()
        process.communicate(timeout=10)


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
    process, url = _start("--no-control")
    processes.append(process)
    with httpx.Client(base_url=url) as anon:
        for code in (OLD_FIXED_CODE, "fs-dev-x"):
            assert anon.get("/auth/callback", params={"code": code}).status_code == 401
    process.terminate()
    _, err = process.communicate(timeout=10)
    assert "development login" not in err

    process, url = _start("--no-control", "--dev-login")
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
    process, url = _start()
    processes.append(process)
    assert httpx.post(url + "/_emulator/reset", json={}).status_code == 401
    process.terminate()
    _, err = process.communicate(timeout=10)
    match = re.search(r"x-emulator-token to /_emulator/\*\): (\S+)", err)
    assert match is not None, err

    process, url = _start("--control-token", "chosen-token-42")
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
