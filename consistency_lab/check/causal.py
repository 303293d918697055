"""Causal consistency for register and key-value histories with unique written values.

The definition is the one of Bouajjani, Enea, Guerraoui and Hamza, "On verifying
causal consistency" (POPL 2017), restricted to the bad patterns built from the
causal order alone.  For a history whose written values are unique per key:

* **session order** (so): a client's operation before a later-called one of its own
  (exact ties keep the given order) that it also real-time precedes
  (:func:`~consistency_lab.check._common.precedes`); both the sequential and the
  linearizability checks respect that order, so both imply this check.  A pending
  operation (the client never learned its outcome) orders nothing after it, as in
  the sequential check: it may have landed late.
* **reads-from** (wr): the write whose value a read returned, on the read's key.
  A successful compare-and-set reads the value it expected and writes its new one.
* **causal order** (co): the transitive closure of so ∪ wr.

The history is causally consistent here when none of these patterns occurs:

* ``CyclicCO``: co has a cycle (a read depends on a write that depends on it);
* ``ThinAirRead``: a read returned a value no write wrote;
* ``WriteCOInitRead``: a read returned the initial value (``None``) although a write
  of its key is in its causal past;
* ``WriteCORead``: a read returned the value of w1 although another write w2 of its
  key lies causally between them (w1 co w2 co read): w1 was overwritten in its past.

The paper's full CC also forbids two patterns on a per-operation happens-before
(``WriteHBInitRead``, ``CyclicHB``), which this check does not look for, so it can
accept a few histories CC rejects; every sequentially consistent history passes it.
Real time plays no part: a causally consistent store may serve an old value long
after a newer write finished, as long as no causal path forbids it.

Checking takes one pass over the causal order: reachability as bitsets in
topological order, then one look at each read and each write of its key.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterable

from consistency_lab.history import History, Operation

from ._accesses import hashable
from ._common import checkable_ops, precedes
from .builtin_models import describe_op
from .pattern_result import PatternResult
from .result import format_op

_SUPPORTED = ("('write', v), ('read', None), ('cas', (old, new)), ('put', k, v), ('get', k, None), "
              "('write', k, v), ('read', k, None), ('cas', k, (old, new))")


@dataclass(frozen=True)
class _Node:
    """One operation's part in the causal order: what it wrote and what it read (key, value)."""

    key: Any
    writes: Any = None
    reads: Any = None
    does_write: bool = False
    does_read: bool = False


def _node(op: Operation) -> _Node:
    inp = op.input
    f = inp[0] if isinstance(inp, (tuple, list)) and inp else None
    ok = op.status == "ok"
    if f == "write" and len(inp) == 2:
        return _Node(None, writes=inp[1], does_write=True)
    if f == "read" and len(inp) == 2:
        return _Node(None, reads=op.output, does_read=ok)
    if f == "cas" and len(inp) == 2:
        old, new = inp[1]
        if op.status == "info":  # may have swapped: its write may be what someone read
            return _Node(None, writes=new, does_write=True)
        if op.output is True:
            return _Node(None, writes=new, reads=old, does_write=True, does_read=True)
        return _Node(None)  # a refused compare says little about what it saw
    if f in ("write", "read", "cas") and len(inp) == 3:  # cas-kv: one register per key (the etcd runs)
        plain = _node(Operation(op.client_id, (f, inp[2]), op.call, op.output, op.return_time, op.status))
        return _Node(inp[1], plain.writes, plain.reads, plain.does_write, plain.does_read)
    if f == "put" and len(inp) == 3:
        return _Node(inp[1], writes=inp[2], does_write=True)
    if f == "get" and len(inp) == 3:
        return _Node(inp[1], reads=op.output, does_read=ok)
    raise ValueError(f"input={inp!r} is not supported by the causal check; allowed: {_SUPPORTED}")


