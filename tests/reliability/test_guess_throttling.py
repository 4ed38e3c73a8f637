"""Issue 23 item 6: credential guesses are throttled.

Before: 1,278 client secrets/s at ``/oauth/token`` and 178 passwords/s at ``/authorize``
(``hunter2`` found on guess 301), with no answer but 401 / "wrong password". Now a name
(client id or e-mail) that failed ``N`` times within the window is locked out for the
window: 429 ``too_many_attempts`` with ``Retry-After``, even for the right secret. The
SDK retries that 429 within its budget, then raises a ``RateLimitError``.
"""

from __future__ import annotations

import base64
import hashlib
import pickle
import secrets
from typing import Any, Dict, Iterator, List

import httpx
import pytest

from fluidstack.atlas import AsyncAtlas, Atlas
from fluidstack.core import RateLimitError, TokenError
from fluidstack.core.errors import TokenRateLimitError
from fluidstack.core.events import EventHooks, RetryEvent
from fluidstack.emulator import EmulatorServer, EmulatorSettings
from fluidstack.emulator.__main__ import build_parser, settings_from_args
from fluidstack.emulator.throttle import ADDRESS_FACTOR, GuessThrottle, Throttled, parse_attempts

CLIENT = "fs-emulator-client"
SECRET = "fs-emulator-secret"
EMAIL = "alice@example.com"
PASSWORD = "correct-horse-battery-9"


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


# -- the throttle itself ----------------------------------------------------------------


def test_a_name_is_locked_after_limit_failures_and_only_for_the_window() -> None:
    clock = FakeClock()
    throttle = GuessThrottle(3, 60.0, clock=clock)
    for _ in range(3):
        throttle.check("client", "10.0.0.1")
        throttle.failed("client", "10.0.0.1")
    with pytest.raises(Throttled) as caught:
        throttle.check("client", "10.0.0.1")
    assert caught.value.retry_after == pytest.approx(60.0)
    assert caught.value.header == (b"retry-after", b"60")
    throttle.check("other-client", "10.0.0.2")  # other names and addresses are not locked
    clock.now += 59.5
    with pytest.raises(Throttled) as caught:
        throttle.check("client", "10.0.0.3")  # the name, from any address
    assert caught.value.header == (b"retry-after", b"1")  # at least one second
    clock.now += 0.5
    throttle.check("client", "10.0.0.1")


def test_failures_older_than_the_window_do_not_count() -> None:
    clock = FakeClock()
    throttle = GuessThrottle(3, 60.0, clock=clock)
    for _ in range(10):
        throttle.failed("client", "10.0.0.1")
        throttle.failed("client", "10.0.0.1")
        clock.now += 61.0
        throttle.check("client", "10.0.0.1")


def test_an_address_is_locked_after_many_names_fail() -> None:
    clock = FakeClock()
    throttle = GuessThrottle(3, 60.0, clock=clock)
    for index in range(3 * ADDRESS_FACTOR):
        throttle.check(f"name-{index}", "10.0.0.1")
        throttle.failed(f"name-{index}", "10.0.0.1")
    with pytest.raises(Throttled):
        throttle.check("a-fresh-name", "10.0.0.1")
    throttle.check("a-fresh-name", "10.0.0.2")


def test_tracked_keys_are_bounded() -> None:
    throttle = GuessThrottle(3, 60.0, max_keys=100, clock=FakeClock())
    for index in range(1000):
        throttle.failed(f"name-{index}", f"10.0.{index // 256}.{index % 256}")
    assert throttle.tracked() == 100
    throttle.failed("x" * 100_000, "10.9.9.9")  # a huge name is cut to a bounded key
    assert throttle.tracked() == 100


def test_limit_zero_turns_it_off() -> None:
    throttle = GuessThrottle(0, 60.0, clock=FakeClock())
    for _ in range(1000):
        throttle.failed("client", "10.0.0.1")
        throttle.check("client", "10.0.0.1")
    assert throttle.tracked() == 0


def test_the_flag() -> None:
    assert parse_attempts("10/60") == (10, 60.0)
    assert parse_attempts("0")[0] == 0
    for bad in ("ten", "5/0", "-1/60", "5/x"):
        with pytest.raises(ValueError):
            parse_attempts(bad)
    default = settings_from_args(build_parser().parse_args([]))
    assert (default.auth_attempt_limit, default.auth_attempt_window) == (10, 60.0)
    assert EmulatorSettings().auth_attempt_limit == 10  # on by default
    changed = settings_from_args(build_parser().parse_args(["--auth-attempts", "5/30"]))
    assert (changed.auth_attempt_limit, changed.auth_attempt_window) == (5, 30.0)
    off = settings_from_args(build_parser().parse_args(["--auth-attempts", "0"]))
    assert off.auth_attempt_limit == 0
    with pytest.raises(SystemExit):
        build_parser().parse_args(["--auth-attempts", "many"])


# -- the emulator's endpoints -----------------------------------------------------------


def _server(attempts: str) -> EmulatorServer:
    parsed = parse_attempts(attempts)
    return EmulatorServer(
        EmulatorSettings(
            port=0,
            log_level="warning",
            atlas_users=[f"{EMAIL}:{PASSWORD}"],
            auth_attempt_limit=parsed[0],
            auth_attempt_window=parsed[1],
        )
    )


@pytest.fixture
def locked_after_3() -> Iterator[EmulatorServer]:
    with _server("3/60") as server:
        yield server


def _token(http: httpx.Client, secret: str, client: str = CLIENT) -> httpx.Response:
    form = {"grant_type": "client_credentials", "client_id": client, "client_secret": secret}
    return http.post("/oauth/token", data=form)


