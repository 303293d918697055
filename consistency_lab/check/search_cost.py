"""How much searching a check takes: model steps counted, wall time, and the brute force's n!.

The checkers explore orders of operations; each order they try is built one model
step at a time, so the number of ``Model.step`` calls measures the search.  Counting
wraps the model's step function, so the checkers themselves stay untouched.
:func:`concurrent_writes_history` builds the kind of history that makes the search
grow: many writes overlapping in time, then reads whose values rule out every order
but the last one tried.
"""

from __future__ import annotations

import math
import random
import time
from dataclasses import dataclass, replace
from typing import Any, Callable

from consistency_lab.history import Operation
from consistency_lab.validation import count

from .model_type import Model


@dataclass(frozen=True)
class SearchCost:
    """One measured check: its verdict, the model steps it took, and how long (s)."""

    verdict: str
    steps: int
    seconds: float
    n_ops: int

    @property
    def orders(self) -> int:
        """n!: the orders of the operations a brute force may try."""
        return math.factorial(self.n_ops)


def measure_search(check: Callable[..., Any], model: Model, ops: list[Operation], **kwargs: Any) -> SearchCost:
    """Run ``check(model, ops, **kwargs)`` with a step-counting copy of ``model``."""
    steps = 0
    inner = model.step

    def counted(state, input, output):
        nonlocal steps
        steps += 1
        return inner(state, input, output)

    started = time.perf_counter()
    result = check(replace(model, step=counted), ops, **kwargs)
    return SearchCost(result.verdict, steps, time.perf_counter() - started, len(ops))


def concurrent_writes_history(writes: int, seed: int = 0, legal: bool = False,
                              overlap: int | None = None) -> list[Operation]:
    """``writes`` writes of distinct values and as many reads, overlapping in batches, then one last read.

    Writes and reads come in batches of ``overlap`` of each (default, or more than ``writes``: one batch of
    all), the operations of a batch overlapping in time and the batches one after
    another.  Each read returns a value written in its batch, so many orders of a
    batch are legal.  The last read starts after everything ended: with ``legal`` it
    returns a value of the last batch that can be placed last, otherwise the initial
    value, which no order allows, so the search must rule out every (placed
    operations, register value) combination before it can say "illegal".  Seeded:
    the same arguments give the same history.
    """
    writes = count("writes", writes, low=2, high=40)
    overlap = writes if overlap is None else min(writes, count("overlap", overlap, low=1, high=40))
    rng = random.Random(seed)
    ops = []
    for c in range(writes):
        batch, first = divmod(c, overlap)[0], c - c % overlap
        values = range(first, min(first + overlap, writes))
        t0 = 20.0 * batch
        ops.append(Operation(f"w{c}", ("write", c), t0 + rng.uniform(0, 1), None, t0 + 10 + rng.uniform(0, 1)))
        ops.append(Operation(f"r{c}", ("read", None), t0 + rng.uniform(0, 1), rng.choice(values),
                             t0 + 10 + rng.uniform(0, 1)))
    end = 20.0 * ((writes - 1) // overlap) + 12
    last = ops[-1].output if legal else None
    ops.append(Operation("r-last", ("read", None), end, last, end + 1))
    return ops
