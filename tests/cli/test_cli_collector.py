"""The program's start-up runs with the garbage collector's first threshold raised, and
gets the usual thresholds back at the first collection or at a deadline (issue 24)."""

from __future__ import annotations

import gc
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
