"""``fluidstack atlas slurm``: clusters, node pools and ``ssh`` to the login node against
the emulator (``ssh`` with the system's client against the ``--ssh`` emulator)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any, Dict

import pytest
from cli_support import Fs

from fluidstack.testing import EmulatorHandle

MISSING = "00000000-0000-4000-8000-000000000000"
SLURM = ("atlas", "slurm")


def _cluster(fs: Fs, name: str = "hpc") -> Dict[str, Any]:
    doc: Dict[str, Any] = fs.json(*SLURM, "clusters", "create", name, "--wait")
    return doc


def test_a_slurm_cluster_with_a_node_pool_from_create_to_delete(atlas_fs: Fs) -> None:
    cluster = _cluster(atlas_fs)
    (login,) = cluster["loginNodes"]
    assert login["publicIP"]
    assert cluster["version"]
    table = atlas_fs(*SLURM, "clusters", "list").stdout
    assert "LOGIN NODES" in table
    assert f"{login['name']} ({login['publicIP']})" in table
    assert atlas_fs.json(*SLURM, "clusters", "get", "hpc")["id"] == cluster["id"]

    # A Slurm pool has no version.
    result = atlas_fs(*SLURM, "node-pools", "create", "hpc", "--name", "cpu", "--type",
                      "cpu.2x", "--count", "2", "--version", "1", expect=2)  # fmt: skip
    assert "No such option" in result.stderr
    pool = atlas_fs.json(*SLURM, "node-pools", "create", "hpc", "--name", "cpu", "--type",
                         "cpu.2x", "--count", "2", "--wait")  # fmt: skip
    assert [n["states"] for n in pool["nodes"]] == [["IDLE"], ["IDLE"]]
    detail = atlas_fs(*SLURM, "node-pools", "get", "hpc", "cpu").stdout
    assert "2/2 ready" in detail
    assert "IDLE" in detail
    assert "VERSION" not in atlas_fs(*SLURM, "node-pools", "list", "hpc").stdout

    refused = atlas_fs(*SLURM, "clusters", "delete", "hpc", "--yes", expect=1)
    assert "node pools must be deleted first" in refused.stderr
    result = atlas_fs(*SLURM, "node-pools", "delete", "hpc", "cpu", expect=2)  # no --yes
    assert "pass --yes" in result.stderr
    assert len(atlas_fs.json(*SLURM, "node-pools", "list", "hpc")) == 1
    atlas_fs(*SLURM, "node-pools", "delete", "hpc", "cpu", "--yes", "--wait")
    atlas_fs(*SLURM, "clusters", "delete", "hpc", expect=2)  # no --yes: still there
    assert atlas_fs.json(*SLURM, "clusters", "get", "hpc")["id"] == cluster["id"]
    atlas_fs(*SLURM, "clusters", "delete", "hpc", "--yes", "--wait")
    result = atlas_fs(*SLURM, "clusters", "get", cluster["id"], expect=1)
    assert f"Slurm cluster {cluster['id']} not found" in result.stderr


def test_ssh_print_names_the_first_login_node(atlas_fs: Fs) -> None:
    cluster = _cluster(atlas_fs)
    (login,) = cluster["loginNodes"]
    printed = atlas_fs(*SLURM, "ssh", "hpc", "--print").stdout
    assert f"-p 22 ubuntu@{login['publicIP']}" in printed
    assert f"HostKeyAlias=fluidstack-slurm-{cluster['id']}-{login['name']}" in printed
    printed = atlas_fs(*SLURM, "ssh", cluster["id"], "--ssh-port", "2222", "--print", "--",
                       "sinfo").stdout  # fmt: skip
    assert printed.rstrip().endswith(f"-p 2222 ubuntu@{login['publicIP']} sinfo")
    result = atlas_fs(*SLURM, "ssh", MISSING, "--print", expect=1)
    assert f"Slurm cluster {MISSING} not found" in result.stderr


@pytest.mark.skipif(
    shutil.which("ssh") is None and not os.environ.get("CI"),
    reason="the system ssh client is not installed (CI installs openssh-client)",
)
def test_ssh_logs_into_the_login_node_with_the_system_ssh_client(
    ssh_emulator: EmulatorHandle, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import asyncssh

    from fluidstack.atlas import Atlas

    key = asyncssh.generate_private_key("ssh-ed25519")
    private = tmp_path / "id_ed25519"
    key.write_private_key(str(private))
    os.chmod(private, 0o600)
    control = ssh_emulator.atlas
    region = control.regions()[0]
    atlas = Atlas(client_id=control.client_id, client_secret=control.client_secret,
                  management_url=control.management_url, region=region,
                  ssh_port=ssh_emulator.ssh_port, use_environment=False)  # fmt: skip
    with atlas:
        project = atlas.projects.create(name="slurm-cli")
        atlas = atlas.with_options(project_id=project.id)
        atlas.user_keys.create(name="cli", key=key.export_public_key().decode().strip())
        cluster = atlas.slurm.clusters.create(name="hpc")
        (login,) = [i for i in atlas.instances.list() if i.tags.get("fluidstack.role") == "login"]
        ssh_emulator.advance(120)
        atlas.instances.wait(login.id, until="ssh", poll_interval=10)
        env = {
            **{k: v for k, v in os.environ.items() if not k.startswith("FLUIDSTACK_")},
            "HOME": str(tmp_path / "home"),
            "XDG_CONFIG_HOME": str(tmp_path / "xdg"),
            "FLUIDSTACK_CLIENT_ID": control.client_id,
            "FLUIDSTACK_CLIENT_SECRET": control.client_secret,
            "FLUIDSTACK_ATLAS_URL": control.management_url,
            "FLUIDSTACK_REGION": region,
            "FLUIDSTACK_PROJECT_ID": project.id,
            "FLUIDSTACK_SSH_PORT": str(ssh_emulator.ssh_port),
        }
        env.pop("SSH_AUTH_SOCK", None)
        done = subprocess.run(
            [sys.executable, "-m", "fluidstack", "atlas", "slurm", "ssh", "hpc", "-i",
             str(private), "--", "-o", "BatchMode=yes", "echo login on $USER"],
            env=env, capture_output=True, text=True, timeout=120, check=False,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr
        assert done.stdout == "login on ubuntu\n"
        atlas.slurm.clusters.delete(cluster.id)
