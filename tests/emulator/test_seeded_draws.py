"""The emulator's inlined draws are ``random.Random``'s own: seeded ids, names and
addresses must not change when a create skips ``randint``'s Python frames (issue 24)."""

from __future__ import annotations

import random

from fluidstack.emulator.journaled import draw_below, draw_int, seeded_random


def test_draw_int_and_draw_below_make_the_same_draws_as_random() -> None:
    for seed in range(200):
        ours, theirs = random.Random(seed), random.Random(seed)
        for low, high in ((0, 255), (2, 254), (0, 0), (5, 6), (0, 2**40)):
            assert draw_int(ours, low, high) == theirs.randint(low, high)
        for items in ((1,), tuple(range(3)), tuple(range(27)), tuple(range(256))):
            assert items[draw_below(ours, len(items))] == theirs.choice(items)
        assert ours.getrandbits(64) == theirs.getrandbits(64)  # the streams stay in step


def test_seeded_random_is_random_seeded_with_the_same_text() -> None:
    for n in range(300):
        for text in (
            f"fluidstack-emulator:{n}:{n * 7}:instance",
            f"s:{n}:caf\u00e9:\U0001f600",
            "",
        ):
            ours, theirs = seeded_random(text), random.Random(text)
            assert type(ours) is random.Random
            assert ours.getstate() == theirs.getstate()
            assert ours.getrandbits(128) == theirs.getrandbits(128)
            assert ours.gauss(0, 1) == theirs.gauss(0, 1)  # gauss_next reset, as seed() does
