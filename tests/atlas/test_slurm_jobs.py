"""``atlas.slurm.jobs`` (sync and async) end to end: a real Slurm (slurm-wlm's slurmctld
and slurmd) behind the login node of an emulated Slurm cluster (``fluidstack-emulator
--ssh --slurm``), one emulator for the module. Skipped only where Slurm is not installed
(CI installs it)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Iterator, List

import anyio
import pytest

from fluidstack.atlas import AsyncAtlas, Atlas, SlurmCluster, SlurmJobState
from fluidstack.core.addresses import EmulatorAddressError
from fluidstack.core.errors import NotFoundError, WaitTimeoutError
from fluidstack.core.ssh import SshError
from fluidstack.testing.handle import EmulatorHandle
from slurm_support import SlurmSite, needs_slurm, slurm_site, write_project

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
    emulator: EmulatorHandle,
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
        started = time.monotonic()
        with pytest.raises(EmulatorAddressError, match=r"documentation address 203\.0\.113\.7"):
            jobs.submit("c1", command="true", sync=False)
        with pytest.raises(EmulatorAddressError):
            jobs.wait_for_login("c1", timeout=60)  # never reachable: no waiting
        assert time.monotonic() - started < 5
        no_login = SlurmJobsResource(atlas._scope, lambda ident: SlurmCluster(id=ident, name="x"))
        with pytest.raises(SshError, match="no login node with a public IP yet"):
            no_login.list("c1")
        with pytest.raises(WaitTimeoutError, match=r"did not answer SSH within 0\.3s"):
            no_login.wait_for_login("c1", timeout=0.3, poll_interval=0.1)
