"""The benchmarks still run: ``bench/run.py --quick --no-vendor`` prints every row.

Benchmarks are not pass/fail: this only keeps ``bench/`` from rotting. The numbers of a
quick run mean nothing and are not checked.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

ROWS = (
    "`import fluidstack`",
    "`from fluidstack import FluidStack; FluidStack(api_key=...)`",
    "`instances.list()` of 50 instances",
    "`instances.get(id)`, sequential",
    "`instances.get` with 10 in flight, async (throughput)",
    "`instances.get` with 10 in flight, async on `AioHttpClient`",
    "parse a 300-instance listing",
    "hold a parsed 300-instance listing (RSS",
    "client CPU per call (instructions, callgrind)",
    "`fluidstack --help`",
    "`fluidstack instances list`",
    "emulator: `GET /instances/{id}`",
    "Atlas `instances.list()` of 50 instances",
    "Atlas: requests per `instances.list()` once the token is cached",
    "emulator: Atlas `GET /regions/<r>/api/v1alpha1/instances`",
    "emulator: `POST /instances` p50 at 2,000 existing instances",
    "(the last page) at 2,040 instances",
    "emulator: every page of `GET /instances`, per instance, at 2,040 instances",
    "emulator: RSS at 2,100 instances",
    "emulator: a small `GET /instances`",
    "emulator: `POST /instances` (a create, 202)",
)


@pytest.mark.slow
def test_quick_bench_prints_every_row_of_the_table(tmp_path: Path) -> None:
    dump = tmp_path / "bench.json"
    done = subprocess.run(
        [
            sys.executable,
            str(ROOT / "bench" / "run.py"),
            "--quick",
            "--no-vendor",
            "--json",
            str(dump),
        ],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    table = [line for line in done.stdout.splitlines() if line.startswith("| ")]
    assert table[0].startswith("| figure | ours | floor (same run) | vendor 0.0.8 (same run)")
    for row in ROWS:
        assert any(row in line for line in table[1:]), f"no row {row!r} in:\n{done.stdout}"
    assert len(table) == 1 + len(ROWS)
    assert "n/a (--no-vendor)" in done.stdout
    assert dump.exists()
