"""The CLI on a real pseudo-terminal (issue 29 item 6): elsewhere the terminal check is
patched to ``True``; here ``fluidstack`` runs as a child whose stdin, stdout and stderr
are a pty, so the check itself, the prompt and the answer go through a real terminal."""

from __future__ import annotations

import os
import select
import subprocess
import sys
import time
from typing import Dict, Tuple

import pytest
from cli_support import Fs, Home, create_instance

from fluidstack.testing import EmulatorHandle

pty = pytest.importorskip("pty", reason="pseudo-terminals are POSIX")


def _on_a_terminal(argv: Tuple[str, ...], env: Dict[str, str], answer: bytes) -> Tuple[int, str]:
    """Run ``fluidstack ARGV`` on a new pty; when it asks a question (a ``?`` followed by
    no more output), type ``answer``. Returns the exit status and everything it wrote."""
    main, child = pty.openpty()
    process = subprocess.Popen(
        [sys.executable, "-m", "fluidstack", *argv],
        stdin=child, stdout=child, stderr=child, env=env, close_fds=True,
        start_new_session=True,  # the pty becomes the child's controlling terminal
    )  # fmt: skip
    os.close(child)
    written = b""
    answered = False
    deadline = time.monotonic() + 120
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([main], [], [], 0.2)
            if ready:
                try:
                    chunk = os.read(main, 4096)
                except OSError:  # EIO: the child closed the terminal
                    break
                if not chunk:
                    break
                written += chunk
            elif not answered and b"?" in written:
                os.write(main, answer)
                answered = True
            elif process.poll() is not None:
                break
        status = process.wait(timeout=60)
    finally:
        os.close(main)
        if process.poll() is None:
            process.kill()
    return status, written.decode(errors="replace")


@pytest.fixture
def env(fs: Fs, home: Home, emulator: EmulatorHandle) -> Dict[str, str]:
    return {
        **os.environ,
        "FLUIDSTACK_API_KEY": emulator.api_key,
        "FLUIDSTACK_BASE_URL": emulator.base_url,
        "TERM": "xterm",
    }


def test_a_delete_on_a_real_terminal_asks_and_honours_the_answer(
    fs: Fs, ssh_key: str, env: Dict[str, str]
) -> None:
    instance_id = create_instance(fs)["id"]

    def status() -> str:
        return str(fs.json("instances", "get", instance_id)["status"])

    code, out = _on_a_terminal(("instances", "delete", instance_id), env, b"n\r")
    assert code == 1, out
    assert "?" in out  # the question was asked on the terminal, not refused as off one
    assert "--yes" not in out
    assert status() != "terminated"

    code, out = _on_a_terminal(("instances", "delete", instance_id), env, b"y\r")
    assert code == 0, out
    assert status() in ("terminating", "terminated")


def test_the_same_delete_off_a_terminal_refuses_without_asking(
    fs: Fs, ssh_key: str, env: Dict[str, str]
) -> None:
    """The other side of the real check: pipes, not a terminal, and no ``--yes``."""
    instance_id = create_instance(fs)["id"]
    done = subprocess.run(
        [sys.executable, "-m", "fluidstack", "instances", "delete", instance_id],
        env=env, input="y\n", capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert done.returncode == 2, done.stderr
    assert "--yes" in done.stderr
    assert fs.json("instances", "get", instance_id)["status"] != "terminated"
