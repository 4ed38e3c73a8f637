"""Slurm jobs as ``atlas.slurm.jobs`` reports them, and the parsers of the Slurm commands'
machine-readable output they are read from.

The SDK drives Slurm's own commands on a cluster's login node (``sbatch --parsable``,
``scontrol show job -o``, ``squeue -o``, ``sacct --parsable2``) rather than an API of
FluidStack's: what they print is what :class:`SlurmJob` holds, states spelled as Slurm
spells them. Importable from :mod:`fluidstack.atlas`.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Dict, List, Optional, Tuple

from ..core.errors import ApiError
from ..core.models import FluidStackModel, OpenEnum

__all__ = [
    "SACCT_FIELDS",
    "SQUEUE_FORMAT",
    "SlurmCommandError",
    "SlurmJob",
    "SlurmJobState",
    "parse_exit_code",
    "parse_sacct",
    "parse_sbatch",
    "parse_scontrol",
    "parse_squeue",
]


class SlurmCommandError(ApiError):
    """A Slurm command on a login node failed (``sbatch`` refused the job, ...): the
    message holds what it printed."""


class SlurmJobState(OpenEnum):
    """A Slurm job's state, as ``squeue``/``sacct`` print it (``man squeue``, JOB STATE
    CODES). A state this SDK does not list is kept as an ad-hoc member."""

    PENDING = "PENDING"
    CONFIGURING = "CONFIGURING"
    RUNNING = "RUNNING"
    COMPLETING = "COMPLETING"
    SUSPENDED = "SUSPENDED"
    STOPPED = "STOPPED"
    RESIZING = "RESIZING"
    SIGNALING = "SIGNALING"
    STAGE_OUT = "STAGE_OUT"
    REQUEUED = "REQUEUED"
    REQUEUE_FED = "REQUEUE_FED"
    REQUEUE_HOLD = "REQUEUE_HOLD"
    RESV_DEL_HOLD = "RESV_DEL_HOLD"
    COMPLETED = "COMPLETED"
    """Ended with exit code 0."""
    FAILED = "FAILED"
    """Ended with a non-zero exit code or another failure."""
    CANCELLED = "CANCELLED"
    TIMEOUT = "TIMEOUT"
    """Ran past its time limit."""
    NODE_FAIL = "NODE_FAIL"
    PREEMPTED = "PREEMPTED"
    BOOT_FAIL = "BOOT_FAIL"
    DEADLINE = "DEADLINE"
    OUT_OF_MEMORY = "OUT_OF_MEMORY"
    REVOKED = "REVOKED"
    SPECIAL_EXIT = "SPECIAL_EXIT"


FINISHED_STATES = frozenset(
    {
        "COMPLETED",
        "FAILED",
        "CANCELLED",
        "TIMEOUT",
        "NODE_FAIL",
        "PREEMPTED",
        "BOOT_FAIL",
        "DEADLINE",
        "OUT_OF_MEMORY",
        "REVOKED",
        "SPECIAL_EXIT",
    }
)
"""States a job does not leave (a requeue makes a new run of it ``PENDING`` again)."""


class SlurmJob(FluidStackModel):
    """A Slurm job on a cluster's scheduler.

    Times are the cluster's local time as Slurm prints it (no time zone), ``None``
    when Slurm has none yet (``Unknown``). ``exit_code`` and ``signal`` are Slurm's
    ``ExitCode`` (``2:0`` is exit code 2, no signal), ``None`` while the job runs.
    """

    cluster_id: str
    id: str
    """The job id ``sbatch`` printed (an array task: ``123_4``)."""
    name: Optional[str] = None
    state: SlurmJobState
    exit_code: Optional[int] = None
    signal: Optional[int] = None
    reason: Optional[str] = None
    """Why it is pending, or how it ended (``None`` when Slurm says ``None``)."""
    user: Optional[str] = None
    partition: Optional[str] = None
    nodes: Optional[int] = None
    """How many nodes it asked for (or got)."""
    node_list: Optional[str] = None
    """The nodes it runs or ran on, in Slurm's compact form (``gpu-[01-04]``)."""
    workdir: Optional[str] = None
    """Its working directory on the cluster."""
    stdout: Optional[str] = None
    """The file its output goes to on the cluster, when Slurm said (``scontrol``)."""
    submit_time: Optional[dt.datetime] = None
    start_time: Optional[dt.datetime] = None
    end_time: Optional[dt.datetime] = None

    @property
    def finished(self) -> bool:
        """Whether the job has ended (``COMPLETED``, ``FAILED``, ``CANCELLED``,
        ``TIMEOUT``, ...)."""
        return str(self.state) in FINISHED_STATES

    @property
    def ok(self) -> bool:
        """Whether it ended ``COMPLETED`` with exit code 0."""
        return self.state == SlurmJobState.COMPLETED and not self.exit_code


