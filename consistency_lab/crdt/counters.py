"""G-Counter and PN-Counter: one non-decreasing count per replica, joined by entry-wise max.

Why max and not sum: a state may arrive twice or after a later one; max is idempotent and
order-free, and each entry only ever grows because only its own replica writes it.  A
PN-Counter is two G-Counters (increments, decrements); merging the net value with max would
lose a decrement that raced an increment, which is why the halves are kept apart.
"""

from __future__ import annotations

from typing import Hashable

from consistency_lab.validation import count

from .base import CRDT

__all__ = ["GCounter", "PNCounter"]


class GCounter(CRDT):
    """Grow-only counter: ``increment(n)``; the value is the sum of every replica's entry."""

    __slots__ = ("counts",)

    def __init__(self, replica_id: str) -> None:
        super().__init__(replica_id)
        self.counts: dict[str, int] = {}

    def increment(self, amount: int = 1) -> GCounter:
        """Add ``amount`` (an integer >= 1) at this replica; return the delta (this replica's entry)."""
        count("amount", amount, low=1)
        self.counts[self.replica_id] = self.counts.get(self.replica_id, 0) + amount
        delta = self._empty()
        delta.counts[self.replica_id] = self.counts[self.replica_id]
        return delta

    def value(self) -> int:
        """The total of all increments this replica has seen."""
        return sum(self.counts.values())

    def state_size(self) -> int:
        """One entry per replica that has incremented."""
        return len(self.counts)

    def _join(self, other: GCounter) -> None:
        for replica, n in other.counts.items():
            if n > self.counts.get(replica, 0):
                self.counts[replica] = n

    def _canonical(self) -> Hashable:
        return tuple(sorted(self.counts.items()))


class PNCounter(CRDT):
    """Counter with ``increment`` and ``decrement``: two G-Counters, value = P - N."""

    __slots__ = ("p", "n")

    def __init__(self, replica_id: str) -> None:
        super().__init__(replica_id)
        self.p = GCounter(replica_id)
        self.n = GCounter(replica_id)

    def increment(self, amount: int = 1) -> PNCounter:
        """Add ``amount`` (an integer >= 1); return the delta."""
        delta = self._empty()
        delta.p = self.p.increment(amount)
        return delta

    def decrement(self, amount: int = 1) -> PNCounter:
        """Subtract ``amount`` (an integer >= 1); return the delta."""
        delta = self._empty()
        delta.n = self.n.increment(amount)
        return delta

    def value(self) -> int:
        """Increments minus decrements, over every replica this one has heard from."""
        return self.p.value() - self.n.value()

    def state_size(self) -> int:
        """Entries in both halves."""
        return self.p.state_size() + self.n.state_size()

    def _join(self, other: PNCounter) -> None:
        self.p._join(other.p)
        self.n._join(other.n)

    def _canonical(self) -> Hashable:
        return (self.p._canonical(), self.n._canonical())
