"""Small, dependency-free statistics used by every scenario's metrics."""

from __future__ import annotations

import math
from typing import Iterable, Sequence

__all__ = ["percentile", "latency_summary", "rate", "stale_reads"]


def percentile(values: Sequence[float], q: float) -> float:
    """The q-th percentile (0..100) by linear interpolation; NaN for no values."""
    if not 0 <= q <= 100:
        raise ValueError(f"q={q!r} must be between 0 and 100")
    data = sorted(v for v in values if not math.isinf(v))
    if not data:
        return math.nan
    if len(data) == 1:
        return float(data[0])
    pos = (len(data) - 1) * q / 100.0
    lo = math.floor(pos)
    hi = min(lo + 1, len(data) - 1)
    return float(data[lo] + (data[hi] - data[lo]) * (pos - lo))


def latency_summary(values: Iterable[float], prefix: str) -> dict[str, float]:
    """p50/p95/p99/max of finite latencies (ms), keyed ``{prefix}_p50_ms`` etc."""
    data = sorted(v for v in values if not math.isinf(v))
    return {
        f"{prefix}_p50_ms": percentile(data, 50),
        f"{prefix}_p95_ms": percentile(data, 95),
        f"{prefix}_p99_ms": percentile(data, 99),
        f"{prefix}_max_ms": float(data[-1]) if data else math.nan,
    }


def rate(numerator: float, denominator: float) -> float:
    """numerator / denominator, or NaN when the denominator is 0."""
    return numerator / denominator if denominator else math.nan


def stale_reads(ops: Sequence) -> list:
    """Reads that returned a value provably overwritten before the read began.

    Works on register histories whose writes carry unique values.  A read of value v
    (written by w1) is stale if some write w2 finished before the read was called and
    w1 had finished before w2 was called; reading the initial value (None) is stale if
    any write finished before the read.  This needs no search, so it is cheap, and it
    flags only reads that no consistent order could excuse.
    """
    import bisect

    writes = {op.input[1]: op for op in ops if op.input[0] == "write" and op.status != "fail"}
    done = sorted((op.return_time, op.call) for op in ops
                  if op.input[0] == "write" and op.status == "ok")
    ends = [r for r, _ in done]
    latest_call, best = [], -math.inf  # latest call time among writes finished by ends[i]
    for _, c in done:
        best = max(best, c)
        latest_call.append(best)

    def is_stale(value, read_call: float) -> bool:
        i = bisect.bisect_left(ends, read_call) - 1  # writes that finished strictly before
        if i < 0:
            return False
        if value is None:
            return True
        w1 = writes.get(value)
        return w1 is not None and w1.return_time < latest_call[i]

    out = []
    for op in ops:
        if op.input[0] != "read" or op.status != "ok":
            continue
        values = op.output if isinstance(op.output, tuple) else (op.output,)
        if all(is_stale(v, op.call) for v in values):
            out.append(op)
    return out

