"""The world lab 03's checks and notebook run in: RGA operations, a tiny gossip network, a size measure.

Shared by the public checks (:mod:`.lab03`), the hidden ones and the lab notebook:

- ``Insert`` and ``Delete``, the operations an RGA broadcasts (frozen records, as messages are);
- ``TinyNet``, a round-based network for whole-state gossip that copies every message, duplicates
  some, holds some back for a few rounds (so an older state can arrive after a newer one) and
  drops what crosses a cut;
- ``causal_order``, a seeded delivery order of operations that respects what each one refers
  to, with duplicates;
- ``state_size``, the number of entries an object holds (for "memory must not grow" checks);
- ``UnionSet``, a grow-only set (merge is union), the type the public gossip checks run.

No checks and no solution live here: this module is released to students.
"""

from __future__ import annotations

import copy
import random
from dataclasses import dataclass
from typing import Any, Iterable, Optional, Sequence, Union

__all__ = ["Id", "Insert", "Delete", "Op", "is_insert", "is_delete", "TinyNet", "causal_order", "state_size",
           "UnionSet"]

#: An RGA element id: (counter, replica id). Tuples compare counter first, then replica id.
Id = tuple[int, str]


@dataclass(frozen=True)
class Insert:
    """Put ``char`` right after the element ``after`` (None: at the start); ``id`` names the new element."""

    id: Id
    after: Optional[Id]
    char: str


@dataclass(frozen=True)
class Delete:
    """Hide the element ``target`` (it stays in the sequence as a tombstone)."""

    target: Id


Op = Union[Insert, Delete]


def is_insert(op: Any) -> bool:
    """Whether ``op`` is an Insert (by its fields: the grader re-imports this module, so classes differ)."""
    return all(hasattr(op, f) for f in ("id", "after", "char"))


def is_delete(op: Any) -> bool:
    """Whether ``op`` is a Delete (by its field, like :func:`is_insert`)."""
    return hasattr(op, "target") and not is_insert(op)


def _depends_on(op: Any) -> Optional[Id]:
    """The element an operation refers to (it must be delivered first), or None."""
    if is_insert(op):
        return op.after
    if is_delete(op):
        return op.target
    raise ValueError(f"op={op!r} must be an Insert or a Delete; allowed: Insert(id, after, char), Delete(target)")


def causal_order(ops: Sequence[Op], seed: int, duplicate: float = 0.0) -> list[Op]:
    """``ops`` in a seeded random order in which every op comes after the insert it refers to.

    An op that refers to an element none of ``ops`` inserts is taken to refer to one the receiver
    already has. With ``duplicate`` > 0 that share of the ops is delivered a second time, later.
    """
    rng = random.Random(seed)
    made_here = {op.id for op in ops if is_insert(op)}
    inserted: set = set()
    pending = list(ops)
    order: list[Op] = []
    while pending:
        ready = [i for i, op in enumerate(pending)
                 if _depends_on(op) is None or _depends_on(op) in inserted or _depends_on(op) not in made_here]
        if not ready:
            raise ValueError(f"ops={pending[:3]!r}... wait for each other in a cycle; allowed: ops as they were made")
        op = pending.pop(rng.choice(ready))
        order.append(op)
        if is_insert(op):
            inserted.add(op.id)
    for op in list(order):
        if rng.random() < duplicate:
            first = order.index(op)
            order.insert(rng.randint(first + 1, len(order)), op)
    return order