def causal_graph(ops: Iterable[Operation] | History) -> tuple[list[Operation], list[_Node], list[list[int]]]:
    """(operations in call order, their nodes, successor lists of so ∪ wr); raises ValueError on bad input."""
    ops = checkable_ops(ops)
    nodes = [_node(op) for op in ops]
    writer: dict[tuple[Any, Any], int] = {}
    for i, nd in enumerate(nodes):
        if not nd.does_write:
            continue
        if nd.writes is None:
            raise ValueError(f"write of None by client {ops[i].client_id!r} must not be: None is the initial "
                             "value, so a read of it could not tell which write it saw")
        try:
            twin = writer.setdefault((nd.key, nd.writes), i)
        except TypeError:
            raise ValueError(f"written value {nd.writes!r} must be hashable for the causal check") from None
        if twin != i:
            raise ValueError(f"value {nd.writes!r} is written twice to key {nd.key!r} (clients "
                             f"{ops[twin].client_id!r} and {ops[i].client_id!r}); the causal check needs "
                             "unique written values per key")
    succ: list[list[int]] = [[] for _ in ops]
    sessions: dict[Any, list[int]] = {}
    for i, op in enumerate(ops):
        sessions.setdefault(op.client_id, []).append(i)
    for mine in sessions.values():
        if all(precedes(ops[a], ops[b]) for a, b in zip(mine, mine[1:])):
            # The usual client, one operation at a time: a chain, and transitivity does the rest.
            for a, b in zip(mine, mine[1:]):
                if not ops[a].pending:
                    succ[a].append(b)
            continue
        for k, a in enumerate(mine):  # a client with overlapping operations: every ordered pair
            if not ops[a].pending:
                succ[a].extend(b for b in mine[k + 1:] if precedes(ops[a], ops[b]))
    for i, nd in enumerate(nodes):
        if nd.does_read and nd.reads is not None:
            w = writer.get((nd.key, nd.reads)) if hashable(nd.reads) else None
            if w is not None and w != i:
                succ[w].append(i)
    return ops, nodes, succ


def _find_cycle(succ: list[list[int]]) -> list[int] | None:
    """A cycle of the graph (its nodes in order), or None; iterative DFS, deterministic."""
    colour = [0] * len(succ)  # 0 new, 1 on the stack, 2 done
    parent = [-1] * len(succ)
    for root in range(len(succ)):
        if colour[root]:
            continue
        stack = [(root, iter(succ[root]))]
        colour[root] = 1
        while stack:
            node, it = stack[-1]
            nxt = next(it, None)
            if nxt is None:
                colour[node] = 2
                stack.pop()
            elif colour[nxt] == 1:
                cycle = [node]
                while cycle[-1] != nxt:
                    cycle.append(parent[cycle[-1]])
                return cycle[::-1]
            elif colour[nxt] == 0:
                colour[nxt], parent[nxt] = 1, node
                stack.append((nxt, iter(succ[nxt])))
    return None


def _ancestors(succ: list[list[int]]) -> list[int]:
    """Bitset of the strict causal past of each node (the graph must be acyclic)."""
    n = len(succ)
    indeg = [0] * n
    for outs in succ:
        for j in outs:
            indeg[j] += 1
    order = [i for i in range(n) if indeg[i] == 0]
    anc = [0] * n
    for i in order:  # grows while iterating: Kahn's topological order
        for j in succ[i]:
            anc[j] |= anc[i] | (1 << i)
            indeg[j] -= 1
            if indeg[j] == 0:
                order.append(j)
    return anc


def _text(op: Operation) -> str:
    return format_op(op, describe_op(op.input, op.output))


def check_causal(ops: Iterable[Operation] | History) -> PatternResult:
    """Is the history causally consistent (module docstring)?  The witness is the bad pattern's operations."""
    ops, nodes, succ = causal_graph(ops)
    name = "causal"
    cycle = _find_cycle(succ)
    if cycle is not None:
        shown = " → ".join(_text(ops[i]) for i in cycle)
        return PatternResult(name, False, "CyclicCO", tuple(ops[i] for i in cycle),
                             f"the causal order goes round in a circle: {shown} → back to the first", ops)
    anc = _ancestors(succ)
    writes_of: dict[Any, list[int]] = {}
    for i, nd in enumerate(nodes):
        if nd.does_write:
            writes_of.setdefault(nd.key, []).append(i)
    writer = {(nodes[i].key, nodes[i].writes): i for ws in writes_of.values() for i in ws}
    for r, nd in enumerate(nodes):
        if not nd.does_read:
            continue
        past = anc[r]
        if nd.reads is None:
            for w in writes_of.get(nd.key, []):
                if past >> w & 1:
                    return PatternResult(
                        name, False, "WriteCOInitRead", (ops[w], ops[r]),
                        f"{_text(ops[r])} returned the initial value, yet {_text(ops[w])} is in its causal past",
                        ops)
            continue
        w1 = writer.get((nd.key, nd.reads)) if hashable(nd.reads) else None
        if w1 is None:
            return PatternResult(name, False, "ThinAirRead", (ops[r],),
                                 f"{_text(ops[r])} returned a value that no write wrote", ops)
        for w2 in writes_of.get(nd.key, []):
            if w2 != w1 and w2 != r and past >> w2 & 1 and anc[w2] >> w1 & 1:
                return PatternResult(
                    name, False, "WriteCORead", (ops[w1], ops[w2], ops[r]),
                    f"{_text(ops[r])} returned the value of {_text(ops[w1])}, which {_text(ops[w2])} had "
                    "overwritten in the read's causal past", ops)
    return PatternResult(name, True, reason="no read returns a value overwritten in its causal past", ops=ops)
