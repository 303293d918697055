"""Registers: last-writer-wins (one value, ties by replica id) and multi-value (keeps concurrent writes).

LWW-Register: each write carries a stamp ``(timestamp, replica id)``; join keeps the larger stamp.
Equal timestamps are broken by the replica id, compared as strings: the larger id wins
(``"b"`` beats ``"a"``).  A replica's own timestamps must increase, so one stamp never names
two values.  Writes with an older timestamp than the current one are accepted and lose at
once: that is LWW's silent overwrite, which the course counts as an anomaly.

MV-Register: each write carries a version vector that dominates every entry the writer had
seen; join keeps the entries no other entry dominates, so concurrent writes all survive and
``value()`` is the frozenset of them (a person, or the application, must pick).
"""

from __future__ import annotations

from typing import Any, Hashable, Optional

from consistency_lab.validation import number

from .base import CRDT, sort_key

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


VersionVector = tuple[tuple[str, int], ...]  # sorted (replica, count) pairs: hashable and canonical


def _dominates(a: dict[str, int], b: dict[str, int]) -> bool:
    """a >= b entry-wise and a != b."""
    return a != b and all(a.get(r, 0) >= n for r, n in b.items())


class MVRegister(CRDT):
    """Multi-value register: ``set(value)``; ``value()`` is the frozenset of concurrent values."""

    __slots__ = ("entries",)

    def __init__(self, replica_id: str) -> None:
        super().__init__(replica_id)
        self.entries: set[tuple[Hashable, VersionVector]] = set()

    def set(self, value: Hashable) -> MVRegister:
        """Write ``value`` over every value this replica has seen; return the delta."""
        try:
            hash(value)
        except TypeError:
            raise ValueError(f"value={value!r} must be hashable (a str, a number or a tuple)") from None
        vv: dict[str, int] = {}
        for _, entry in self.entries:
            for replica, n in entry:
                vv[replica] = max(vv.get(replica, 0), n)
        vv[self.replica_id] = vv.get(self.replica_id, 0) + 1
        self.entries = {(value, tuple(sorted(vv.items())))}
        delta = self._empty()
        delta.entries = set(self.entries)
        return delta

    def value(self) -> frozenset:
        """The values of concurrent writes (one value when there is no conflict, empty if never written)."""
        return frozenset(v for v, _ in self.entries)

    def state_size(self) -> int:
        """One entry per concurrent value."""
        return len(self.entries)

    def _join(self, other: MVRegister) -> None:
        both = self.entries | other.entries
        vvs = {entry: dict(entry[1]) for entry in both}
        self.entries = {e for e in both if not any(_dominates(vvs[f], vvs[e]) for f in both)}

    def _canonical(self) -> Hashable:
        return tuple(sorted(self.entries, key=lambda e: (e[1], sort_key(e[0]))))
