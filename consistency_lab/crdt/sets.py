"""Sets: G-Set (add only), 2P-Set (remove once, forever) and the add-wins OR-Set.

The OR-Set is the optimised observed-remove set (Bieniusa et al. 2012, in the delta form of
Almeida et al. 2018): every add creates a fresh dot ``(replica, n)``; the state is the live
``(element, dot)`` pairs plus a causal context (a version vector and a few out-of-order dots)
recording every dot this replica has seen.  A remove deletes the element's dots it has
observed and keeps nothing else, so memory does not grow with removed elements (no
tombstones, only the context, bounded by replicas).  Join: a pair survives if both sides
have it, or one side has it and the other has never seen its dot.  A remove therefore only
beats adds it has seen: a concurrent add of the same element wins (add-wins).
"""

from __future__ import annotations

from typing import Hashable, Iterable, TypeVar

from .base import CRDT, Dot, sorted_items

__all__ = ["GSet", "TwoPSet", "ORSet", "CausalContext", "join_dots"]


def _check_hashable(name: str, element: object) -> None:
    try:
        hash(element)
    except TypeError:
        raise ValueError(f"{name}={element!r} must be hashable (a str, a number or a tuple)") from None


class GSet(CRDT):
    """Grow-only set: ``add``; join is union."""

    __slots__ = ("elements",)

    def __init__(self, replica_id: str) -> None:
        super().__init__(replica_id)
        self.elements: set[Hashable] = set()

    def add(self, element: Hashable) -> GSet:
        """Add ``element``; return the delta {element}."""
        _check_hashable("element", element)
        self.elements.add(element)
        delta = self._empty()
        delta.elements.add(element)
        return delta

    def __contains__(self, element: object) -> bool:
        return element in self.elements

    def value(self) -> frozenset:
        """The elements."""
        return frozenset(self.elements)

    def state_size(self) -> int:
        """One entry per element."""
        return len(self.elements)

    def _join(self, other: GSet) -> None:
        self.elements |= other.elements

    def _canonical(self) -> Hashable:
        return tuple(sorted_items(self.elements))


class TwoPSet(CRDT):
    """Two-phase set: an added set and a removed set (tombstones); once removed, never back."""

    __slots__ = ("added", "removed")

    def __init__(self, replica_id: str) -> None:
        super().__init__(replica_id)
        self.added: set[Hashable] = set()
        self.removed: set[Hashable] = set()

    def add(self, element: Hashable) -> TwoPSet:
        """Add ``element`` (a no-op for the value if it was ever removed); return the delta."""
        _check_hashable("element", element)
        self.added.add(element)
        delta = self._empty()
        delta.added.add(element)
        return delta

    def remove(self, element: Hashable) -> TwoPSet:
        """Remove ``element``, which must be in the set here (the 2P-Set precondition); return the delta."""
        if element not in self:
            raise ValueError(f"element={element!r} must be in the set to be removed; allowed: its elements")
        self.removed.add(element)
        delta = self._empty()
        delta.removed.add(element)
        return delta

    def __contains__(self, element: object) -> bool:
        return element in self.added and element not in self.removed

    def value(self) -> frozenset:
        """Added and not removed."""
        return frozenset(self.added - self.removed)

    def state_size(self) -> int:
        """Added entries plus tombstones: removed elements cost memory forever."""
        return len(self.added) + len(self.removed)

    def _join(self, other: TwoPSet) -> None:
        self.added |= other.added
        self.removed |= other.removed

    def _canonical(self) -> Hashable:
        return (tuple(sorted_items(self.added)), tuple(sorted_items(self.removed)))