def test_token_endpoint_answers_429_after_repeated_wrong_secrets(
    locked_after_3: EmulatorServer,
) -> None:
    with httpx.Client(base_url=locked_after_3.base_url) as http:
        statuses = [_token(http, f"guess-{i}").status_code for i in range(3)]
        assert statuses == [401, 401, 401]
        refused = _token(http, SECRET)  # the right secret: refused too, it tells nothing
        assert refused.status_code == 429
        assert refused.json()["error"] == "too_many_attempts"
        assert 1 <= int(refused.headers["retry-after"]) <= 60
        assert refused.headers["cache-control"] == "no-store"
        basic = http.post(
            "/oauth/token",
            data={"grant_type": "client_credentials"},
            auth=(CLIENT, SECRET),
        )
        assert basic.status_code == 429  # HTTP Basic counts against the same client id


def test_a_reset_through_the_control_api_lifts_the_lock(locked_after_3: EmulatorServer) -> None:
    with httpx.Client(base_url=locked_after_3.base_url) as http:
        for i in range(3):
            _token(http, f"guess-{i}")
        assert _token(http, SECRET).status_code == 429
        control = {"x-emulator-token": locked_after_3.control_token or ""}
        assert http.post("/_emulator/reset", headers=control, json={}).status_code == 200
        assert _token(http, SECRET).status_code == 200


def _login_form(password: str) -> Dict[str, str]:
    verifier = secrets.token_hex(32)
    digest = hashlib.sha256(verifier.encode()).digest()
    return {
        "response_type": "code",
        "client_id": "fs-emulator-cli",
        "redirect_uri": "http://127.0.0.1:5173/callback",
        "code_challenge": base64.urlsafe_b64encode(digest).rstrip(b"=").decode(),
        "code_challenge_method": "S256",
        "email": EMAIL,
        "password": password,
    }


def test_authorize_answers_429_after_repeated_wrong_passwords(
    locked_after_3: EmulatorServer,
) -> None:
    with httpx.Client(base_url=locked_after_3.base_url, follow_redirects=False) as http:
        for i in range(3):
            page = http.post("/authorize", data=_login_form(f"guess-{i}"))
            assert page.status_code == 200
            assert "Wrong e-mail or password" in page.text
        refused = http.post("/authorize", data=_login_form(PASSWORD))
        assert refused.status_code == 429  # no redirect, no code: the right password too
        assert "location" not in refused.headers
        assert 1 <= int(refused.headers["retry-after"]) <= 60
        assert "Too many failed attempts" in refused.text
        upper = {**_login_form(PASSWORD), "email": EMAIL.upper()}
        assert http.post("/authorize", data=upper).status_code == 429  # e-mail case folded


def test_without_throttling_every_guess_is_answered() -> None:
    with _server("0") as server, httpx.Client(base_url=server.base_url) as http:
        assert {_token(http, f"guess-{i}").status_code for i in range(30)} == {401}
        assert _token(http, SECRET).status_code == 200


# -- the SDK ----------------------------------------------------------------------------


def _lock(server: EmulatorServer, failures: int) -> None:
    with httpx.Client(base_url=server.base_url) as http:
        for i in range(failures):
            assert _token(http, f"guess-{i}").status_code == 401


def _atlas(server: EmulatorServer, **options: Any) -> Atlas:
    url = server.base_url
    return Atlas(client_id=CLIENT, client_secret=SECRET, management_url=url,
                 token_url=url + "/oauth/token", use_environment=False, **options)  # fmt: skip


def _async_atlas(server: EmulatorServer, **options: Any) -> AsyncAtlas:
    url = server.base_url
    return AsyncAtlas(client_id=CLIENT, client_secret=SECRET, management_url=url,
                      token_url=url + "/oauth/token", use_environment=False, **options)  # fmt: skip


def test_sdk_waits_out_retry_after_within_its_budget() -> None:
    # A one-second lock-out: the SDK's retry after Retry-After (1 s) gets a token.
    with _server("2/1") as server:
        _lock(server, 2)
        retries: List[RetryEvent] = []
        hooks = EventHooks(on_retry=[retries.append])
        with _atlas(server, event_hooks=hooks) as atlas:
            assert atlas.organizations.list()
        assert [event.reason for event in retries] == ["429"]
        assert retries[0].delay == 1.0  # the server's Retry-After, not a back-off


def test_sdk_raises_rate_limit_error_once_its_budget_is_spent() -> None:
    with _server("2/60") as server:
        _lock(server, 2)
        with _atlas(server, max_retries=0) as atlas, pytest.raises(RateLimitError) as caught:
            atlas.organizations.list()
        error = caught.value
        assert isinstance(error, TokenError)  # still a failure to get a token
        assert error.status_code == 429
        assert error.error == "too_many_attempts"
        assert 1 <= int(error.headers["retry-after"]) <= 60
        assert "too_many_attempts" in str(error)
        assert "\n" not in str(error)
        copy = pickle.loads(pickle.dumps(error))
        assert isinstance(copy, TokenRateLimitError)
        assert copy.headers == error.headers


@pytest.mark.anyio
async def test_async_sdk_raises_rate_limit_error_too() -> None:
    with _server("2/60") as server:
        _lock(server, 2)
        async with _async_atlas(server, max_retries=0) as atlas:
            with pytest.raises(RateLimitError) as caught:
                await atlas.organizations.list()
        assert isinstance(caught.value, TokenError)
        assert caught.value.status_code == 429
