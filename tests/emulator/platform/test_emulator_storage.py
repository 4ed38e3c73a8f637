"""Issue 13, item 8: a write that SQLite cannot commit (another process holds the file's
write lock) answers 503 at once, changes nothing in memory either, and does not stall the
other requests; platform and Atlas alike."""

from __future__ import annotations

import sqlite3
import threading
import time
from pathlib import Path
from typing import Iterator, List, Tuple

import httpx
import pytest
from emulator_support import public_key

from fluidstack import FluidStack
from fluidstack.core import InternalServerError
from fluidstack.emulator import EmulatorServer, EmulatorSettings

KEY = "storage-key"


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Tuple[EmulatorServer, Path]]:
    db = tmp_path / "state.db"
    settings = EmulatorSettings(
        port=0, api_keys=[KEY], db_path=str(db), manual_clock=True, failure_rate=0.0,
        log_level="critical",
    )  # fmt: skip
    with EmulatorServer(settings) as running:
        yield running, db


class WriteLock:
    """Another process's transaction holding the database's write lock."""

    def __init__(self, db: Path) -> None:
        self.conn = sqlite3.connect(str(db), isolation_level=None, timeout=5)

    def __enter__(self) -> WriteLock:
        self.conn.execute("BEGIN IMMEDIATE")
        return self

    def __exit__(self, *exc: object) -> None:
        self.conn.execute("ROLLBACK")
        self.conn.close()


def _atlas(base: str) -> Tuple[httpx.Client, str]:
    token = httpx.post(
        base + "/oauth/token",
        data={
            "grant_type": "client_credentials",
            "client_id": "fs-emulator-client",
            "client_secret": "fs-emulator-secret",
        },
    ).json()["access_token"]
    client = httpx.Client(
        base_url=base + "/regions/eu-north-1/api/v1alpha1",
        headers={"authorization": f"Bearer {token}"},
    )
    return client, token


def test_item8_a_failed_commit_changes_nothing_and_answers_503_at_once(
    server: Tuple[EmulatorServer, Path],
) -> None:
    running, db = server
    base = running.base_url
    api = httpx.Client(base_url=base, headers={"api-key": KEY}, timeout=10)
    atlas, _ = _atlas(base)
    with api, atlas:
        assert (
            api.post("/ssh_keys", json={"name": "k", "public_key": public_key()}).status_code == 200
        )
        project = atlas.post("/projects", json={"name": "kept"}).json()["id"]
        timings: List[float] = []
        with WriteLock(db):
            for method, path, body in [
                ("POST", "/instances", {"gpu_type": "L40_48GB", "ssh_key": "k", "name": "lost"}),
                ("POST", "/ssh_keys", {"name": "lost", "public_key": public_key()}),
                ("POST", "/api_keys", {"name": "lost"}),
            ]:
                started = time.monotonic()
                answer = api.request(method, path, json=body, headers={"Idempotency-Key": path})
                timings.append(time.monotonic() - started)
                assert answer.status_code == 503, answer.text
                assert answer.headers["retry-after"] == "1"
            started = time.monotonic()
            refused = atlas.post("/projects", json={"name": "lost"})
            timings.append(time.monotonic() - started)
            assert refused.status_code == 503
            # Reads answer, and see none of it: memory was rolled back with the file.
            assert api.get("/instances").json() == []
            assert [k["name"] for k in api.get("/ssh_keys").json()] == ["k"]
            assert [k["name"] for k in api.get("/api_keys").json()] == ["default"]
            assert [p["id"] for p in atlas.get("/projects").json()] == [project]
        assert max(timings) < 1.0, timings  # not Python's 5 s busy wait
        # Once the lock is gone, the same requests (same idempotency keys) work.
        created = api.post(
            "/instances",
            json={"gpu_type": "L40_48GB", "ssh_key": "k", "name": "lost"},
            headers={"Idempotency-Key": "/instances"},
        )
        assert created.status_code == 202
        assert [i["name"] for i in api.get("/instances").json()] == ["lost"]
    print(f"\n503 in at most {max(timings) * 1000:.0f} ms while the file was locked")


def test_item8_reads_are_not_stalled_by_a_write_waiting_for_the_lock(
    server: Tuple[EmulatorServer, Path],
) -> None:
    running, db = server
    base = running.base_url
    reads: List[float] = []
    stop = threading.Event()

    def read_loop() -> None:
        with httpx.Client(base_url=base, headers={"api-key": KEY}) as reader:
            while not stop.is_set():
                started = time.monotonic()
                assert reader.get("/user/balance").status_code == 200
                reads.append(time.monotonic() - started)

    with WriteLock(db), httpx.Client(base_url=base, headers={"api-key": KEY}) as writer:
        thread = threading.Thread(target=read_loop)
        thread.start()
        for n in range(20):
            writer.post("/api_keys", json={"name": f"w{n}"})
        stop.set()
        thread.join()
    assert reads
    assert max(reads) < 1.0, max(reads)


def test_item8_the_sdk_does_not_report_a_create_the_emulator_lost(
    server: Tuple[EmulatorServer, Path],
) -> None:
    running, db = server
    with FluidStack(api_key=KEY, base_url=running.base_url, max_retries=0) as client:
        client.ssh_keys.create(name="k", public_key=public_key())
        with WriteLock(db), pytest.raises(InternalServerError) as caught:
            client.instances.create(gpu_type="L40_48GB", ssh_key="k")
        assert caught.value.status_code == 503
        # The create's recovery lookup found nothing, rightly: nothing exists, now or
        # after a restart.
        assert client.instances.list() == []
    running.stop()
    running.start()
    with FluidStack(api_key=KEY, base_url=running.base_url) as client:
        assert client.instances.list() == []
        assert [k.name for k in client.ssh_keys.list()] == ["k"]
