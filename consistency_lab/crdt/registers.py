"""Registers: last-writer-wins (one value, ties by replica id) and multi-value (keeps concurrent writes).

LWW-Register: each write carries a stamp ``(timestamp, replica id)``; join keeps the larger stamp.
Equal timestamps are broken by the replica id, compared as strings: the larger id wins
(``"b"`` beats ``"a"``).  A replica's own timestamps must increase, so one stamp never names
two values.  Writes with an older timestamp than the current one are accepted and lose at
once: that is LWW's silent overwrite, which the course counts as an anomaly.

MV-Register: each write supersedes every write its replica had seen (version vectors, kept
as dots and one causal context); join keeps the writes no other write has seen, so concurrent
writes all survive and ``value()`` is the frozenset of them (a person, or the application, must pick).
"""

from __future__ import annotations

from typing import Any, Hashable, Optional

from consistency_lab.validation import number

from .base import CRDT, Dot, sort_key
from .sets import CausalContext, join_dots

__all__ = ["LWWRegister", "MVRegister", "Stamp"]

Stamp = tuple[float, str]  # (timestamp, writer's replica id): total order, larger wins


class LWWRegister(CRDT):
    """Last-writer-wins register: ``set(value, timestamp)``; ``value()`` is None until written."""

    __slots__ = ("stamp", "_value", "_own_last")

    def __init__(self, replica_id: str) -> None:
        super().__init__(replica_id)
        self.stamp: Optional[Stamp] = None
        self._value: Any = None
        self._own_last = float("-inf")  # why: refuse a second value under one of our own stamps

    def set(self, value: Any, timestamp: float) -> LWWRegister:
        """Write ``value`` at ``timestamp`` (greater than this replica's previous writes); return the delta."""
        number("timestamp", timestamp, low=None)
        if timestamp <= self._own_last:
            raise ValueError(f"timestamp={timestamp!r} must be > {self._own_last!r}, this replica's last write")
        self._own_last = float(timestamp)
        delta = self._empty()
        delta.stamp, delta._value, delta._own_last = (float(timestamp), self.replica_id), value, self._own_last
        self._join(delta)
        return delta

    def value(self) -> Any:
        """The value with the largest stamp seen (None if never written)."""
        return self._value

    def state_size(self) -> int:
        """1 once written."""
        return 0 if self.stamp is None else 1

    def _join(self, other: LWWRegister) -> None:
        if other.stamp is not None and (self.stamp is None or other.stamp > self.stamp):
            self.stamp, self._value = other.stamp, other._value
        if other.replica_id == self.replica_id:
            self._own_last = max(self._own_last, other._own_last)
        if self.stamp is not None and self.stamp[1] == self.replica_id:
            self._own_last = max(self._own_last, self.stamp[0])

    def _canonical(self) -> Hashable:
        return (self.stamp, sort_key(self._value))


class MVRegister(CRDT):
    """Multi-value register: ``set(value)``; ``value()`` is the frozenset of concurrent values.

    Stored as the optimised form (Almeida et al. 2018): each written value is tagged with a dot,
    and a causal context (a version vector, plus dots past a gap) records every write seen.  A
    write replaces every value it has seen; a join keeps a value unless the other side has seen
    its dot and dropped it.  This is the version-vector register with the vectors factored into one
    context, so a join is linear in the values instead of comparing every pair of vectors.
    """

    __slots__ = ("entries", "context")

    def __init__(self, replica_id: str) -> None:
        super().__init__(replica_id)
        self.entries: dict[Dot, Hashable] = {}
        self.context = CausalContext()

    def set(self, value: Hashable) -> MVRegister:
        """Write ``value`` over every value this replica has seen; return the delta."""
        try:
            hash(value)
        except TypeError:
            raise ValueError(f"value={value!r} must be hashable (a str, a number or a tuple)") from None
        old = set(self.entries)
        dot = self.context.next_dot(self.replica_id)
        self.entries = {dot: value}
        delta = self._empty()
        delta.entries = {dot: value}
        delta.context.add(old | {dot})  # the delta also overwrites, elsewhere, what this write saw
        return delta

    def value(self) -> frozenset:
        """The values of concurrent writes (one value when there is no conflict, empty if never written)."""
        return frozenset(self.entries.values())

    def state_size(self) -> int:
        """One entry per concurrent value, plus the causal context (one per writer, bounded)."""
        return len(self.entries) + self.context.size()

    def _join(self, other: MVRegister) -> None:
        mine = {d: {d} for d in self.entries}
        theirs = {d: {d} for d in other.entries}
        values = {**other.entries, **self.entries}
        kept = join_dots(mine, self.context, theirs, other.context)
        self.entries = {d: values[d] for d in kept}
        self.context.join(other.context)

    def _canonical(self) -> Hashable:
        return (tuple(sorted((d, sort_key(v)) for d, v in self.entries.items())), self.context.canonical())
