"""The SSH side of emulated instances: an sshd per instance on loopback, its directory,
its boots, and the lifecycle that ties them to the API's state.

The APIs' states know nothing of SSH: they call four hooks (:class:`SshMachines`'s
``platform_port``, ``atlas_created``, ``deleted`` and ``sync``) and every other fact (is
it running? since when? which keys, GPUs, user data?) is read from them when needed.
Since statuses are computed from timestamps, readiness is decided when a connection
arrives: a connection to an instance that is not running (or whose sshd is delayed by a
fault) is closed before the SSH banner, as a booting machine's port would be. A
background task closes the sessions of instances that stopped, boots instances nobody
has connected to yet, and forgets instances that are gone.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import concurrent.futures
import contextlib
import logging
import shutil
import socket
import struct
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

from fluidstack.emulator.ssh.machine import Host, Machine, SessionExtras
from fluidstack.emulator.ssh.procs import ProcessTracker
from fluidstack.emulator.ssh.quiet import asyncssh, quiet_asyncssh_logger
from fluidstack.emulator.ssh.sessions import InstanceServer, run_session
from fluidstack.emulator.ssh.sftp import InstanceSFTPServer
from fluidstack.emulator.ssh.tools import (
    GpuSpec,
    InstanceDisk,
    gpu_spec,
    parse_user_data,
    run_first_boot,
)

__all__ = ["PLATFORM_SSH_HOST", "SshMachines", "atlas_loopback_address"]

logger = logging.getLogger("fluidstack.emulator.ssh")

PLATFORM_SSH_HOST = "127.0.0.1"
"""Where every platform instance answers SSH (each on its own port)."""

RECONCILE_SECONDS = 0.1
"""Real seconds between two passes of the background task (closing stopped sessions)."""

SERVE_DEADLINE_SECONDS = 10.0
"""Real seconds within which a listening sshd must be served, else it is reported."""


def atlas_loopback_address(seq: int) -> str:
    """The loopback address of the Atlas instance created ``seq``-th: 127.77.x.y, one per
    instance, so that all of them can share one SSH port."""
    return f"127.77.{(seq // 254) % 256}.{seq % 254 + 1}"


def _running_since(segments: List[Tuple[str, float]], now: float) -> Optional[float]:
    """When the current ``running`` period began (``None`` when not running)."""
    for status, start in reversed(segments):
        if start <= now:
            return start if status == "running" else None
    return None


@dataclass
class Facts:
    """What the API's state says about an instance, read at one moment."""

    now: float
    running_since: Optional[float]
    gpus: Optional[GpuSpec]
    keys: List[str]
    user_data: Optional[bytes]
    ephemeral: bool
    fault_path: str
    scope: str
    """The account (platform) or organization (Atlas) id, for scoped fault rules."""
    slurm: bool = False
    """The instance is a Slurm cluster's (its login node, or a node of its pools)."""


def _log_failure(done: concurrent.futures.Future[None], machine: Machine) -> None:
    """An sshd that could not start says so (its port would otherwise just never answer)."""
    if not done.cancelled() and done.exception() is not None:
        logger.error(
            "instance %s: its sshd on %s:%s did not start: %r",
            machine.instance_id,
            machine.host,
            machine.port,
            done.exception(),
        )


