# Generated from fluidstack/atlas/_async by scripts/unasync.py: do not edit by hand.
"""``atlas.slurm.jobs``: Slurm jobs on a managed Slurm cluster, driven over SSH on its
first login node with Slurm's own commands (needs the ``[ssh]`` extra).

The login node is the first of the cluster's ``loginNodes`` with a ``publicIP``, on the
client's ``ssh_port``, as ``ubuntu``. Which keys it accepts is inferred: those registered
for your user with ``atlas.user_keys`` (the management API's ``/user/keys``); the
matching private key comes from ssh-agent or ``~/.ssh``, or :meth:`with_ssh`.
"""

from __future__ import annotations

import datetime as dt
import time as _time
import warnings
from typing import (
    Callable,
    Dict,
    Iterator,
    List,
    Mapping,
    Optional,
    Sequence,
    Union,
)

from ...core._sync._io import run_ssh, sleep, ssh_banner
from ...core.addresses import EmulatorAddressError, refuse_documentation_address
from ...core.errors import NotFoundError, WaitTimeoutError
from ...core.ssh import (
    DownloadSkippedWarning,
    ExecResult,
    HostKeyChangedError,
    KnownHosts,
    PathLike,
    SshError,
    SshSessionLostError,
    SshTarget,
    ssh_download,
    ssh_exec,
)
from ...core.ssh_stream import SshSession
from ..endpoints import Id, id_text
from ..orchestrator_types import SlurmCluster
from ..slurm_commands import (
    HOME_FIRST,
    REMOTE_ROOT,
    Command,
    Script,
    cancel_command,
    download_list_command,
    follow_command,
    get_command,
    group_by_folder,
    job_script,
    list_command,
    local_path,
    log_chunk_command,
    relative_to_home,
    split_log_chunk,
    submit_command,
    sync_command,
    time_limit,
)
from ..slurm_types import (
    SlurmCommandError,
    SlurmJob,
    parse_sacct,
    parse_scontrol,
    parse_squeue,
)
from ._resource import AtlasResource
from .scope import Scope

__all__ = ["FOLLOW_RECONNECTS", "SlurmJobsResource"]

FOLLOW_RECONNECTS = 3
"""How many times in a row ``logs(follow=True)`` tries to restore a lost connection
(0.5, 1, then 2 s apart) before it raises :class:`SshSessionLostError`."""

FOLLOW_STABLE_SECONDS = 60.0
"""A followed session that lasted this long before it dropped starts the count anew."""


