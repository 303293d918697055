"""The obvious checker: try every order.  Only for tiny histories and for testing.

It shares no code with the real searches, so agreement between them is evidence
that both are right.
"""

from __future__ import annotations

from itertools import combinations, permutations
from typing import Iterable

from consistency_lab.history import History, Operation

from .model_type import UNKNOWN, Model

MAX_BRUTE_FORCE_OPS = 9


def _before(a: Operation, b: Operation) -> bool:
    # Same rule as the real checker, written out independently: touching intervals
    # are ordered unless both are zero-length at the same instant.
    if a.return_time < b.call:
        return True
    if a.return_time == b.call:
        return not (a.call == a.return_time == b.call == b.return_time)
    return False


def _legal(model: Model, order: tuple[Operation, ...]) -> bool:
    state = model.init()
    for op in order:
        output = UNKNOWN if op.status == "info" else op.output
        legal, state = model.step(state, op.input, output)
        if not legal:
            return False
    return True


def _orders(
    ops: Iterable[Operation] | History, before
) -> Iterable[tuple[Operation, ...]]:
    ops = [op for op in ops if op.status != "fail"]
    if len(ops) > MAX_BRUTE_FORCE_OPS:
        raise ValueError(
            f"len(ops)={len(ops)} is too many for brute force; at most "
            f"{MAX_BRUTE_FORCE_OPS} allowed"
        )
    done = [op for op in ops if not op.pending]
    pending = [op for op in ops if op.pending]
    for r in range(len(pending) + 1):
        for chosen in combinations(pending, r):
            for order in permutations(done + list(chosen)):
                if all(
                    not before(order[j], order[i])
                    for i in range(len(order))
                    for j in range(i + 1, len(order))
                ):
                    yield order


def brute_force_linearizable(model: Model, ops: Iterable[Operation] | History) -> bool:
    """True if some subset of pending ops plus all completed ops has a legal real-time order."""
    return any(_legal(model, order) for order in _orders(ops, _before))


def brute_force_sequential(model: Model, ops: Iterable[Operation] | History) -> bool:
    """True if some legal order keeps each client's program (call) order."""

    ops = list(ops)
    # Program order: by call time, ties in the given order.  A pending op holds
    # back nothing (it may land late), as in the real checkers.
    position = {id(op): (op.call, k) for k, op in enumerate(ops)}

    def program_before(a: Operation, b: Operation) -> bool:
        return a.client_id == b.client_id and not a.pending and position[id(a)] < position[id(b)]

    return any(_legal(model, order) for order in _orders(ops, program_before))
