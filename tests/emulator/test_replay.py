"""Replayable journals (issue 27): ``GET /_emulator/journal?format=replay`` and
``fluidstack-emulator replay FILE``. A scenario recorded through the SDK (both APIs,
simulated waits, an injected fault, a request that fails) replays with zero differences
against a fresh emulator; a deliberately changed answer is reported with its request;
the file holds no secret."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Dict, Iterator

import httpx
import pytest
from emulator_support import public_key

from fluidstack import ApiError, FluidStack
from fluidstack.atlas import Atlas
from fluidstack.emulator.__main__ import main
from fluidstack.emulator.server import EmulatorServer
from fluidstack.emulator.settings import (
    DEV_API_KEY,
    DEV_ATLAS_CLIENT_SECRET,
    EmulatorSettings,
)
from fluidstack.testing import EmulatorHandle


def _export(handle: EmulatorHandle) -> Dict[str, Any]:
    response = httpx.get(
        f"{handle.base_url}/_emulator/journal",
        params={"format": "replay"},
        headers=handle.control_headers,
    )
    assert response.status_code == 200, response.text
    data: Dict[str, Any] = response.json()
    return data


def _scenario(handle: EmulatorHandle) -> None:
    """What a user's failing test did: platform instances through their lifecycle (the
    client's waits advance the simulated clock), a create that meets an injected 500,
    a request refused, and Atlas (a token, a project, an instance)."""
    with FluidStack(api_key=handle.api_key, base_url=handle.base_url) as client:
        client.ssh_keys.create(name="laptop", public_key=public_key())
        first = client.instances.create(gpu_type="L40_48GB", ssh_key="laptop", name="one")
        handle.advance(600)
        assert client.instances.get(first.id).status == "running"
        handle.add_fault(method="POST", path="/instances", status=500, times=1)
        with pytest.raises(ApiError):
            FluidStack(api_key=handle.api_key, base_url=handle.base_url, max_retries=0)\
                .instances.create(gpu_type="L40_48GB", ssh_key="laptop", name="two")  # fmt: skip
        with pytest.raises(ApiError):
            client.instances.get("no-such-instance")
        client.instances.stop(first.id)
        handle.advance(120)
        client.instances.list()
    control = handle.atlas
    with Atlas(
        client_id=control.client_id,
        client_secret=control.client_secret,
        management_url=control.management_url,
        token_url=control.token_url,
        region=control.regions()[0],
    ) as atlas:
        project = atlas.projects.create(name="replayed")
        atlas.projects.list()
        assert project.id


@pytest.fixture
def recorded(emulator: EmulatorHandle, tmp_path: Path) -> Iterator[Path]:
    _scenario(emulator)
    path = tmp_path / "scenario.json"
    path.write_text(json.dumps(_export(emulator)))
    return path


def test_a_recorded_scenario_replays_with_zero_differences(
    recorded: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = json.loads(recorded.read_text())
    assert data["complete"] is True
    assert data["settings"]["seed"] == 1234
    methods = [(r["method"], r["status"]) for r in data["requests"]]
    assert ("POST", 500) in methods
    assert ("GET", 404) in methods
    assert any(r["path"] == "/oauth/token" for r in data["requests"])
    assert any(r["fault"] for r in data["requests"])
    assert main(["replay", str(recorded)]) == 0
    out = capsys.readouterr().out
    assert f"{len(data['requests'])} requests, 0 differences" in out


def test_a_changed_answer_is_reported_with_its_request(
    recorded: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = json.loads(recorded.read_text())
    index, request = next(
        (i, r)
        for i, r in enumerate(data["requests"], 1)
        if r["method"] == "POST" and r["path"] == "/instances" and r["status"] == 202
    )
    request["answer"]["json"]["name"] = "not-what-was-answered"
    recorded.write_text(json.dumps(data))
    assert main(["replay", str(recorded)]) == 1
    out = capsys.readouterr().out
    assert f"Request {index} of {len(data['requests'])} differs" in out
    assert "POST /instances" in out
    assert "$.name" in out
    assert "not-what-was-answered" in out
    assert '"name": "one"' in out  # the request's body is shown


def test_a_changed_status_is_reported(recorded: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = json.loads(recorded.read_text())
    request = next(r for r in data["requests"] if r["status"] == 404)
    request["status"] = 200
    recorded.write_text(json.dumps(data))
    assert main(["replay", str(recorded)]) == 1
    out = capsys.readouterr().out
    assert "first difference at status" in out
    assert "no-such-instance" in out


def test_the_file_holds_no_secret(recorded: Path, emulator: EmulatorHandle) -> None:
    text = recorded.read_text()
    data = json.loads(text)
    for secret in (
        DEV_API_KEY,
        DEV_ATLAS_CLIENT_SECRET,
        emulator.control_headers["x-emulator-token"],
    ):
        assert secret not in text
    token = next(r for r in data["requests"] if r["path"] == "/oauth/token")
    assert token["answer"]["json"]["access_token"].startswith("<secret:")
    assert all(
        r["headers"].get("authorization", "Bearer <secret:").startswith("Bearer <secret:")
        for r in data["requests"]
    )
    assert "eyJ" not in text  # no JWT anywhere


def test_replay_against_a_running_emulator(
    recorded: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    settings = EmulatorSettings(port=0, manual_clock=True, seed=1234, failure_rate=0.0,
                                log_level="warning")  # fmt: skip
    with EmulatorServer(settings) as server:
        status = main(["replay", str(recorded), "--url", server.base_url,
                       "--control-token", server.control_token])  # fmt: skip
    assert status == 0, capsys.readouterr()
    assert "0 differences" in capsys.readouterr().out


def test_an_automatic_clock_target_is_refused(
    recorded: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    settings = EmulatorSettings(port=0, seed=1234, failure_rate=0.0, log_level="warning")
    with EmulatorServer(settings) as server:
        status = main(["replay", str(recorded), "--url", server.base_url,
                       "--control-token", server.control_token])  # fmt: skip
    assert status == 2
    assert "--manual-clock" in capsys.readouterr().err


def test_a_reset_starts_a_new_origin(emulator: EmulatorHandle, tmp_path: Path) -> None:
    with FluidStack(api_key=emulator.api_key, base_url=emulator.base_url) as client:
        client.ssh_keys.create(name="before", public_key=public_key())
        emulator.reset()
        client.ssh_keys.create(name="after", public_key=public_key())
        client.ssh_keys.list()
    data = _export(emulator)
    assert [r["method"] for r in data["requests"]] == ["POST", "GET"]
    path = tmp_path / "after-reset.json"
    path.write_text(json.dumps(data))
    assert main(["replay", str(path)]) == 0


def test_not_a_replay_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "state.json"
    path.write_text(json.dumps({"format": "fluidstack-emulator-state"}))
    assert main(["replay", str(path)]) == 2
    assert "not a replay file" in capsys.readouterr().err


def test_a_large_world_replays_from_a_snapshot(
    emulator: EmulatorHandle, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Over 2,000 instances, the origin is not copied before the first request (it
    would cost every test that starts from a large world): the replay takes it from a
    snapshot taken just before."""
    emulator.set_capacity("RTX_A4000_16GB", "NORWAY", 3000)
    emulator.create_instances({"count": 2500, "gpu_type": "RTX_A4000_16GB"})
    world = tmp_path / "world.json"
    world.write_text(json.dumps(emulator.snapshot(secrets=False)))
    with FluidStack(api_key=emulator.api_key, base_url=emulator.base_url) as client:
        page = client.instances.list(page=3)
        client.instances.stop(page[0].id)
        emulator.advance(60)
        assert client.instances.get(page[0].id).status == "stopped"
    data = _export(emulator)
    assert data["complete"] is True
    assert "2500 instances" in data["origin"]["omitted"]
    path = tmp_path / "large.json"
    path.write_text(json.dumps(data))
    assert main(["replay", str(path)]) == 2
    assert "--state" in capsys.readouterr().err
    assert main(["replay", str(path), "--state", str(world)]) == 0
    assert "3 requests, 0 differences" in capsys.readouterr().out