def parse_sbatch(text: str) -> str:
    """The job id in ``sbatch --parsable`` output: ``id`` or ``id;cluster``, after any
    warnings Slurm prints first."""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    for line in reversed(lines):
        ident = line.split(";", 1)[0]
        if re.fullmatch(r"\d+(_\d+)?", ident):
            return ident
    raise ValueError(f"sbatch printed no job id: {text.strip()[-300:]!r}")


def parse_exit_code(text: Optional[str]) -> Tuple[Optional[int], Optional[int]]:
    """Slurm's ``ExitCode`` ``code:signal`` as two numbers (``None`` if unreadable)."""
    if not text:
        return None, None
    code, _, signal = text.strip().partition(":")
    try:
        return int(code), int(signal) if signal else 0
    except ValueError:
        return None, None


def _time(text: Optional[str]) -> Optional[dt.datetime]:
    if not text or text in ("Unknown", "None", "N/A", "0"):
        return None
    try:
        return dt.datetime.fromisoformat(text)
    except ValueError:
        return None


def _text(text: Optional[str]) -> Optional[str]:
    if text is None:
        return None
    text = text.strip()
    return None if text in ("", "(null)", "None", "N/A", "Unknown") else text


def _number(text: Optional[str]) -> Optional[int]:
    try:
        return int(text) if text else None
    except ValueError:
        return None


def _state(text: str) -> SlurmJobState:
    # sacct says "CANCELLED by 1000"; squeue may add a "+" to a state it shortens.
    word = text.strip().split(" ", 1)[0].rstrip("+")
    return SlurmJobState.canonical(word or "UNKNOWN")


# -- squeue -----------------------------------------------------------------------------

SQUEUE_FIELDS = ("%i", "%T", "%u", "%P", "%D", "%R", "%Z", "%V", "%S", "%j")
SQUEUE_FORMAT = "|".join(SQUEUE_FIELDS)
"""``squeue -h -o`` format: id, state, user, partition, nodes, node list or reason,
workdir, submit and start time, then the name, last so that a ``|`` in it is kept."""


def parse_squeue(text: str, cluster_id: str) -> List[SlurmJob]:
    """Jobs from ``squeue -h -o SQUEUE_FORMAT`` output, one per line."""
    jobs = []
    for line in text.splitlines():
        parts = line.split("|", len(SQUEUE_FIELDS) - 1)
        if len(parts) < len(SQUEUE_FIELDS):
            continue
        ident, state, user, partition, nodes, where, workdir, submit, start, name = parts
        running = state.strip() not in ("PENDING",)
        # %R is the node list of a started job and "(Reason)" of a pending one.
        reason = where.strip()[1:-1] if where.strip().startswith("(") else None
        jobs.append(
            SlurmJob(
                cluster_id=cluster_id,
                id=ident.strip(),
                name=_text(name),
                state=_state(state),
                user=_text(user),
                partition=_text(partition),
                nodes=_number(nodes.strip()),
                node_list=_text(where) if running and reason is None else None,
                reason=_text(reason),
                workdir=_text(workdir),
                submit_time=_time(submit.strip()),
                start_time=_time(start.strip()) if running else None,
            )
        )
    return jobs


