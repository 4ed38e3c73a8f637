"""The platform's running totals (capacity in use, balances, listing pages) give exactly
what summing over every instance gives, through any sequence of operations.

The ledger (``emulator/platform/ledger.py``) exists so that a create, a balance and a
page do not walk every instance (issue 15); these tests compare it, step by step, with
the sums it replaced, computed here from the instances' own segments.
"""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import List, Optional

import pytest

from fluidstack.emulator.platform.ledger import CAPACITY_FREE_STATUSES
from fluidstack.emulator.platform.state import Account, PlatformState
from fluidstack.emulator.responses import ApiError
from fluidstack.emulator.settings import EmulatorSettings

KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIMlZrNQiO9x/cSV8+8kF4khUmIupYM4FWj8WT0wfbsoV a@b"


def _state(tmp_path: Optional[Path] = None, **overrides: object) -> PlatformState:
    settings = EmulatorSettings(
        manual_clock=True,
        seed=7,
        failure_rate=0.3,
        page_size=3,
        api_keys=["key-a", "key-b"],
        db_path=str(tmp_path / "state.db") if tmp_path is not None else None,
        **overrides,  # type: ignore[arg-type]
    )
    return PlatformState(settings)


def _brute_used(state: PlatformState, gpu_type: str, region: str) -> int:
    now = state.clock.now()
    return sum(
        i.gpu_count
        for i in state.instances.values()
        if (i.gpu_type, i.region) == (gpu_type, region)
        and i.status_at(now) not in CAPACITY_FREE_STATUSES
    )


def _brute_balance(state: PlatformState, account: Account) -> float:
    now = state.clock.now()
    spent = sum(
        state.instances[i].cost_between(account.balance_time, now)
        for i in state.account_instances[account.id]
    )
    return round(account.balance_base - spent, 6)


def _brute_depleted(state: PlatformState, account: Account) -> bool:
    now = state.clock.now()
    return (
        account.auto_terminate_on_depletion
        and _brute_balance(state, account) < 0
        and any(
            state.instances[i].status_at(now) not in CAPACITY_FREE_STATUSES
            for i in state.account_instances[account.id]
        )
    )


def _brute_page(state: PlatformState, account: Account, page: int, failed: bool) -> List[str]:
    now = state.clock.now()
    listed = [
        i
        for i in state.account_instances[account.id]
        if failed or state.instances[i].status_at(now) != "failed"
    ]
    size = state.settings.page_size
    return listed[(page - 1) * size : page * size]


def _page_ids(state: PlatformState, account: Account, page: int, failed: bool) -> List[str]:
    return [item["id"] for item in json.loads(state.list_instances_json(account, page, failed))]


def _check(state: PlatformState) -> None:
    for gpu_type, region in state.capacity:
        assert state._used_gpus(gpu_type, region, state.clock.now()) == _brute_used(
            state, gpu_type, region
        )
    for account in state.accounts.values():
        assert state.balance(account) == _brute_balance(state, account)
        pages = len(state.account_instances[account.id]) // state.settings.page_size + 2
        for page in range(1, pages + 1):
            for failed in (False, True):
                assert _page_ids(state, account, page, failed) == _brute_page(
                    state, account, page, failed
                )


def _random_walk(state: PlatformState, rng: random.Random, steps: int) -> None:
    accounts = list(state.accounts.values())
    offers = [o for o in state.catalog.offers.values() if 1 in o.gpu_counts][:2]
    for offer in offers:
        state.set_capacity(offer.gpu_type, offer.regions[0], 10)
    for account in accounts:
        state.add_ssh_key(account, "k", KEY, None, "")
    for step in range(steps):
        account = rng.choice(accounts)
        mine = state.account_instances[account.id]
        action = rng.random()
        try:
            if action < 0.35 or not mine:
                offer = rng.choice(offers)
                state.create_instance(
                    account,
                    name=None,
                    gpu_type=offer.gpu_type,
                    gpu_count=1,
                    ssh_key="k",
                    operating_system_label="ubuntu_20_04_lts_nvidia",
                    region=offer.regions[0],
                    volumes=[],
                    idempotency_key=None,
                    fingerprint=str(step),
                )
            elif action < 0.5:
                state.stop_instance(account, rng.choice(mine))
            elif action < 0.6:
                state.start_instance(account, rng.choice(mine))
            elif action < 0.7:
                state.delete_instance(account, rng.choice(mine))
            elif action < 0.75:
                state.set_balance(rng.choice(["key-a", "key-b"]), rng.uniform(-5, 50))
            elif action < 0.76:
                state.reset(rng.choice(["key-a", "key-b"]))
            else:
                state.advance_clock(rng.choice([1.0, 29.0, 30.0, 45.0, 200.0, 900.0, 3600.0]))
        except ApiError:
            pass  # a refused operation changes nothing: the totals must still agree
        for other in accounts:  # a reset drops the account's keys
            if "k" not in state.ssh_keys.get(other.id, {}):
                state.add_ssh_key(other, "k", KEY, None, "")
            # What every request does first: terminate at the moment money ran out.
            if _brute_depleted(state, other):
                assert state.settle(other) is None
                now = state.clock.now()
                assert all(
                    state.instances[i].status_at(now) in CAPACITY_FREE_STATUSES
                    for i in state.account_instances[other.id]
                )
            state.settle(other)
        _check(state)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_totals_equal_the_sums_over_every_instance(seed: int) -> None:
    state = _state()
    _random_walk(state, random.Random(seed), 250)


def test_totals_are_rebuilt_from_the_database(tmp_path: Path) -> None:
    state = _state(tmp_path)
    _random_walk(state, random.Random(4), 120)
    expected = {a.id: state.balance(a) for a in state.accounts.values()}
    state.close()
    again = _state(tmp_path)
    _check(again)
    assert {a.id: again.balance(a) for a in again.accounts.values()} == expected
    again.close()


def test_a_balance_asked_for_an_earlier_moment_is_still_right() -> None:
    state = _state()
    _random_walk(state, random.Random(5), 60)
    state.advance_clock(7200)
    for account in state.accounts.values():
        state.balance(account)
        earlier = state.clock.now() - 3600
        spent = sum(
            state.instances[i].cost_between(account.balance_time, earlier)
            for i in state.account_instances[account.id]
        )
        assert state.balance(account, earlier) == round(account.balance_base - spent, 6)
