"""Durability: with ``--db``, ``kill -9`` of the emulator in the middle of a write load
loses no acknowledged write, and the emulator restarts cleanly on the same file."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import List, Tuple

import httpx
import pytest

LISTENING = re.compile(r"^FluidStack emulator listening on (http://\S+)$")
KEY = "durable"
PUBLIC_KEY = (
    "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIMlZrNQiO9x/cSV8+8kF4khUmIupYM4FWj8WT0wfbsoV you@laptop"
)
WRITERS = 4
ROUNDS = 3
CONTROL_TOKEN = "durability-control-token"
CONTROL = {"x-emulator-token": CONTROL_TOKEN}


def start(db: Path) -> Tuple[subprocess.Popen[str], str]:
    process = subprocess.Popen(
        [sys.executable, "-m", "fluidstack.emulator", "--port", "0", "--db", str(db),
         "--api-key", KEY, "--manual-clock", "--failure-rate", "0", "--log-level", "error"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )  # fmt: skip
    assert process.stdout is not None
    match = LISTENING.match(process.stdout.readline().strip())
    assert match is not None, "the emulator did not start"
    return process, match.group(1)


class Acknowledged:
    """Writes the server answered with success, recorded by the writer threads."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.keys: List[str] = []
        self.instances: List[str] = []


def write_until_stopped(url: str, prefix: str, stop: threading.Event, acked: Acknowledged) -> None:
    """Alternate SSH-key and instance creates until stopped or the server dies."""
    with httpx.Client(base_url=url, headers={"api-key": KEY}, timeout=5) as client:
        n = 0
        while not stop.is_set():
            n += 1
            try:
                if n % 2:
                    name = f"{prefix}-{n}"
                    key = {"name": name, "public_key": PUBLIC_KEY}
                    if client.post("/ssh_keys", json=key).status_code == 200:
                        with acked.lock:
                            acked.keys.append(name)
                else:
                    body = {"gpu_type": "RTX_A4000_16GB", "ssh_key": "base"}
                    response = client.post("/instances", json=body)
                    if response.status_code == 202:
                        with acked.lock:
                            acked.instances.append(response.json()["id"])
            except httpx.HTTPError:
                return  # the server is gone


@pytest.mark.slow
def test_kill_9_mid_load_loses_no_acknowledged_write(
    tmp_path: Path, processes: List[subprocess.Popen[str]]
) -> None:
    db = tmp_path / "state.db"
    acked = Acknowledged()
    acknowledged_keys, acknowledged_instances = acked.keys, acked.instances
    for round_number in range(ROUNDS):
        process, url = start(db)
        processes.append(process)
        if round_number == 0:
            httpx.post(
                f"{url}/ssh_keys",
                json={"name": "base", "public_key": PUBLIC_KEY},
                headers={"api-key": KEY},
            ).raise_for_status()
        stop = threading.Event()

        threads = [
            threading.Thread(
                target=write_until_stopped, args=(url, f"r{round_number}-w{n}", stop, acked)
            )
            for n in range(WRITERS)
        ]
        for thread in threads:
            thread.start()
        target = len(acknowledged_keys) + len(acknowledged_instances) + 60
        deadline = time.monotonic() + 30
        while len(acknowledged_keys) + len(acknowledged_instances) < target:
            assert time.monotonic() < deadline, "the write load stalled"
            time.sleep(0.005)
        os.kill(process.pid, signal.SIGKILL)  # mid-load: requests are in flight
        stop.set()
        for thread in threads:
            thread.join(timeout=10)
        process.communicate(timeout=10)

    process, url = start(db)
    processes.append(process)
    with httpx.Client(base_url=url, headers={"api-key": KEY}) as client:
        stored_keys = {k["name"] for k in client.get("/ssh_keys").json()}
        stored_instances = set()
        page = 1
        while True:
            batch = client.get("/instances", params={"page": page}).json()
            if not batch:
                break
            stored_instances.update(i["id"] for i in batch)
            page += 1
    assert len(acknowledged_keys) >= ROUNDS * 20
    assert set(acknowledged_keys) <= stored_keys
    assert set(acknowledged_instances) <= stored_instances


ATLAS_CLIENT = "durable-client:durable-secret"


