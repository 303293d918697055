"""Random histories on three replicas: operations and pairwise syncs, with a model of what each saw.

A history is a list of steps ``("op", replica, name, arg)`` or ``("sync", src, dst)``; ``play``
runs it on real replicas and, beside them, records every event with the set of events its
replica had seen (its causal past), which is what the semantics tests compare against.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from hypothesis import strategies as st

from consistency_lab.crdt import CRDT_TYPES

REPLICAS = ("a", "b", "c")
ELEMENTS = st.sampled_from(["x", "y", "z"])
OP_NAMES = {
    "gcounter": ["increment"], "pncounter": ["increment", "decrement"], "gset": ["add"],
    "twopset": ["add", "remove"], "orset": ["add", "remove"], "lwwregister": ["set"],
    "mvregister": ["set"], "lwwmap": ["set", "delete"], "rga": ["insert", "insert", "delete"],
}


@dataclass
class Event:
    """One operation as issued: where, what, and the ids of the events its replica had seen."""

    eid: int
    replica: str
    name: str
    arg: Any
    past: frozenset
    stamp: Any = None


@dataclass
class Played:
    """The replicas after a history, the events issued, and each replica's seen-set."""

    replicas: dict
    events: list = field(default_factory=list)


def steps(kind: str, max_steps: int = 14) -> st.SearchStrategy[list]:
    """A history for ``kind``: operations (args drawn small so they collide) and syncs."""
    op = st.tuples(st.just("op"), st.sampled_from(REPLICAS), st.sampled_from(OP_NAMES[kind]),
                   st.tuples(ELEMENTS, st.integers(1, 3)))
    sync = st.tuples(st.just("sync"), st.sampled_from(REPLICAS), st.sampled_from(REPLICAS))
    return st.lists(st.one_of(op, op, sync), max_size=max_steps)


def play(kind: str, history: list, check_deltas: bool = True) -> Played:
    """Run ``history``; every delta must satisfy ``before.merge(delta) == after``."""
    replicas = {r: CRDT_TYPES[kind](r) for r in REPLICAS}
    seen = {r: set() for r in REPLICAS}
    clock = {r: 0.0 for r in REPLICAS}
    out = Played(replicas)
    for step in history:
        if step[0] == "sync":
            _, src, dst = step
            replicas[dst].merge_in(replicas[src])
            seen[dst] |= seen[src]
            continue
        _, r, name, (element, amount) = step
        crdt = replicas[r]
        before = crdt.copy()
        if name == "remove" and kind == "twopset" and element not in crdt:
            continue  # the 2P-Set precondition: only remove what is there
        stamp = None
        if kind in ("lwwregister", "lwwmap"):
            clock[r] += amount  # increasing per replica, colliding across replicas (ties by id)
            stamp = (clock[r], r)
        if kind == "rga" and name == "delete" and len(crdt) == 0:
            continue
        if kind == "rga":
            length = len(crdt)
            delta = crdt.insert(amount % (length + 1), element) if name == "insert" else crdt.delete(amount % length)
            # an RGA op is not a delta of the same type: check it by applying it to the old state
            before.apply(delta)
            delta = None
        elif kind in ("gcounter", "pncounter"):
            delta = getattr(crdt, name)(amount)
        elif kind == "lwwregister":
            delta = crdt.set(element, clock[r])
        elif kind == "lwwmap":
            delta = crdt.set(element, amount, clock[r]) if name == "set" else crdt.delete(element, clock[r])
        elif kind == "mvregister":
            delta = crdt.set(element)
        else:
            delta = getattr(crdt, name)(element)
        event = Event(len(out.events), r, name, (element, amount), frozenset(seen[r]), stamp)
        out.events.append(event)
        seen[r].add(event.eid)
        if check_deltas:
            assert (before if delta is None else before.merge(delta)) == crdt, (kind, step)
    return out
