"""``atlas.slurm.jobs`` (sync and async) end to end: a real Slurm (slurm-wlm's slurmctld
and slurmd) behind the login node of an emulated Slurm cluster (``fluidstack-emulator
--ssh --slurm``), one emulator for the module. Skipped only where Slurm is not installed
(CI installs it)."""

from __future__ import annotations

import contextlib
import time
from pathlib import Path
from typing import Any, Dict, Iterator, List

import anyio
import pytest

from fluidstack.atlas import AsyncAtlas, Atlas, SlurmCluster, SlurmJob, SlurmJobState
from fluidstack.core.addresses import EmulatorAddressError
from fluidstack.core.errors import NotFoundError, WaitTimeoutError
from fluidstack.core.ssh import SshError, SshSessionLostError
from fluidstack.testing.handle import EmulatorHandle
from slurm_support import (
    CountingProxy,
    SlurmSite,
    needs_slurm,
    processes_mentioning,
    slurm_site,
    write_project,
)
from support import refuse_connections_beyond_loopback

pytestmark = needs_slurm


@pytest.fixture(scope="module")
def site() -> Iterator[SlurmSite]:
    yield from slurm_site()


@pytest.fixture
def atlas(site: SlurmSite) -> Iterator[Atlas]:
    with Atlas(**site.atlas_kwargs()) as client:
        yield client


def test_a_script_from_a_working_directory_runs_and_its_outputs_come_back(
    site: SlurmSite, atlas: Atlas, tmp_path: Path
) -> None:
    root = write_project(tmp_path / "proj")
    jobs = atlas.slurm.jobs.with_ssh(key_path=site.key)
    job = jobs.submit(site.cluster_id, "train.sh", workdir=root, env={"UNUSED": "a,b c"})
    assert job.state in (SlurmJobState.PENDING, SlurmJobState.RUNNING)
    assert job.name == "train.sh"
    assert str(job.workdir).endswith("/fluidstack/proj")
    lines = list(jobs.logs(site.cluster_id, job.id, follow=True))
    assert lines == [f"start in {job.id}", "the input", "done"]
    done = jobs.wait(site.cluster_id, job.id, timeout=30)
    assert (done.state, done.exit_code, done.ok) == (SlurmJobState.COMPLETED, 0, True)
    assert list(jobs.logs(site.cluster_id, job.id)) == lines  # the whole log, at once
    assert job.id in [j.id for j in jobs.list(site.cluster_id)]
    back = tmp_path / "back"
    copied = jobs.download(site.cluster_id, job.id, local=back)
    assert sorted(copied) == ["results/accuracy.txt", f"slurm-{job.id}.out"]
    assert (back / "results" / "accuracy.txt").read_text() == "0.93\n"
    assert jobs.download(site.cluster_id, job.id, "input.txt", back) == ["input.txt"]
    assert (back / "input.txt").read_text() == "the input\n"


def test_cancel_of_a_sleeping_job_ends_it_cancelled_within_ten_seconds(
    site: SlurmSite, atlas: Atlas
) -> None:
    jobs = atlas.slurm.jobs.with_ssh(key_path=site.key)
    job = jobs.submit(site.cluster_id, command="sleep 300", sync=False, name="sleeper")
    with pytest.raises(WaitTimeoutError) as waited:
        jobs.wait(site.cluster_id, job.id, timeout=1)
    assert waited.value.instance.state in ("PENDING", "RUNNING")
    started = time.monotonic()
    jobs.cancel(site.cluster_id, job.id)
    ended = jobs.wait(site.cluster_id, job.id, timeout=10)
    assert ended.state is SlurmJobState.CANCELLED
    assert time.monotonic() - started < 10
    with pytest.raises(NotFoundError):
        jobs.get(site.cluster_id, "99999")