def start_atlas(db: Path) -> Tuple[subprocess.Popen[str], str]:
    process = subprocess.Popen(
        [sys.executable, "-m", "fluidstack.emulator", "--port", "0", "--db", str(db),
         "--atlas-client", ATLAS_CLIENT, "--manual-clock", "--log-level", "error",
         "--control-token", CONTROL_TOKEN],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )  # fmt: skip
    assert process.stdout is not None
    match = LISTENING.match(process.stdout.readline().strip())
    assert match is not None, "the emulator did not start"
    return process, match.group(1)


def atlas_token(url: str) -> str:
    client_id, secret = ATLAS_CLIENT.split(":")
    response = httpx.post(
        f"{url}/oauth/token",
        data={"grant_type": "client_credentials", "client_id": client_id, "client_secret": secret},
    )
    response.raise_for_status()
    return str(response.json()["access_token"])


def atlas_write_until_stopped(
    url: str, token: str, project: str, prefix: str, stop: threading.Event, acked: Acknowledged
) -> None:
    """Alternate user SSH keys and instances until stopped or the server dies."""
    headers = {"authorization": f"Bearer {token}", "x-project-id": project}
    region = f"{url}/regions/eu-north-1/api/v1alpha1"
    with httpx.Client(headers=headers, timeout=5) as client:
        n = 0
        while not stop.is_set():
            n += 1
            try:
                if n % 2:
                    name = f"{prefix}-{n}"
                    key = {"name": name, "key": PUBLIC_KEY}
                    if client.post(f"{url}/api/v1alpha1/user/keys", json=key).status_code == 200:
                        with acked.lock:
                            acked.keys.append(name)
                else:
                    body = {"name": f"{prefix}-{n}", "type": "cpu.2x"}
                    response = client.post(f"{region}/instances", json=body)
                    if response.status_code == 201:
                        with acked.lock:
                            acked.instances.append(response.json()["id"])
            except httpx.HTTPError:
                return  # the server is gone


@pytest.mark.slow
def test_atlas_state_and_tokens_survive_kill_9_mid_load(
    tmp_path: Path, processes: List[subprocess.Popen[str]]
) -> None:
    db = tmp_path / "state.db"
    acked = Acknowledged()
    process, url = start_atlas(db)
    processes.append(process)
    token = atlas_token(url)  # minted before every restart: must keep working
    region = f"{url}/regions/eu-north-1/api/v1alpha1"
    auth = {"authorization": f"Bearer {token}"}
    project = httpx.post(f"{region}/projects", json={"name": "durable"}, headers=auth).json()["id"]
    httpx.put(
        f"{url}/_emulator/atlas/capacity",
        json={"region": "eu-north-1", "instance_type": "cpu.2x", "total": 100_000},
        headers=CONTROL,
    ).raise_for_status()
    for round_number in range(ROUNDS):
        if round_number:
            process, url = start_atlas(db)
            processes.append(process)
        stop = threading.Event()
        threads = [
            threading.Thread(
                target=atlas_write_until_stopped,
                args=(url, token, project, f"r{round_number}-w{n}", stop, acked),
            )
            for n in range(WRITERS)
        ]
        for thread in threads:
            thread.start()
        target = len(acked.keys) + len(acked.instances) + 60
        deadline = time.monotonic() + 30
        while len(acked.keys) + len(acked.instances) < target:
            assert time.monotonic() < deadline, "the write load stalled"
            time.sleep(0.005)
        os.kill(process.pid, signal.SIGKILL)
        stop.set()
        for thread in threads:
            thread.join(timeout=10)
        process.communicate(timeout=10)

    process, url = start_atlas(db)
    processes.append(process)
    headers = {"authorization": f"Bearer {token}", "x-project-id": project}
    with httpx.Client(headers=headers) as client:
        keys = {k["name"] for k in client.get(f"{url}/api/v1alpha1/user/keys").json()}
        listed = client.get(f"{url}/regions/eu-north-1/api/v1alpha1/instances")
        assert listed.status_code == 200  # the pre-restart token still verifies
        instances = {i["id"] for i in listed.json()}
        capacity = client.get(f"{url}/_emulator/atlas/capacity", headers=CONTROL).json()
    assert len(acked.keys) >= ROUNDS * 20
    assert set(acked.keys) <= keys
    assert set(acked.instances) <= instances
    cpu = next(
        c for c in capacity if c["region"] == "eu-north-1" and c["instance_type"] == "cpu.2x"
    )
    assert cpu["total"] == 100_000
    print(f"atlas: {len(acked.keys)} keys, {len(acked.instances)} instances acknowledged")
