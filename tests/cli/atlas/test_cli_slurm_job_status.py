"""The exit status ``fluidstack atlas slurm run`` and ``submit --follow`` give for each
way a Slurm job can end (no cluster needed)."""

from __future__ import annotations

from typing import Optional

import pytest

from fluidstack.atlas import SlurmJob
from fluidstack.cli.atlas.slurm_jobs import job_exit_status


@pytest.mark.parametrize(
    ("state", "code", "signal", "status"),
    [
        ("COMPLETED", 0, 0, 0),
        ("FAILED", 3, 0, 3),
        ("FAILED", 0, 9, 137),  # killed by SIGKILL
        ("TIMEOUT", 0, 0, 124),
        ("CANCELLED", 0, 0, 1),
        ("NODE_FAIL", None, None, 1),
        ("OUT_OF_MEMORY", 0, 0, 1),
    ],
)
def test_exit_status_of_a_finished_job(
    state: str, code: Optional[int], signal: Optional[int], status: int
) -> None:
    job = SlurmJob(cluster_id="c", id="1", state=state, exit_code=code, signal=signal)
    assert job_exit_status(job) == status
