"""Running totals over the platform's instances, so that no request walks them all.

An instance's status, price and capacity use are functions of simulated time, decided by
its segments (see :mod:`fluidstack.emulator.platform.records`). Answering "how many GPUs
of this type are in use in this region", "what has this account spent" or "where does
page N start" by evaluating every instance made a create cost O(instances) (83 % of the
server's time at 2,000 instances; issue 15). The ledger keeps those answers as running
totals instead, and moves them forward only at the moments they can change: the start
of a planned segment (``provisioning`` → ``running`` at a known time, ``stopping`` →
``stopped``, ...), which it keeps in heaps, and the operations that re-plan an instance
(create, stop, start, delete), which tell it.

- **Capacity in use** per (GPU type, region): the GPUs of instances whose status is not
  ``terminated`` or ``failed``, as of the last settled moment.
- **Spend** per account since its ``balance_time``: the sum of every instance's hourly
  rate, integrated piece by piece between the moments a rate changes.
- **Listing order** per account: a Fenwick tree over "listed without
  ``include_failed_instances``" (every status but ``failed``), so the first instance of
  page N is found in O(log n).

The ledger is derived state: never persisted, rebuilt from the instances when they are
loaded, and rebuilt again whenever it would be asked about a moment earlier than one it
has already settled (simulated time never goes backwards, except when a failed write
reloads an older clock from the file). Results are the same as the sums it replaces, to
the rounding of the balance (6 decimals).
"""

from __future__ import annotations

import heapq
from typing import Dict, Iterator, List, Optional, Sequence, Tuple

from fluidstack.emulator.ledger import Event, TimedTotals, Track
from fluidstack.emulator.platform.records import Account, Instance, status_at

__all__ = ["CAPACITY_FREE_STATUSES", "HIDDEN_STATUS", "Ledger", "status_at"]

CAPACITY_FREE_STATUSES = frozenset({"terminated", "failed"})
"""Statuses in which an instance no longer holds its GPUs."""
HIDDEN_STATUS = "failed"
"""The status ``GET /instances`` leaves out unless ``include_failed_instances=true``."""

CapacityKey = Tuple[str, str]


def rate_at(instance: Instance, now: float) -> float:
    """USD per simulated second the instance costs at ``now`` (nothing before it exists)."""
    segments = instance.segments
    if not segments or now < segments[0][1]:
        return 0.0
    return instance.rate_per_gpu(status_at(segments, now)) * instance.gpu_count / 3600.0


class _Track(Track):
    """What the totals currently count for one instance (``holds``: its GPUs)."""

    __slots__ = ("account_id", "pos", "rate", "visible")

    def __init__(self, account_id: str, key: CapacityKey, gpus: int, pos: int) -> None:
        super().__init__(key, gpus)
        self.account_id = account_id
        self.pos = pos
        self.visible = False
        self.rate = 0.0


class _Bill:
    """One account's spend since its ``balance_time``, integrated up to ``t0``, and the
    moment it first exceeded the balance set then (``crossed``), if it has."""

    __slots__ = ("budget", "crossed", "events", "rate", "spent", "t0")

    def __init__(self, since: float, budget: float) -> None:
        self.t0 = since
        self.spent = 0.0
        self.rate = 0.0
        """USD per simulated second at ``t0``, every instance of the account together."""
        self.events: List[Event] = []
        self.budget = budget
        self.crossed: Optional[float] = since if budget < 0 else None

    def advance(self, to: float) -> None:
        step = self.rate * (to - self.t0)
        if self.crossed is None and self.rate > 0 and self.spent + step > self.budget:
            self.crossed = self.t0 + (self.budget - self.spent) / self.rate
        self.spent += step
        self.t0 = to


