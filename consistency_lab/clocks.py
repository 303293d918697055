"""Logical clocks: Lamport, vector and hybrid logical clocks.

All three are immutable values with ``tick``/``merge`` returning new clocks, so they
can be stored in messages (which are immutable too) and compared safely.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping

__all__ = ["LamportClock", "VectorClock", "HybridClock"]


@dataclass(frozen=True, order=True)
class LamportClock:
    """A single counter: if a happened before b then a < b (not the converse)."""

    time: int = 0

    def tick(self) -> "LamportClock":
        """The clock after a local event or a send."""
        return LamportClock(self.time + 1)

    def merge(self, other: "LamportClock") -> "LamportClock":
        """The clock after receiving a message stamped ``other``."""
        return LamportClock(max(self.time, other.time) + 1)


@dataclass(frozen=True)
class VectorClock:
    """One counter per node: compares exactly with happened-before."""

    counters: tuple[tuple[str, int], ...] = ()

    @classmethod
    def of(cls, counters: Mapping[str, int]) -> "VectorClock":
        """Build from a mapping, dropping zero entries (so equal clocks compare equal)."""
        return cls(tuple(sorted((k, v) for k, v in counters.items() if v)))

    def as_dict(self) -> dict[str, int]:
        """The counters as a dict."""
        return dict(self.counters)

    def get(self, node: str) -> int:
        """Counter of ``node`` (0 if absent)."""
        for k, v in self.counters:
            if k == node:
                return v
        return 0

    def tick(self, node: str) -> "VectorClock":
        """The clock after a local event at ``node``."""
        d = self.as_dict()
        d[node] = d.get(node, 0) + 1
        return VectorClock.of(d)

    def merge(self, other: "VectorClock") -> "VectorClock":
        """Point-wise maximum."""
        d = self.as_dict()
        for k, v in other.counters:
            d[k] = max(d.get(k, 0), v)
        return VectorClock.of(d)

    def __le__(self, other: "VectorClock") -> bool:
        return all(v <= other.get(k) for k, v in self.counters)

    def __lt__(self, other: "VectorClock") -> bool:
        return self <= other and self != other

    def happened_before(self, other: "VectorClock") -> bool:
        """True if this clock's event happened before ``other``'s."""
        return self < other

    def concurrent(self, other: "VectorClock") -> bool:
        """True if neither happened before the other (and they differ)."""
        return not (self <= other) and not (other <= self)


@dataclass(frozen=True, order=True)
class HybridClock:
    """Hybrid logical clock (Kulkarni et al.): physical ms plus a logical counter.

    Stays close to wall-clock time yet never goes backwards and respects causality,
    which makes it a safer last-writer-wins timestamp than raw wall clocks.
    """

    wall: float = 0.0
    logical: int = 0

    def tick(self, physical: float) -> "HybridClock":
        """The clock after a local event or send, given this node's physical reading."""
        if physical > self.wall:
            return HybridClock(physical, 0)
        return HybridClock(self.wall, self.logical + 1)

    def merge(self, other: "HybridClock", physical: float) -> "HybridClock":
        """The clock after receiving a message stamped ``other``."""
        wall = max(self.wall, other.wall, physical)
        if wall == self.wall == other.wall:
            logical = max(self.logical, other.logical) + 1
        elif wall == self.wall:
            logical = self.logical + 1
        elif wall == other.wall:
            logical = other.logical + 1
        else:
            logical = 0
        return HybridClock(wall, logical)
