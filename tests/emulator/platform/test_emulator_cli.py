"""The command: ``python -m fluidstack.emulator`` in a subprocess, flags, persistence."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path
from typing import List

import httpx
import pytest
from emulator_support import public_key
from process_support import start_emulator

from fluidstack.emulator.__main__ import build_parser, settings_from_args

ROOT = Path(__file__).resolve().parents[3]


def test_listening_line_dev_key_and_clean_sigterm(
    processes: List[subprocess.Popen[str]],
) -> None:
    process, url = start_emulator()
    processes.append(process)
    assert int(url.rsplit(":", 1)[1]) > 0
    assert httpx.get(f"{url}/healthcheck").json() == {"status": "ok"}
    assert httpx.get(f"{url}/instances", headers={"api-key": "fs-emulator-dev-key"}).json() == []
    process.send_signal(signal.SIGTERM)
    out, err = process.communicate(timeout=10)
    assert process.returncode == 0
    assert "fs-emulator-dev-key" in err  # the development key is announced
    assert out == ""  # the listening line is the only line on stdout
    # The docs quote these lines as a reader will see them (docs/atlas.md had an older
    # wording of the Atlas one).
    quoted = [
        line.split("   (stderr)")[0].rstrip()
        for page in [ROOT / "README.md", *(ROOT / "docs").glob("*.md")]
        for line in page.read_text().splitlines()
        if line.startswith(("No --api-key given", "No --atlas-client given"))
    ]
    assert len(quoted) >= 3
    assert [line for line in quoted if line not in err.splitlines()] == []


def test_api_keys_and_no_control(processes: List[subprocess.Popen[str]]) -> None:
    process, url = start_emulator("--api-key", "alpha", "--api-key", "beta", "--no-control")
    processes.append(process)
    assert httpx.get(f"{url}/instances", headers={"api-key": "alpha"}).status_code == 200
    assert httpx.get(f"{url}/instances", headers={"api-key": "beta"}).status_code == 200
    assert (
        httpx.get(f"{url}/instances", headers={"api-key": "fs-emulator-dev-key"}).status_code == 401
    )
    assert httpx.post(f"{url}/_emulator/reset", json={}).status_code == 404
    assert httpx.get(f"{url}/_emulator/clock").status_code == 404


def _seed_state(url: str) -> str:
    headers = {"api-key": "persist"}
    assert (
        httpx.post(
            f"{url}/ssh_keys", json={"name": "k", "public_key": public_key()}, headers=headers
        ).status_code
        == 200
    )
    created = httpx.post(
        f"{url}/instances",
        json={"gpu_type": "L40_48GB", "ssh_key": "k"},
        headers={**headers, "Idempotency-Key": "persisted"},
    )
    assert created.status_code == 202
    instance_id: str = created.json()["id"]
    return instance_id


def _check_state(url: str, instance_id: str) -> None:
    headers = {"api-key": "persist"}
    assert [k["name"] for k in httpx.get(f"{url}/ssh_keys", headers=headers).json()] == ["k"]
    instances = httpx.get(f"{url}/instances", headers=headers).json()
    assert [i["id"] for i in instances] == [instance_id]
    replay = httpx.post(
        f"{url}/instances",
        json={"gpu_type": "L40_48GB", "ssh_key": "k"},
        headers={**headers, "Idempotency-Key": "persisted"},
    )
    assert replay.json()["id"] == instance_id  # idempotency keys survive too


@pytest.mark.slow
def test_db_survives_a_clean_restart(
    tmp_path: Path, processes: List[subprocess.Popen[str]]
) -> None:
    db = str(tmp_path / "state.db")
    process, url = start_emulator(
        "--db", db, "--api-key", "persist", "--manual-clock", "--control-token", "restart-token",
        "--failure-rate", "0",  # an hour later the instance must be running, not failed (2 %)
    )  # fmt: skip
    processes.append(process)
    instance_id = _seed_state(url)
    advanced = httpx.post(
        f"{url}/_emulator/clock/advance",
        json={"seconds": 3600},
        headers={"x-emulator-token": "restart-token"},
    )
    assert advanced.status_code == 200
    process.send_signal(signal.SIGINT)  # Ctrl-C
    process.communicate(timeout=10)
    assert process.returncode == 0

    process, url = start_emulator(
        "--db", db, "--api-key", "persist", "--manual-clock", "--failure-rate", "0"
    )
    processes.append(process)
    _check_state(url, instance_id)
    instance = httpx.get(f"{url}/instances/{instance_id}", headers={"api-key": "persist"})
    assert instance.json()["status"] == "running"  # the simulated clock continued


@pytest.mark.slow
def test_every_acknowledged_write_survives_kill_9(
    tmp_path: Path, processes: List[subprocess.Popen[str]]
) -> None:
    db = str(tmp_path / "state.db")
    process, url = start_emulator("--db", db, "--api-key", "persist")
    processes.append(process)
    instance_id = _seed_state(url)
    headers = {"api-key": "persist"}
    key = httpx.post(f"{url}/api_keys", json={"name": "later"}, headers=headers).json()
    stopped = httpx.delete(f"{url}/instances/{instance_id}", headers=headers)
    assert stopped.status_code == 200
    process.kill()  # SIGKILL: no shutdown code runs
    process.communicate(timeout=10)

    process, url = start_emulator("--db", db, "--api-key", "persist")
    processes.append(process)
    _check_state(url, instance_id)
    after = httpx.get(f"{url}/instances/{instance_id}", headers=headers).json()
    assert after["status"] == "terminated"
    assert httpx.get(f"{url}/user/balance", headers={"api-key": key["api_key"]}).status_code == 200


def test_bad_flags_exit_2() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "fluidstack.emulator", "--failure-rate", "2"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 2
    assert "between 0 and 1" in result.stderr


def test_more_than_one_worker_is_refused_with_the_reason() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "fluidstack.emulator", "--port", "0", "--workers", "2"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 2
    assert "--workers 2: the emulator runs as one process" in result.stderr
    assert result.stdout == ""  # it never listened


@pytest.mark.slow
def test_a_second_emulator_on_the_same_db_is_refused(
    tmp_path: Path, processes: List[subprocess.Popen[str]]
) -> None:
    db = str(tmp_path / "state.db")
    process, url = start_emulator("--db", db, "--api-key", "persist")
    processes.append(process)
    second = subprocess.run(
        [sys.executable, "-m", "fluidstack.emulator", "--port", "0", "--db", db],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert second.returncode == 2
    assert "is in use by another emulator process" in second.stderr
    assert httpx.get(f"{url}/healthcheck").status_code == 200  # the first one is untouched
    process.send_signal(signal.SIGINT)
    process.communicate(timeout=10)
    third, _ = start_emulator("--db", db, "--api-key", "persist")  # free again once it stopped
    processes.append(third)


def test_parser_is_reusable() -> None:
    args = build_parser().parse_args(
        ["--port", "0", "--seed", "3", "--manual-clock", "--page-size", "5", "--api-key", "a"]
    )
    settings = settings_from_args(args)
    assert (settings.port, settings.seed, settings.manual_clock) == (0, 3, True)
    assert (settings.page_size, settings.api_keys, settings.time_scale) == (5, ["a"], 100.0)
    assert settings.failure_rate == 0.02
    assert settings.control is True


def test_uvicorn_start_and_stop_lines_only_at_debug(
    processes: List[subprocess.Popen[str]],
) -> None:
    # At the default level the terminal shows our announcements, not uvicorn's INFO lines.
    quiet, url = start_emulator("--log-level", "info")
    processes.append(quiet)
    assert httpx.get(f"{url}/healthcheck").status_code == 200
    quiet.send_signal(signal.SIGTERM)
    _, err = quiet.communicate(timeout=10)
    assert "fs-emulator-dev-key" in err
    assert "INFO:" not in err
    assert "Started server process" not in err
    chatty, url = start_emulator("--log-level", "debug")
    processes.append(chatty)
    chatty.send_signal(signal.SIGTERM)
    _, err = chatty.communicate(timeout=10)
    assert "Started server process" in err