class _Order:
    """One account's instances in creation order, with a Fenwick tree of visibility."""

    __slots__ = ("ids", "size", "tree", "visible")

    def __init__(self) -> None:
        self.ids: List[str] = []
        self.visible: List[bool] = []
        self.size = 0
        self.tree: List[int] = [0]

    def append(self, instance_id: str) -> int:
        pos = len(self.ids)
        self.ids.append(instance_id)
        self.visible.append(False)
        if pos + 1 > self.size:
            self._grow(max(16, 2 * self.size))
        return pos

    def _grow(self, size: int) -> None:
        self.size = size
        tree = [0] * (size + 1)
        for index, shown in enumerate(self.visible, start=1):
            if shown:
                tree[index] += 1
        for index in range(1, size + 1):  # O(n) construction
            parent = index + (index & -index)
            if parent <= size:
                tree[parent] += tree[index]
        self.tree = tree

    def set_visible(self, pos: int, visible: bool) -> None:
        if self.visible[pos] == visible:
            return
        self.visible[pos] = visible
        delta = 1 if visible else -1
        index, tree, size = pos + 1, self.tree, self.size
        while index <= size:
            tree[index] += delta
            index += index & -index

    def position_of_visible(self, skip: int) -> int:
        """Position of the visible instance after ``skip`` visible ones (``len`` if none)."""
        index, remaining, tree = 0, skip, self.tree
        step = 1 << self.size.bit_length()
        while step:
            nxt = index + step
            if nxt <= self.size and tree[nxt] <= remaining:
                index = nxt
                remaining -= tree[nxt]
            step >>= 1
        return min(index, len(self.ids))  # 0-based position of the (skip+1)-th


