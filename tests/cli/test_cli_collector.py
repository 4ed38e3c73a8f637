"""The program's start-up runs with the garbage collector's first threshold raised, and
gets the usual thresholds back at the first collection or at a deadline (issue 24)."""

from __future__ import annotations

import gc
import subprocess
import sys
from pathlib import Path
from typing import Iterator, Tuple

import pytest

from fluidstack.cli.collector import defer_collection

HIGH = 10**7


@pytest.fixture
def usual() -> Iterator[Tuple[int, ...]]:
    thresholds = gc.get_threshold()
    callbacks = list(gc.callbacks)
    yield thresholds
    gc.set_threshold(*thresholds)
    gc.callbacks[:] = callbacks


def test_the_threshold_is_raised_until_the_deferral_ends(usual: Tuple[int, ...]) -> None:
    timer = defer_collection(HIGH, seconds=600)
    assert timer is not None
    assert timer.daemon
    assert gc.get_threshold() == (HIGH, *usual[1:])
    timer.cancel()
    timer.function()  # what the deadline does
    assert gc.get_threshold() == usual
    assert all(getattr(cb, "__name__", "") != "on_collection" for cb in gc.callbacks)


def test_the_first_collection_restores_the_thresholds(usual: Tuple[int, ...]) -> None:
    timer = defer_collection(HIGH, seconds=600)
    assert timer is not None
    gc.collect()
    assert gc.get_threshold() == usual
    timer.cancel()


def test_the_deadline_restores_them_without_a_collection(usual: Tuple[int, ...]) -> None:
    timer = defer_collection(HIGH, seconds=0)
    assert timer is not None
    timer.join()  # fires at once: no sleeping in the test
    assert gc.get_threshold() == usual
    assert all(getattr(cb, "__name__", "") != "on_collection" for cb in gc.callbacks)


def test_thresholds_set_meanwhile_are_kept(usual: Tuple[int, ...]) -> None:
    timer = defer_collection(HIGH, seconds=600)
    assert timer is not None
    gc.set_threshold(1234)
    timer.cancel()
    timer.function()
    assert gc.get_threshold()[0] == 1234


def test_nothing_changes_when_the_collector_is_off(usual: Tuple[int, ...]) -> None:
    gc.disable()
    try:
        assert defer_collection(HIGH) is None
        assert gc.get_threshold() == usual
    finally:
        gc.enable()
    assert defer_collection(usual[0]) is None  # already as high


def test_the_program_exits_with_the_objects_frozen(tmp_path: Path) -> None:
    # fluidstack.cli.main() run as the program (no argv given) freezes them as it ends,
    # so that the interpreter's collections at exit skip them (issue 24, fifth round).
    code = (
        "import atexit, gc, sys\n"
        "atexit.register(lambda: print('FROZEN', gc.get_freeze_count() > 0))\n"
        "sys.argv = ['fluidstack', '--version']\n"
        "from fluidstack.cli import main\n"
        "main()\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().splitlines()[-1] == "FROZEN True"


def test_a_caller_passing_its_own_argv_keeps_its_collector(tmp_path: Path) -> None:
    code = (
        "import gc\n"
        "from fluidstack.cli import main\n"
        "try:\n"
        "    main(['--version'])\n"
        "except SystemExit:\n"
        "    pass\n"
        "print('FROZEN', gc.get_freeze_count() > 0)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().splitlines()[-1] == "FROZEN False"
