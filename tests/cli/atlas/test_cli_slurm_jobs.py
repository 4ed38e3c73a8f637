"""``fluidstack atlas slurm run|submit|jobs|logs|cancel`` end to end: a real Slurm behind
an emulated cluster's login node (``--ssh --slurm``), one emulator for the module.
Skipped only where Slurm is not installed (CI installs it)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Dict, Iterator

import pytest
from cli_support import Fs

from slurm_support import SlurmSite, needs_slurm, slurm_site, write_project

pytestmark = needs_slurm
SLURM = ("atlas", "slurm")


@pytest.fixture(scope="module")
def site() -> Iterator[SlurmSite]:
    yield from slurm_site()


@pytest.fixture
def env(site: SlurmSite, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Dict[str, str]:
    for name in [n for n in os.environ if n.startswith("FLUIDSTACK_")] + ["SSH_AUTH_SOCK"]:
        monkeypatch.delenv(name, raising=False)
    made = site.cli_env(tmp_path / "home")
    for name, value in made.items():
        monkeypatch.setenv(name, value)
    return made


@pytest.fixture
def fs(env: Dict[str, str]) -> Fs:
    return Fs()


def test_run_prints_42_and_exits_0_with_its_outputs_back(
    site: SlurmSite, fs: Fs, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    here = tmp_path / "work"
    here.mkdir()
    monkeypatch.chdir(here)
    key = str(site.key)
    result = fs(*SLURM, "run", "hpc", "-i", key, "--", "python3", "-c", "print(6*7)")
    assert result.stdout == "42\n"
    job = result.stderr.split("Submitted Slurm job ", 1)[1].split()[0]
    assert (here / f"slurm-{job}.out").read_text() == "42\n"

    # A script that writes outputs, then fails: its exit code, and the outputs anyway.
    write_project(here)
    result = fs(*SLURM, "run", "hpc", "-i", key, "--", "bash train.sh && exit 5", expect=5)
    assert result.stdout.splitlines()[-1] == "done"
    assert "FAILED (exit code 5)" in result.stderr
    assert (here / "results" / "accuracy.txt").read_text() == "0.93\n"


def test_submit_follow_jobs_logs_and_cancel(site: SlurmSite, fs: Fs, tmp_path: Path) -> None:
    root = write_project(tmp_path / "proj")
    key = str(site.key)
    followed = fs(*SLURM, "submit", "hpc", "train.sh", "--sync", str(root), "-i", key, "--follow")
    assert followed.stdout.splitlines()[1:] == ["the input", "done"]
    assert "ended COMPLETED (exit code 0)" in followed.stderr

    job: Dict[str, Any] = fs.json(*SLURM, "submit", "hpc", str(root / "train.sh"), "--no-sync",
                                  "--name", "sleepy", "-i", key)  # fmt: skip
    assert job["name"] == "sleepy"
    listed = fs.json(*SLURM, "jobs", "hpc", "-i", key)
    assert job["id"] in [j["id"] for j in listed]
    table = fs(*SLURM, "jobs", "hpc", "-i", key).stdout
    assert "sleepy" in table
    assert "STATE" in table
    fs(*SLURM, "cancel", "hpc", job["id"], "-i", key)
    missing = fs(*SLURM, "logs", "hpc", "99999", "-i", key, expect=1)
    assert "knows no job 99999" in missing.stderr
    missing = fs(*SLURM, "logs", "hpc", "99999", "-f", "-i", key, expect=1)
    assert "knows no job 99999" in missing.stderr
    bad = fs(*SLURM, "logs", "hpc", "1;reboot", "-f", "-i", key, expect=2)
    assert "not a Slurm job id" in bad.stderr
    bad = fs(*SLURM, "cancel", "hpc", "1;reboot", "-i", key, expect=2)
    assert "not a Slurm job id" in bad.stderr
    missing_script = fs(*SLURM, "submit", "hpc", "nope.sh", "--no-sync", "-i", key, expect=2)
    assert "no such script: nope.sh" in missing_script.stderr
    bad_env = fs(*SLURM, "run", "hpc", "--env", "A B=1", "-i", key, "--", "true", expect=2)
    assert "not an environment variable name" in bad_env.stderr
    refused = fs(*SLURM, "run", "hpc", "--nodes", "9", "--no-sync", "-i", key, "--", "true",
                 expect=1)  # fmt: skip
    assert "sbatch" in refused.stderr  # Slurm's own refusal: one node here
    first = followed.stderr.split("Submitted Slurm job ", 1)[1].split()[0]
    assert fs(*SLURM, "logs", "hpc", first, "-i", key).stdout.splitlines()[1:] == [
        "the input", "done"]  # fmt: skip
    # -f of a job that has ended: the whole log, then the end (no waiting)
    assert fs(*SLURM, "logs", "hpc", first, "-f", "-i", key).stdout.splitlines()[1:] == [
        "the input", "done"]  # fmt: skip


def test_ctrl_c_during_run_off_a_terminal_cancels_the_job(
    site: SlurmSite, env: Dict[str, str], tmp_path: Path
) -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", "fluidstack", *SLURM, "run", "hpc", "-i", str(site.key),
         "--no-sync", "--", "echo begun; sleep 300"],
        env={**os.environ, **env}, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=True, cwd=tmp_path,
    )  # fmt: skip
    assert process.stdout is not None
    assert process.stdout.readline() == "begun\n"  # the job runs and is followed
    started = time.monotonic()
    process.send_signal(signal.SIGINT)
    _, err = process.communicate(timeout=60)
    assert process.returncode == 130, err
    assert "Cancelled Slurm job" in err
    job = err.split("Submitted Slurm job ", 1)[1].split()[0]
    from fluidstack.atlas import Atlas

    with Atlas(**site.atlas_kwargs()) as atlas:
        jobs = atlas.slurm.jobs.with_ssh(key_path=site.key)
        assert str(jobs.wait(site.cluster_id, job, timeout=10).state) == "CANCELLED"
    assert time.monotonic() - started < 30


SKYPILOT_PYTHON = os.environ.get("FLUIDSTACK_TEST_SKYPILOT_PYTHON")
"""A Python with SkyPilot installed (``pip install skypilot`` in a venv of its own: it is
large, and no dependency of ours)."""

SKYPILOT_CHECK = """
from sky.adaptors import slurm
from sky.provision.slurm import utils
names = utils.get_all_slurm_cluster_names()
print(names)
found = utils.get_slurm_ssh_config().lookup(names[0])
client = slurm.SlurmClient(found["hostname"], int(found.get("port", 22)), found["user"],
                           utils.get_identity_file(found),
                           identities_only=utils.get_identities_only(found))
