"""Every Python example in the README and the guides runs, against the emulator."""

from __future__ import annotations

import contextlib
import gc
import re
import signal
import threading
import time
from pathlib import Path
from typing import Any, Dict, Iterator, List

import anyio
import httpx
import pytest

from fluidstack.core._async.pipeline import AsyncPipeline
from fluidstack.core._sync.pipeline import Pipeline
from fluidstack.emulator import (
    DEV_ATLAS_CLIENT_ID,
    DEV_ATLAS_CLIENT_SECRET,
    EmulatorServer,
    EmulatorSettings,
)

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
GUIDES = ROOT / "docs" / "guides.md"
ATLAS = ROOT / "docs" / "atlas.md"


def python_blocks(path: Path) -> List[str]:
    return re.findall(r"```python\n(.*?)```", path.read_text(), flags=re.S)


@pytest.fixture(scope="module")
def fast_emulator() -> Iterator[EmulatorServer]:
    # Simulated time runs fast so that waits finish in a poll or two.
    # With --ssh: the guides log into their instances; with --slurm (where Slurm is
    # installed, as in CI) docs/atlas.md's Slurm jobs run on a real Slurm.
    from fluidstack.emulator.slurm import missing_programs

    settings = EmulatorSettings(
        port=0, seed=3, failure_rate=0.0, time_scale=5000, log_level="warning",
        ssh=True, ssh_port=0, slurm=not missing_programs(),
    )  # fmt: skip
    with EmulatorServer(settings) as server:
        yield server


def test_readme_has_the_sections_the_vendor_readme_promises() -> None:
    text = README.read_text()
    for heading in (
        "## Usage",
        "## Async client",
        "## Exception handling",
        "## Timeouts",
        "## Retries",
        "## Custom HTTP client",
    ):
        assert heading in text
    assert "proxies=" not in text.replace("not the removed `proxies=`", "")


