"""Atlas capacity in use, as a running total, so that a create or a capacity read does
not walk every instance of every organization (issue 24: 77.5 % of a create at 10,000
instances was that walk).

An instance holds one unit of its region's capacity for its type while its plan is
``reserved`` and its state is one of :data:`~fluidstack.emulator.atlas.records.CONSUMING`
(``creating`` → ``starting`` → ``running`` → ``stopping``). Its state moves with the
simulated clock, so the total is kept by the shared
:class:`~fluidstack.emulator.ledger.TimedTotals`: the moments an instance starts or
stops holding wait in a heap and are applied when the clock passes them, and every
operation that re-plans an instance tells the ledger
(:meth:`~fluidstack.emulator.atlas.base.AtlasBase._replanned`).
"""

from __future__ import annotations

from typing import Tuple

from fluidstack.emulator.atlas.records import CONSUMING, Instance
from fluidstack.emulator.ledger import TimedTotals, Track

__all__ = ["AtlasLedger"]


class AtlasLedger(TimedTotals[Instance, Track]):
    """Instances holding capacity per ``(region, instance type)``."""

    def _new_track(self, instance: Instance) -> Track:
        return Track((instance.region, instance.type), 1)

    def _holds(self, instance: Instance, state: str) -> bool:
        return instance.reserved and state in CONSUMING

    def in_use(self, region: str, type_name: str, now: float) -> int:
        """Instances of ``type_name`` holding capacity in ``region`` at ``now``."""
        return self.total(_key(region, type_name), now)


def _key(region: str, type_name: str) -> Tuple[str, str]:
    return (region, type_name)
