"""``pytest --fluidstack-target=live`` (issue 27), against an emulator started with
``--no-control`` standing in for the real service on loopback: the client fixtures use
the user's credentials, control-API fixtures skip, every instance and project is named
with the run's prefix, and none is left after a test that raises midway, nor after
Ctrl-C (SIGINT) of the run; the spend guard is on by default."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Dict, Iterator, List

import pytest

from fluidstack.emulator.atlas.records import GONE
from fluidstack.emulator.server import EmulatorServer
from fluidstack.emulator.settings import (
    DEV_API_KEY,
    DEV_ATLAS_CLIENT_ID,
    DEV_ATLAS_CLIENT_SECRET,
    EmulatorSettings,
)

ROOT = Path(__file__).resolve().parents[1]
PUBLIC_KEY = (
    "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIMlZrNQiO9x/cSV8+8kF4khUmIupYM4FWj8WT0wfbsoV you@laptop"
)
PRICES = '{"cpu.2x": 0.1}'

pytestmark = pytest.mark.slow


@pytest.fixture
def stand_in() -> Iterator[EmulatorServer]:
    """The "real service": no control API, simulated time fast (waits end in a poll)."""
    settings = EmulatorSettings(port=0, control=False, seed=5, failure_rate=0.0,
                                time_scale=5000, log_level="warning")  # fmt: skip
    with EmulatorServer(settings) as server:
        yield server


def _env(tmp_path: Path) -> Dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FLUIDSTACK_")}
    env.update(
        FLUIDSTACK_API_KEY=DEV_API_KEY,
        FLUIDSTACK_CLIENT_ID=DEV_ATLAS_CLIENT_ID,
        FLUIDSTACK_CLIENT_SECRET=DEV_ATLAS_CLIENT_SECRET,
        FLUIDSTACK_REGION="eu-north-1",
        FLUIDSTACK_CONFIG=str(tmp_path / "no-config.toml"),  # never the user's profile
    )
    return env


def _pytest(server: EmulatorServer, *args: str) -> List[str]:
    return [
        sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q",
        "--fluidstack-target=live", f"--fluidstack-live-url={server.base_url}",
        f"--fluidstack-atlas-prices={PRICES}", *args,
    ]  # fmt: skip


def _left(server: EmulatorServer) -> List[str]:
    """Instances of either API not deleted (platform: not terminated; Atlas: not gone),
    read from the stand-in's state (it has no control API)."""
    app = server.app
    now = app.state.platform.clock.now()
    platform = [
        i.name for i in app.state.platform.instances.values() if i.status_at(now) != "terminated"
    ]
    atlas = [i.name for i in app.state.atlas.instances.values() if i.state_at(now) != GONE]
    return platform + atlas


def _projects(server: EmulatorServer) -> List[str]:
    """Atlas projects not deleted (a deleted one answers ``deleting`` for a while)."""
    now = server.app.state.atlas.clock.now()
    return [
        p.name
        for p in server.app.state.atlas.projects.values()
        if p.deleted_at is None and p.state_at(now) is not None
    ]


TESTS = """
import pytest

KEY = "{key}"


def test_platform_raises_midway(fluidstack_client):
    fluidstack_client.ssh_keys.create(name="laptop", public_key=KEY)
    made = fluidstack_client.instances.create(gpu_type="L40_48GB", ssh_key="laptop", name="mid")
    assert made.name.startswith("fs-test-") and made.name.endswith("-mid")
    raise RuntimeError("midway")


def test_atlas_raises_midway(atlas):
    made = atlas.instances.create(type="cpu.2x", name="mid")
    assert made.name.startswith("fs-test-")
    atlas.instances.create(type="cpu.2x")  # unnamed: named with the prefix too
    raise RuntimeError("midway")


def test_the_spend_guard_is_on(fluidstack_client):
    from fluidstack.core.errors import SpendLimitError

    assert fluidstack_client.max_hourly_spend is not None
    fluidstack_client.ssh_keys.create(name="guard", public_key=KEY)
    with pytest.raises(SpendLimitError):
        fluidstack_client.instances.create(gpu_type="H100_SXM5_80GB", gpu_count=8,
                                           ssh_key="guard")


def test_control_fixtures_skip(emulator):
    raise AssertionError("not reached")


@pytest.mark.live
def test_marked_live_runs():
    pass
"""