# -- sacct ------------------------------------------------------------------------------

SACCT_FIELDS = (
    "JobID",
    "State",
    "ExitCode",
    "User",
    "Partition",
    "NNodes",
    "NodeList",
    "WorkDir",
    "Submit",
    "Start",
    "End",
    "JobName",
)
"""``sacct -X -n --parsable2 --format=`` fields; the name last, so that a ``|`` in it is
kept."""


def parse_sacct(text: str, cluster_id: str) -> List[SlurmJob]:
    """Jobs from ``sacct -X -n --parsable2 --format=SACCT_FIELDS`` output."""
    jobs = []
    for line in text.splitlines():
        parts = line.split("|", len(SACCT_FIELDS) - 1)
        if len(parts) < len(SACCT_FIELDS) or not parts[0].strip():
            continue
        row = dict(zip(SACCT_FIELDS, parts))
        code, signal = parse_exit_code(row["ExitCode"])
        state = _state(row["State"])
        finished = str(state) in FINISHED_STATES
        jobs.append(
            SlurmJob(
                cluster_id=cluster_id,
                id=row["JobID"].strip(),
                name=_text(row["JobName"]),
                state=state,
                exit_code=code if finished else None,
                signal=signal if finished else None,
                user=_text(row["User"]),
                partition=_text(row["Partition"]),
                nodes=_number(row["NNodes"].strip()),
                node_list=_text(row["NodeList"].replace("None assigned", "")),
                workdir=_text(row["WorkDir"]),
                submit_time=_time(row["Submit"].strip()),
                start_time=_time(row["Start"].strip()),
                end_time=_time(row["End"].strip()),
            )
        )
    return jobs


# -- scontrol ---------------------------------------------------------------------------

_KEY = re.compile(r"(?:^|\s)([A-Za-z][A-Za-z0-9_:/]*)=")


def _fields(line: str) -> Dict[str, str]:
    """``Key=value Key=value ...`` of ``scontrol -o`` as a dict. A value runs to the
    next `` Key=``, so values with spaces (names, paths) are kept whole."""
    found = list(_KEY.finditer(line))
    fields = {}
    for match, following in zip(found, [*found[1:], None]):
        end = following.start() if following is not None else len(line)
        fields[match.group(1)] = line[match.end() : end].strip()
    return fields


def parse_scontrol(text: str, cluster_id: str) -> List[SlurmJob]:
    """Jobs from ``scontrol show job -o`` output, one per line (``No jobs in the system``
    and ``Invalid job id`` lines give none)."""
    jobs = []
    for line in text.splitlines():
        fields = _fields(line)
        ident = fields.get("JobId")
        if not ident or "JobState" not in fields:
            continue
        if fields.get("ArrayJobId") and fields.get("ArrayTaskId"):
            ident = f"{fields['ArrayJobId']}_{fields['ArrayTaskId']}"
        state = _state(fields["JobState"])
        finished = str(state) in FINISHED_STATES
        code, signal = parse_exit_code(fields.get("ExitCode"))
        user = _text(fields.get("UserId"))
        jobs.append(
            SlurmJob(
                cluster_id=cluster_id,
                id=ident,
                name=_text(fields.get("JobName")),
                state=state,
                exit_code=code if finished else None,
                signal=signal if finished else None,
                reason=_text(fields.get("Reason")),
                user=user.split("(", 1)[0] if user else None,  # "ubuntu(1000)"
                partition=_text(fields.get("Partition")),
                nodes=_number(fields.get("NumNodes", "").split("-", 1)[0]),
                node_list=_text(fields.get("NodeList")),
                workdir=_text(fields.get("WorkDir")),
                stdout=_text(fields.get("StdOut")),
                submit_time=_time(fields.get("SubmitTime")),
                start_time=_time(fields.get("StartTime")) if state != "PENDING" else None,
                end_time=_time(fields.get("EndTime")) if finished else None,
            )
        )
    return jobs