@pytest.mark.anyio
async def test_async_two_jobs_at_once_and_a_failing_one(site: SlurmSite, tmp_path: Path) -> None:
    root = write_project(tmp_path / "two")
    async with AsyncAtlas(**site.atlas_kwargs()) as client:
        jobs = client.slurm.jobs.with_ssh(key_path=site.key)
        submitted: List[str] = []

        async def submit(text: str) -> None:
            job = await jobs.submit(site.cluster_id, command=text, workdir=root)
            submitted.append(job.id)

        async with anyio.create_task_group() as group:
            group.start_soon(submit, "sleep 1; echo first")
            group.start_soon(submit, "sleep 1; echo second")
        assert len(set(submitted)) == 2
        for ident in submitted:
            done = await jobs.wait(site.cluster_id, ident, timeout=30)
            assert done.state is SlurmJobState.COMPLETED
        said = []
        for ident in submitted:
            said.append([line async for line in jobs.logs(site.cluster_id, ident)])
        assert sorted(said) == [["first"], ["second"]]

        failing = await jobs.submit(site.cluster_id, "#!/bin/bash\necho oops\nexit 3\n",
                                    workdir=root, name="fails")  # fmt: skip
        followed = [line async for line in jobs.logs(site.cluster_id, failing.id, follow=True)]
        assert followed == ["oops"]
        done = await jobs.wait(site.cluster_id, failing.id, timeout=30)
        assert (done.state, done.exit_code, done.ok) == (SlurmJobState.FAILED, 3, False)
        assert done.name == "fails"


def test_a_login_node_at_a_documentation_address_is_refused_at_once(
    emulator: EmulatorHandle, monkeypatch: pytest.MonkeyPatch
) -> None:
    from fluidstack.atlas._sync.slurm_jobs import SlurmJobsResource

    control = emulator.atlas
    login = {"name": "login-01", "publicIP": "203.0.113.7"}
    with Atlas(client_id=control.client_id, client_secret=control.client_secret,
               management_url=control.management_url, region=control.regions()[0],
               use_environment=False) as atlas:  # fmt: skip
        jobs = SlurmJobsResource(
            atlas._scope,
            lambda ident: SlurmCluster(id=ident, name="hpc", loginNodes=[login]),
        )
        # "At once": no connection is tried (recorded, not timed, so load cannot fail
        # it) and no waiting (a wait would last the 60 s timeout; 30 s is far from both).
        attempts: List[Any] = []
        refuse_connections_beyond_loopback(monkeypatch, attempts)
        started = time.monotonic()
        with pytest.raises(EmulatorAddressError, match=r"documentation address 203\.0\.113\.7"):
            jobs.submit("c1", command="true", sync=False)
        with pytest.raises(EmulatorAddressError):
            jobs.wait_for_login("c1", timeout=60)  # never reachable: no waiting
        assert attempts == []
        assert time.monotonic() - started < 30
        no_login = SlurmJobsResource(atlas._scope, lambda ident: SlurmCluster(id=ident, name="x"))
        with pytest.raises(SshError, match="no login node with a public IP yet"):
            no_login.list("c1")
        with pytest.raises(WaitTimeoutError, match=r"did not answer SSH within 0\.3s"):
            no_login.wait_for_login("c1", timeout=0.3, poll_interval=0.1)


# -- following a log over one SSH connection -------------------------------------------

# Prints its first line, then waits (30 s at most) for the test's go-file, so that the
# first line surely comes while the job runs, whatever the machine's load.
TICKER = (
    "echo tick 1; n=0; while [ ! -e go-$SLURM_JOB_ID ] && [ $n -lt 600 ]; do sleep 0.05; "
    "n=$((n+1)); done; for i in 2 3 4 5 6 7 8; do echo tick $i; sleep 0.05; done"
)
TICKS = [f"tick {i}" for i in range(1, 9)]


@pytest.fixture
def proxy(site: SlurmSite, atlas: Atlas) -> Iterator[CountingProxy]:
    """A relay in front of the login node's SSH server, counting connections."""
    target = atlas.slurm.jobs.login_target(site.cluster_id)
    relay = CountingProxy(target.host, target.port)
    yield relay
    relay.close()


