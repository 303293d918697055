"""Figures for register runs: latency CDFs, stale reads against time, replica values."""

from __future__ import annotations

import bisect
import math
from typing import TYPE_CHECKING, Mapping, Optional, Sequence

from .style import MODE_COLOURS, OKABE_ITO, PALETTE, finish, new_figure, shade_windows

if TYPE_CHECKING:  # pragma: no cover
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

__all__ = ["plot_latency_cdf", "plot_stale_vs_age", "plot_replica_values", "stale_by_age"]


def _colour(label: str, i: int) -> str:
    return MODE_COLOURS.get(label, PALETTE[i % len(PALETTE)])


def plot_latency_cdf(latencies: Mapping[str, Sequence[float]], *, title: str = "Operation latency",
                     ax: "Optional[Axes]" = None, log: bool = False) -> "Figure":
    """Empirical CDF per series: what share of operations finished within x ms."""
    fig, ax = new_figure(7, 4, ax)
    for i, (label, values) in enumerate(latencies.items()):
        data = sorted(v for v in values if not math.isinf(v))
        if not data:
            continue
        ys = [(k + 1) / len(data) for k in range(len(data))]
        ax.step(data, ys, where="post", color=_colour(label, i), label=f"{label} (n={len(data)})")
    if log:
        ax.set_xscale("log")
    ax.set_ylim(0, 1.02)
    finish(ax, title, "latency (ms)", "share of operations finished", loc="lower right")
    return fig


def stale_by_age(ops: Sequence, edges: Sequence[float], stale: Optional[Sequence] = None) -> list[tuple[int, int]]:
    """For each age bin, (stale reads, reads); age = ms since the latest write finished.

    ``stale`` is the run's stale reads when already known (a RegisterResult keeps them).
    """
    if stale is None:
        from ..metrics import stale_reads
        stale = stale_reads(ops)
    stale_ids = {id(op) for op in stale}
    ends = sorted(op.return_time for op in ops if op.input[0] == "write" and op.status == "ok")
    bins = [[0, 0] for _ in range(len(edges) - 1)]
    for op in ops:
        if op.input[0] != "read" or op.status != "ok":
            continue
        i = bisect.bisect_left(ends, op.call) - 1
        if i < 0:
            continue
        age = op.call - ends[i]
        b = bisect.bisect_right(edges, age) - 1
        if 0 <= b < len(bins):
            bins[b][1] += 1
            bins[b][0] += id(op) in stale_ids
    return [(s, n) for s, n in bins]


def plot_stale_vs_age(runs: Mapping[str, object], *, edges: Optional[Sequence[float]] = None,
                      title: str = "Stale reads against time since the last write",
                      ax: "Optional[Axes]" = None) -> "Figure":
    """Share of reads that were stale, by how long after the latest completed write they began."""
    edges = list(edges or [0, 5, 10, 20, 40, 80, 160, 320, 640])
    fig, ax = new_figure(7, 4, ax)
    mids = [(a + b) / 2 for a, b in zip(edges, edges[1:])]
    for i, (label, res) in enumerate(runs.items()):
        counts = stale_by_age(res.history.operations, edges, getattr(res, "stale", None))
        xs = [m for m, (s, n) in zip(mids, counts) if n]
        ys = [s / n for s, n in counts if n]
        ax.plot(xs, ys, marker="o", color=_colour(label, i), label=label)
    ax.set_ylim(-0.02, 1.02)
    finish(ax, title, "time since the latest write finished (ms)", "share of reads that were stale")
    return fig


def plot_replica_values(result, *, title: str = "What each replica holds",
                        ax: "Optional[Axes]" = None) -> "Figure":
    """Step plot of each replica's visible value (the write's number) over time, faults shaded."""
    fig, ax = new_figure(8, 3.8, ax)
    replicas = sorted(result.replica_states)
    series: dict[str, list[tuple[float, float]]] = {r: [(0.0, 0.0)] for r in replicas}
    for t, replica, value in result.change_log:
        v = value if not isinstance(value, tuple) else max(value)
        series[replica].append((t, float(v) if v is not None else 0.0))
    for i, r in enumerate(replicas):
        pts = series[r] + [(result.end_time, series[r][-1][1])]
        xs, ys = zip(*pts)
        ax.step(xs, ys, where="post", color=PALETTE[i % len(PALETTE)], label=r, lw=1.4, alpha=0.9)
    shade_windows(ax, result.faults.partition_windows(), "partition", OKABE_ITO["grey"], end=result.end_time)
    shade_windows(ax, [(c.start, c.end) for c in result.faults.crashes()], "crash",
                  OKABE_ITO["vermillion"], end=result.end_time)
    finish(ax, title, "virtual time (ms)", "value held (write number)", loc="upper left")
    return fig
