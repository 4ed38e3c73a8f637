"""The quickstarts the README sends new users to run, as `scripts/quickstart.sh` runs them."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
@pytest.mark.parametrize(
    ("example", "expected"),
    [
        ("quickstart.py", ["cheapest single GPU:", "is terminated", "balance: $"]),
        (
            "atlas_quickstart.py",
            [
                "regions: eu-north-1, us-east-1",
                "h100-hgx-80gb.8x: 8x H100-HGX-80GB, 208 CPUs",  # GPU model and count per type
                "cpu.2x: no GPU",
                "is running at 203.0.113.",
                "deleted",
            ],
        ),
    ],
)
def test_quickstart_runs_on_the_bundled_emulator(example: str, expected: list) -> None:
    done = subprocess.run(
        [sys.executable, str(ROOT / "examples" / example)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    for text in expected:
        assert text in done.stdout, done.stdout
    if example == "quickstart.py":  # "the run cost $0.00" read as if nothing was billed
        assert re.search(r"the run cost \$\d+\.\d{4}\)", done.stdout), done.stdout
