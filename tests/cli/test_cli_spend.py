"""`fluidstack instances sweep`, `delete --wait`, `--lease`, the profile's spend limit and
`fluidstack cost`, and their `atlas` twins, against the emulator in simulated time."""

from __future__ import annotations

import json
import os
import signal
import stat
import subprocess
import sys
from decimal import Decimal
from typing import Any, Dict, List

import pytest
from cli_support import Fs, Home, lines

from fluidstack.cli.config import save_profile
from fluidstack.testing import EmulatorHandle

HOUR = 3600.0


def create(fs: Fs, *args: str) -> Dict[str, Any]:
    created: Dict[str, Any] = fs.json(
        "instances", "create", "--gpu-type", "RTX_A4000_16GB", "--ssh-key", "laptop", *args
    )
    return created


def status(fs: Fs, instance_id: str) -> str:
    return str(fs.json("instances", "get", instance_id)["status"])


def deletes(emulator: EmulatorHandle, instance_id: str) -> List[int]:
    return [
        e["status"]
        for e in emulator.journal()
        if e["method"] == "DELETE" and e["path"].endswith(f"/instances/{instance_id}")
    ]


# -- platform -------------------------------------------------------------------------------


def test_sweep_lists_with_the_cost_so_far_and_deletes_only_with_yes(
    fs: Fs, ssh_key: str, emulator: EmulatorHandle
) -> None:
    old = create(fs, "--name", "ci-old", "--gpu-count", "2")
    keep = create(fs, "--name", "keep")
    emulator.advance(50 * HOUR)

    listed = fs("instances", "sweep", "--older-than", "1d", "--name-prefix", "ci-")

    assert old["id"] in listed.stdout
    assert keep["id"] not in listed.stdout
    assert "$0.60" in listed.stdout  # its hourly price
    assert "1 instance, $0.60/hour" in listed.stdout
    assert "Nothing was deleted" in listed.stderr
    assert status(fs, old["id"]) == "running"
    data = fs.json("instances", "sweep", "--older-than", "1d", "--name-prefix", "ci-")
    (match,) = data["matched"]
    assert data["dry_run"] is True
    assert match["id"] == old["id"]
    assert 29.9 < match["cost_so_far"] < 30.1  # 50 hours at 0.60
    assert data["deleted"] == []

    done = fs.json("instances", "sweep", "--older-than", "1d", "--name-prefix", "ci-", "--yes")

    assert done["deleted"] == [old["id"]]
    assert status(fs, old["id"]) == "terminated"
    assert status(fs, keep["id"]) == "running"


def test_a_sweep_without_a_criterion_or_with_a_bad_duration_is_a_usage_error(
    fs: Fs, emulator: EmulatorHandle
) -> None:
    nothing = fs("instances", "sweep", "--yes", expect=2)
    assert "at least one criterion" in nothing.stderr
    bad = fs("instances", "sweep", "--older-than", "soon", expect=2)
    assert "'soon' is not a duration" in bad.stderr
    rounds = fs("instances", "sweep", "--expired", "--rounds", "2", expect=2)
    assert "--rounds goes with --watch" in rounds.stderr
    assert [e for e in emulator.journal() if e["method"] == "DELETE"] == []


def test_a_lease_expires_and_the_reaper_deletes_it_logging_the_deletion(
    fs: Fs, ssh_key: str, emulator: EmulatorHandle
) -> None:
    leased = create(fs, "--name", "trainer", "--lease", "2h")
    kept = create(fs, "--name", "kept")
    assert leased["name"].startswith("trainer--lease-until-")
    emulator.advance(HOUR)
    assert fs.json("instances", "sweep", "--expired")["matched"] == []
    emulator.advance(2 * HOUR)

    reaper = fs(
        "instances", "sweep", "--expired", "--watch", "--interval", "0.1", "--rounds", "2",
        "-o", "json",
    )  # fmt: skip

    (logged,) = [line for line in lines(reaper.stderr) if "deleted instance" in line]
    assert f"deleted instance {leased['id']} (trainer--lease-until-" in logged
    assert "lease expired 59m 59s ago" in logged or "lease expired 1h 00m ago" in logged
    assert "reaper stopped after 2 sweeps" in reaper.stderr
    (event,) = [json.loads(line) for line in lines(reaper.stdout)]
    assert (event["event"], event["id"]) == ("deleted", leased["id"])
    assert status(fs, leased["id"]) == "terminated"
    assert status(fs, kept["id"]) == "running"