class Ledger(TimedTotals[Instance, _Track]):
    """Capacity in use, spend and listing order, kept up to date incrementally (the
    capacity and the moments it changes: :class:`~fluidstack.emulator.ledger.TimedTotals`)."""

    def __init__(
        self,
        accounts: Dict[str, Account],
        instances: Dict[str, Instance],
        now: float,
    ) -> None:
        self._accounts = accounts
        self._instances = instances
        super().__init__(instances, now)

    # -- what the shared totals ask ------------------------------------------------------

    def _started(self) -> None:
        self._bills: Dict[str, _Bill] = {}
        self._orders: Dict[str, _Order] = {}
        self._live: Dict[str, int] = {}
        """Instances per account not terminated or failed, as of the settled moment."""
        for account in self._accounts.values():
            self.add_account(account)

    def _new_track(self, instance: Instance) -> _Track:
        order = self._orders.get(instance.account_id)
        if order is None:  # (not setdefault: that would build an _Order every time)
            order = self._orders[instance.account_id] = _Order()
        key = (instance.gpu_type, instance.region)
        return _Track(instance.account_id, key, instance.gpu_count, order.append(instance.id))

    def _holds(self, instance: Instance, state: str) -> bool:
        return state not in CAPACITY_FREE_STATUSES

    def _phase(self, instance: Instance, state: str) -> Tuple[bool, bool]:
        # A create's provisioning -> running changes neither.
        return (state in CAPACITY_FREE_STATUSES, state == HIDDEN_STATUS)

    def _held(self, track: _Track, holds: bool) -> None:
        self._live[track.account_id] = self._live.get(track.account_id, 0) + (1 if holds else -1)

    def _count(self, instance: Instance, track: _Track, when: float) -> str:
        status = super()._count(instance, track, when)
        visible = status != HIDDEN_STATUS
        if visible != track.visible:
            self._orders[track.account_id].set_visible(track.pos, visible)
            track.visible = visible
        return status

    def add_account(self, account: Account) -> None:
        self._bills[account.id] = _Bill(account.balance_time, account.balance_base)
        self._orders.setdefault(account.id, _Order())

    def _bill(self, account_id: str, now: float) -> Optional[_Bill]:
        """The account's bill integrated up to ``now``; ``None`` if ``now`` is before the
        moment it was last integrated to (then the caller sums the slow way)."""
        bill = self._bills.get(account_id)
        if bill is None or now < bill.t0:
            return None
        events = bill.events
        while events and events[0][0] <= now:
            when, _, instance_id, version = heapq.heappop(events)
            track = self._tracks.get(instance_id)
            if track is None or track.version != version:
                continue
            bill.advance(when)
            rate = rate_at(self._instances[instance_id], when)
            bill.rate += rate - track.rate
            track.rate = rate
        bill.advance(now)
        return bill

    # -- what the state tells it -------------------------------------------------------

    def track(self, instance: Instance, now: float) -> _Track:
        """A new instance, or one whose segments were just re-planned at ``now``."""
        track = super().track(instance, now)
        bill = self._bills.get(instance.account_id)
        if bill is not None:
            # From the account's last integration point on: on a rebuild that is its
            # balance_time, which may be long before now.
            billed_from = min(bill.t0, now)
            if self._bill(instance.account_id, billed_from) is not None:
                rate = rate_at(instance, billed_from)
                bill.rate += rate - track.rate
                track.rate = rate
                self._plan_bill(instance, track, bill, billed_from, rate)
        return track

    def _plan_bill(
        self,
        instance: Instance,
        track: _Track,
        bill: _Bill,
        since: float,
        rate: Optional[float] = None,
    ) -> None:
        """Schedule the moments after ``since`` when the instance's rate changes
        (``rate``: :func:`rate_at` ``since``, when the caller has it)."""
        if rate is None:
            rate = rate_at(instance, since)
        for status, start in instance.segments:
            if start > since:
                new_rate = instance.rate_per_gpu(status) * instance.gpu_count / 3600.0
                if new_rate != rate:
                    rate = new_rate
                    event = (start, next(self._tie), instance.id, track.version)
                    heapq.heappush(bill.events, event)

    def rewrite(self, account: Account, instances: Sequence[Instance], now: float) -> None:
        """``instances`` of ``account`` were re-planned at a moment already past (its
        balance ran out then): count them again, and the account's spend from its
        ``balance_time`` (O(its instances), once per depletion, not per request)."""
        self._settle(now)
        for instance in instances:
            track = self._tracks[instance.id]
            track.version += 1
            self._count(instance, track, now)
            self._plan(instance, track, now)
        bill = _Bill(account.balance_time, account.balance_base)
        self._bills[account.id] = bill
        order = self._orders.get(account.id)
        for instance_id in order.ids if order is not None else ():
            instance, track = self._instances[instance_id], self._tracks[instance_id]
            track.rate = rate_at(instance, bill.t0)
            bill.rate += track.rate
            self._plan_bill(instance, track, bill, bill.t0)

    def forget(self, instance_id: str, now: float) -> Optional[_Track]:
        """An instance removed from the state (a per-account reset)."""
        track = super().forget(instance_id, now)
        if track is not None:
            bill = self._bill(track.account_id, now)
            if bill is not None:
                bill.rate -= track.rate
        return track

    def clear_account(self, account: Account, now: float) -> None:
        """After a per-account reset: a fresh bill from ``balance_time``, an empty order."""
        self._check_time(now)
        self._bills[account.id] = _Bill(account.balance_time, account.balance_base)
        self._orders[account.id] = _Order()
        self._live[account.id] = 0

    def rebase(self, account: Account) -> None:
        """The account's balance was set at ``balance_time``: spend counts from there."""
        bill = self._bill(account.id, account.balance_time)
        if bill is None:  # balance_time before the integration point: recount
            self.rebuild(max(self._settled, account.balance_time))
            return
        bill.spent = 0.0
        bill.budget = account.balance_base
        bill.crossed = account.balance_time if account.balance_base < 0 else None

    # -- questions --------------------------------------------------------------------

    def in_use(self, key: CapacityKey, now: float) -> int:
        """GPUs of ``key`` held at ``now``, every account together."""
        return self.total(key, now)

    def spent(self, account: Account, at: float) -> Optional[float]:
        """USD the account's instances cost from its ``balance_time`` to ``at``; ``None``
        when ``at`` is earlier than the ledger can answer for (sum the slow way)."""
        bill = self._bill(account.id, at)
        return None if bill is None else bill.spent

    def depleted_at(self, account: Account, now: float) -> Optional[float]:
        """The moment the account's spend since ``balance_time`` first exceeded the
        balance set then, if it did by ``now`` and some instance is still live
        (``None`` otherwise): computed while integrating, so O(1) per request."""
        self._settle(now)
        bill = self._bill(account.id, now)
        if bill is None or bill.crossed is None or not self._live.get(account.id, 0):
            return None
        return bill.crossed

    def page(
        self, account_id: str, skip: int, limit: int, include_failed: bool, now: float
    ) -> Iterator[str]:
        """Ids of up to ``limit`` listed instances after ``skip`` of them, oldest first."""
        self._settle(now)
        order = self._orders.get(account_id)
        if order is None:
            return iter(())
        if include_failed:
            return iter(order.ids[skip : skip + limit])
        return self._visible_from(order, order.position_of_visible(skip), limit)

    @staticmethod
    def _visible_from(order: _Order, pos: int, limit: int) -> Iterator[str]:
        ids, visible = order.ids, order.visible
        found = 0
        while pos < len(ids) and found < limit:
            if visible[pos]:
                found += 1
                yield ids[pos]
            pos += 1
