"""Latency on loopback, concurrent clients across accounts, and in-process use."""

from __future__ import annotations

import asyncio
from typing import Any, Dict, List

import httpx
import pytest
from emulator_support import public_key

from fluidstack.emulator import EmulatorSettings, create_app
from fluidstack.emulator.server import ConnectionGuard, _CoalescingTransport, _guarded_protocol
from fluidstack.testing import EmulatorHandle


class RecordingTransport:
    """Stands in for the socket transport: records each ``write`` (each TCP send)."""

    def __init__(self) -> None:
        self.writes: List[bytes] = []
        self.closed = False

    def write(self, data: bytes) -> None:
        self.writes.append(data)

    def is_closing(self) -> bool:
        return self.closed

    def close(self) -> None:
        self.closed = True

    def get_extra_info(self, name: str) -> str:
        return f"extra:{name}"


HEAD = b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n"


@pytest.mark.anyio
async def test_head_and_body_go_out_in_one_write() -> None:
    """Two writes per answer would let the peer's delayed ACK stall every keep-alive
    request by ~40 ms. (Latency itself is measured by bench/run.py, not asserted here.)"""
    raw = RecordingTransport()
    transport = _CoalescingTransport(raw, asyncio.get_running_loop())  # type: ignore[arg-type]
    transport.write(HEAD)
    transport.write(b"{}")
    assert raw.writes == [HEAD + b"{}"]
    transport.write(b"not a head")  # anything else goes straight through
    assert raw.writes[-1] == b"not a head"
    assert transport.get_extra_info("peername") == "extra:peername"


@pytest.mark.anyio
async def test_a_head_without_body_is_sent_on_the_next_loop_turn() -> None:
    raw = RecordingTransport()
    transport = _CoalescingTransport(raw, asyncio.get_running_loop())  # type: ignore[arg-type]
    transport.write(HEAD)
    assert raw.writes == []
    await asyncio.sleep(0)
    assert raw.writes == [HEAD]
    transport.write(HEAD)
    transport.close()  # closing flushes what is held
    assert raw.writes == [HEAD, HEAD]
    assert raw.closed


def test_keep_alive_requests_use_the_coalescing_protocol(
    emulator: EmulatorHandle, ssh_key: str
) -> None:
    with httpx.Client(base_url=emulator.base_url, headers={"api-key": emulator.api_key}) as c:
        created = c.post("/instances", json={"gpu_type": "L40_48GB", "ssh_key": ssh_key})
        path = f"/instances/{created.json()['id']}"
        statuses = {c.get(path).status_code for _ in range(100)}
    assert statuses <= {200, 202}
    # httptools is installed with the extra: the guarded, coalescing protocol serves.
    assert _guarded_protocol(ConnectionGuard(10.0, 1000, 32768)) is not None


@pytest.mark.anyio
async def test_concurrent_clients_of_several_accounts_keep_state_consistent(
    emulator: EmulatorHandle,
) -> None:
    keys = ["acct-a", "acct-b", "acct-c"]
    for key in keys:
        emulator.create_account(key, balance=10_000)
    emulator.set_capacity("H100_NVLINK_80GB", "FINLAND", 40)  # room for five 8-GPU boxes

    async def session(key: str) -> List[int]:
        async with httpx.AsyncClient(
            base_url=emulator.base_url, headers={"api-key": key}, timeout=30
        ) as client:
            await client.post("/ssh_keys", json={"name": "k", "public_key": public_key()})
            body = {"gpu_type": "H100_NVLINK_80GB", "gpu_count": 8, "ssh_key": "k"}
            responses = await asyncio.gather(
                *(client.post("/instances", json=body) for _ in range(6)),
                *(client.get("/instances") for _ in range(6)),
            )
            return [r.status_code for r in responses[:6]]

    results = await asyncio.gather(*(session(k) for k in keys))
    created = sum(codes.count(202) for codes in results)
    refused = sum(codes.count(409) for codes in results)
    assert (created, refused) == (5, 13)  # capacity never goes negative
    async with httpx.AsyncClient(base_url=emulator.base_url) as control:
        report = (await control.get("/_emulator/capacity", headers=emulator.control_headers)).json()
        listed: Dict[str, Any] = {}
        for key in keys:
            response = await control.get("/instances", headers={"api-key": key})
            listed[key] = response.json()
    finland = next(
        r for r in report if (r["gpu_type"], r["region"]) == ("H100_NVLINK_80GB", "FINLAND")
    )
    assert (finland["in_use"], finland["available"]) == (40, 0)
    assert sum(len(v) for v in listed.values()) == 5
    all_ids = [i["id"] for v in listed.values() for i in v]
    assert len(set(all_ids)) == 5


@pytest.mark.anyio
async def test_in_process_app_with_asgi_transport() -> None:
    settings = EmulatorSettings(
        manual_clock=True, seed=5, api_keys=["inproc"], control_token="inproc-control"
    )
    app = create_app(settings)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(
        transport=transport, base_url="http://emulator", headers={"api-key": "inproc"}
    ) as client:
        assert (await client.get("/healthcheck")).json() == {"status": "ok"}
        await client.post("/ssh_keys", json={"name": "k", "public_key": public_key()})
        created = await client.post("/instances", json={"gpu_type": "L4_24GB", "ssh_key": "k"})
        assert created.status_code == 202
        await client.post(
            "/_emulator/clock/advance",
            json={"seconds": 3600},
            headers={"x-emulator-token": "inproc-control"},
        )
        instance = await client.get(f"/instances/{created.json()['id']}")
        assert instance.json()["status"] == "running"


def test_settings_refuse_nonsense() -> None:
    with pytest.raises(ValueError, match="failure_rate"):
        EmulatorSettings(failure_rate=1.5)
    with pytest.raises(ValueError, match="time_scale"):
        EmulatorSettings(time_scale=0)
    with pytest.raises(ValueError, match="twice"):
        EmulatorSettings(api_keys=["a", "a"])
