"""The emulator's inlined draws are ``random.Random``'s own: seeded ids, names and
addresses must not change when a create skips ``randint``'s Python frames (issue 24)."""

from __future__ import annotations

import random

from fluidstack.emulator.journaled import draw_below, draw_int


def test_draw_int_and_draw_below_make_the_same_draws_as_random() -> None:
    for seed in range(200):
        ours, theirs = random.Random(seed), random.Random(seed)
        for low, high in ((0, 255), (2, 254), (0, 0), (5, 6), (0, 2**40)):
            assert draw_int(ours, low, high) == theirs.randint(low, high)
        for items in ((1,), tuple(range(3)), tuple(range(27)), tuple(range(256))):
            assert items[draw_below(ours, len(items))] == theirs.choice(items)
        assert ours.getrandbits(64) == theirs.getrandbits(64)  # the streams stay in step
