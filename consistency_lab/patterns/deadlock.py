"""Deadlock detection on a wait-for graph, and the rule that picks who is aborted.

A transaction *waits for* another when the other holds a lock it needs in a
conflicting mode, or has a conflicting request ahead of it in the lock's FIFO queue.
A deadlock is a cycle in that graph: nobody on it can ever move again, so one of
them (the *victim*) must be aborted.

These are pure functions of a ``waits_for(txn) -> txns`` callable, so they can be
tested on hand-drawn graphs; :class:`~consistency_lab.patterns.locks.LockManager`
calls them with its live lock table.  Transaction ids are integers.
"""

from __future__ import annotations

from typing import Callable, Iterable, Mapping, Optional

from ..validation import choice

__all__ = ["find_cycle", "choose_victim", "VICTIM_RULES"]

#: How a victim is picked from a cycle:
#: ``youngest``: the transaction that began last (by its *first* attempt, so a retried
#: transaction ages and eventually wins: no starvation); ``fewest-locks``: the one
#: holding the fewest locks (least to undo and redo; it can starve); ``requester``:
#: the one whose request closed the cycle (cheapest to decide: what PostgreSQL does,
#: since the backend that runs the check aborts itself).
VICTIM_RULES = ("youngest", "fewest-locks", "requester")


def find_cycle(start: int, waits_for: Callable[[int], Iterable[int]]) -> Optional[list[int]]:
    """A cycle of the wait-for graph through ``start`` (``[start, t1, ..., tn]``, tn waits for start), or None.

    Only cycles through ``start`` are looked for: when detection runs on every block,
    a new cycle can only appear with the newly blocked transaction's own edges, so
    every cycle that exists passes through it.
    """
    end = object()
    path = [start]
    on_path = {start}
    finished: set[int] = set()  # explored without finding a way back to start
    stack = [iter(waits_for(start))]
    while stack:
        nxt = next(stack[-1], end)
        if nxt is end:
            stack.pop()
            done = path.pop()
            on_path.discard(done)
            finished.add(done)
            continue
        if nxt == start:
            return list(path)
        if nxt in on_path or nxt in finished:
            continue  # a cycle that avoids start, or a dead end already explored
        path.append(nxt)  # type: ignore[arg-type]
        on_path.add(nxt)  # type: ignore[arg-type]
        stack.append(iter(waits_for(nxt)))  # type: ignore[arg-type]
    return None


def choose_victim(cycle: list[int], rule: str, *, birth: Mapping[int, float],
                  locks_held: Mapping[int, int]) -> int:
    """The transaction of ``cycle`` to abort under ``rule`` (one of :data:`VICTIM_RULES`).

    ``cycle[0]`` is the requester; ties are broken by the larger id (the later-planned
    transaction), so the choice is deterministic.
    """
    choice("victim", rule, VICTIM_RULES)
    if not cycle:
        raise ValueError("cycle=[] must hold at least one transaction")
    if rule == "requester":
        return cycle[0]
    if rule == "youngest":
        return max(cycle, key=lambda t: (birth[t], t))
    return min(cycle, key=lambda t: (locks_held[t], -birth[t], -t))