def test_a_test_that_raises_midway_leaves_nothing(stand_in: EmulatorServer, tmp_path: Path) -> None:
    (tmp_path / "test_live_run.py").write_text(TESTS.format(key=PUBLIC_KEY))
    done = subprocess.run(
        _pytest(stand_in, "-rs", str(tmp_path)), cwd=tmp_path, env=_env(tmp_path),
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    out = done.stdout + done.stderr
    assert "2 failed, 2 passed, 1 skipped" in out, out
    assert "RuntimeError: midway" in out
    assert "needs the emulator's control API" in out  # the skip says why
    assert "fluidstack live run fs-test-" in out
    assert "cleaned up" in out
    assert "platform: 1 instance(s) deleted" in out, out
    assert "atlas: 2 instance(s) and 1 project(s) deleted" in out, out
    assert _left(stand_in) == []
    assert [p for p in _projects(stand_in) if p.startswith("fs-test-")] == []


SLOW_TEST = """
import time
from pathlib import Path


def test_interrupted(fluidstack_client, atlas):
    fluidstack_client.ssh_keys.create(name="laptop", public_key="{key}")
    fluidstack_client.instances.create(gpu_type="L40_48GB", ssh_key="laptop", name="ctrl-c")
    atlas.instances.create(type="cpu.2x", name="ctrl-c")
    Path("{ready}").write_text("ready")
    time.sleep(120)
"""


def test_ctrl_c_of_the_run_leaves_nothing(stand_in: EmulatorServer, tmp_path: Path) -> None:
    ready = tmp_path / "ready"
    (tmp_path / "test_slow.py").write_text(SLOW_TEST.format(key=PUBLIC_KEY, ready=ready))
    child = subprocess.Popen(
        _pytest(stand_in, str(tmp_path)), cwd=tmp_path, env=_env(tmp_path),
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 120
        while not ready.exists() and child.poll() is None and time.monotonic() < deadline:
            time.sleep(0.1)
        assert ready.exists(), child.communicate(timeout=30)[0] if child.poll() is not None else ""
        assert len(_left(stand_in)) == 2
        child.send_signal(signal.SIGINT)
        out, _ = child.communicate(timeout=180)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
    assert "KeyboardInterrupt" in out, out
    assert "platform: 1 instance(s) deleted" in out, out
    assert _left(stand_in) == []
    assert [p for p in _projects(stand_in) if p.startswith("fs-test-")] == []


def test_the_conformance_set_passes_on_the_stand_in(
    stand_in: EmulatorServer, tmp_path: Path
) -> None:
    """tests/live: what the real service must show for the docs' inferred lines, shown
    here by the emulator that infers them (and skipped in an ordinary run)."""
    done = subprocess.run(
        _pytest(stand_in, str(ROOT / "tests" / "live")), cwd=ROOT, env=_env(tmp_path),
        capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    out = done.stdout + done.stderr
    assert done.returncode == 0, out
    assert "5 passed" in out, out
    assert _left(stand_in) == []


def test_live_tests_skip_on_the_emulator(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", "-rs",
         str(ROOT / "tests" / "live")],
        cwd=ROOT, env=_env(tmp_path), capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    out = done.stdout + done.stderr
    assert "5 skipped" in out, out
    assert "run with --fluidstack-target=live" in out


def test_the_doc_example_runs(stand_in: EmulatorServer, tmp_path: Path) -> None:
    """docs/emulator.md's live-mode example, as written, against the stand-in, and as
    an ordinary run on the emulator."""
    import re

    text = (ROOT / "docs" / "emulator.md").read_text()
    section = text[text.index("### The same tests against the real API") :]
    block = re.findall(r"```python\n(.*?)```", section, flags=re.S)[0]
    (tmp_path / "test_doc_live.py").write_text(textwrap.dedent(block))
    done = subprocess.run(
        _pytest(stand_in, str(tmp_path)), cwd=tmp_path, env=_env(tmp_path),
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    out = done.stdout + done.stderr
    assert done.returncode == 0, out
    assert _left(stand_in) == []
    on_the_emulator = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", str(tmp_path)],
        cwd=tmp_path, env=_env(tmp_path), capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert on_the_emulator.returncode == 0, on_the_emulator.stdout + on_the_emulator.stderr


def test_without_credentials_the_client_fixtures_skip(
    stand_in: EmulatorServer, tmp_path: Path
) -> None:
    (tmp_path / "test_creds.py").write_text(
        "def test_platform(fluidstack_client):\n    pass\n\n\ndef test_atlas(atlas):\n    pass\n"
    )
    env = {k: v for k, v in _env(tmp_path).items() if k not in (
        "FLUIDSTACK_API_KEY", "FLUIDSTACK_CLIENT_ID", "FLUIDSTACK_CLIENT_SECRET")}  # fmt: skip
    done = subprocess.run(
        _pytest(stand_in, "-rs", str(tmp_path)), cwd=tmp_path, env=env,
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    out = done.stdout + done.stderr
    assert "2 skipped" in out, out
    assert "no platform API key" in out
    assert "no Atlas credentials" in out
