"""``core`` piece by piece, without a server: the call budget, request building, the
redirect rule, the late-create schedule, documentation addresses and config checks.
(These are what every request of both APIs goes through; the end-to-end tests show
them together, these show each rule alone, so a broken one is named.)"""

from __future__ import annotations

from typing import Any, Dict, List

import httpx
import pytest

from fluidstack.core.addresses import (
    EmulatorAddressError,
    is_documentation_address,
    refuse_documentation_address,
)
from fluidstack.core.budget import CallBudget
from fluidstack.core.config import ClientConfig, check_base_url, finish_config, is_loopback
from fluidstack.core.endpoint import Endpoint
from fluidstack.core.errors import MissingApiKeyError, RedirectRefusedError
from fluidstack.core.redirects import redirect_request
from fluidstack.core.request import build_request
from fluidstack.core.retries import Outcome, late_create_delays, may_arrive_late

KEY = "fs-unit-key-0123456789abcdef"
CREATE: Endpoint[Any] = Endpoint("things.create", "POST", "/things", None, idempotent=False)
GET: Endpoint[Any] = Endpoint("things.get", "GET", "/things/{thing_id}", None)
PUBLIC: Endpoint[Any] = Endpoint("auth.url", "GET", "/auth/url", None, authenticated=False)


def config(**changes: Any) -> ClientConfig:
    settings: Dict[str, Any] = {
        "base_url": "https://api.example.test",
        "api_key": KEY,
        "timeout": 10.0,
        "max_retries": 2,
        "total_timeout": None,
        "follow_redirects": True,
        "default_headers": None,
        "hooks": None,
    }
    settings.update(changes)
    return finish_config(**settings)


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


# -- the call budget ----------------------------------------------------------------------


def test_a_non_idempotent_call_is_never_retried_after_an_ambiguous_failure() -> None:
    budget = CallBudget(config(), None)
    assert budget.next_delay(Outcome.AMBIGUOUS, None, idempotent=False) is None
    assert budget.next_delay(Outcome.AMBIGUOUS, None, idempotent=True) is not None
    # Never sent: as safe to repeat for a create as for a read.
    assert budget.next_delay(Outcome.NOT_PERFORMED, None, idempotent=False) is not None


@pytest.mark.parametrize("outcome", [Outcome.SUCCESS, Outcome.FATAL])
def test_success_and_fatal_outcomes_are_never_retried(outcome: Outcome) -> None:
    assert CallBudget(config(), None).next_delay(outcome, None, idempotent=True) is None


def test_retries_stop_at_max_retries_and_per_call_options_win() -> None:
    budget = CallBudget(config(max_retries=2), None)
    for _ in range(2):
        assert budget.next_delay(Outcome.NOT_PERFORMED, None, True) is not None
        budget.retries_done += 1
    assert budget.next_delay(Outcome.NOT_PERFORMED, None, True) is None
    assert (
        CallBudget(config(max_retries=2), {"max_retries": 0}).next_delay(
            Outcome.NOT_PERFORMED, None, True
        )
        is None
    )


def test_a_retry_that_would_outlast_the_total_deadline_is_not_made() -> None:
    clock = Clock()
    budget = CallBudget(config(total_timeout=5.0), None, clock=clock)
    assert budget.next_delay(Outcome.NOT_PERFORMED, {"retry-after": "2"}, True) == 2.0
    clock.now += 4.0  # one second left: a wait of two would pass the deadline
    assert budget.next_delay(Outcome.NOT_PERFORMED, {"retry-after": "2"}, True) is None
    clock.now += 2.0
    assert budget.total_deadline_passed()


def test_a_timeout_changed_in_place_between_calls_is_the_one_used() -> None:
    """Phases are kept from call to call by value: a change to the same object shows."""
    settings = config()
    first = CallBudget(settings, None)
    assert first.attempt_seconds() == 10.0
    assert first.attempt_timeout() == {"connect": 10.0, "read": 10.0, "write": 10.0, "pool": 10.0}
    settings.timeout.read = 30.0
    again = CallBudget(settings, None)
    assert again.attempt_seconds() == 30.0
    assert again.attempt_timeout()["read"] == 30.0
    settings.timeout.pool = None
    assert CallBudget(settings, None).attempt_seconds() is None
    clock = Clock()
    both = CallBudget(config(total_timeout=5.0), None, clock=clock)
    assert both.start_attempt() == 5.0  # the sooner of the attempt's end and the deadline