FAILING_TEST = """
from fluidstack import FluidStack


def test_fails(emulator):
    with FluidStack(api_key=emulator.api_key, base_url=emulator.base_url) as client:
        client.ssh_keys.create(name="laptop", public_key="{key}")
        client.instances.create(gpu_type="L40_48GB", ssh_key="laptop", name="one")
        assert len(client.instances.list()) == 2
"""


@pytest.mark.slow
def test_the_doc_conftest_keeps_a_failing_test_replayable(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """docs/emulator.md's conftest hook, as written: a failing test leaves its replay
    file, which replays with zero differences."""
    import re
    import subprocess
    import sys

    text = (Path(__file__).resolve().parents[2] / "docs" / "emulator.md").read_text()
    section = text[text.index("### Replaying a failing test") :]
    hook = re.findall(r"```python\n(.*?)```", section, flags=re.S)[0]
    (tmp_path / "conftest.py").write_text(hook)
    (tmp_path / "test_scenario.py").write_text(FAILING_TEST.format(key=public_key()))
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", str(tmp_path)],
        cwd=tmp_path, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert "1 failed" in done.stdout, done.stdout + done.stderr
    replay = tmp_path / "replay-test_fails.json"
    assert main(["replay", str(replay)]) == 0
    assert "3 requests, 0 differences" in capsys.readouterr().out
