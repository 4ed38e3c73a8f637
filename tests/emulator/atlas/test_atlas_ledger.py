"""Atlas capacity in use, kept as a running total (``emulator/atlas/ledger.py``), gives
exactly what walking every instance gives, through any sequence of operations and at
every reading of the simulated clock.

The ledger exists so that a create and a capacity read do not walk every instance of
every organization (issue 24); these tests compare it, after every step of a random walk
(creates, stops, starts, deletes, preemptions, failures, node pools, capacity changes,
organization resets, clock advances and rewinds, reloads), with the walk it replaced,
which is kept here as the reference.
"""

from __future__ import annotations

import random
from pathlib import Path
from typing import List, Optional, Tuple

import pytest

from fluidstack.emulator.atlas.state import AtlasState, Organization, Project
from fluidstack.emulator.responses import ApiError
from fluidstack.emulator.settings import EmulatorSettings

CLIENTS = ["client-a:secret-a", "client-b:secret-b"]


def _state(tmp_path: Optional[Path] = None) -> AtlasState:
    settings = EmulatorSettings(
        manual_clock=True,
        seed=11,
        atlas_clients=CLIENTS,
        db_path=str(tmp_path / "state.db") if tmp_path is not None else None,
    )
    return AtlasState(settings)


def _reference_used(state: AtlasState, region: str, type_name: str) -> int:
    """The walk the ledger replaced: every instance of every organization and region."""
    now = state.clock.now()
    return sum(
        1
        for i in state.instances.values()
        if i.region == region and i.type == type_name and i.holds_capacity(now)
    )


def _check(state: AtlasState) -> None:
    now = state.clock.now()
    report = {(e["region"], e["instance_type"]): e for e in state.capacity_report()}
    for region in state.regions.values():
        listed = {e["name"]: e["capacity"] for e in state.capacity(region)}
        for kind in region.offer.types:
            used = _reference_used(state, region.name, kind.name)
            assert state._used(region.name, kind.name, now) == used
            total = region.capacity.get(kind.name, 0)
            assert report[(region.name, kind.name)]["used"] == used
            assert listed[kind.name] == max(0, total - used)


def _setup(state: AtlasState) -> Tuple[List[Organization], List[Tuple[Organization, Project]]]:
    orgs = [state.require_org(c.split(":")[0]) for c in CLIENTS]
    scopes = []
    for org in orgs:
        for n in range(2):
            view = state.create_project(org, f"p{n}", {})
            scopes.append((org, state.projects[view["id"]]))
    # Small capacities, so that creates and starts run regions out of stock.
    for region in state.regions.values():
        for kind in region.offer.types[:2]:
            state.set_capacity(region.name, kind.name, 3)
    return orgs, scopes


def _random_walk(state: AtlasState, rng: random.Random, steps: int) -> None:
    orgs, scopes = _setup(state)
    regions = list(state.regions.values())
    pools: List[Tuple[Organization, Project, str, str]] = []
    for step in range(steps):
        org, project = rng.choice(scopes)
        region = rng.choice(regions)
        types = [t.name for t in region.offer.types[:2]]
        mine = [
            state.instances[i]
            for i in state.scoped_instances.get((org.id, project.id, region.name), [])
        ]
        action = rng.random()
        try:
            if action < 0.3 or not mine:
                state.create_instance(
                    org, project, region,
                    name=f"i{step}", type_name=rng.choice(types), image="image://x",
                    preemptible=rng.random() < 0.5, ephemeral=False, user_data=None,
                    filesystems=[], tags={},
                )  # fmt: skip
            elif action < 0.4:
                state.stop_instance(org, project, region, rng.choice(mine).id)
            elif action < 0.5:
                state.start_instance(org, project, region, rng.choice(mine).id)
            elif action < 0.58:
                state.delete_instance(org, project, region, rng.choice(mine).id)
            elif action < 0.62:
                state.preempt(rng.choice(mine).id)
            elif action < 0.65:
                state.fail(rng.choice(mine).id)
            elif action < 0.68:
                first = regions[0]
                cluster = next(
                    c for c in state.clusters.values()
                    if c.org_id == org.id and c.type == "kubernetes" and c.region == first.name
                )  # fmt: skip
                pool_type = rng.choice(first.offer.types[:2]).name
                view = state.create_node_pool(
                    org, project, first, "kubernetes", cluster.id,
                    name=f"pool{step}", type_name=pool_type, count=rng.randint(1, 3), version=None,
                )  # fmt: skip
                pools.append((org, project, cluster.id, view["id"]))
            elif action < 0.7 and pools:
                p_org, p_project, cluster_id, pool_id = pools.pop(rng.randrange(len(pools)))
                state.delete_node_pool(
                    p_org, p_project, regions[0], "kubernetes", cluster_id, pool_id
                )
            elif action < 0.73:
                state.set_capacity(region.name, rng.choice(types), rng.randint(0, 5))
            elif action < 0.75:
                state.fail_next(region.name, rng.choice([None, *types]), rng.randint(1, 2))
            elif action < 0.76:
                org_to_reset = rng.choice(orgs)
                state.reset(org_to_reset.client_id)
                pools = [p for p in pools if p[0].id != org_to_reset.id]
            elif action < 0.78:
                state.clock.rewind(max(0.0, state.clock.now() - rng.choice([5.0, 25.0, 70.0])))
            else:
                state.advance_clock(rng.choice([0.5, 10.0, 20.0, 30.0, 40.0, 60.0, 600.0]))
        except ApiError:
            pass  # a refused operation changes nothing: the totals must still agree
        _check(state)
        if step % 7 == 0:  # between operations, the clock passes planned moments too
            state.advance_clock(rng.choice([1.0, 19.9, 20.0, 20.1, 45.0]))
            _check(state)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_capacity_in_use_equals_the_walk_over_every_instance(seed: int) -> None:
    state = _state()
    _random_walk(state, random.Random(seed), 300)


def test_capacity_in_use_is_rebuilt_from_the_database(tmp_path: Path) -> None:
    state = _state(tmp_path)
    _random_walk(state, random.Random(4), 120)
    state.close()
    again = _state(tmp_path)
    _check(again)
    for seconds in (10.0, 20.0, 40.0, 600.0):
        again.advance_clock(seconds)
        _check(again)
    again.close()


def test_capacity_in_use_is_rebuilt_by_a_restored_snapshot() -> None:
    state = _state()
    _random_walk(state, random.Random(5), 120)
    records = state.export_records()
    other = _state()
    other.load_records(records)
    other.commit_loaded(other.loaded_changes(records))
    _check(other)
    for seconds in (10.0, 20.0, 40.0, 600.0):
        other.advance_clock(seconds)
        _check(other)
