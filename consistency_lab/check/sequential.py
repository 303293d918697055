"""Sequential consistency: one legal order that keeps each client's program order.

Unlike linearizability this ignores real time between clients, and it is not
compositional (checking each key alone is not enough), so the whole history is
searched at once.

Program order of a client is call order (exact ties keep the given order).  A
pending operation is treated as in the linearizability check: it may take effect
at any point after the client's earlier operations, or never, and it does not
hold back the client's later operations (a timed-out request may still land
late).  This keeps "linearizable implies sequentially consistent" true.

The search state is (position in each client's completed operations, set of
pending operations placed, model state), memoised like the linearizability
search, and a legal read is placed greedily as in the linearizability check.
Its size can grow like the product over clients of (operations + 1), so this is
meant for small histories; give it a timeout.
"""

from __future__ import annotations

import time
from typing import Iterable

from consistency_lab.history import History, Operation

from ._common import (
    by_client,
    checkable_ops,
    deadline_for,
    step_output,
    validate_model,
    validate_timeout,
)
from .model_type import Model
from .result import CheckResult, Witness

_CLOCK_EVERY = 1024


def check_sequential(
    model: Model, ops: Iterable[Operation] | History, timeout: float | None = None
) -> CheckResult:
    """Is the history sequentially consistent with respect to ``model``?

    Respects only per-client program order (call order), not real time.  Meant for
    small histories; ``timeout`` (wall-clock seconds) gives verdict "unknown".
    """
    validate_model(model)
    timeout = validate_timeout(timeout)
    deadline = deadline_for(timeout)
    started = time.perf_counter()
    checked = checkable_ops(ops)
    outcome = _Search(model, checked).run(deadline)
    elapsed = time.perf_counter() - started
    common = dict(kind="sequential", model=model, n_ops=len(checked), elapsed_s=elapsed, ops=checked)
    if outcome is None:
        return CheckResult(
            "unknown", reason=f"the search ran out of time (timeout={timeout:g} s)", **common
        )
    found, path, stuck, state = outcome
    if found:
        return CheckResult("ok", order=[checked[i] for i in path], **common)
    witness = Witness([checked[i] for i in path], [checked[i] for i in stuck], state)
    return CheckResult("illegal", witness=witness, **common)


def sequential_search_size(ops: Iterable[Operation] | History) -> int:
    """Number of program-position combinations the search may visit: prod over clients of (n_c + 1)."""
    size = 1
    for prog in by_client(checkable_ops(ops)):
        size *= len(prog) + 1
    return size


class _Search:
    """Iterative memoised DFS over (positions, placed pending ops, state)."""

    def __init__(self, model: Model, ops: list[Operation]) -> None:
        self.model = model
        self.ops = ops
        self.programs: list[list[int]] = []  # completed ops per client, program order
        self.floating: list[tuple[int, int, int]] = []  # (op, client, release position)
        for c, prog in enumerate(by_client(ops)):
            done: list[int] = []
            for i in prog:
                if ops[i].pending:
                    self.floating.append((i, c, len(done)))
                else:
                    done.append(i)
            self.programs.append(done)
        self.inputs = [op.input for op in ops]
        self.outputs = [step_output(op) for op in ops]
        self.pure = (
            [bool(model.pure(op.input, step_output(op))) for op in ops] if model.pure else []
        )

    def _node_moves(self, node: tuple):
        """Moves worth trying at ``node``: a legal pure op alone, else all moves.

        A pure operation (a read) that is next in its client's program and legal
        now can go first in any valid completion from here, as nothing else is
        bound to precede it and it changes no state; so it is the only branch.
        """
        positions, placed, state = node
        if self.pure:
            for c, prog in enumerate(self.programs):
                if positions[c] < len(prog):
                    i = prog[positions[c]]
                    if self.pure[i] and self.model.step(state, self.inputs[i], self.outputs[i])[0]:
                        return iter([(i, c, 0)])
        return self._moves(positions, placed)

    def _moves(self, positions: tuple[int, ...], placed: int):
        """Candidate (op, client or -1, pending bit) moves: completed ops first."""
        for c, prog in enumerate(self.programs):
            if positions[c] < len(prog):
                yield prog[positions[c]], c, 0
        for k, (i, c, release) in enumerate(self.floating):
            if not placed >> k & 1 and positions[c] >= release:
                yield i, -1, 1 << k

    def run(self, deadline: float | None):
        """None on timeout, else (found, path, stuck ops, state after path)."""
        step = self.model.step
        goal = tuple(len(p) for p in self.programs)
        start = (tuple(0 for _ in self.programs), 0, self.model.init())
        seen = {start}
        # Each frame: (node, iterator over its moves).  path[k] is the op placed
        # to reach frame k + 1.
        frames = [(start, self._node_moves(start))]
        path: list[int] = []
        best: tuple[list[int], tuple] = ([], start)
        steps = 0
        while frames:
            steps += 1
            if deadline is not None and steps % _CLOCK_EVERY == 1:
                if time.monotonic() >= deadline:
                    return None
            node, moves = frames[-1]
            positions, placed, state = node
            if positions == goal:
                return True, path, [], state
            child = None
            for i, c, bit in moves:
                legal, new_state = step(state, self.inputs[i], self.outputs[i])
                if not legal:
                    continue
                if c >= 0:
                    new_positions = positions[:c] + (positions[c] + 1,) + positions[c + 1:]
                else:
                    new_positions = positions
                key = (new_positions, placed | bit, new_state)
                if key in seen:
                    continue
                seen.add(key)
                child = (key, i)
                break
            if child is None:
                if len(path) > len(best[0]):
                    best = (list(path), node)
                frames.pop()
                if path:
                    path.pop()
                continue
            key, i = child
            frames.append((key, self._node_moves(key)))
            path.append(i)
        best_path, (positions, placed, state) = best
        stuck = [
            i
            for i, c, _ in self._moves(positions, placed)
            if c >= 0 and not step(state, self.inputs[i], self.outputs[i])[0]
        ]
        return False, best_path, stuck, state
