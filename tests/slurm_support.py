"""What the Slurm job tests share (importable as ``slurm_support``): one in-process
``--ssh --slurm`` emulator per test module (a real slurmctld/slurmd behind a Slurm
cluster's login node), with a project, a registered user key and a booted cluster."""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, Iterator, List, Optional

import pytest

from fluidstack.emulator.slurm import INSTALL_HINT, missing_programs
from fluidstack.testing.handle import EmulatorHandle

MISSING = missing_programs()
needs_slurm = pytest.mark.skipif(
    bool(MISSING),
    reason=f"Slurm is not installed ({', '.join(MISSING)} missing): {INSTALL_HINT}",
)


@dataclass
class SlurmSite:
    """The running emulator, its Slurm cluster, and a key the login node accepts."""

    emulator: EmulatorHandle
    region: str
    project_id: str
    cluster_id: str
    key: Path
    known_hosts: Path

    def atlas_kwargs(self) -> Dict[str, object]:
        control = self.emulator.atlas
        return {
            "client_id": control.client_id,
            "client_secret": control.client_secret,
            "management_url": control.management_url,
            "region": self.region,
            "project_id": self.project_id,
            "ssh_port": self.emulator.ssh_port,
            "use_environment": False,
        }

    def cli_env(self, home: Path) -> Dict[str, str]:
        control = self.emulator.atlas
        return {
            "HOME": str(home),
            "XDG_CONFIG_HOME": str(home / "xdg"),
            "FLUIDSTACK_CLIENT_ID": control.client_id,
            "FLUIDSTACK_CLIENT_SECRET": control.client_secret,
            "FLUIDSTACK_ATLAS_URL": control.management_url,
            "FLUIDSTACK_REGION": self.region,
            "FLUIDSTACK_PROJECT_ID": self.project_id,
            "FLUIDSTACK_SSH_PORT": str(self.emulator.ssh_port),
            "FLUIDSTACK_KNOWN_HOSTS": str(self.known_hosts),
        }


def slurm_site() -> Iterator[SlurmSite]:
    """Body of a module-scoped fixture: start the emulator with Slurm, make the cluster,
    boot its login node; stop everything (jobs and daemons) afterwards."""
    import asyncssh

    from fluidstack.atlas import Atlas
    from fluidstack.testing.plugin import _session_emulator

    home = Path(tempfile.mkdtemp(prefix="slurm-jobs-"))
    key = asyncssh.generate_private_key("ssh-ed25519")
    key_path = home / "id_ed25519"
    key.write_private_key(str(key_path))
    os.chmod(key_path, 0o600)
    known_hosts = home / "known_hosts"
    previous = os.environ.get("FLUIDSTACK_KNOWN_HOSTS")
    os.environ["FLUIDSTACK_KNOWN_HOSTS"] = str(known_hosts)  # never the developer's file
    running = _session_emulator(ssh=True, ssh_port=0, slurm=True)
    emulator = next(running)
    try:
        control = emulator.atlas
        region = control.regions()[0]
        with Atlas(client_id=control.client_id, client_secret=control.client_secret,
                   management_url=control.management_url, region=region,
                   ssh_port=emulator.ssh_port, use_environment=False) as atlas:  # fmt: skip
            project = atlas.projects.create(name="slurm-jobs")
            scoped = atlas.with_options(project_id=project.id)
            scoped.user_keys.create(name="k", key=key.export_public_key().decode().strip())
            cluster = scoped.slurm.clusters.create(name="hpc")
            emulator.advance(300)  # the login node's instance boots
            scoped.slurm.jobs.wait_for_login(cluster.id, timeout=30, poll_interval=0.2)
        yield SlurmSite(emulator, region, project.id, cluster.id, key_path, known_hosts)
    finally:
        for _ in running:  # stops the emulator: Slurm's jobs and daemons with it
            pass
        if previous is None:
            os.environ.pop("FLUIDSTACK_KNOWN_HOSTS", None)
        else:
            os.environ["FLUIDSTACK_KNOWN_HOSTS"] = previous
        shutil.rmtree(home, ignore_errors=True)


def write_project(root: Path) -> Path:
    """A small working directory: a script that logs, writes outputs and a result
    folder, a .gitignore'd data folder that must not be copied."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "train.sh").write_text(
        "#!/bin/bash\n"
        "echo start in $SLURM_JOB_ID\n"
        "test -e data/big.bin && echo 'data was copied' && exit 9\n"
        "cat input.txt\n"
        "sleep 1\n"
        "mkdir -p results && echo 0.93 > results/accuracy.txt\n"
        "echo done\n"
    )
    (root / "input.txt").write_text("the input\n")
    (root / ".gitignore").write_text("data/\n")
    (root / "data").mkdir(exist_ok=True)
    (root / "data" / "big.bin").write_text("not to be copied\n")
    return root


class CountingProxy:
    """A TCP relay on the login node's address, in front of its SSH server: counts the
    connections made through it and cuts them on demand (a network blip), so that a
    test can tell how many SSH logins a follow took and what a dropped one does."""

    def __init__(self, host: str, port: int) -> None:
        import socket
        import threading

        self.upstream = (host, port)
        self.listener = socket.create_server((host, 0))
        self.port: int = self.listener.getsockname()[1]
        self.accepted = 0
        self.refuse = False  # accept, then close at once: a login node that is gone
        self.upload_limit: Optional[int] = None
        """Client-to-server bytes relayed (over all connections) after which that
        direction stalls until :meth:`drop`: a transfer caught half-way."""
        self.uploaded = 0
        self.open: List[Any] = []
        self.lock = threading.Lock()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        import socket
        import threading

        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            with self.lock:
                self.accepted += 1
            if self.refuse:
                client.close()
                continue
            server = socket.create_connection(self.upstream)
            with self.lock:
                self.open += [client, server]
            for a, b, up in ((client, server, True), (server, client, False)):
                threading.Thread(target=self._pipe, args=(a, b, up), daemon=True).start()

    def _pipe(self, source: Any, sink: Any, upload: bool) -> None:
        import socket
        import time

        try:
            while True:
                data = source.recv(65536)
                if not data:
                    break
                if upload and self.upload_limit is not None:
                    with self.lock:
                        room = max(0, self.upload_limit - self.uploaded)
                        data = data[:room]
                        self.uploaded += len(data)
                    if data:
                        sink.sendall(data)
                    if room <= len(data):  # the limit reached: hold until dropped
                        while any(s is source for s in self.open):
                            time.sleep(0.02)
                        break
                    continue
                sink.sendall(data)
        except OSError:
            pass
        for sock in (source, sink):
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
        with self.lock:
            self.open = [s for s in self.open if s not in (source, sink)]

    def active(self) -> int:
        """How many relayed connections are still open."""
        with self.lock:
            return len(self.open) // 2

    def wait_closed(self, within: float = 5.0) -> int:
        """Wait until no relayed connection is open (or ``within`` s); how many are."""
        import time

        until = time.monotonic() + within
        while self.active() and time.monotonic() < until:
            time.sleep(0.05)
        return self.active()

    def drop(self) -> None:
        """Cut every relayed connection, as a network failure would."""
        import socket

        with self.lock:
            cut, self.open = self.open, []
        for sock in cut:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
                sock.close()

    def close(self) -> None:
        self.listener.close()
        self.drop()


def processes_mentioning(text: str) -> List[str]:
    """Command lines of this machine's processes that mention ``text`` (an emulated
    login node's processes are this machine's)."""
    import subprocess

    done = subprocess.run(["pgrep", "-af", text], capture_output=True, text=True)
    return [line for line in done.stdout.splitlines() if "pgrep" not in line]