def _via(site: SlurmSite, proxy: CountingProxy) -> Dict[str, Any]:
    return {**site.atlas_kwargs(), "ssh_port": proxy.port}


def test_follow_streams_lines_over_one_connection_and_a_drop_resumes_without_duplicates(
    site: SlurmSite, atlas: Atlas, proxy: CountingProxy
) -> None:
    jobs = atlas.slurm.jobs.with_ssh(key_path=site.key)
    job = jobs.submit(site.cluster_id, command=TICKER, sync=False, name="ticker")
    seen: List[str] = []
    with Atlas(**_via(site, proxy)) as relayed:
        follower = relayed.slurm.jobs.with_ssh(key_path=site.key)
        for line in follower.logs(site.cluster_id, job.id, follow=True, poll_interval=0.2):
            if not seen:  # the first line comes while the job still runs
                _release(jobs.get(site.cluster_id, job.id))
                assert proxy.accepted == 1
            seen.append(line)
            if len(seen) == 3:
                proxy.drop()  # a network blip: a new connection goes on from byte 24
        assert proxy.wait_closed() == 0  # the follow's connection closed as it ended
    assert seen == TICKS
    assert proxy.accepted == 2  # one connection, and one more after the drop
    done = jobs.wait(site.cluster_id, job.id, timeout=30)
    assert done.state is SlurmJobState.COMPLETED
    assert not processes_mentioning(_log_path(done))  # nothing left on the node


def test_follow_stopped_early_closes_its_connection_and_its_remote_command(
    site: SlurmSite, atlas: Atlas, proxy: CountingProxy, monkeypatch: pytest.MonkeyPatch
) -> None:
    jobs = atlas.slurm.jobs.with_ssh(key_path=site.key)
    job = jobs.submit(site.cluster_id, command="echo first; sleep 60", sync=False)
    log = _log_path(jobs.get(site.cluster_id, job.id))
    try:
        with Atlas(**_via(site, proxy)) as relayed:
            follower = relayed.slurm.jobs.with_ssh(key_path=site.key)
            lines = follower.logs(site.cluster_id, job.id, follow=True, poll_interval=0.2)
            assert next(lines) == "first"
            assert proxy.active() == 1
            lines.close()  # what `break` does
            assert proxy.wait_closed() == 0
            _gone(log)
            # A login node that no longer answers: a bounded number of attempts, then
            # a clear error (one attempt here, to stay fast).
            from fluidstack.atlas._sync import slurm_jobs

            monkeypatch.setattr(slurm_jobs, "FOLLOW_RECONNECTS", 1)
            lines = follower.logs(site.cluster_id, job.id, follow=True, poll_interval=0.2)
            assert next(lines) == "first"
            proxy.refuse = True
            proxy.drop()
            with pytest.raises(SshSessionLostError, match="could not be restored in 1 attempts"):
                next(lines)
            assert proxy.wait_closed() == 0
    finally:
        jobs.cancel(site.cluster_id, job.id)
    _gone(log)


def _release(ticker: SlurmJob) -> None:
    """Check the ticker job still runs (it waits for this), then let it go on."""
    assert not ticker.finished, ticker
    assert ticker.workdir, ticker
    (Path(ticker.workdir) / f"go-{ticker.id}").touch()


def _log_path(job: SlurmJob) -> str:
    """The job's output file as the login node names it: its full path, which no other
    test's job shares (job ids alone repeat across the parallel test processes' Slurms)."""
    assert job.stdout, job
    return job.stdout


def _gone(text: str, within: float = 5.0) -> None:
    """Wait until no process on the login node mentions ``text``."""
    until = time.monotonic() + within
    while processes_mentioning(text) and time.monotonic() < until:
        time.sleep(0.1)
    assert not processes_mentioning(text)


