"""Every command that destroys something asks first: off a terminal it refuses without
``--yes`` (exit 2), on a terminal a "no" keeps everything (exit 1), and only "yes" (or
``--yes``) deletes. Sweeps are dry runs without ``--yes``.

The table below must name every command that has a ``--yes`` option: a new destructive
command fails ``test_every_command_with_yes_is_in_the_table`` until its confirmation is
tested here. (A mutation audit found two deletes whose confirmation could be removed
with every test green: issue 29, item 1.)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Iterator, List, Tuple

import click
import pytest
from cli_support import Fs, create_instance

from fluidstack.cli import state as cli_state
from fluidstack.cli.app import cli
from fluidstack.testing import EmulatorHandle

Made = Tuple[List[str], Callable[[], bool]]
"""The command's arguments that name what was made, and a check that it still exists."""


@dataclass(frozen=True)
class Destructive:
    command: Tuple[str, ...]
    client: str
    """The fixture that runs the CLI: ``fs`` (platform) or ``atlas_fs`` (Atlas)."""
    make: Callable[[Fs, EmulatorHandle], Made]


def _platform_instance(fs: Fs, emulator: EmulatorHandle) -> Made:
    instance_id = create_instance(fs)["id"]
    return [instance_id], lambda: fs.json("instances", "get", instance_id)["status"] != "terminated"


def _api_key(fs: Fs, emulator: EmulatorHandle) -> Made:
    fs("api-keys", "create", "doomed")
    key_id = next(k["id"] for k in fs.json("api-keys", "list") if k["name"] == "doomed")
    return [key_id], lambda: any(k["id"] == key_id for k in fs.json("api-keys", "list"))


def _atlas_instance(fs: Fs, emulator: EmulatorHandle) -> Made:
    instance_id = fs.json("atlas", "instances", "create", "doomed", "--type", "cpu.2x")["id"]

    def alive() -> bool:
        listed = fs.json("atlas", "instances", "list")
        return any(i["id"] == instance_id and i["state"] != "deleting" for i in listed)

    return [instance_id], alive


def _filesystem(fs: Fs, emulator: EmulatorHandle) -> Made:
    fs_id = fs.json("atlas", "filesystems", "create", "doomed", "--size", "1Ti")["id"]
    return [fs_id], lambda: any(f["id"] == fs_id for f in fs.json("atlas", "filesystems", "list"))


def _member(fs: Fs, emulator: EmulatorHandle) -> Made:
    member_id = emulator.atlas.add_member("Ada", "ada@example.com")["id"]
    return [member_id], lambda: any(
        m["id"] == member_id for m in fs.json("atlas", "members", "list")
    )


def _project(fs: Fs, emulator: EmulatorHandle) -> Made:
    project_id = fs.json("atlas", "projects", "create", "doomed")["id"]

    def alive() -> bool:
        listed = fs.json("atlas", "projects", "list")
        return any(p["id"] == project_id and p["state"] != "deleting" for p in listed)

    return [project_id], alive


def _cluster(kind: str) -> Callable[[Fs, EmulatorHandle], Made]:
    def make(fs: Fs, emulator: EmulatorHandle) -> Made:
        cluster_id = fs.json("atlas", kind, "clusters", "create", "doomed")["id"]
        return [cluster_id], lambda: any(
            c["id"] == cluster_id for c in fs.json("atlas", kind, "clusters", "list")
        )

    return make


def _node_pool(kind: str) -> Callable[[Fs, EmulatorHandle], Made]:
    def make(fs: Fs, emulator: EmulatorHandle) -> Made:
        cluster_id = fs.json("atlas", kind, "clusters", "create", "kept")["id"]
        pool_id = fs.json("atlas", kind, "node-pools", "create", cluster_id, "--name", "doomed",
                          "--type", "cpu.2x", "--count", "1")["id"]  # fmt: skip
        return [cluster_id, pool_id], lambda: any(
            p["id"] == pool_id for p in fs.json("atlas", kind, "node-pools", "list", cluster_id)
        )

    return make


