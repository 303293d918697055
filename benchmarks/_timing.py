"""Tiny helpers shared by the benchmarks: best-of-N timing and a result table."""

from __future__ import annotations

import time
from typing import Callable


def best_of(fn: Callable[[], object], repeat: int = 3) -> float:
    """Fastest wall-clock time of ``repeat`` calls, in seconds (least disturbed by noise)."""
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def samples(fn: Callable[[], object], n: int) -> list[float]:
    """Wall-clock times of ``n`` calls, in milliseconds."""
    out = []
    for _ in range(n):
        t0 = time.perf_counter()
        fn()
        out.append((time.perf_counter() - t0) * 1000)
    return out


def table(rows: list[tuple], header: tuple) -> str:
    """A plain-text table."""
    widths = [max(len(str(x)) for x in col) for col in zip(header, *rows)]
    line = lambda r: "  ".join(str(x).ljust(w) for x, w in zip(r, widths))
    return "\n".join([line(header), line(tuple("-" * w for w in widths))] + [line(r) for r in rows])
