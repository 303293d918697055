"""Eventual consistency as convergence: once the writes stop, everyone sees the same thing.

A history shows this through its **final reads**: each client's last read of a key,
when it was called after every write of that key had been called and every completed
one had returned (a pending write counts as finished at its call, since nothing more
is known of it).  They must all return the same value, and it must be a value the
replicas can end on: for a register, not the initial value once a write completed,
and not a write that a later completed write (in real time) replaced; for a log,
one that holds every completed append.  Earlier reads may still
disagree after the writes stop: replicas take a while to catch up, and "eventually"
allows that; what counts is where each client's view ends.  When the replicas' final states are known
(``replica_states``), they must be equal too (:func:`~.convergence.check_convergence`).

This is a liveness promise checked at the end of a finite run: it says nothing about
what reads return while writes are still coming in, and with no final read and no
replica states there is nothing to judge (``holds`` is None).
"""

from __future__ import annotations

from typing import Any, Hashable, Iterable, Mapping

from consistency_lab.history import History, Operation

from ._accesses import access
from ._common import checkable_ops, precedes
from .builtin_models import describe_op
from .convergence import check_convergence
from .pattern_result import PatternResult
from .result import format_op


def final_reads(ops: Iterable[Operation] | History) -> dict[Any, list[Operation]]:
    """Key -> each client's last read of it, if called after the key's writes stopped (module docstring)."""
    accesses = [a for op in checkable_ops(ops) if (a := access(op)) is not None]
    quiet: dict[Any, float] = {}
    for a in accesses:
        if a.is_write:
            end = a.op.call if a.op.pending else a.op.return_time
            quiet[a.key] = max(quiet.get(a.key, float("-inf")), end)
    last: dict[tuple[Any, Hashable], Operation] = {}
    for a in accesses:  # in call order, so the last one stays
        if not a.is_write:
            last[(a.key, a.op.client_id)] = a.op
    out: dict[Any, list[Operation]] = {}
    for (key, _client), op in last.items():
        if op.call >= quiet.get(key, float("-inf")):
            out.setdefault(key, []).append(op)
    for reads in out.values():
        reads.sort(key=lambda op: op.call)
    return out


def check_eventual(
    ops: Iterable[Operation] | History, replica_states: Mapping[Hashable, Any] | None = None
) -> PatternResult:
    """Do all final reads of each key agree (and the replicas, when given)?  Witness: two that differ."""
    ops = checkable_ops(ops)
    name = "eventual"
    finals = final_reads(ops)
    writes: dict[Any, list] = {}
    for a in (a for op in ops if (a := access(op)) is not None and a.is_write):
        writes.setdefault(a.key, []).append(a)
    for key, reads in finals.items():
        for r in reads:
            stale = _stale(r, writes.get(key, []))
            if stale is not None:
                return PatternResult(name, False, "StaleFinalRead", (stale.op, r) if stale is not r else (r,),
                                     f"after the writes stopped, {_text(r)} still misses {_text(stale.op)}", ops)
        first = reads[0]
        other = next((r for r in reads if r.output != first.output), None)
        if other is not None:
            where = "" if key is None else f" of key {key!r}"
            return PatternResult(
                name, False, "DivergentFinalReads", (first, other),
                f"after the writes{where} stopped, {_text(first)} and {_text(other)} disagree", ops)
    if replica_states is not None:
        conv = check_convergence(replica_states)
        if not conv.converged:
            return PatternResult(name, False, "ReplicasDiffer", (), conv.explain(), ops)
    n = sum(len(r) for r in finals.values())
    if not n and replica_states is None:
        return PatternResult(name, None, reason="no read came after the writes stopped, and no replica "
                             "states were given", ops=ops)
    parts = [f"the clients' final reads agree ({n})"] if n else []
    if replica_states is not None:
        parts.append(f"the {len(replica_states)} replicas hold the same state")
    return PatternResult(name, True, reason=" and ".join(parts), ops=ops)


def _stale(r: Operation, writes: list) -> Any:
    """A completed write that final read ``r`` should reflect and does not, or None."""
    done = [w for w in writes if not w.op.pending]
    if any(w.append for w in writes):
        got = r.output if isinstance(r.output, tuple) else ()
        return next((w for w in done if w.value not in got), None)
    if r.output is None:
        return done[0] if done else None
    seen = [w for w in writes if w.value == r.output]
    if not seen:
        return None  # a value from nowhere: the prefix and causal checks say so
    return next((w for w in done if precedes(seen[0].op, w.op)), None)


def _text(op: Operation) -> str:
    return format_op(op, describe_op(op.input, op.output))



