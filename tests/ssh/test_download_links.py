"""Issue 23, item 10: symlinks in a download never fail it.

``fluidstack atlas run --out res -- '... echo ok > res/r.txt && ln -s r.txt res/latest'``
exited 255 with no file downloaded, though the command had succeeded: one symlink
aborted the whole copy. Now a link that stays inside the downloaded tree is copied as a
link, a dangling one inside it too, and one leading out of the tree is left out with a
:class:`DownloadSkippedWarning`; everything else is downloaded. Through the SDK, against
the ``--ssh`` emulator, on both APIs and every client kind, and through
``fluidstack atlas run --out``.
"""

from __future__ import annotations

import json
import os
import warnings
from pathlib import Path
from typing import Any, Dict, List

import pytest
from atlas_client_support import AtlasClients
from cli_support import Fs
from ssh_support import KeyPair

from fluidstack.core.ssh import DownloadSkippedWarning
from fluidstack.testing.handle import EmulatorHandle
from support import Clients, resolve

pytestmark = pytest.mark.anyio

MAKE_TREE = (
    "mkdir -p res/sub && echo ok > res/r.txt && echo deep > res/sub/d.txt"
    " && ln -s r.txt res/latest"  # inside the tree
    " && ln -s ../r.txt res/sub/up"  # inside, one level up
    " && ln -s sub res/sub-link"  # a directory inside
    " && ln -s missing.txt res/dangling"  # dangling, inside
    " && ln -s ../../../../../../etc/passwd res/passwd"  # leaves the tree
    " && ln -s /etc res/etc"  # absolute
    " && ln -s .. res/parent"  # the tree's parent
)


async def _download_tree(instances: Any, instance: Any, key: KeyPair, back: Path) -> List[str]:
    made = await resolve(
        instances.exec(instance, f"rm -rf res && {MAKE_TREE}", key_path=key.private)
    )
    assert made.ok, made.stderr
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        await resolve(instances.download(instance, "res", back, key_path=key.private))
    return [str(w.message) for w in caught if issubclass(w.category, DownloadSkippedWarning)]


def _check(back: Path, skipped: List[str]) -> None:
    res = back / "res"
    assert (res / "r.txt").read_text() == "ok\n"
    assert (res / "sub" / "d.txt").read_text() == "deep\n"
    assert os.readlink(res / "latest") == "r.txt"
    assert (res / "latest").read_text() == "ok\n"
    assert os.readlink(res / "sub" / "up") == "../r.txt"
    assert (res / "sub" / "up").read_text() == "ok\n"
    assert os.readlink(res / "sub-link") == "sub"
    assert (res / "sub-link" / "d.txt").read_text() == "deep\n"
    assert os.readlink(res / "dangling") == "missing.txt"
    assert not (res / "dangling").exists()
    for left_out in ("passwd", "etc", "parent"):
        assert not os.path.lexists(res / left_out), left_out
        assert any(m.startswith(f"res/{left_out}: a symlink") for m in skipped), skipped
    assert len(skipped) == 3, skipped
    assert sorted(p.name for p in back.iterdir()) == ["res"]


async def test_platform_download_copies_links_inside_and_skips_those_leaving(
    ssh_clients: Clients, key: KeyPair, tmp_path: Path
) -> None:
    client = ssh_clients.make()
    await resolve(client.ssh_keys.create(name="laptop", public_key=key.public))
    instance = await resolve(
        client.instances.create_and_wait(
            gpu_type="RTX_A4000_16GB", ssh_key="laptop", until="ssh", poll_interval=1
        )
    )
    back = tmp_path / "back"
    back.mkdir()
    _check(back, await _download_tree(client.instances, instance, key, back))
    # Again into the same place: files are overwritten and links replaced, quietly.
    _check(back, await _download_tree(client.instances, instance, key, back))
    # "res/." copies the tree's contents into the directory given, with the same rules.
    flat = tmp_path / "flat"
    flat.mkdir(mode=0o750)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        await resolve(client.instances.download(instance, "res/.", flat, key_path=key.private))
    assert sorted(p.name for p in flat.iterdir()) == [
        "dangling", "latest", "r.txt", "sub", "sub-link"
    ]  # fmt: skip
    assert os.readlink(flat / "latest") == "r.txt"
    assert len(caught) == 3
    assert flat.stat().st_mode & 0o777 == 0o750  # the caller's directory, left as it was


async def test_atlas_download_copies_links_inside_and_skips_those_leaving(
    ssh_atlas_clients: AtlasClients, ssh_emulator: EmulatorHandle, key: KeyPair, tmp_path: Path
) -> None:
    client = ssh_atlas_clients.make(ssh_port=ssh_emulator.ssh_port)
    project = await resolve(client.projects.create(name="links"))
    atlas = client.with_options(project_id=project.id)
    user_data = f"#cloud-config\nssh_authorized_keys:\n  - {key.public}\n"
    instance = await resolve(
        atlas.instances.create(
            type="h100-hgx-80gb.8x", user_data=user_data, wait=True, until="ssh", poll_interval=1
        )
    )
    back = tmp_path / "back"
    back.mkdir()
    _check(back, await _download_tree(atlas.instances, instance, key, back))


def test_atlas_run_out_with_a_symlink_downloads_and_succeeds(
    fs: Fs, key: KeyPair, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    cli_env: Dict[str, str],
) -> None:  # fmt: skip
    """The issue's command: it exited 255 with no file; now 0, the files and the link
    inside are here, and the link leaving the tree is a ``warning:`` line."""
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    created = fs.json("atlas", "projects", "create", "links")
    monkeypatch.setenv("FLUIDSTACK_PROJECT_ID", created["id"])
    pub = str(key.private.parent / f"{key.private.name}.pub")
    command = "mkdir -p res && echo ok > res/r.txt && ln -s r.txt res/latest && ln -s /etc res/etc"
    result = fs("atlas", "run", "--ssh-key", pub, "-i", str(key.private), "--poll-interval",
                "5", "--out", "res", "--", command)  # fmt: skip
    assert (work / "res" / "r.txt").read_text() == "ok\n"
    assert os.readlink(work / "res" / "latest") == "r.txt"
    assert not os.path.lexists(work / "res" / "etc")
    assert "warning: " in result.stderr
    assert "/res/etc: a symlink" in result.stderr
    assert "Downloaded res." in result.stderr
    json.dumps(cli_env)  # (the environment fixture is what points the CLI at the emulator)