class CausalContext:
    """The dots a replica has seen: a version vector plus the dots beyond a gap (the dot cloud)."""

    __slots__ = ("vv", "cloud")

    def __init__(self) -> None:
        self.vv: dict[str, int] = {}
        self.cloud: set[Dot] = set()

    def __contains__(self, dot: object) -> bool:
        replica, n = dot  # type: ignore[misc]
        return n <= self.vv.get(replica, 0) or dot in self.cloud

    def next_dot(self, replica: str) -> Dot:
        """A fresh dot for ``replica``, recorded as seen."""
        dot = (replica, self.vv.get(replica, 0) + 1)
        self.vv[replica] = dot[1]  # a replica sees its own dots in order, so no gap here
        return dot

    def add(self, dots: Iterable[Dot]) -> None:
        """Record ``dots`` as seen and compact."""
        self.cloud.update(dots)
        self.compact()

    def join(self, other: CausalContext) -> None:
        """Union with ``other``, compacted."""
        for replica, n in other.vv.items():
            if n > self.vv.get(replica, 0):
                self.vv[replica] = n
        self.cloud |= other.cloud
        self.compact()

    def compact(self) -> None:
        """Move contiguous cloud dots into the vector so the form is canonical."""
        for replica, n in sorted(self.cloud):
            if n == self.vv.get(replica, 0) + 1:
                self.vv[replica] = n
        self.cloud = {d for d in self.cloud if d[1] > self.vv.get(d[0], 0)}

    def copy(self) -> CausalContext:
        """An independent copy."""
        result = CausalContext()
        result.vv, result.cloud = dict(self.vv), set(self.cloud)
        return result

    def size(self) -> int:
        """Entries stored: one per replica in the vector plus the cloud."""
        return len(self.vv) + len(self.cloud)

    def canonical(self) -> Hashable:
        """Deterministic form for equality."""
        return (tuple(sorted(self.vv.items())), tuple(sorted(self.cloud)))


K = TypeVar("K")


def join_dots(mine: dict[K, set[Dot]], my_context: CausalContext, theirs: dict[K, set[Dot]],
              their_context: CausalContext) -> dict[K, set[Dot]]:
    """Join two dot stores (key -> live dots): a dot survives if both sides have it, or one side has
    it and the other's context has never seen it (so it was not removed there)."""
    def unseen(dots: set[Dot], context: CausalContext) -> set[Dot]:
        vv, cloud = context.vv, context.cloud
        return {d for d in dots if d[1] > vv.get(d[0], 0) and d not in cloud}

    merged: dict[K, set[Dot]] = {}
    for key, a in mine.items():
        b = theirs.get(key)
        if b is None:
            dots = unseen(a, their_context)
        elif a == b:
            dots = set(a)
        else:
            dots = (a & b) | unseen(a - b, their_context) | unseen(b - a, my_context)
        if dots:
            merged[key] = dots
    for key, b in theirs.items():
        if key not in mine:
            dots = unseen(b, my_context)
            if dots:
                merged[key] = dots
    return merged


class ORSet(CRDT):
    """Add-wins observed-remove set with dots and a causal context (no tombstones)."""

    __slots__ = ("entries", "context")

    def __init__(self, replica_id: str) -> None:
        super().__init__(replica_id)
        self.entries: dict[Hashable, set[Dot]] = {}
        self.context = CausalContext()

    def add(self, element: Hashable) -> ORSet:
        """Add ``element`` with a fresh dot, replacing the dots this replica had for it; return the delta."""
        _check_hashable("element", element)
        old = self.entries.get(element, set())
        dot = self.context.next_dot(self.replica_id)
        self.entries[element] = {dot}
        delta = self._empty()
        delta.entries[element] = {dot}
        delta.context.add(old | {dot})  # the delta also removes the superseded dots elsewhere
        return delta

    def remove(self, element: Hashable) -> ORSet:
        """Remove ``element`` as observed here (absent: nothing to remove); return the delta."""
        _check_hashable("element", element)
        old = self.entries.pop(element, set())
        delta = self._empty()
        delta.context.add(old)
        return delta

    def __contains__(self, element: object) -> bool:
        return element in self.entries

    def value(self) -> frozenset:
        """The elements with at least one live dot."""
        return frozenset(self.entries)

    def state_size(self) -> int:
        """Live (element, dot) pairs plus the causal context: removed elements leave nothing behind."""
        return sum(len(d) for d in self.entries.values()) + self.context.size()

    def _join(self, other: ORSet) -> None:
        self.entries = join_dots(self.entries, self.context, other.entries, other.context)
        self.context.join(other.context)

    def copy(self) -> ORSet:
        """An independent replica with the same id and state."""
        result = ORSet(self.replica_id)
        result.entries = {e: set(d) for e, d in self.entries.items()}
        result.context = self.context.copy()
        return result

    def _canonical(self) -> Hashable:
        entries = tuple((e, tuple(sorted(self.entries[e]))) for e in sorted_items(self.entries))
        return (entries, self.context.canonical())
