"""Issue 28, item 4: SSH says nothing a user can do nothing about.

Importing asyncssh printed five ``CryptographyDeprecationWarning: DSA is deprecated``
lines on every ``exec``/``cp``/``run`` and at ``fluidstack-emulator --ssh``, and asyncssh
logged INFO lines for every connection, channel and SFTP session through the emulator's
logging. Both run in subprocesses here: warnings are printed once per process, and only
a fresh interpreter imports asyncssh for the first time."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any, Dict, List

import httpx
import pytest
from ssh_support import KeyPair

from fluidstack.emulator.settings import DEV_API_KEY
from fluidstack.testing.handle import EmulatorHandle


def _platform(emulator: EmulatorHandle, key: KeyPair) -> Dict[str, Any]:
    api = httpx.Client(base_url=emulator.base_url, headers={"api-key": emulator.api_key})
    with api:
        api.post("/ssh_keys", json={"name": "k", "public_key": key.public})
        body = {"gpu_type": "RTX_A4000_16GB", "ssh_key": "k"}
        created = api.post("/instances", json=body).json()
        emulator.advance(3600)
        instance: Dict[str, Any] = api.get(f"/instances/{created['id']}").json()
    assert instance["status"] == "running"
    return instance


EMULATOR = ["-m", "fluidstack.emulator", "--port", "0", "--ssh", "--ssh-port", "0",
            "--manual-clock", "--failure-rate", "0"]  # fmt: skip
"""The emulator's command line after the interpreter (no failed provisions)."""

SDK_EXEC = textwrap.dedent(
    """
    import sys
    from fluidstack import FluidStack

    base_url, instance, key = sys.argv[1:4]
    with FluidStack(api_key={api_key!r}, base_url=base_url) as client:
        result = client.instances.exec(instance, "echo up", key_path=key, known_hosts=False)
        print(result.stdout, end="")
    """
)


def _noise(stderr: str) -> List[str]:
    """The lines of ``stderr`` this issue is about."""
    return [line for line in stderr.splitlines() if "DSA" in line or "asyncssh" in line]


@pytest.mark.parametrize("log_level", [None, "info"])
def test_an_sdk_exec_and_the_emulator_print_no_dsa_warning_nor_asyncssh_info(
    key: KeyPair, tmp_path: Path, log_level: Any
) -> None:
    """At the emulator's default level (info) and with ``-W default`` (warnings shown
    as Python shows them to a developer), through a whole ``exec``; the SDK also with
    ``FLUIDSTACK_LOG=info`` (its handler is on the ``fluidstack`` logger only)."""
    token = "q" * 32
    command = [sys.executable, "-W", "default", *EMULATOR, "--control-token", token]
    if log_level:
        command += ["--log-level", log_level]
    emulator = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert emulator.stdout is not None
        base_url = emulator.stdout.readline().split("listening on ")[1].strip()
        handle = EmulatorHandle(base_url, DEV_API_KEY, control_token=token)
        try:
            instance = _platform(handle, key)
        finally:
            handle.close()
        sdk = subprocess.run(
            [sys.executable, "-W", "default", "-c", SDK_EXEC.format(api_key=DEV_API_KEY),
             base_url, instance["id"], str(key.private)],
            capture_output=True, text=True, timeout=120, check=False,
            env={**os.environ, "FLUIDSTACK_LOG": log_level or ""},
        )  # fmt: skip
    finally:
        emulator.terminate()
        _, emulator_stderr = emulator.communicate(timeout=30)
    assert sdk.returncode == 0, sdk.stderr
    assert sdk.stdout == "up\n"
    if log_level:
        assert "fluidstack INFO" in sdk.stderr  # the SDK's own lines do show
    assert _noise(sdk.stderr) == [], sdk.stderr
    assert "SSH (--ssh)" in emulator_stderr  # its own INFO lines still show
    assert _noise(emulator_stderr) == [], emulator_stderr


def test_asyncssh_logs_at_debug_when_the_emulator_is_asked_to(key: KeyPair, tmp_path: Path) -> None:
    """``--log-level debug`` keeps asyncssh's lines: they are what one debugs SSH with."""
    token = "d" * 32
    emulator = subprocess.Popen(
        [sys.executable, *EMULATOR, "--control-token", token, "--log-level", "debug"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert emulator.stdout is not None
        base_url = emulator.stdout.readline().split("listening on ")[1].strip()
        handle = EmulatorHandle(base_url, DEV_API_KEY, control_token=token)
        try:
            instance = _platform(handle, key)
        finally:
            handle.close()
        sdk = subprocess.run(
            [sys.executable, "-c", SDK_EXEC.format(api_key=DEV_API_KEY),
             base_url, instance["id"], str(key.private)],
            capture_output=True, text=True, timeout=120, check=False,
        )  # fmt: skip
        assert sdk.returncode == 0, sdk.stderr
    finally:
        emulator.terminate()
        _, emulator_stderr = emulator.communicate(timeout=30)
    assert " asyncssh" in emulator_stderr
    assert "DSA" not in emulator_stderr


def test_the_guards_filter_only_the_dsa_warning() -> None:
    """Outside the import, the same warning (and any other) is shown as before: no
    global filter is left behind."""
    script = textwrap.dedent(
        """
        import warnings
        from fluidstack.core.ssh import _import_asyncssh
        import fluidstack.emulator.ssh.quiet
        _import_asyncssh()
        from cryptography.utils import CryptographyDeprecationWarning
        warnings.warn("DSA is deprecated (raised later)", CryptographyDeprecationWarning)
        warnings.warn("another", UserWarning)
        """
    )
    result = subprocess.run([sys.executable, "-W", "default", "-c", script],
                            capture_output=True, text=True, timeout=60, check=True)  # fmt: skip
    assert "raised later" in result.stderr
    assert "another" in result.stderr
    assert result.stderr.count("DSA") == 1, result.stderr
