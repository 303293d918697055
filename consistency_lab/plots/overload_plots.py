"""Overload figures over time: success, the store's queue, and latency percentiles of the successful requests."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any, Optional

from .style import OKABE_ITO, finish

if TYPE_CHECKING:  # pragma: no cover
    from matplotlib.axes import Axes

__all__ = ["plot_overload_timeline", "fault_window", "PERCENTILE_STYLES", "SUCCESS_COLOUR", "QUEUE_COLOUR"]

#: (percentile, legend label, colour) of the latency lines.
PERCENTILE_STYLES = ((50, "p50", OKABE_ITO["blue"]), (99, "p99", OKABE_ITO["orange"]),
                     (99.9, "p99.9", OKABE_ITO["vermillion"]))
SUCCESS_COLOUR = OKABE_ITO["bluish green"]
QUEUE_COLOUR = OKABE_ITO["reddish purple"]


def fault_window(params: dict) -> Optional[tuple[float, float]]:
    """(start, end) ms of the slow index in an overload run's parameters, or None without one."""
    if params["index_slowdown"] <= 1.0 or params["index_fault_ms"] <= 0:
        return None
    start = params["index_fault_start_ms"]
    return start, start + params["index_fault_ms"]


def plot_overload_timeline(result: Any, axes: "tuple[Axes, Axes, Axes]", bin_ms: float = 250.0) -> None:
    """Success per bin of arrivals, requests waiting at the store, and p50/p99/p99.9 per bin; the fault shaded."""
    ax1, ax2, ax3 = axes
    success = result.success_over_time(bin_ms)
    latency = result.latency_over_time(bin_ms, tuple(q for q, _l, _c in PERCENTILE_STYLES))
    mids = [t + bin_ms / 2 for t, _r, _n in success]
    ax1.plot(mids, [100 * r for _t, r, _n in success], marker=".", color=SUCCESS_COLOUR, label="success rate")
    ax2.plot([t for t, _q, _b in result.samples], [q for _t, q, _b in result.samples], color=QUEUE_COLOUR,
             label=f"waiting (sampled every {result.params['sample_ms']:g} ms)")
    for i, (_q, label, colour) in enumerate(PERCENTILE_STYLES):
        ax3.plot(mids, [qs[i] for _t, qs in latency], marker=".", color=colour, label=label)
    window = fault_window(result.params)
    for ax in axes:
        if window is not None:
            ax.axvspan(*window, color="#999999", alpha=0.2, lw=0, label="slow index" if ax is ax1 else None)
        ax.set_xlim(0, result.params["duration_ms"])
    # A band below 0 % and below 5 ms holds the legends, so they never cover a line.
    ax1.set_ylim(-22, 103)
    ax1.set_yticks([0, 25, 50, 75, 100])
    finish(ax1, f"Success per {bin_ms:g} ms of arrivals", "time (ms)", "answered ok (%)",
           loc="lower center", ncol=2, fontsize="x-small")
    ax2.set_ylim(0, max(20.0, 1.3 * max((q for _t, q, _b in result.samples), default=0)))
    finish(ax2, "Requests waiting at the store", "time (ms)", "requests", loc="upper left", fontsize="x-small")
    values = [v for _t, qs in latency for v in qs if not math.isnan(v)]
    ax3.set_yscale("log")
    ax3.set_ylim(1, max(1000.0, 1.3 * max(values, default=0.0)))
    finish(ax3, "Latency of the successful (log)", "time (ms)", "arrival to answer (ms)",
           loc="lower center", ncol=3, fontsize="x-small")
