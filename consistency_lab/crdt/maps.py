"""LWW-Map: a map whose keys are last-writer-wins registers; a delete is a stamped tombstone.

Why tombstones: without one, a delete could not beat an older ``set`` arriving later.  Each
key keeps one ``(stamp, value-or-deleted)`` entry, so ``state_size`` counts deleted keys too.
Stamps and ties are those of ``LWWRegister``: ``(timestamp, replica id)``, larger wins.
"""

from __future__ import annotations

from typing import Any, Hashable

from consistency_lab.validation import number

from .base import CRDT, sort_key, sorted_items
from .registers import Stamp

__all__ = ["LWWMap"]

_DELETED = object()  # the tombstone marker: no user value can be it


class LWWMap(CRDT):
    """Map of LWW registers: ``set(key, value, timestamp)``, ``delete(key, timestamp)``, ``value() -> dict``."""

    __slots__ = ("entries", "_own_last")

    def __init__(self, replica_id: str) -> None:
        super().__init__(replica_id)
        self.entries: dict[Hashable, tuple[Stamp, Any]] = {}
        self._own_last = float("-inf")

    def _write(self, key: Hashable, value: Any, timestamp: float) -> LWWMap:
        try:
            hash(key)
        except TypeError:
            raise ValueError(f"key={key!r} must be hashable (a str, a number or a tuple)") from None
        number("timestamp", timestamp)
        if timestamp <= self._own_last:
            raise ValueError(f"timestamp={timestamp!r} must be > {self._own_last!r}, this replica's last write")
        self._own_last = float(timestamp)
        delta = self._empty()
        delta.entries[key] = ((float(timestamp), self.replica_id), value)
        delta._own_last = self._own_last
        self._join(delta)
        return delta

    def set(self, key: Hashable, value: Any, timestamp: float) -> LWWMap:
        """Write ``key = value`` at ``timestamp``; return the delta."""
        return self._write(key, value, timestamp)

    def delete(self, key: Hashable, timestamp: float) -> LWWMap:
        """Delete ``key`` at ``timestamp`` (a tombstone, so an older concurrent set loses); return the delta."""
        return self._write(key, _DELETED, timestamp)

    def get(self, key: Hashable, default: Any = None) -> Any:
        """The value of ``key``, or ``default`` if absent or deleted."""
        entry = self.entries.get(key)
        return default if entry is None or entry[1] is _DELETED else entry[1]

    def __contains__(self, key: object) -> bool:
        entry = self.entries.get(key)  # type: ignore[arg-type]
        return entry is not None and entry[1] is not _DELETED

    def value(self) -> dict:
        """The live keys and their values."""
        return {k: v for k, (_, v) in self.entries.items() if v is not _DELETED}

    def state_size(self) -> int:
        """One entry per key ever written, deleted keys (tombstones) included."""
        return len(self.entries)

    def _join(self, other: LWWMap) -> None:
        for key, (stamp, value) in other.entries.items():
            mine = self.entries.get(key)
            if mine is None or stamp > mine[0]:
                self.entries[key] = (stamp, value)
            if stamp[1] == self.replica_id:
                self._own_last = max(self._own_last, stamp[0])
        if other.replica_id == self.replica_id:
            self._own_last = max(self._own_last, other._own_last)

    def _canonical(self) -> Hashable:
        def show(value: Any) -> Any:
            return ("<deleted>",) if value is _DELETED else sort_key(value)
        return tuple((k, self.entries[k][0], show(self.entries[k][1])) for k in sorted_items(self.entries))
