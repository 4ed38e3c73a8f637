"""What real clients of the platform API need from the emulator (issue 14, items 1-5):
deleting a gone instance succeeds, a session refresh that also carries an API key, the
Stripe webhook and payments that top up the balance, auto-termination on depletion,
and the ``unhealthy``/``shutting_down`` statuses."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from typing import Any, Callable, Dict, Optional

import httpx
import pytest

from fluidstack.testing import EmulatorHandle

Create = Callable[..., Dict[str, Any]]
WEBHOOK = "/webhooks/stripe/payment_completed"


# -- 1. deleting what is already gone ---------------------------------------------------


def test_deleting_a_terminated_instance_again_succeeds(api: httpx.Client, create: Create) -> None:
    instance_id = create()["id"]
    first = api.delete(f"/instances/{instance_id}")
    assert first.status_code == 200
    again = api.delete(f"/instances/{instance_id}")
    assert again.status_code == 200  # the spec declares 200; orchestrators stop on non-2xx
    assert again.json() == first.json()
    assert api.get(f"/instances/{instance_id}").json()["status"] == "terminated"
    # Unknown ids still answer 404, and renaming a terminated instance is still refused.
    assert api.delete("/instances/no-such-instance").status_code == 404
    renamed = api.put(f"/instances/{instance_id}/rename", json={"new_instance_name": "x"})
    assert renamed.status_code == 409


def test_a_teardown_by_name_deletes_old_and_new_instances(
    api: httpx.Client, create: Create, emulator: EmulatorHandle
) -> None:
    # The orchestrator's pattern: delete every instance named like the cluster.
    old = create(name="cluster-a")["id"]
    assert api.delete(f"/instances/{old}").status_code == 200
    new = create(name="cluster-a")["id"]
    emulator.advance(3600)
    named = [i["id"] for i in api.get("/instances").json() if i["name"] == "cluster-a"]
    assert sorted(named) == sorted([old, new])
    for instance_id in named:
        assert api.delete(f"/instances/{instance_id}").status_code == 200
    assert api.get(f"/instances/{new}").json()["status"] == "terminated"


# -- 2. the session refresh of the vendor's older SDK -------------------------------------


def test_session_refresh_with_both_the_cookie_and_an_api_key(
    emulator: EmulatorHandle, client_factory: Any
) -> None:
    cookie = emulator.session_cookie()
    both = client_factory(cookies={"wos_session": cookie})  # also sends its api-key
    refreshed = both.get("/auth/session")
    assert refreshed.status_code == 200
    assert "wos_session=" in refreshed.headers["set-cookie"]
    # The API key alone is still not a session, and a bad cookie beside a key is refused.
    assert client_factory().get("/auth/session").status_code == 401
    forged = client_factory(cookies={"wos_session": "forged"})
    assert forged.get("/auth/session").status_code == 401
    assert forged.get("/instances").status_code == 200  # elsewhere the key decides


# -- 3. Stripe's webhook -----------------------------------------------------------------


def _signed(secret: str, payload: bytes, at: Optional[int] = None) -> Dict[str, str]:
    """Stripe's documented scheme, computed independently of the emulator's code."""
    stamp = int(time.time()) if at is None else at
    mac = hmac.new(secret.encode(), f"{stamp}.".encode() + payload, hashlib.sha256)
    return {"stripe-signature": f"t={stamp},v1={mac.hexdigest()}"}


def _event(intent_id: str, amount: int, kind: str = "payment_intent.succeeded") -> bytes:
    return json.dumps(
        {
            "id": "evt_test",
            "object": "event",
            "type": kind,
            "data": {
                "object": {
                    "id": intent_id,
                    "object": "payment_intent",
                    "amount": amount,
                    "amount_received": amount,
                    "status": "succeeded",
                }
            },
        }
    ).encode()


def _intent(api: httpx.Client, cents: int) -> str:
    response = api.post("/payments/create-intent", json={"amount": cents, "currency": "usd"})
    assert response.status_code == 200
    return str(response.json()["client_secret"].split("_secret_")[0])


def test_a_completed_payment_tops_up_the_balance_once(
    api: httpx.Client, anon: httpx.Client, emulator: EmulatorHandle
) -> None:
    before = api.get("/user/balance").json()["balance"]
    intent = _intent(api, 2500)
    # Creating an intent pays nothing.
    assert api.get("/user/balance").json()["balance"] == before
    assert [p["status"] for p in emulator.payments() if p["id"] == intent] == [
        "requires_payment_method"
    ]
    secret = emulator.stripe_webhook_secret
    payload = _event(intent, 2500)
    answer = anon.post(WEBHOOK, content=payload, headers=_signed(secret, payload))
    assert answer.status_code == 200
    assert answer.json() == {"received": True, "applied": True}
    assert api.get("/user/balance").json()["balance"] == pytest.approx(before + 25.0)
    # Stripe delivers at least once: the same event again changes nothing.
    again = anon.post(WEBHOOK, content=payload, headers=_signed(secret, payload))
    assert again.json() == {"received": True, "applied": False}
    assert api.get("/user/balance").json()["balance"] == pytest.approx(before + 25.0)
    assert [p["status"] for p in emulator.payments() if p["id"] == intent] == ["succeeded"]


def test_the_webhook_refuses_what_stripe_did_not_sign(
    api: httpx.Client, anon: httpx.Client, emulator: EmulatorHandle
) -> None:
    before = api.get("/user/balance").json()["balance"]
    intent = _intent(api, 1000)
    payload = _event(intent, 1000)
    secret = emulator.stripe_webhook_secret
    refused = [
        anon.post(WEBHOOK, content=payload),  # no signature
        anon.post(WEBHOOK, content=payload, headers=_signed("whsec_wrong", payload)),
        anon.post(WEBHOOK, content=payload, headers={"stripe-signature": "garbage"}),
        # Signed, but the body was changed afterwards.
        anon.post(WEBHOOK, content=_event(intent, 99_999), headers=_signed(secret, payload)),
        # Signed, but replayed ten minutes later.
        anon.post(
            WEBHOOK, content=payload, headers=_signed(secret, payload, int(time.time()) - 600)
        ),
    ]
    assert [r.status_code for r in refused] == [401] * 5
    assert all("message" in r.json() for r in refused)
    assert secret not in json.dumps([r.json() for r in refused])
    assert api.get("/user/balance").json()["balance"] == before


def test_the_webhook_acknowledges_other_events_and_rejects_malformed_ones(
    api: httpx.Client, anon: httpx.Client, emulator: EmulatorHandle
) -> None:
    secret = emulator.stripe_webhook_secret
    before = api.get("/user/balance").json()["balance"]
    other = _event(_intent(api, 500), 500, kind="payment_intent.created")
    unknown = _event("pi_not_ours", 500)
    for payload in (other, unknown):
        answer = anon.post(WEBHOOK, content=payload, headers=_signed(secret, payload))
        assert answer.json() == {"received": True, "applied": False}
    for payload in (b"not json", b"[]", b'{"type": "payment_intent.succeeded"}'):
        assert (
            anon.post(WEBHOOK, content=payload, headers=_signed(secret, payload)).status_code == 400
        )
    negative = _event(_intent(api, 500), -5)
    assert (
        anon.post(WEBHOOK, content=negative, headers=_signed(secret, negative)).status_code == 400
    )
    assert api.get("/user/balance").json()["balance"] == before


def test_the_control_api_completes_a_payment_like_stripe(
    api: httpx.Client, emulator: EmulatorHandle
) -> None:
    before = api.get("/user/balance").json()["balance"]
    intent = _intent(api, 4200)
    done = emulator.complete_payment(intent)
    assert done["status"] == "succeeded"
    assert done["balance"] == pytest.approx(before + 42.0)
    assert emulator.complete_payment(intent)["balance"] == pytest.approx(before + 42.0)
    with pytest.raises(Exception, match="404"):
        emulator.complete_payment("pi_missing")


# -- 4. auto_terminate_on_depletion --------------------------------------------------------


def test_running_out_of_balance_terminates_every_instance_at_that_moment(
    api: httpx.Client, create: Create, emulator: EmulatorHandle
) -> None:
    assert api.get("/auth/user").json()["auto_terminate_on_depletion"] is True
    first, second = create()["id"], create()["id"]
    emulator.advance(3600)  # both running
    hourly = sum(
        api.get(f"/instances/{i}").json()["current_gpu_hr_cost"]
        * api.get(f"/instances/{i}").json()["configuration"]["gpu_count"]
        for i in (first, second)
    )
    emulator.set_balance(hourly * 2)  # two hours' worth from now
    emulator.advance(3 * 3600)
    for instance_id in (first, second):
        assert api.get(f"/instances/{instance_id}").json()["status"] == "terminated"
    # Billing stopped when the money did: the balance is zero, not an hour in the red.
    assert api.get("/user/balance").json()["balance"] == pytest.approx(0.0, abs=0.01)
    # And no new instance until a top-up.
    refused = api.post("/instances", json={"gpu_type": "L40_48GB", "ssh_key": "k"})
    assert refused.status_code in (400, 402)


def test_with_auto_terminate_off_the_balance_goes_negative_and_instances_run(
    api: httpx.Client, create: Create, emulator: EmulatorHandle
) -> None:
    emulator.set_auto_terminate(False)
    assert api.get("/auth/user").json()["auto_terminate_on_depletion"] is False
    instance_id = create()["id"]
    emulator.advance(600)
    emulator.set_balance(0.01)
    emulator.advance(6 * 3600)
    assert api.get(f"/instances/{instance_id}").json()["status"] == "running"
    assert api.get("/user/balance").json()["balance"] < 0
    # Turning it back on applies at once: the balance is already spent.
    emulator.set_auto_terminate(True)
    assert api.get(f"/instances/{instance_id}").json()["status"] == "terminated"


def test_a_top_up_before_depletion_keeps_instances_running(
    api: httpx.Client, create: Create, emulator: EmulatorHandle
) -> None:
    instance_id = create()["id"]
    emulator.advance(600)
    emulator.set_balance(0.5)
    emulator.complete_payment(_intent(api, 100_000))  # $1,000 before it runs out
    emulator.advance(24 * 3600)
    assert api.get(f"/instances/{instance_id}").json()["status"] == "running"


# -- 5. unhealthy and shutting_down ----------------------------------------------------------


def test_an_instance_can_be_made_unhealthy_and_healed(
    api: httpx.Client, create: Create, emulator: EmulatorHandle
) -> None:
    instance_id = create()["id"]
    with pytest.raises(Exception, match="409"):  # not running yet
        emulator.set_instance_status(instance_id, "unhealthy")
    emulator.advance(600)
    view = emulator.set_instance_status(instance_id, "unhealthy")
    assert view["status"] == "unhealthy"
    listed = {i["id"]: i["status"] for i in api.get("/instances").json()}
    assert listed[instance_id] == "unhealthy"
    assert api.put(f"/instances/{instance_id}/stop").status_code == 409
    assert emulator.set_instance_status(instance_id, "running")["status"] == "running"
    # For a while only: back to running on its own.
    emulator.set_instance_status(instance_id, "unhealthy", seconds=60)
    emulator.advance(61)
    assert api.get(f"/instances/{instance_id}").json()["status"] == "running"


def test_shutting_down_ends_terminated_and_frees_nothing_early(
    api: httpx.Client, create: Create, emulator: EmulatorHandle
) -> None:
    instance_id = create()["id"]
    emulator.advance(600)
    assert (
        emulator.set_instance_status(instance_id, "shutting_down", seconds=120)["status"]
        == "shutting_down"
    )
    shutting = api.get(f"/instances/{instance_id}").json()
    assert shutting["status"] == "shutting_down"
    assert shutting["current_gpu_hr_cost"] == 0  # not billed while it shuts down
    emulator.advance(121)
    assert api.get(f"/instances/{instance_id}").json()["status"] == "terminated"
    with pytest.raises(Exception, match="409"):
        emulator.set_instance_status(instance_id, "shutting_down")
    with pytest.raises(Exception, match="404"):
        emulator.set_instance_status("missing", "unhealthy")


def test_payments_and_the_flag_survive_a_restart_with_a_db(tmp_path: Any) -> None:
    from fluidstack.emulator import EmulatorSettings
    from fluidstack.emulator.platform.state import PlatformState

    settings = EmulatorSettings(manual_clock=True, api_keys=["k"], db_path=str(tmp_path / "e.db"))
    state = PlatformState(settings)
    account = state.require_account_for_key("k")
    secret = state.payment_intent(account, 700, "usd")["client_secret"]
    intent_id = secret.split("_secret_")[0]
    state.set_auto_terminate("k", False)
    before = state.balance(account)
    state.close()
    again = PlatformState(settings)
    account = again.require_account_for_key("k")
    assert account.auto_terminate_on_depletion is False
    assert again.payment_intents[intent_id].status == "requires_payment_method"
    again.complete_payment(intent_id)
    assert again.balance(account) == pytest.approx(before + 7.0)
    again.close()