@pytest.mark.slow
@pytest.mark.parametrize(
    ("path", "minimum"),
    [(README, 8), (GUIDES, 10), (ATLAS, 9)],
    ids=["readme", "guides", "atlas"],
)
def test_every_python_block_runs(
    fast_emulator: EmulatorServer,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    path: Path,
    minimum: int,
) -> None:
    fast_emulator_reset(fast_emulator)
    monkeypatch.setenv("FLUIDSTACK_API_KEY", fast_emulator.api_key)
    monkeypatch.setenv("FLUIDSTACK_BASE_URL", fast_emulator.base_url)
    monkeypatch.setenv("FLUIDSTACK_ATLAS_URL", fast_emulator.base_url)
    monkeypatch.setenv("FLUIDSTACK_CLIENT_ID", DEV_ATLAS_CLIENT_ID)
    monkeypatch.setenv("FLUIDSTACK_CLIENT_SECRET", DEV_ATLAS_CLIENT_SECRET)
    monkeypatch.setenv("FLUIDSTACK_REGION", "eu-north-1")
    for name in ("FLUIDSTACK_PROJECT_ID", "FLUIDSTACK_TOKEN", "FLUIDSTACK_TOKEN_URL",
                 "FLUIDSTACK_KNOWN_HOSTS", "FLUIDSTACK_CONFIG", "XDG_CONFIG_HOME",
                 "SSH_AUTH_SOCK"):  # fmt: skip
        monkeypatch.delenv(name, raising=False)
    ssh_port = httpx.get(
        f"{fast_emulator.base_url}/_emulator/ssh",
        headers={"x-emulator-token": fast_emulator.control_token},
    ).json()["atlas_port"]
    monkeypatch.setenv("FLUIDSTACK_SSH_PORT", str(ssh_port))
    # The docs wait with the default 5 s between polls; a tenth of that is still 2,500
    # simulated seconds here, more than any transition takes.
    for pipeline in (Pipeline, AsyncPipeline):
        fast = _fast_sleep if pipeline is Pipeline else _fast_async_sleep
        monkeypatch.setitem(pipeline.__init__.__kwdefaults__, "sleep", fast)
    # The blocks read ~/.ssh/id_ed25519.pub and log in with ~/.ssh/id_ed25519, as a
    # reader's machine has them.
    home = tmp_path / "home"
    (home / ".ssh").mkdir(parents=True)
    import asyncssh

    key = asyncssh.generate_private_key("ssh-ed25519", comment="you@laptop")
    key.write_private_key(str(home / ".ssh" / "id_ed25519"))
    (home / ".ssh" / "id_ed25519").chmod(0o600)
    (home / ".ssh" / "id_ed25519.pub").write_text(key.export_public_key().decode())
    monkeypatch.setenv("HOME", str(home))
    blocks = python_blocks(path)
    assert len(blocks) >= minimum
    namespace: Dict[str, Any] = {}
    from fluidstack.emulator.slurm import missing_programs

    for number, block in enumerate(blocks, 1):
        # Each block runs exactly as written; blocks of the guides build on the ones
        # before (the `client`, the `laptop` key), the README's stand alone.
        if "slurm.jobs" in block and missing_programs():
            continue  # needs a real Slurm (CI installs slurm-wlm): tests/atlas covers it
        if path == README:
            namespace = {}
        namespace["__name__"] = f"{path.stem}_block_{number}"
        try:
            with _bounded(BLOCK_SECONDS):
                exec(compile(block, f"{path.name} block {number}", "exec"), namespace)
        except Exception as exc:  # pragma: no cover - the message is the point
            pytest.fail(f"{path.name} block {number} failed: {exc!r}\n{block}")
    # What a reader sees is readable: a status prints as `running`, not as the enum's
    # repr `<InstanceStatus.RUNNING: 'running'>` (the README's async block printed a list
    # of those).
    printed = capsys.readouterr().out
    assert re.findall(r"<\w+\.\w+: [^>]*>", printed) == []
    # Like a reader's script, the blocks leave some clients open: collect them here, so
    # that their ResourceWarnings do not land in whichever later test the GC runs in (a
    # CLI test's one-line stderr).
    namespace.clear()
    gc.collect()


BLOCK_SECONDS = 180
"""A block's bound (each takes a few seconds): a hang fails its test, saying which block,
instead of waiting until the simulated balance runs out (issue 28: 15 minutes)."""


@contextlib.contextmanager
def _bounded(seconds: int) -> Iterator[None]:
    """Raise ``TimeoutError`` in the block after ``seconds`` (where SIGALRM exists)."""
    if not hasattr(signal, "SIGALRM") or threading.current_thread() is not threading.main_thread():
        yield
        return

    def expired(signum: int, frame: Any) -> None:
        raise TimeoutError(f"the block ran for more than {seconds} s")

    previous = signal.signal(signal.SIGALRM, expired)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


def test_the_exception_example_prints_what_its_comments_say(
    fast_emulator: EmulatorServer, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    fast_emulator_reset(fast_emulator)
    monkeypatch.setenv("FLUIDSTACK_API_KEY", fast_emulator.api_key)
    monkeypatch.setenv("FLUIDSTACK_BASE_URL", fast_emulator.base_url)
    (block,) = [b for b in python_blocks(README) if "no-such-instance" in b]
    promised = [line.split("#", 1)[1].strip() for line in block.splitlines() if "print(" in line]
    exec(compile(block, "README exception block", "exec"), {})
    assert capsys.readouterr().out.splitlines() == promised


def _fast_sleep(seconds: float) -> None:
    time.sleep(seconds / 10)


async def _fast_async_sleep(seconds: float) -> None:
    await anyio.sleep(seconds / 10)


def fast_emulator_reset(server: EmulatorServer) -> None:
    httpx.post(
        f"{server.base_url}/_emulator/reset",
        json={},
        headers={"x-emulator-token": server.control_token},
    ).raise_for_status()
