"""With ``--ssh``, instances restored from a snapshot get their sshd back (issue 27)."""

from __future__ import annotations

from typing import Any, Dict

import asyncssh
import httpx
import pytest
from ssh_support import KeyPair

from fluidstack.testing.handle import EmulatorHandle

pytestmark = pytest.mark.anyio


def _instance(emulator: EmulatorHandle, instance_id: str) -> Dict[str, Any]:
    answer = httpx.get(
        f"{emulator.base_url}/instances/{instance_id}", headers={"api-key": emulator.api_key}
    )
    answer.raise_for_status()
    body: Dict[str, Any] = answer.json()
    return body


async def _echo(instance: Dict[str, Any], key: KeyPair) -> str:
    async with asyncssh.connect(
        "127.0.0.1", port=int(instance["ssh_port"]), username="ubuntu",
        client_keys=[str(key.private)], known_hosts=None, agent_path=None, config=None,
    ) as conn:  # fmt: skip
        return str((await conn.run("echo restored")).stdout)


def _running_instance(emulator: EmulatorHandle, key: KeyPair) -> str:
    with httpx.Client(base_url=emulator.base_url,
                      headers={"api-key": emulator.api_key}) as api:  # fmt: skip
        api.post("/ssh_keys", json={"name": "k", "public_key": key.public}).raise_for_status()
        created = api.post("/instances", json={"gpu_type": "RTX_A4000_16GB", "ssh_key": "k"})
    emulator.advance(3600)
    return str(created.json()["id"])


async def test_a_restored_running_instance_answers_ssh(
    ssh_emulator: EmulatorHandle, key: KeyPair
) -> None:
    instance_id = _running_instance(ssh_emulator, key)
    assert await _echo(_instance(ssh_emulator, instance_id), key) == "restored\n"
    snapshot = ssh_emulator.snapshot()
    ssh_emulator.reset()  # the instance, its sshd and its directory are gone
    assert not ssh_emulator.instance_directory(instance_id).exists()
    ssh_emulator.restore(snapshot)
    restored = _instance(ssh_emulator, instance_id)
    assert restored["status"] == "running"
    assert await _echo(restored, key) == "restored\n"