def test_per_call_options_are_checked() -> None:
    with pytest.raises(ValueError, match="create_grace_period_in_seconds"):
        CallBudget(config(), {"create_grace_period_in_seconds": -1})
    with pytest.raises(ValueError, match="max_response_bytes"):
        CallBudget(config(), {"max_response_bytes": 0})
    assert CallBudget(config(), {"max_response_bytes": 1000}).max_response_bytes == 1000


# -- building a request ---------------------------------------------------------------------


def test_a_create_carries_one_idempotency_key_and_a_read_none() -> None:
    first = build_request(config(), CREATE, body={"name": "a"})
    second = build_request(config(), CREATE, body={"name": "a"})
    assert first.headers["idempotency-key"] != second.headers["idempotency-key"]
    given = build_request(config(), CREATE, body={}, options={"idempotency_key": "mine"})
    assert given.headers["idempotency-key"] == "mine"
    assert (
        "idempotency-key" not in build_request(config(), GET, path_params={"thing_id": "1"}).headers
    )
    no_key: Endpoint[Any] = Endpoint(
        "keys.create", "POST", "/keys", None, idempotent=False, sends_idempotency_key=False
    )
    assert "idempotency-key" not in build_request(config(), no_key, body={}).headers


def test_path_parameters_are_escaped_and_unauthenticated_calls_send_no_key() -> None:
    parts = build_request(config(), GET, path_params={"thing_id": "../admin?x=1"})
    assert parts.url == "https://api.example.test/things/..%2Fadmin%3Fx%3D1"
    assert parts.headers["api-key"] == KEY
    assert "api-key" not in build_request(config(), PUBLIC).headers


def test_a_call_that_needs_the_key_fails_before_any_io_without_one() -> None:
    with pytest.raises(MissingApiKeyError, match="FLUIDSTACK_API_KEY"):
        build_request(config(api_key=None), GET, path_params={"thing_id": "1"})


def test_request_options_add_headers_query_and_body_fields() -> None:
    parts = build_request(
        config(),
        CREATE,
        body={"name": "a"},
        options={
            "additional_headers": {"X-Trace": "t1"},
            "additional_query_parameters": {"dry": True},
            "additional_body_parameters": {"extra": 1},
        },
    )
    assert parts.headers["x-trace"] == "t1"
    assert parts.params == {"dry": "true"}
    assert parts.content == b'{"name":"a","extra":1}'


# -- redirects ---------------------------------------------------------------------------------


def _redirect(status: int, location: str, method: str = "GET", body: bytes = b"") -> Any:
    """A request and the redirect a server answered it with (httpx fills in the
    ``next_request`` it would follow)."""

    def answer(request: httpx.Request) -> httpx.Response:
        return httpx.Response(status, headers={"location": location})

    with httpx.Client(transport=httpx.MockTransport(answer)) as client:
        credentials = {"api-key": KEY, "cookie": "s=1"}
        url = "https://api.example.test/things"
        request = client.build_request(method, url, content=body, headers=credentials)
        response = client.send(request, follow_redirects=False)
    return request, response


def test_a_same_origin_redirect_keeps_the_credentials() -> None:
    request, response = _redirect(302, "/elsewhere")
    nxt = redirect_request(request, response)
    assert nxt is not None
    assert nxt.headers["api-key"] == KEY


def test_a_redirect_to_another_origin_drops_every_credential() -> None:
    request, response = _redirect(302, "https://evil.example.test/steal")
    nxt = redirect_request(request, response)
    assert nxt is not None
    assert "api-key" not in nxt.headers
    assert "cookie" not in nxt.headers
    assert "authorization" not in nxt.headers


def test_a_body_is_never_sent_to_another_origin() -> None:
    request, response = _redirect(307, "https://evil.example.test/token", "POST", b"secret=x")
    with pytest.raises(RedirectRefusedError) as caught:
        redirect_request(request, response)
    assert "evil.example.test" in str(caught.value)
    assert "/token" not in str(caught.value)  # only the origin is shown