print(client.info())
"""


@pytest.mark.skipif(not SKYPILOT_PYTHON, reason="set FLUIDSTACK_TEST_SKYPILOT_PYTHON")
def test_skypilot_reads_the_entry_and_runs_sinfo_on_the_login_node(
    site: SlurmSite, fs: Fs, env: Dict[str, str]
) -> None:
    fs(*SLURM, "ssh-config", "hpc", "--skypilot", "--yes", "-i", str(site.key))
    done = subprocess.run([str(SKYPILOT_PYTHON), "-c", SKYPILOT_CHECK],
                          env={**os.environ, **env}, capture_output=True, text=True,
                          timeout=120, check=False)  # fmt: skip
    assert done.returncode == 0, done.stderr
    names, *sinfo = done.stdout.splitlines()
    assert names == "['fs-slurm-hpc']"
    assert sinfo[0].split()[:2] == ["PARTITION", "AVAIL"]
    assert sinfo[1].split()[0] == "main*"  # the rehearsal's one partition, the default


def test_ctrl_c_on_a_terminal_asks_and_no_leaves_the_job_running(
    site: SlurmSite, fs: Fs, monkeypatch: pytest.MonkeyPatch
) -> None:
    from fluidstack.atlas._sync.slurm_jobs import SlurmJobsResource

    def interrupted(*args: Any, **kwargs: Any) -> Any:
        raise KeyboardInterrupt  # as Ctrl-C while the log is followed

    monkeypatch.setattr(SlurmJobsResource, "logs", interrupted)
    monkeypatch.setattr("fluidstack.cli.atlas.slurm_jobs.stdin_is_terminal", lambda: True)
    result = fs(*SLURM, "run", "hpc", "-i", str(site.key), "--no-sync", "--", "sleep 300",
                input="n\n", expect=130)  # fmt: skip
    assert "Cancel Slurm job" in result.stderr
    assert "goes on" in result.stderr
    job = result.stderr.split("Submitted Slurm job ", 1)[1].split()[0]
    from fluidstack.atlas import Atlas

    with Atlas(**site.atlas_kwargs()) as atlas:  # type: ignore[arg-type]
        jobs = atlas.slurm.jobs.with_ssh(key_path=site.key)
        assert not jobs.get(site.cluster_id, job).finished  # still pending or running
        jobs.cancel(site.cluster_id, job)
        assert str(jobs.wait(site.cluster_id, job, timeout=10).state) == "CANCELLED"