class _Refused(asyncio.Protocol):
    """What answers while sshd is not up: the connection is reset before any banner."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        sock = transport.get_extra_info("socket")
        if sock is not None:  # a reset, not an orderly close: nothing is listening
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        transport.abort()  # type: ignore[attr-defined]


class SshMachines:
    """Every instance's sshd, served from one asyncio loop in a background thread.

    ``root`` holds one directory per instance (named by its id); a temporary root is
    removed by :meth:`close`, a given one (next to ``--db``) is kept with the state.
    """

    def __init__(self, emulator: Host, root: Optional[Path], atlas_port: int) -> None:
        quiet_asyncssh_logger()  # no INFO line per connection unless --log-level debug
        self._emulator = emulator
        self.processes = ProcessTracker()
        """Every instance's processes (see :mod:`fluidstack.emulator.ssh.procs`)."""
        self._temporary = root is None
        self.root = (
            Path(tempfile.mkdtemp(prefix="fluidstack-emulator-ssh-")) if root is None else root
        )
        self.root.mkdir(parents=True, exist_ok=True)
        self._port_holder: Optional[socket.socket] = None
        if atlas_port == 0:  # pick a free port, and hold it on an address of the range
            self._port_holder = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            try:
                self._port_holder.bind((atlas_loopback_address(0), 0))
            except OSError:
                self._port_holder.bind((PLATFORM_SSH_HOST, 0))
            atlas_port = self._port_holder.getsockname()[1]
        self.atlas_port = atlas_port
        """The port every Atlas instance's sshd listens on (each on its own address)."""
        self.slurm: Optional[SessionExtras] = None
        """The Slurm rehearsal (``--slurm``), whose environment Slurm clusters' sessions get."""
        self._machines: Dict[Tuple[str, str], Machine] = {}
        self._mutex = threading.Lock()
        self._warned_bind = False
        self._atlas_seq = 0
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self._run, name="fluidstack-emulator-ssh", daemon=True
        )
        self._started = threading.Event()
        self._thread.start()
        self._started.wait()
        self._restore()

    # -- the loop thread ----------------------------------------------------------------

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        self._reconciler = self._loop.create_task(self._reconcile_forever())
        self._loop.call_soon(self._started.set)
        self._loop.run_forever()

    async def _reconcile_forever(self) -> None:
        while True:
            await asyncio.sleep(RECONCILE_SECONDS)
            try:
                self._reconcile()
            except Exception:  # pragma: no cover - a bug must not stop every sshd
                logger.exception("SSH reconciliation failed")

    def _reconcile(self) -> None:
        with self._mutex:
            machines = list(self._machines.values())
        for machine in machines:
            facts = self._facts(machine)
            if facts is None:
                self._discard(machine, remove_disk=True)
            elif facts.running_since is not None:
                if machine.boot != facts.running_since:
                    self._boot(machine, facts)
            elif machine.connections or machine.procs is not None:
                # Stopped (or stopping): its sshd, sessions and processes go with it.
                self._close_sessions(machine)
            self._watch(machine)

    def _watch(self, machine: Machine) -> None:
        """A watchdog: a socket that listens but is not served (connections would queue
        unanswered, as in issue 28) is reported, once."""
        if machine.server is not None or machine.sock is None or machine.closed:
            return
        if 0 < machine.listening_since < time.monotonic() - SERVE_DEADLINE_SECONDS:
            machine.listening_since = 0.0  # reported
            logger.error("instance %s: its sshd on %s:%s listens but has not been served "
                         "for %ss: connections queue unanswered", machine.instance_id,
                         machine.host, machine.port, SERVE_DEADLINE_SECONDS)  # fmt: skip

    # -- hooks called by the APIs' states (any thread, under the emulator's lock) -------

    def platform_port(self, instance_id: str) -> int:
        """The SSH port of a platform instance (allocated and listening from its first
        call on, kept for the instance's life)."""
        with self._mutex:
            machine = self._machines.get(("platform", instance_id))
            if machine is None:
                machine = self._new_machine("platform", instance_id, PLATFORM_SSH_HOST, 0)
            return machine.port

    def atlas_address(self) -> str:
        """A loopback address for a new Atlas instance (never one in use)."""
        with self._mutex:
            used = {m.host for m in self._machines.values() if m.api == "atlas"}
            while True:
                self._atlas_seq += 1
                address = atlas_loopback_address(self._atlas_seq)
                if address not in used:
                    return address

    def atlas_created(self, instance_id: str, address: str) -> None:
        """An Atlas instance was created with ``address``: its sshd listens there."""
        with self._mutex:
            if ("atlas", instance_id) not in self._machines:
                self._new_machine("atlas", instance_id, address, self.atlas_port)

    def deleted(self, api: str, instance_id: str) -> None:
        """The instance was deleted: sessions end and its directory is removed now."""
        with self._mutex:
            machine = self._machines.pop((api, instance_id), None)
        if machine is not None:
            self._discard(machine, remove_disk=True)
        else:
            shutil.rmtree(self.root / instance_id, ignore_errors=True)

    def sync(self) -> None:
        """After a reset: forget (and remove) every machine whose instance is gone, and
        cancel every Slurm job when no Slurm cluster with a login node is left."""
        with self._mutex:
            machines = list(self._machines.values())
        for machine in machines:
            if not self._exists(machine):
                self._discard(machine, remove_disk=True)
        if self.slurm is not None:
            with self._emulator.lock:
                clusters = list(self._emulator.atlas.clusters.values())
            # The reset took every Slurm cluster with a login node (the seeded ones have
            # none: nobody can submit there): the jobs end with them.
            if not any(c.type == "slurm" and c.login_nodes for c in clusters):
                self.slurm.cancel_jobs()

    def close(self) -> None:
        """Stop every sshd and the loop, end every process of every instance (before
        returning); remove the directories unless kept with --db."""
        with self._mutex:
            machines = list(self._machines.values())
            self._machines.clear()
        for machine in machines:
            self._discard(machine, remove_disk=False)
        self.processes.close()
        if self._loop.is_running():

            async def stop() -> None:
                self._reconciler.cancel()
                for machine in machines:  # first boots still being waited for
                    for task in machine.tasks:
                        task.cancel()
                await asyncio.sleep(0)
                self._loop.stop()

            asyncio.run_coroutine_threadsafe(stop(), self._loop)
            self._thread.join(10)
        if self._port_holder is not None:
            self._port_holder.close()
        if self._temporary:
            shutil.rmtree(self.root, ignore_errors=True)

    def address(self, api: str, instance_id: str) -> Optional[Tuple[str, int]]:
        """Where an instance's sshd listens (``None`` for an unknown instance)."""
        machine = self._machines.get((api, instance_id))
        return None if machine is None else (machine.host, machine.port)

    def directory(self, api: str, instance_id: str) -> Optional[Path]:
        """An instance's directory (``None`` for an unknown instance)."""
        machine = self._machines.get((api, instance_id))
        return None if machine is None else machine.disk.root

    # -- machines -----------------------------------------------------------------------

    def _new_machine(self, api: str, instance_id: str, host: str, port: int) -> Machine:
        disk = InstanceDisk(self.root / instance_id)
        disk.create()
        host_key = self._host_key(disk)
        sock: Optional[socket.socket] = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        assert sock is not None
        try:
            if port:  # shared by every Atlas instance, each on its own address
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind((host, port))
            sock.listen(64)
            port = sock.getsockname()[1]
        except OSError as exc:
            sock.close()
            sock = None
            self._warn_bind(host, port, exc)
        machine = Machine(api, instance_id, host, port, disk, host_key, sock, self.processes)
        machine.listening_since = time.monotonic()
        self._machines[(api, instance_id)] = machine
        if sock is not None:
            # Connections queue in the kernel from here on; the loop serves them soon.
            serving = asyncio.run_coroutine_threadsafe(self._serve(machine), self._loop)
            serving.add_done_callback(lambda done: _log_failure(done, machine))
        return machine

    def _warn_bind(self, host: str, port: int, exc: OSError) -> None:
        if self._warned_bind:
            return
        self._warned_bind = True
        logger.warning(
            "cannot listen for SSH on %s:%s (%s). Atlas instances each have their own "
            "loopback address (127.77.x.y); where only 127.0.0.1 exists (macOS), add "
            "them first, e.g. `sudo ifconfig lo0 alias %s up`, or use the platform API, "
            "whose instances answer on 127.0.0.1",
            host,
            port,
            exc.strerror or exc,
            host,
        )

    @staticmethod
    def _host_key(disk: InstanceDisk) -> asyncssh.SSHKey:
        """The instance's own host key: made once, kept in its directory (0600)."""
        path = disk.host_key_path
        if path.exists():
            with contextlib.suppress(OSError, asyncssh.KeyImportError):
                return asyncssh.read_private_key(str(path))
        key = asyncssh.generate_private_key("ssh-ed25519")
        path.parent.mkdir(parents=True, exist_ok=True)
        key.write_private_key(str(path))
        path.chmod(0o600)
        return key

    async def _serve(self, machine: Machine) -> None:
        if machine.closed or machine.sock is None:
            return
        # Built here, not with ``construct`` (which waits for a thread of the loop's
        # default executor): a full executor must never leave a socket unserved.
        machine.options = asyncssh.SSHServerConnectionOptions(
            server_factory=lambda: InstanceServer(machine),
            server_host_keys=[machine.host_key],
            process_factory=lambda process: run_session(machine, process),
            sftp_factory=lambda chan: InstanceSFTPServer(chan, machine.disk),
            allow_scp=True,
            encoding=None,
            agent_forwarding=False,
            x11_forwarding=False,
            login_timeout=60,
        )
        if machine.closed:
            return
        loop = asyncio.get_running_loop()
        options = machine.options

        def protocol() -> asyncio.BaseProtocol:
            if not self._ready(machine):
                return _Refused()
            return asyncssh.SSHServerConnection(loop, options)

        machine.server = await loop.create_server(protocol, sock=machine.sock)

    def _ready(self, machine: Machine) -> bool:
        """Whether the instance's sshd answers now (deciding its boot when it is new)."""
        facts = self._facts(machine)
        if facts is None or facts.running_since is None:
            return False
        if machine.boot != facts.running_since:
            self._boot(machine, facts)
        slurm = self.slurm if facts.slurm else None
        machine.extra_env = slurm.session_env() if slurm is not None else {}
        machine.extra_path = [slurm.bin_dir] if slurm is not None else []
        return facts.now >= machine.ready_at

    def _boot(self, machine: Machine, facts: Facts) -> None:
        """A new running period: re-arm sshd, wipe an ephemeral disk, run the first boot."""
        since = facts.running_since
        assert since is not None
        # What the previous boot left running ends (a stop and a start may both have
        # happened between two passes of the reconciler).
        machine.end_processes()
        disk = machine.disk
        machine.boot = since
        recorded = disk.recorded_boot()
        if recorded == since:  # already prepared (an emulator restarted with --db)
            machine.ready_at = since
            return
        delay = self._emulator.faults.take_sshd_delay(facts.fault_path, facts.scope)
        machine.ready_at = since + delay
        first = recorded is None
        if recorded is not None and facts.ephemeral:
            disk.wipe_boot_disk()
            first = True
        disk.record_boot(since)
        disk.install_tools(facts.gpus, machine.instance_id)
        if not first:
            return
        data = parse_user_data(facts.user_data)
        disk.write_authorized_keys(facts.keys + data.authorized_keys)
        script = disk.first_boot_script(data)
        procs = machine.processes()
        process = run_first_boot(disk, script, machine.instance_id, procs.env, procs.join)
        if process is not None:
            procs.pgids.add(process.pid)

            async def finished() -> None:
                # Polled, not waited for in an executor thread: user data that runs for
                # hours must not hold one of the few threads asyncssh needs (issue 28).
                while process.poll() is None:  # noqa: ASYNC110 - a Popen, no event to await
                    await asyncio.sleep(RECONCILE_SECONDS)
                code = process.returncode
                if not machine.closed:
                    with contextlib.suppress(OSError):
                        disk.finish_boot(code)

            task = self._loop.create_task(finished())
            machine.tasks.add(task)
            task.add_done_callback(machine.tasks.discard)

    def _close_sessions(self, machine: Machine) -> None:
        for conn in list(machine.connections):
            conn.close()
        machine.connections.clear()
        machine.end_processes()

    def _discard(self, machine: Machine, remove_disk: bool) -> None:
        with self._mutex:
            if self._machines.get((machine.api, machine.instance_id)) is machine:
                del self._machines[(machine.api, machine.instance_id)]
        machine.closed = True
        machine.end_processes()

        def close() -> None:
            for conn in list(machine.connections):
                conn.close()
            machine.connections.clear()
            if machine.server is not None:
                machine.server.close()
            elif machine.sock is not None:
                machine.sock.close()

        if self._loop.is_running():
            self._loop.call_soon_threadsafe(close)
        elif machine.sock is not None:
            machine.sock.close()
        if remove_disk:
            machine.disk.remove()

    # -- facts from the APIs' states ----------------------------------------------------

    def _exists(self, machine: Machine) -> bool:
        state: Any = self._emulator.platform if machine.api == "platform" else self._emulator.atlas
        with self._emulator.lock:
            return machine.instance_id in state.instances

    def _facts(self, machine: Machine) -> Optional[Facts]:
        """The instance as its API sees it now; ``None`` once it is gone for good."""
        emulator = self._emulator
        with emulator.lock:
            now = emulator.clock.now()
            if machine.api == "platform":
                return self._platform_facts(machine.instance_id, now)
            return self._atlas_facts(machine.instance_id, now)

    def _platform_facts(self, instance_id: str, now: float) -> Optional[Facts]:
        platform = self._emulator.platform
        instance = platform.instances.get(instance_id)
        if instance is None or instance.status_at(now) in ("terminated", "failed"):
            return None
        named = platform.ssh_keys.get(instance.account_id, {})
        keys = [named[name].public_key for name in instance.ssh_keys if name in named]
        return Facts(
            now=now,
            running_since=_running_since(instance.segments, now),
            gpus=gpu_spec(instance.gpu_type, instance.gpu_count, instance.gpu_memory_gb),
            keys=keys,
            user_data=None,
            ephemeral=False,
            fault_path=f"/instances/{instance_id}",
            scope=instance.account_id,
        )

    def _atlas_facts(self, instance_id: str, now: float) -> Optional[Facts]:
        from fluidstack.emulator.atlas.nodes import CLUSTER_TAG
        from fluidstack.emulator.atlas.state import GONE

        atlas = self._emulator.atlas
        instance = atlas.instances.get(instance_id)
        if instance is None or instance.state_at(now) == GONE:
            return None
        region = atlas.regions.get(instance.region)
        kind = region.instance_type(instance.type) if region is not None else None
        keys = [
            key.key
            for (org_id, _), named in atlas.user_keys.items()
            if org_id == instance.org_id
            for key in named.values()
        ]
        user_data: Optional[bytes] = None
        if instance.user_data:
            with contextlib.suppress(binascii.Error, ValueError):
                user_data = base64.b64decode(instance.user_data, validate=True)
        return Facts(
            now=now,
            running_since=_running_since(instance.segments, now),
            gpus=gpu_spec(kind.gpu_model, kind.gpu_count, None) if kind is not None else None,
            keys=keys,
            user_data=user_data,
            ephemeral=instance.ephemeral,
            fault_path=f"/regions/{instance.region}/api/v1alpha1/instances/{instance_id}",
            scope=instance.org_id,
            slurm=getattr(atlas.clusters.get(instance.tags.get(CLUSTER_TAG, "")), "type", "")
            == "slurm",
        )

    def _restore(self) -> None:
        """Instances kept by ``--db`` get their sshd back (platform ports may change)."""
        emulator = self._emulator
        with emulator.lock:
            now = emulator.clock.now()
            for instance_id, instance in list(emulator.platform.instances.items()):
                if instance.status_at(now) not in ("terminated", "failed"):
                    self.platform_port(instance_id)
            for instance_id, atlas_instance in list(emulator.atlas.instances.items()):
                if atlas_instance.ip.startswith("127."):
                    self.atlas_created(instance_id, atlas_instance.ip)