# -- a create that may arrive late ---------------------------------------------------------------


def test_the_late_create_lookups_double_and_fit_the_grace_period() -> None:
    delays: List[float] = late_create_delays(10.0, first=1.0)
    assert delays == [1.0, 2.0, 4.0, 3.0]
    assert sum(delays) == pytest.approx(10.0)
    assert late_create_delays(0.0) == []


@pytest.mark.parametrize(("status", "late"), [(None, True), (502, True), (504, True),
                                              (500, False), (503, False)])  # fmt: skip
def test_which_failures_may_still_arrive(status: Any, late: bool) -> None:
    assert may_arrive_late(status) is late


# -- addresses and configuration -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("host", "documentation"),
    [("192.0.2.7", True), ("198.51.100.1", True), ("203.0.113.254", True),
     ("192.0.3.1", False), ("127.0.0.1", False), ("10.1.2.3", False), ("example.com", False),
     ("2001:db8::1", True)],
)  # fmt: skip
def test_documentation_addresses(host: str, documentation: bool) -> None:
    assert is_documentation_address(host) is documentation


def test_a_documentation_address_is_refused_naming_the_instance() -> None:
    with pytest.raises(EmulatorAddressError) as caught:
        refuse_documentation_address("198.51.100.9", "i-1")
    assert caught.value.instance_id == "i-1"
    assert "fluidstack-emulator --ssh" in str(caught.value)
    refuse_documentation_address("127.0.0.1", "i-2")  # loopback is fine


def test_config_checks() -> None:
    with pytest.raises(ValueError, match="max_retries"):
        config(max_retries=-1)
    with pytest.raises(ValueError, match="total_timeout"):
        config(total_timeout=0)
    with pytest.raises(ValueError):
        check_base_url("ftp://example.test")
    assert is_loopback("127.0.0.1")
    assert is_loopback("localhost")
    assert is_loopback("::1")
    assert not is_loopback("192.0.2.1")
    assert KEY not in repr(config())  # the key never shows in a repr


@pytest.mark.parametrize(
    ("setting", "said"),
    [
        (
            {"timeout": "30"},
            "timeout must be a number of seconds, None or an httpx.Timeout, got '30'",
        ),
        ({"total_timeout": "30"}, "total_timeout must be a number of seconds, got '30'"),
        ({"max_retries": "2"}, "max_retries must be a whole number, got '2'"),
    ],
)
def test_a_setting_that_is_no_number_is_named(setting: Dict[str, Any], said: str) -> None:
    # A value read from an environment variable is a string: the error was Python's
    # "'<=' not supported between instances of 'str' and 'int'", naming no setting.
    from fluidstack import FluidStack
    from fluidstack.atlas import Atlas

    with pytest.raises(TypeError) as raised:
        FluidStack(api_key=KEY, **setting)
    assert str(raised.value) == said
    with pytest.raises(TypeError) as raised:
        Atlas(token="t", **setting)
    assert str(raised.value) == said
    if "timeout" in setting:  # the per-call option too (the others are converted)
        client = FluidStack(api_key=KEY, base_url="http://127.0.0.1:9")
        with pytest.raises(TypeError, match="timeout must be a number of seconds"):
            client.instances.list(request_options={"timeout_in_seconds": "30"})


@pytest.mark.parametrize(
    ("url", "suggested"),
    [
        ("localhost:8080", "http://localhost:8080"),
        ("127.0.0.1:8080", "http://127.0.0.1:8080"),
        ("platform.example.com", "https://platform.example.com"),
    ],
)
def test_a_url_without_a_scheme_is_refused_with_the_likely_one(url: str, suggested: str) -> None:
    # `export FLUIDSTACK_BASE_URL=localhost:8080` is the usual slip with the emulator.
    with pytest.raises(ValueError) as raised:
        check_base_url(url)
    assert str(raised.value) == (
        f"base_url must be an http(s) URL, got {url!r}; did you mean '{suggested}'?"
    )
    from fluidstack.atlas import Atlas

    with pytest.raises(ValueError, match="did you mean"):
        Atlas(token="t", management_url=url)
