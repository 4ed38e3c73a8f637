"""The emulator process and request helpers of ``test_acknowledged_writes.py``: one
``--db`` served by an emulator that the tests kill with SIGKILL and restart."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Optional

import httpx

__all__ = [
    "API_KEY", "CLIENT_ID", "CLIENT_SECRET", "CONTROL_TOKEN", "PUBLIC_KEY", "REGION",
    "WEBHOOK_SECRET", "Case", "Emulator", "assert_that", "ok", "platform_call",
    "regional_call", "then",
]  # fmt: skip

LISTENING = re.compile(r"^FluidStack emulator listening on (http://\S+)$")
API_KEY = "acknowledged"
CLIENT_ID, CLIENT_SECRET = "ack-client", "ack-client-secret-0123456789"
CONTROL_TOKEN = "acknowledged-control-token"
WEBHOOK_SECRET = "whsec_acknowledged"
PUBLIC_KEY = (
    "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIMlZrNQiO9x/cSV8+8kF4khUmIupYM4FWj8WT0wfbsoV you@laptop"
)
REGION = "eu-north-1"


class Emulator:
    """One ``--db`` and the emulator process serving it, killed and restarted at will."""

    def __init__(self, db: Path) -> None:
        self.db = db
        self.process: Optional[subprocess.Popen[str]] = None
        self.url = ""
        self.token = ""
        self.project = ""
        self.start()

    def start(self) -> None:
        command = [
            sys.executable, "-m", "fluidstack.emulator", "--port", "0", "--db", str(self.db),
            "--api-key", API_KEY, "--atlas-client", f"{CLIENT_ID}:{CLIENT_SECRET}",
            "--control-token", CONTROL_TOKEN, "--stripe-webhook-secret", WEBHOOK_SECRET,
            "--manual-clock", "--failure-rate", "0", "--log-level", "error",
        ]  # fmt: skip
        self.process = subprocess.Popen(
            command,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
        assert self.process.stdout is not None
        match = LISTENING.match(self.process.stdout.readline().strip())
        assert match is not None, "the emulator did not start"
        self.url = match.group(1)

    def kill_9_and_restart(self) -> None:
        assert self.process is not None
        os.kill(self.process.pid, signal.SIGKILL)
        self.process.communicate(timeout=30)
        self.start()

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.communicate(timeout=30)

    # -- clients (new ones after each restart: the port changes) -------------------------

    def platform(self) -> httpx.Client:
        return httpx.Client(base_url=self.url, headers={"api-key": API_KEY}, timeout=30)

    def control(self) -> httpx.Client:
        headers = {"x-emulator-token": CONTROL_TOKEN}
        return httpx.Client(base_url=f"{self.url}/_emulator", headers=headers, timeout=30)

    def management(self) -> httpx.Client:
        headers = {"authorization": f"Bearer {self.token}"}
        return httpx.Client(base_url=f"{self.url}/api/v1alpha1", headers=headers, timeout=30)

    def regional(self) -> httpx.Client:
        headers = {"authorization": f"Bearer {self.token}", "x-project-id": self.project}
        base = f"{self.url}/regions/{REGION}/api/v1alpha1"
        return httpx.Client(base_url=base, headers=headers, timeout=30)

    def advance(self, seconds: float) -> None:
        with self.control() as control:
            ok(control.post("/clock/advance", json={"seconds": seconds}))


def ok(response: httpx.Response) -> Any:
    """The decoded body of a success answer (``None`` when there is none)."""
    assert response.is_success, f"{response.request.method} {response.request.url}: " + (
        f"{response.status_code} {response.text[:300]}"
    )
    return response.json() if response.content else None


def platform_call(emu: Emulator, method: str, path: str, json: Any = None) -> Any:
    with emu.platform() as api:
        return ok(api.request(method, path, json=json))


def regional_call(emu: Emulator, method: str, path: str, json: Any = None) -> Any:
    with emu.regional() as api:
        return ok(api.request(method, path, json=json))


@dataclass
class Case:
    """``act`` sends the route's request (and returns what ``check`` needs); ``check``
    runs after the kill and the restart. ``prepare`` makes what ``act`` needs."""

    route: str
    act: Callable[[Emulator, Any], Any]
    check: Callable[[Emulator, Any], None]
    prepare: Callable[[Emulator], Any] = lambda emu: None


def then(_answer: Any, ident: Any) -> Any:
    """``ident``, once the request that gave ``_answer`` has succeeded."""
    return ident


def assert_that(condition: bool) -> None:
    assert condition
