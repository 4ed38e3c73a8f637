"""Issue 28 item 10: hints that lead somewhere."""

from __future__ import annotations

import uuid

import pytest
from cli_support import Fs, create_instance

from fluidstack.testing import EmulatorHandle


def test_a_terminated_instance_is_not_told_to_wait(
    fs: Fs, ssh_key: str, emulator: EmulatorHandle
) -> None:
    created = create_instance(fs)
    fs("instances", "delete", created["id"], "--yes")
    emulator.advance(3600)
    result = fs("instances", "ssh", created["id"], "--print", expect=1)
    assert "terminated: it has no address and will not get one" in result.stderr
    assert "wait" not in result.stderr


def test_a_missing_ssh_key_names_the_cli_command(fs: Fs) -> None:
    result = fs(
        "instances", "create", "--gpu-type", "RTX_A5000_24GB", "--ssh-key", "nope", expect=1
    )
    assert "POST /ssh_keys" not in result.stderr
    assert "fluidstack ssh-keys add NAME [FILE.pub]" in result.stderr, result.stderr


def test_a_stale_project_points_to_atlas_use(atlas_fs: Fs, monkeypatch: pytest.MonkeyPatch) -> None:
    # An emulator restart forgets projects; the profile still names the old id.
    monkeypatch.setenv("FLUIDSTACK_PROJECT_ID", str(uuid.uuid4()))
    result = atlas_fs("atlas", "instances", "list", expect=1)
    assert "not found" in result.stderr
    assert "fluidstack atlas use --project" in result.stderr
