"""Restoring a snapshot vs building the same state through the API (issue 27):
``python bench/snapshots.py [--count 10000]``.

Starts two emulators, each in its own process on loopback. In the first, builds
``count`` instances over both APIs (half platform, half Atlas) through the SDK, one
``instances.create`` at a time, as a user's test set-up would; takes a snapshot
(``GET /_emulator/state``); restores it into the second (``PUT /_emulator/state``);
checks that every instance listing of both APIs is identical; and prints the figures
and their ratio, all measured in this one run.
"""

from __future__ import annotations

import argparse
import socket
import subprocess
import sys
import time
from typing import Any, List, Tuple

import httpx

from fluidstack import FluidStack
from fluidstack.atlas import Atlas
from fluidstack.emulator.settings import DEV_ATLAS_CLIENT_ID, DEV_ATLAS_CLIENT_SECRET
from fluidstack.testing.handle import EmulatorHandle

TOKEN = "bench-snapshots-token"
KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGJl2d3Qjm8iYqg1T9m3UQ7oZ2w4rYcH1fVb8mZtP6QY bench"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _emulator() -> Tuple[subprocess.Popen[bytes], EmulatorHandle]:
    port = _free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "fluidstack.emulator", "--port", str(port), "--manual-clock",
         "--seed", "7", "--failure-rate", "0", "--control-token", TOKEN,
         "--log-level", "warning"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    base_url = f"http://127.0.0.1:{port}"
    for _ in range(300):
        try:
            httpx.get(base_url + "/_emulator/clock", headers={"x-emulator-token": TOKEN})
            break
        except httpx.TransportError:
            time.sleep(0.05)
    handle = EmulatorHandle(
        base_url, "fs-emulator-dev-key", DEV_ATLAS_CLIENT_ID, DEV_ATLAS_CLIENT_SECRET,
        control_token=TOKEN,
    )  # fmt: skip
    return process, handle


def _atlas(handle: EmulatorHandle) -> Atlas:
    control = handle.atlas
    return Atlas(
        client_id=control.client_id,
        client_secret=control.client_secret,
        management_url=control.management_url,
        token_url=control.token_url,
        region=control.regions()[0],
    )


def build(handle: EmulatorHandle, count: int) -> str:
    """``count`` instances over both APIs, one SDK create each; the Atlas project id."""
    handle.set_balance(1e9)
    handle.set_capacity("L40_48GB", "CANADA", 8 * count)
    region = handle.atlas.regions()[0]
    handle.atlas.set_capacity(region, "cpu.8x", count)
    with FluidStack(api_key=handle.api_key, base_url=handle.base_url) as client:
        client.ssh_keys.create(name="bench", public_key=KEY)
        for index in range(count // 2):
            client.instances.create(gpu_type="L40_48GB", ssh_key="bench", name=f"p{index}",
                                    region="CANADA")  # fmt: skip
    with _atlas(handle) as atlas:
        project = atlas.projects.create(name="bench")
        scoped = atlas.with_options(project_id=project.id)
        for index in range(count - count // 2):
            scoped.instances.create(type="cpu.8x", name=f"a{index}")
    return project.id


def listings(handle: EmulatorHandle, project_id: str) -> List[Any]:
    with FluidStack(api_key=handle.api_key, base_url=handle.base_url) as client:
        platform = [i.model_dump() for i in client.instances.list(include_failed_instances=True)]
    with _atlas(handle) as atlas:
        scoped = atlas.with_options(project_id=project_id)
        regional = [i.model_dump() for i in scoped.instances.list()]
    return [platform, regional]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=10_000)
    count = parser.parse_args().count
    processes = []
    try:
        first, source = _emulator()
        second, target = _emulator()
        processes += [first, second]
        started = time.perf_counter()
        project_id = build(source, count)
        built = time.perf_counter() - started
        started = time.perf_counter()
        snapshot = source.snapshot()
        taken = time.perf_counter() - started
        started = time.perf_counter()
        target.restore(snapshot)
        restored = time.perf_counter() - started
        same = listings(source, project_id) == listings(target, project_id)
        print(f"instances: {count} ({count // 2} platform, {count - count // 2} Atlas)")
        print(f"build through the SDK: {built:.2f} s")
        print(f"snapshot (GET /_emulator/state): {taken:.3f} s")
        print(f"restore (PUT /_emulator/state): {restored:.3f} s")
        print(f"restore is {built / restored:.0f}x faster than building; listings identical: "
              f"{same}")  # fmt: skip
        return 0 if same else 1
    finally:
        for process in processes:
            process.terminate()
            process.wait(10)


if __name__ == "__main__":
    raise SystemExit(main())