@pytest.mark.anyio
async def test_async_follow_streams_over_one_connection_and_cancelling_closes_it(
    site: SlurmSite, proxy: CountingProxy
) -> None:
    direct, relayed = AsyncAtlas(**site.atlas_kwargs()), AsyncAtlas(**_via(site, proxy))
    async with direct, relayed:
        jobs = direct.slurm.jobs.with_ssh(key_path=site.key)
        follower = relayed.slurm.jobs.with_ssh(key_path=site.key)
        job = await jobs.submit(site.cluster_id, command=TICKER, sync=False, name="ticker")
        seen: List[str] = []
        async for line in follower.logs(site.cluster_id, job.id, True, poll_interval=0.2):
            if not seen:
                _release(await jobs.get(site.cluster_id, job.id))
            seen.append(line)
            if len(seen) == 4:
                proxy.drop()
        assert seen == TICKS
        assert proxy.accepted == 2
        assert proxy.wait_closed() == 0

        slow = await jobs.submit(site.cluster_id, command="echo first; sleep 60", sync=False)
        log = _log_path(await jobs.get(site.cluster_id, slow.id))
        got: List[str] = []
        with anyio.fail_after(60):  # a guard against a hang, not a speed claim
            with anyio.CancelScope() as waiting:
                async for line in follower.logs(site.cluster_id, slow.id, True, poll_interval=0.2):
                    got.append(line)
                    waiting.cancel()  # cancelled while it waits for more output
        assert got == ["first"]
        assert proxy.accepted == 3
        assert proxy.wait_closed() == 0
        await jobs.cancel(site.cluster_id, slow.id)
    _gone(log)


@pytest.mark.parametrize("how", ["cut", "HUP"])
def test_a_sync_cut_half_way_leaves_no_private_folder_on_the_login_node(
    site: SlurmSite, atlas: Atlas, proxy: CountingProxy, tmp_path: Path, how: str
) -> None:
    """A sync caught half-way (the relay stops passing its archive on): the connection
    cut (``cut``), or the session's process group hung up on the login node (``HUP``,
    what sshd does to a session it loses a terminal for). Either way the sync fails and
    its private ``.fluidstack-sync.*`` folder is gone from the remote directory."""
    import os
    import signal
    import threading
    import uuid

    root = tmp_path / "proj"
    root.mkdir()
    for i in range(40):  # ~2.6 MB that does not compress
        (root / f"part{i:02}.bin").write_bytes(os.urandom(64 * 1024))
    jobs = atlas.slurm.jobs.with_ssh(key_path=site.key)
    home = jobs._run(site.cluster_id, 'printf "%s" "$HOME"').stdout
    name = f"sync-{how}-{uuid.uuid4().hex[:8]}"
    remote = Path(home) / "fluidstack" / name
    proxy.upload_limit = 1_000_000
    failed: List[BaseException] = []

    def sync() -> None:
        with Atlas(**_via(site, proxy)) as relayed:
            try:
                relayed.slurm.jobs.with_ssh(key_path=site.key).sync(
                    site.cluster_id, root, f"fluidstack/{name}"
                )
            except Exception as exc:  # (any: the assertion below says which)
                failed.append(exc)

    worker = threading.Thread(target=sync, daemon=True)
    worker.start()
    until = time.monotonic() + 30
    while not any(p.is_dir() and any(p.iterdir()) for p in remote.glob(".fluidstack-sync.*")):
        assert time.monotonic() < until, "the sync never unpacked its first files"
        assert worker.is_alive(), failed
        time.sleep(0.05)
    if how == "cut":
        proxy.drop()
    else:
        shells = [line for line in processes_mentioning(name) if " -c " in line]
        assert shells, processes_mentioning(name)
        for line in shells:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(os.getpgid(int(line.split()[0])), signal.SIGHUP)
    worker.join(timeout=30)
    assert not worker.is_alive()
    assert len(failed) == 1, failed
    if how == "HUP":
        assert "status 129" in str(failed[0]), failed
    # The remote shell ends on its own (tar sees its input end, or the hang-up); on a
    # loaded machine that can take a moment after the client has given up.
    _gone(name, within=30)  # nothing of the sync left running
    assert list(remote.glob(".fluidstack-sync.*")) == []
    proxy.drop()