DELETES = [
    Destructive(("instances", "delete"), "fs", _platform_instance),
    Destructive(("api-keys", "delete"), "fs", _api_key),
    Destructive(("atlas", "instances", "delete"), "atlas_fs", _atlas_instance),
    Destructive(("atlas", "filesystems", "delete"), "atlas_fs", _filesystem),
    Destructive(("atlas", "members", "delete"), "atlas_fs", _member),
    Destructive(("atlas", "projects", "delete"), "atlas_fs", _project),
    *(
        Destructive(("atlas", kind, group, "delete"), "atlas_fs", make(kind))
        for kind in ("kubernetes", "slurm")
        for group, make in (("clusters", _cluster), ("node-pools", _node_pool))
    ),
]
SWEEPS = [("instances", "sweep"), ("atlas", "instances", "sweep")]
CONSENTS = [("ssh-config",), ("atlas", "slurm", "ssh-config")]
"""Commands whose --yes gives consent to a change outside fluidstack (a line in
~/.ssh/config), not to a deletion; their questions are tested with them
(tests/cli/test_cli_ssh_config.py, tests/cli/atlas/test_cli_slurm_ssh_config.py)."""


def _commands_with_yes() -> Iterator[Tuple[str, ...]]:
    def walk(command: click.Command, path: Tuple[str, ...], ctx: click.Context) -> Iterator[Any]:
        if isinstance(command, click.Group):
            for name in command.list_commands(ctx):
                sub = command.get_command(ctx, name)
                if sub is not None and sub.name == name:  # aliases resolve to their command
                    yield from walk(sub, (*path, name), click.Context(sub, parent=ctx))
        elif any(param.name == "yes" for param in command.params):
            yield path

    yield from walk(cli, (), click.Context(cli, info_name="fluidstack"))


def test_every_command_with_yes_is_in_the_table() -> None:
    tested = {d.command for d in DELETES} | set(SWEEPS) | set(CONSENTS)
    assert set(_commands_with_yes()) == tested


@pytest.fixture(params=DELETES, ids=lambda d: " ".join(d.command))
def destructive(request: pytest.FixtureRequest) -> Tuple[Destructive, Fs]:
    case: Destructive = request.param
    if case.client == "fs":
        request.getfixturevalue("ssh_key")  # platform instances need a key
    fs: Fs = request.getfixturevalue(case.client)
    return case, fs


def test_off_a_terminal_a_delete_without_yes_deletes_nothing(
    destructive: Tuple[Destructive, Fs], emulator: EmulatorHandle
) -> None:
    case, fs = destructive
    args, exists = case.make(fs, emulator)
    result = fs(*case.command, *args, expect=2)
    assert "--yes" in result.stderr
    assert exists()


def test_on_a_terminal_no_keeps_it_and_yes_deletes_it(
    destructive: Tuple[Destructive, Fs],
    emulator: EmulatorHandle,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    case, fs = destructive
    monkeypatch.setattr(cli_state, "stdin_is_terminal", lambda: True)
    args, exists = case.make(fs, emulator)
    refused = fs(*case.command, *args, input="n\n", expect=1)
    assert "?" in refused.stderr  # the question was asked
    assert exists()
    fs(*case.command, *args, input="y\n")
    # The check above is only worth something if it sees a deletion.
    assert not exists()


@pytest.mark.parametrize("command", SWEEPS, ids=" ".join)
def test_a_sweep_without_yes_is_a_dry_run(
    command: Tuple[str, ...], request: pytest.FixtureRequest, emulator: EmulatorHandle
) -> None:
    if command[0] == "atlas":
        fs: Fs = request.getfixturevalue("atlas_fs")
        args, exists = _atlas_instance(fs, emulator)
    else:
        request.getfixturevalue("ssh_key")
        fs = request.getfixturevalue("fs")
        args, exists = _platform_instance(fs, emulator)
    emulator.advance(3 * 86400)
    plan = fs.json(*command, "--older-than", "1d")
    assert args[0] in {row["id"] for row in plan["matched"]}
    assert exists()
    fs.json(*command, "--older-than", "1d", "--yes")
    assert not exists()