class TinyNet:
    """A round-based network for state gossip: it copies, duplicates, delays and cuts messages.

    ``send(src, dst, state)`` puts a deep copy of ``state`` in flight (twice with probability
    ``duplicate``; each copy is held back 1 to ``max_delay`` rounds with probability ``delay``,
    which reorders them). A message between replicas on different sides of a ``cut`` is dropped.
    ``deliver()`` returns this round's ``(dst, state)`` pairs in a shuffled order and starts the
    next round. Seeded: the same calls give the same deliveries.
    """

    def __init__(self, seed: int = 0, duplicate: float = 0.3, delay: float = 0.4, max_delay: int = 3) -> None:
        for name, p in (("duplicate", duplicate), ("delay", delay)):
            if not 0.0 <= p <= 1.0:
                raise ValueError(f"{name}={p!r} must be a probability; allowed: 0.0 to 1.0")
        if int(max_delay) != max_delay or max_delay < 1:
            raise ValueError(f"max_delay={max_delay!r} must be a whole number of rounds; allowed: 1 or more")
        self.rng = random.Random(f"tinynet/{seed}")
        self.duplicate, self.delay, self.max_delay = duplicate, delay, int(max_delay)
        self.round = 0
        self.groups: Optional[list[frozenset]] = None
        self.in_flight: list[tuple[int, int, int, Any]] = []  # (due round, sequence number, dst, state)
        self.sent = self.delivered = self.dropped = 0
        self._seq = 0

    def cut(self, *groups: Iterable[int]) -> None:
        """Partition the replicas into ``groups`` (indexes); messages between groups are dropped."""
        self.groups = [frozenset(g) for g in groups]

    def heal(self) -> None:
        """End the partition."""
        self.groups = None

    def connected(self, a: int, b: int) -> bool:
        """Whether a message from replica ``a`` reaches replica ``b`` now."""
        if self.groups is None:
            return True
        return any(a in g and b in g for g in self.groups)

    def send(self, src: int, dst: int, state: Any) -> None:
        """Put a copy of ``state`` in flight from replica ``src`` to replica ``dst``."""
        self.sent += 1
        if not self.connected(src, dst):
            self.dropped += 1
            return
        copies = 2 if self.rng.random() < self.duplicate else 1
        for _ in range(copies):
            lag = self.rng.randint(1, self.max_delay) if self.rng.random() < self.delay else 0
            self._seq += 1
            self.in_flight.append((self.round + lag, self._seq, dst, copy.deepcopy(state)))

    def deliver(self) -> list[tuple[int, Any]]:
        """This round's messages as ``(dst, state)`` pairs, shuffled; then the next round starts."""
        due = [m for m in self.in_flight if m[0] <= self.round]
        self.in_flight = [m for m in self.in_flight if m[0] > self.round]
        self.rng.shuffle(due)
        self.round += 1
        self.delivered += len(due)
        return [(dst, state) for _, _, dst, state in due]


def state_size(obj: Any) -> int:
    """How many entries ``obj`` holds: every key, value and item reachable from its attributes, counted once."""
    seen: set[int] = set()

    def count(x: Any) -> int:
        if isinstance(x, (str, bytes, int, float, bool)) or x is None:
            return 1
        if id(x) in seen:
            return 0
        seen.add(id(x))
        if isinstance(x, dict):
            return sum(count(k) + count(v) for k, v in x.items())
        if isinstance(x, (list, tuple, set, frozenset)):
            return sum(count(v) for v in x)
        attrs = getattr(x, "__dict__", None)
        if attrs is not None:
            return sum(count(v) for v in attrs.values())
        slots = [s for cls in type(x).__mro__ for s in getattr(cls, "__slots__", ())]
        return sum(count(getattr(x, s)) for s in slots if hasattr(x, s)) if slots else 1

    attrs = getattr(obj, "__dict__", None)
    return sum(count(v) for v in attrs.values()) if attrs is not None else count(obj)


class UnionSet:
    """A grow-only set: ``add`` only, merge is set union (the simplest state-based CRDT)."""

    def __init__(self, replica: str) -> None:
        self.replica = replica
        self.items: set = set()

    def add(self, x: Any) -> None:
        """Add ``x`` at this replica."""
        self.items.add(x)

    def value(self) -> frozenset:
        """The elements, as a frozenset."""
        return frozenset(self.items)

    def merge(self, other: "UnionSet") -> None:
        """Fold ``other``'s elements into this replica."""
        self.items |= other.items
