"""Raft figures: how long a cluster is without a leader after the leader crashes (the paper's Figure 16)."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Mapping, Optional, Sequence

from .style import PALETTE, finish, new_figure

if TYPE_CHECKING:  # pragma: no cover
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

__all__ = ["plot_downtime_cdf", "plot_election_cdfs"]


def plot_downtime_cdf(downtimes: Mapping[str, Sequence[float]], *, title: str = "Time without a leader",
                      ax: "Optional[Axes]" = None, log: bool = False) -> "Figure":
    """Cumulative share of trials with a new leader within x ms, one curve per election-timeout range.

    Trials that never elected a leader (``inf``) stay in the denominator, so such a curve
    never reaches 100 %, and the legend says how many there were.
    """
    fig, ax = new_figure(7, 4, ax)
    for i, (label, values) in enumerate(downtimes.items()):
        finite = sorted(v for v in values if not math.isinf(v))
        missing = len(values) - len(finite)
        note = f", {missing} never" if missing else ""
        if finite:
            ys = [100.0 * (k + 1) / len(values) for k in range(len(finite))]
            ax.step(finite, ys, where="post", color=PALETTE[i % len(PALETTE)], label=f"{label} ms{note}")
        else:
            ax.plot([], [], color=PALETTE[i % len(PALETTE)], label=f"{label} ms (no leader in any trial)")
    if log:
        ax.set_xscale("log")
    ax.set_ylim(0, 102)
    finish(ax, title, "time without a leader (ms)", "cumulative share of trials (%)", loc="lower right")
    return fig


def plot_election_cdfs(top: Mapping[str, Sequence[float]], bottom: Mapping[str, Sequence[float]]) -> "Figure":
    """The two panels of Figure 16: randomness added to a 150 ms minimum (log time axis), then the range scaled."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(8, 7), layout="constrained")
    upper, lower = fig.subplots(2, 1)
    plot_downtime_cdf(top, title="More randomness in the election timeout (minimum 150 ms)", ax=upper, log=True)
    plot_downtime_cdf(bottom, title="Shorter election timeouts (range doubles its minimum)", ax=lower)
    return fig
