"""Helpers for tests that run the emulator as a command (``python -m fluidstack.emulator``)
in a subprocess: shared by the platform and Atlas tests, so neither imports the other."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from typing import Tuple

__all__ = ["LISTENING", "start_emulator"]

LISTENING = re.compile(r"^FluidStack emulator listening on (http://127\.0\.0\.1:(\d+))$")


def start_emulator(*flags: str) -> Tuple[subprocess.Popen[str], str]:
    """Start ``python -m fluidstack.emulator`` on a free loopback port with ``flags``:
    the process and its base URL (read from its one line on stdout)."""
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "fluidstack.emulator",
            "--port",
            "0",
            "--log-level",
            "warning",
            *flags,
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    assert process.stdout is not None
    line = process.stdout.readline().rstrip("\n")
    match = LISTENING.match(line)
    if match is None:
        process.kill()
        _, err = process.communicate(timeout=10)
        raise AssertionError(f"unexpected first line {line!r}; stderr: {err}")
    return process, match.group(1)