def test_a_failed_round_of_the_reaper_is_logged_and_the_next_one_goes_on(
    fs: Fs, ssh_key: str, emulator: EmulatorHandle, monkeypatch: pytest.MonkeyPatch
) -> None:
    from fluidstack.core._sync.pipeline import Pipeline

    # The retries' back-off moves the emulator's clock instead of sleeping.
    monkeypatch.setitem(Pipeline.__init__.__kwdefaults__, "sleep", emulator.advance)
    leased = create(fs, "--lease", "1h")
    emulator.advance(2 * HOUR)
    emulator.add_fault(method="GET", path="/instances", status=503, times=3)  # 1 + 2 retries

    reaper = fs("instances", "sweep", "--expired", "--watch", "--interval", "0.1", "--rounds", "2")

    assert "sweep failed (trying again in 0.1s): 503" in reaper.stderr
    assert f"deleted instance {leased['id']}" in reaper.stderr
    assert status(fs, leased["id"]) == "terminated"


@pytest.mark.skipif(os.name != "posix", reason="SIGTERM delivery is POSIX")
def test_the_reaper_stops_cleanly_on_sigterm_as_systemd_stops_it(
    fs: Fs, ssh_key: str, emulator: EmulatorHandle, home: Home
) -> None:
    leased = create(fs, "--name", "trainer", "--lease", "1h")
    emulator.advance(2 * HOUR)
    env = {k: v for k, v in os.environ.items() if not k.startswith("FLUIDSTACK_")}
    env.update(
        HOME=str(home.path),
        XDG_CONFIG_HOME=str(home.xdg),
        PYTHONUNBUFFERED="1",
        FLUIDSTACK_API_KEY=emulator.api_key,
        FLUIDSTACK_BASE_URL=emulator.base_url,
    )
    proc = subprocess.Popen(
        [sys.executable, "-m", "fluidstack.cli", "instances", "sweep", "--expired", "--watch",
         "--interval", "1h"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )  # fmt: skip
    try:
        assert proc.stderr is not None
        log: List[str] = []
        for line in proc.stderr:  # until the first sweep is done and logged
            log.append(line)
            if "deleted instance" in line:
                break
        proc.send_signal(signal.SIGTERM)  # while it sleeps for an hour
        proc.wait(timeout=60)
        rest = proc.stderr.read()  # through the same buffer the lines above came from
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0
    assert f"deleted instance {leased['id']}" in log[-1]
    assert "reaper stopped after 1 sweep" in rest
    assert status(fs, leased["id"]) == "terminated"


def test_delete_wait_sends_a_delete_that_did_not_take_again(
    fs: Fs, ssh_key: str, emulator: EmulatorHandle
) -> None:
    created = create(fs)
    emulator.advance(HOUR)
    emulator.add_fault(method="DELETE", path=f"/instances/{created['id']}", status=200, times=1)

    result = fs("instances", "delete", created["id"], "--yes", "--wait", "--poll-interval", "0.1")

    assert f"Terminated instance {created['id']}" in result.stderr
    assert status(fs, created["id"]) == "terminated"
    assert deletes(emulator, created["id"]) == [200, 200]


def test_the_profiles_spend_limit_refuses_a_create_over_it(
    fs: Fs, ssh_key: str, home: Home, emulator: EmulatorHandle
) -> None:
    bad = fs("configure", "--max-hourly-spend", "lots", expect=2)
    assert "max_hourly_spend must be a number" in bad.stderr
    fs("configure", "--max-hourly-spend", "0.50")
    assert 'max_hourly_spend = "0.50"' in home.config_file.read_text()
    assert stat.S_IMODE(home.config_file.stat().st_mode) == 0o600
    assert fs.json("configure", "--show")["max_hourly_spend"] == "0.50"
    create(fs)  # 0.30/h
    posts = len([e for e in emulator.journal() if e["method"] == "POST"])

    refused = fs(
        "instances", "create", "--gpu-type", "RTX_A4000_16GB", "--ssh-key", "laptop", expect=1
    )

    assert "$0.60/h is over max_hourly_spend $0.50/h; nothing was sent" in refused.stderr
    assert len([e for e in emulator.journal() if e["method"] == "POST"]) == posts
    fs("configure", "--max-hourly-spend", "")
    create(fs)


def test_cost_shows_the_burn_the_cost_so_far_and_how_long_the_balance_lasts(
    fs: Fs, ssh_key: str, emulator: EmulatorHandle
) -> None:
    one = create(fs, "--gpu-count", "2")
    two = create(fs)
    emulator.advance(10 * HOUR)
    fs("instances", "stop", two["id"])
    emulator.advance(HOUR)

    data = fs.json("cost")

    balance = Decimal(str(fs.json("balance")["balance"]))
    assert Decimal(str(data["balance"])) == balance
    by_id = {row["id"]: row for row in data["instances"]}
    assert by_id[one["id"]]["hourly"] == 0.6
    assert by_id[two["id"]]["hourly"] == 0.015  # stopped: 0.015 per GPU-hour
    assert 6.5 < by_id[one["id"]]["cost_so_far"] < 6.7  # 11 hours at 0.60
    burn = Decimal(str(data["hourly_burn"]))
    assert burn == Decimal("0.615")
    assert data["hours_left"] == pytest.approx(float(balance / burn), abs=0.01)
    table = fs("cost")
    assert "$0.61/hour" in table.stdout
    assert one["id"] in table.stdout
    fs("instances", "delete", one["id"], two["id"], "--yes")
    assert fs.json("cost")["hours_left"] is None  # nothing bills: it lasts


# -- atlas -----------------------------------------------------------------------------------


def test_atlas_sweep_by_tag_and_lease_and_delete_wait(
    atlas_fs: Fs, emulator: EmulatorHandle
) -> None:
    leased = atlas_fs.json(
        "atlas", "instances", "create", "trainer", "--type", "cpu.2x", "--lease", "1h",
        "--tag", "team=ml",
    )  # fmt: skip
    other = atlas_fs.json("atlas", "instances", "create", "web", "--type", "cpu.2x")
    assert leased["tags"]["fluidstack.lease-until"]
    listed = atlas_fs("atlas", "instances", "list")
    assert "fluidstack.lease-until" in listed.stdout
    assert "fluidstack.created-at" not in listed.stdout  # bookkeeping stays out of sight
    emulator.advance(2 * HOUR)

    plan = atlas_fs.json("atlas", "instances", "sweep", "--expired", "--tag", "team=ml")
    assert [m["id"] for m in plan["matched"]] == [leased["id"]]
    assert plan["matched"][0]["hourly"] is None  # no prices in the profile

    done = atlas_fs.json("atlas", "instances", "sweep", "--expired", "--yes")
    assert done["deleted"] == [leased["id"]]

    atlas_fs("atlas", "instances", "delete", other["id"], "--yes", "--wait")
    assert atlas_fs.json("atlas", "instances", "list") == []


def test_atlas_spend_limit_from_the_profile_needs_its_prices(
    atlas_fs: Fs, home: Home, emulator: EmulatorHandle
) -> None:
    save_profile(home.config_file, "default", {"max_hourly_spend": 5}, section="atlas")
    refused = atlas_fs("atlas", "instances", "list", expect=2)
    assert "max_hourly_spend needs prices=" in refused.stderr
    save_profile(home.config_file, "default", {"prices": {"cpu.2x": 4}}, section="atlas")
    atlas_fs("atlas", "instances", "create", "a", "--type", "cpu.2x")

    over = atlas_fs("atlas", "instances", "create", "b", "--type", "cpu.2x", expect=1)

    assert "$8.00/h is over max_hourly_spend $5.00/h" in over.stderr
    costs = atlas_fs.json("atlas", "instances", "sweep", "--name-prefix", "a")
    assert costs["matched"][0]["hourly"] == 4.0
