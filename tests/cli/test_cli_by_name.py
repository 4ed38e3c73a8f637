"""Instances named by name wherever the CLIs take an id (issue 25): an exact id wins,
else an exact name; a shared name is refused with the ids (exit 2), an unknown one is
the server's one "not found" line (exit 1); an id-shaped argument is fetched directly,
without listing the fleet."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any, Dict, List

import pytest
from cli_support import Fs

from fluidstack.testing import EmulatorHandle


@pytest.fixture(autouse=True)
def simulated_waits(emulator: EmulatorHandle, monkeypatch: pytest.MonkeyPatch) -> None:
    """Where `--wait` would sleep between polls, the emulator's clock moves instead."""
    from fluidstack.core._sync.pipeline import Pipeline

    monkeypatch.setitem(Pipeline.__init__.__kwdefaults__, "sleep", emulator.advance)


def _create(fs: Fs, name: str) -> str:
    doc: Dict[str, Any] = fs.json(
        "instances", "create", "--gpu-type", "RTX_A4000_16GB", "--name", name, "--wait",
        "--poll-interval", "5",
    )  # fmt: skip
    return str(doc["id"])


def _paths(emulator: EmulatorHandle) -> List[str]:
    return [f"{e['method']} {e['path']}" for e in emulator.journal()]


def test_platform_commands_take_a_name(fs: Fs, ssh_key: str, emulator: EmulatorHandle) -> None:
    trainer = _create(fs, "trainer")
    other = _create(fs, "other")
    assert fs.json("instances", "get", "trainer")["id"] == trainer
    assert fs.json("instances", "get", trainer)["id"] == trainer  # the id still works
    assert fs.json("instances", "stop", "trainer", "--wait")["status"] == "stopped"
    assert fs.json("instances", "start", "trainer", "--wait")["status"] == "running"
    assert fs.json("instances", "wait", "trainer")["id"] == trainer
    renamed = fs.json("instances", "rename", "trainer", "trainer-2")
    assert renamed["id"] == trainer
    assert fs.json("instances", "get", "trainer-2")["id"] == trainer
    done = fs.json("instances", "delete", "trainer-2", "other", "--yes")
    assert done == {"deleted": [trainer, other], "failed": []}


def test_an_id_shaped_argument_is_fetched_without_listing(
    fs: Fs, ssh_key: str, emulator: EmulatorHandle
) -> None:
    trainer = _create(fs, "trainer")
    emulator.clear_journal()
    fs("instances", "get", trainer)
    assert _paths(emulator) == [f"GET /instances/{trainer}"]
    emulator.clear_journal()
    unknown = str(uuid.uuid4())
    result = fs("instances", "get", unknown, expect=1)
    assert result.stderr.count("\n") == 1
    assert all("GET /instances?" not in p and p != "GET /instances" for p in _paths(emulator))


def test_a_shared_name_is_refused_with_the_ids(
    fs: Fs, ssh_key: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    first, second = _create(fs, "twin"), _create(fs, "twin")
    # cp's local file exists: a missing one is refused first, before any call.
    monkeypatch.chdir(tmp_path)
    (tmp_path / "x").write_text("x")
    for command in (["get", "twin"], ["stop", "twin"], ["delete", "twin", "--yes"],
                    ["exec", "twin", "--", "true"], ["cp", "./x", "twin:x"]):  # fmt: skip
        result = fs("instances", *command, expect=2)
        assert result.stderr.startswith("error: 2 instances are named 'twin': "), command
        assert first in result.stderr
        assert second in result.stderr
        assert "Pass the id" in result.stderr
    # Nothing was stopped or deleted.
    assert {i["status"] for i in fs.json("instances", "list")} == {"running"}


def test_an_unknown_name_is_one_line(fs: Fs, ssh_key: str) -> None:
    _create(fs, "trainer")
    for command in (["get", "nobody"], ["ssh", "nobody", "--print"], ["delete", "nobody", "-y"],
                    ["forward", "nobody", "8888"], ["exec", "nobody", "--", "true"]):  # fmt: skip
        result = fs("instances", *command, expect=1)
        assert result.stderr.count("\n") == 1, command
        assert result.stderr.startswith("error: ")
        assert "404 Not Found: Instance 'nobody' not found" in result.stderr


def test_atlas_commands_take_a_name(atlas_fs: Fs) -> None:
    box = atlas_fs.json("atlas", "instances", "create", "box", "--type", "cpu.2x", "--wait")["id"]
    twin = [
        atlas_fs.json("atlas", "instances", "create", "twin", "--type", "cpu.2x")["id"]
        for _ in range(2)
    ]
    assert atlas_fs.json("atlas", "instances", "get", "box")["id"] == box
    assert atlas_fs.json("atlas", "instances", "stop", "box", "--wait")["state"] == "stopped"
    assert atlas_fs.json("atlas", "instances", "start", "box", "--wait")["state"] == "running"
    shared = atlas_fs("atlas", "instances", "get", "twin", expect=2)
    assert shared.stderr.startswith("error: 2 instances are named 'twin': ")
    assert all(ident in shared.stderr for ident in twin)
    unknown = atlas_fs("atlas", "instances", "ssh", "nobody", "--print", expect=1)
    assert unknown.stderr.count("\n") == 1
    assert "'nobody'" in unknown.stderr
    assert "not found" in unknown.stderr.lower()
    done = atlas_fs.json("atlas", "instances", "delete", "box", "--yes")
    assert done["deleted"] == [box]


def _complete(fs: Fs, words: str) -> str:
    env = {"_FLUIDSTACK_COMPLETE": "bash_complete", "COMP_WORDS": words,
           "COMP_CWORD": str(len(words.split()) - 1)}  # fmt: skip
    return str(fs(env=env).stdout)


def test_completion_offers_names_as_well_as_ids(fs: Fs, ssh_key: str, atlas_fs: Fs) -> None:
    trainer = _create(fs, "trainer")
    assert "trainer" in _complete(fs, "fluidstack instances ssh tra")
    assert trainer in _complete(fs, f"fluidstack instances ssh {trainer[:6]}")
    atlas_fs("atlas", "instances", "create", "box", "--type", "cpu.2x")
    assert "box" in _complete(atlas_fs, "fluidstack atlas instances get bo")