class SlurmJobsResource(AtlasResource):
    """Submit, watch and cancel jobs on the project's Slurm clusters, and fetch their
    outputs back: ``atlas.slurm.jobs``."""

    def __init__(
        self,
        scope: Scope,
        get_cluster: Callable[[str], SlurmCluster],
        *,
        key_path: Optional[PathLike] = None,
        known_hosts: KnownHosts = None,
        connect_timeout: float = 15.0,
    ) -> None:
        super().__init__(scope)
        # atlas.slurm.clusters.get, passed in: this module does not import that one.
        self._get_cluster = get_cluster
        self._key_path = key_path
        self._known_hosts = known_hosts
        self._connect_timeout = connect_timeout
        self._targets: Dict[str, SshTarget] = {}

    def with_ssh(
        self,
        *,
        key_path: Optional[PathLike] = None,
        known_hosts: KnownHosts = None,
        connect_timeout: float = 15.0,
    ) -> SlurmJobsResource:
        """The same jobs, reached with these SSH settings.

        Args:
            key_path: Private key to log in with (default: ssh-agent, then
                ``~/.ssh/id_ed25519``, ``id_ecdsa``, ``id_rsa``).
            known_hosts: ``None`` trusts the login node's host key on first use and
                remembers it in ``~/.config/fluidstack/known_hosts``; a path uses your
                ``known_hosts`` file; ``False`` skips the check.
            connect_timeout: Seconds to connect and log in.
        """
        return SlurmJobsResource(
            self._scope,
            self._get_cluster,
            key_path=key_path,
            known_hosts=known_hosts,
            connect_timeout=connect_timeout,
        )

    # -- the login node ------------------------------------------------------------------

    def login_target(self, cluster_id: Id) -> SshTarget:
        """Where and as whom the cluster's first login node answers SSH.

        Raises:
            SshError: It has no login node with a public IP yet.
            EmulatorAddressError: Its address is a documentation address (an emulator
                started without ``--ssh``): nothing is sent.
        """
        ident = id_text(cluster_id, "cluster_id")
        if ident not in self._targets:
            cluster = self._get_cluster(ident)
            login = next((n for n in cluster.login_nodes if n.public_ip), None)
            if login is None or login.public_ip is None:
                raise SshError(
                    f"Slurm cluster {cluster.id} has no login node with a public IP yet: "
                    f"wait for it with atlas.slurm.jobs.wait_for_login({cluster.id!r})"
                )
            # Host keys are remembered per login node, as `fluidstack atlas slurm ssh` does.
            alias = f"slurm-{cluster.id}-{login.name}"
            refuse_documentation_address(login.public_ip, alias)  # no packet to RFC 5737
            self._targets[ident] = SshTarget(login.public_ip, self._scope.ssh_port, "ubuntu", alias)
        return self._targets[ident]

    def wait_for_login(
        self, cluster_id: Id, timeout: Optional[float] = 900.0, *, poll_interval: float = 2.0
    ) -> SshTarget:
        """Wait until the cluster's first login node has a public IP and its SSH server
        answers (a new cluster's login node boots first); return where it answers.

        Raises:
            WaitTimeoutError: ``timeout`` seconds passed first (``None``: never).
            EmulatorAddressError: Its address is a documentation address.
        """
        ident = id_text(cluster_id, "cluster_id")
        started = _now()
        while True:
            self._targets.pop(ident, None)  # look again: the address may be new
            target: Optional[SshTarget] = None
            try:
                target = self.login_target(ident)
            except EmulatorAddressError:
                raise  # never reachable: waiting would not help
            except SshError:
                pass  # no login node with an address yet
            if target is not None and ssh_banner(target.host, target.port, 5.0):
                return target
            if timeout is not None and _now() - started + poll_interval > timeout:
                raise WaitTimeoutError(
                    f"the login node of Slurm cluster {ident} did not answer SSH within "
                    f"{timeout:g}s" + ("" if target is None else f" (at {target})")
                )
            sleep(poll_interval)

    def _run(
        self,
        cluster_id: Id,
        command: str,
        *,
        stdin: Union[bytes, str, None] = None,
        stdout: Optional[Callable[[bytes], object]] = None,
        check: bool = True,
    ) -> ExecResult:
        target = self.login_target(cluster_id)
        result = run_ssh(
            lambda: ssh_exec(
                target,
                command,
                key_path=self._key_path,
                known_hosts=self._known_hosts,
                connect_timeout=self._connect_timeout,
                stdin=stdin,
                stdout=stdout,
            )
        )
        if check and not result.ok:
            said = (result.stderr.strip() or result.stdout.strip())[-800:]
            raise SlurmCommandError(
                f"on the login node of Slurm cluster {cluster_id}: `{command}` exited with "
                f"status {result.exit_status}: {said}"
            )
        return result

    # -- jobs ------------------------------------------------------------------------------

    def submit(
        self,
        cluster_id: Id,
        script: Script = None,
        *,
        command: Command = None,
        workdir: PathLike = ".",
        sync: bool = True,
        name: Optional[str] = None,
        nodes: Optional[int] = None,
        gpus_per_node: Optional[int] = None,
        time: Union[str, int, dt.timedelta, None] = None,
        partition: Optional[str] = None,
        env: Optional[Mapping[str, str]] = None,
    ) -> SlurmJob:
        """Submit a batch job with ``sbatch`` and return it (usually ``PENDING``).

        Args:
            cluster_id: The Slurm cluster.
            script: A batch script: a file (relative to ``workdir`` or the current
                directory) or its text (text with a line break, or starting ``#!``).
                Its ``#SBATCH`` lines apply; the arguments below override them.
            command: Instead of a script, a command line (a string, or a list of
                arguments quoted for you) run by ``bash`` as the job.
            workdir: The local working directory. With ``sync`` (default), its files,
                minus what ``.gitignore`` ignores (``.git`` never), are copied to
                ``~/fluidstack/<its name>`` on the login node, where the job runs;
                its output goes to ``slurm-<id>.out`` there.
            sync: ``False`` copies nothing: the job runs in the login user's home.
            name: The job's name (default: the script's own ``#SBATCH --job-name``,
                else its file name, or the command's first word).
            nodes: ``--nodes``.
            gpus_per_node: ``--gpus-per-node``.
            time: ``--time``: Slurm's text (``"1:00:00"``), minutes, or a timedelta.
            partition: ``--partition`` (default: the cluster's default partition).
            env: Environment variables for the job, over the login shell's.

        Raises:
            SlurmCommandError: ``sbatch`` refused the job (its message says why).
            SshError: The login node could not be reached or refused the login.
        """
        local = local_path(workdir, resolve=True)
        built = job_script(script, command, local)
        remote_dir: Optional[str] = None
        if sync:
            if not local.is_dir():
                raise FileNotFoundError(f"no such directory: {local}")
            remote_dir = f"~/{REMOTE_ROOT}/{local.name or 'root'}"
            self.sync(cluster_id, local, remote_dir)
        line = submit_command(
            remote_dir=remote_dir,
            name=built.job_name(name),
            nodes=nodes,
            gpus_per_node=gpus_per_node,
            time=time_limit(time),
            partition=partition,
            env=env,
        )
        done = self._run(cluster_id, line, stdin=built.text)
        jobs = parse_scontrol(done.stdout, str(cluster_id))
        if not jobs:
            raise SlurmCommandError(f"sbatch printed no job: {done.stdout.strip()[-500:]!r}")
        return jobs[0]

    def sync(self, cluster_id: Id, local: PathLike, remote_dir: str) -> int:
        """Copy the directory ``local`` (minus what ``.gitignore`` ignores; ``.git``
        never) into ``remote_dir`` on the login node (``~/`` is its home) in one gzipped
        tar; return how many files went. Files already there are overwritten, others
        left; each is replaced at once (renamed into place), so another sync or a job in
        that directory never finds one missing. The archive is unpacked in a hidden
        ``.fluidstack-sync.*`` folder inside ``remote_dir``, removed when the sync ends,
        fails or is cut off; one a killed sync left is removed by a later sync once
        nothing has changed in it for an hour."""
        from ...core.workdir import pack_directory

        archive, count = pack_directory(local_path(local))
        self._run(cluster_id, sync_command(remote_dir), stdin=archive)
        return count

    def get(self, cluster_id: Id, job_id: str) -> SlurmJob:
        """The job as Slurm knows it (``scontrol show job``, else ``sacct``).

        Raises:
            NotFoundError: Slurm knows no such job (any more).
        """
        done = self._run(cluster_id, get_command(str(job_id)))
        return _only_job(done.stdout, cluster_id, job_id)

    def list(self, cluster_id: Id, mine: bool = True) -> List[SlurmJob]:
        """The jobs slurmctld knows: pending, running, and finished ones it still
        keeps (``squeue --states=all``); only the login user's when ``mine``."""
        done = self._run(cluster_id, list_command(mine))
        return parse_squeue(done.stdout, str(cluster_id))

    def wait(
        self,
        cluster_id: Id,
        job_id: str,
        timeout: Optional[float] = None,
        *,
        poll_interval: float = 1.0,
        max_poll_interval: float = 10.0,
    ) -> SlurmJob:
        """Wait until the job has ended (``COMPLETED``, ``FAILED``, ``CANCELLED``,
        ``TIMEOUT``, ...) and return it; a failed job is returned, not raised.

        Raises:
            WaitTimeoutError: ``timeout`` seconds passed first (``None``: never);
                ``.instance`` is the job as last seen.
        """
        started = _now()
        pause = poll_interval
        while True:
            job = self.get(cluster_id, job_id)
            if job.finished:
                return job
            if timeout is not None and _now() - started + pause > timeout:
                raise WaitTimeoutError(
                    f"Slurm job {job_id} on cluster {cluster_id} did not end within "
                    f"{timeout:g}s (it is {job.state})",
                    instance=job,
                )
            sleep(pause)
            pause = min(pause * 1.5, max_poll_interval)

    def logs(
        self,
        cluster_id: Id,
        job_id: str,
        follow: bool = False,
        *,
        poll_interval: float = 1.0,
    ) -> Iterator[str]:
        """The lines of the job's output file (without their line ends), as far as it
        is written; with ``follow``, lines as they come until the job has ended.

        The file is the job's ``StdOut`` (``slurm-<id>.out`` in its working directory
        unless the script said otherwise); a job not started yet has none.

        ``follow`` keeps one SSH connection open to the login node for the whole
        follow: one command there streams the file as it grows (GNU ``tail``) and ends
        once the job has ended (its state read every ``poll_interval`` seconds, on the
        login node). Should the connection drop, a new one goes on from the last byte
        received: no line lost, none twice; after 3 failed attempts in a row
        (``FOLLOW_RECONNECTS``), :class:`SshSessionLostError` is raised. Stopping early
        (``break``, closing the iterator, cancelling, Ctrl-C) closes the connection;
        from async code, close the iterator (``contextlib.aclosing``) to have that
        happen at once rather than when it is garbage-collected.

        Raises:
            SshSessionLostError: With ``follow``, the connection could not be restored.
            SlurmCommandError: With ``follow``, the login node could not follow the file
                (its ``tail`` is not GNU coreutils').
        """
        if not follow:
            job = self.get(cluster_id, job_id)
            chunks: List[bytes] = []  # bytes as sent: the offset counts the file's bytes
            command = log_chunk_command(job.id, _log_path(job), 0)
            self._run(cluster_id, command, stdout=chunks.append)
            _, data = split_log_chunk(b"".join(chunks))
            lines = data.split(b"\n")
            for line in lines[:-1]:
                yield line.decode("utf-8", "replace")
            if lines[-1]:
                yield lines[-1].decode("utf-8", "replace")
            return
        look_up = get_command(str(job_id))  # a job id that is none: ValueError, unsent
        target = self.login_target(cluster_id)
        what = f"following the log of Slurm job {job_id} on cluster {cluster_id}"
        offset, pending, failures = 0, b"", 0
        # One connection for the whole follow (the job's look-up included), closed
        # however this generator ends.
        with SshSession(
            target,
            key_path=self._key_path,
            known_hosts=self._known_hosts,
            connect_timeout=self._connect_timeout,
        ) as session:
            found = session.run(look_up, what=what)
            job = _only_job(found.stdout, cluster_id, job_id)
            while True:
                command = follow_command(job.id, _log_path(job), offset, poll_interval)
                started = _now()
                try:
                    for data in session.stream(command, what=what):
                        failures = 0  # progress: not a connection that keeps failing
                        offset += len(data)
                        lines = (pending + data).split(b"\n")
                        pending = lines.pop()
                        for line in lines:
                            yield line.decode("utf-8", "replace")
                    break
                except SshSessionLostError as exc:
                    # A session that lasted a while was no failed attempt: a long follow
                    # survives a blip an hour, however quiet the job.
                    stable = _now() - started > FOLLOW_STABLE_SECONDS
                    failures = _restore(
                        session, 1 if stable else failures + 1, exc, f"{what}: {offset} bytes "
                        "of the log had arrived"
                    )  # fmt: skip
                except SshError as exc:
                    raise SlurmCommandError(str(exc)) from exc  # e.g. no GNU tail there
        if pending:
            yield pending.decode("utf-8", "replace")

    def cancel(self, cluster_id: Id, job_id: str) -> None:
        """Cancel the job (``scancel``): a pending one never starts, a running one is
        signalled and ends ``CANCELLED``. Cancelling a finished job does nothing."""
        self._run(cluster_id, cancel_command(str(job_id)))

    def download(
        self,
        cluster_id: Id,
        job_id: str,
        paths: Union[str, Sequence[str], None] = None,
        local: PathLike = ".",
    ) -> List[str]:
        """Copy the job's outputs into the local directory ``local``; return the
        relative paths copied.

        Args:
            paths: Files or folders (globs allowed) relative to the job's working
                directory. Default: every file there written since the job was
                submitted (its outputs and ``slurm-<id>.out``), each to the same
                relative place under ``local``.
            local: The local directory (created if missing).

        Nothing is written outside ``local``, whatever the login node lists (see
        :func:`fluidstack.core.ssh.ssh_download`).
        """
        job = self.get(cluster_id, job_id)
        workdir = job.workdir or "~"
        root = local_path(local)
        if paths is None:
            done = self._run(cluster_id, download_list_command(workdir, job.submit_time))
            home, *found = [p for p in done.stdout.split("\0") if p]
        else:
            home = (self._run(cluster_id, HOME_FIRST)).stdout.strip("\0")
            found = [paths] if isinstance(paths, str) else list(paths)
        workdir = relative_to_home(workdir, home)
        target = self.login_target(cluster_id)
        copied: List[str] = []
        for folder, names in sorted(group_by_folder(found).items()):
            into = root / folder if folder else root
            into.mkdir(parents=True, exist_ok=True)
            remote = [n if n.startswith("/") else f"{workdir.rstrip('/')}/{n}" for n in names]
            skipped = run_ssh(
                lambda remote=remote, into=into: ssh_download(  # type: ignore[misc]
                    target,
                    remote,
                    into,
                    key_path=self._key_path,
                    known_hosts=self._known_hosts,
                    connect_timeout=self._connect_timeout,
                )
            )
            for message in skipped:
                warnings.warn(message, DownloadSkippedWarning, stacklevel=2)
            copied += names
        return copied


