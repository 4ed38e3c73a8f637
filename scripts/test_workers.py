"""How many parallel test processes (pytest-xdist workers) the suite runs in: one per
CPU this process may use, at least 2 (the tests mostly wait on emulators, SSH servers and
child processes, so even one core gains from two), at most 4 (the most tried so far).
``FLUIDSTACK_TEST_WORKERS`` overrides. Used by scripts/test.sh and .ci/run."""

from __future__ import annotations

import os


def workers() -> int:
    chosen = os.environ.get("FLUIDSTACK_TEST_WORKERS", "").strip()
    if chosen:
        if not chosen.isdigit():
            raise SystemExit(f"FLUIDSTACK_TEST_WORKERS must be a whole number, not {chosen!r}")
        return int(chosen)
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return min(4, max(2, cpus or 2))


if __name__ == "__main__":
    print(workers())