def _restore(session: SshSession, failures: int, lost: SshError, note: str) -> int:
    """Reconnect ``session`` after its ``failures``-th loss in a row (0.5, 1, 2 s apart),
    up to :data:`FOLLOW_RECONNECTS` attempts; return the failures counted so far."""
    while failures <= FOLLOW_RECONNECTS:
        sleep(min(0.5 * 2 ** (failures - 1), 5.0))
        try:
            session.reconnect()
            return failures
        except (HostKeyChangedError, EmulatorAddressError):
            raise  # not a blip: trying again would not help
        except SshError as exc:
            failures, lost = failures + 1, exc
    raise SshSessionLostError(
        f"{note}; the connection to the login node ({session.target}) was lost and "
        f"could not be restored in {FOLLOW_RECONNECTS} attempts. Last: {lost}",
        instance_id=session.target.instance_id,
    ) from lost


def _only_job(output: str, cluster_id: Id, job_id: str) -> SlurmJob:
    """The job of :func:`get_command`'s output, or :class:`NotFoundError`."""
    ident = str(cluster_id)
    jobs = parse_scontrol(output, ident) or parse_sacct(output, ident)
    if not jobs:
        raise NotFoundError(f"Slurm cluster {cluster_id} knows no job {job_id}")
    return jobs[0]


def _log_path(job: SlurmJob) -> str:
    """Where the job's output goes: its ``StdOut``, else Slurm's default."""
    return job.stdout or f"{job.workdir or '~'}/slurm-{job.id}.out"


def _now() -> float:
    return _time.monotonic()
