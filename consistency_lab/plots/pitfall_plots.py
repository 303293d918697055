"""Chapter 09's figures: lock waits in a CMS, perceived latency with optimistic UI, balances, silent drift."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any, Mapping, Optional, Sequence

from .style import MODE_COLOURS, OKABE_ITO, PALETTE, finish, new_figure

if TYPE_CHECKING:  # pragma: no cover
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

__all__ = ["plot_lock_waits", "plot_perceived_cdf", "plot_perceived_cut", "plot_balances", "plot_drift",
           "cdf_points", "THRESHOLD_BAND_MS", "BAND_COLOUR"]

#: The perception thresholds drawn as a band (ms).
THRESHOLD_BAND_MS = (100.0, 200.0)
BAND_COLOUR = OKABE_ITO["grey"]


def cdf_points(values: Sequence[float]) -> tuple[list[float], list[float]]:
    """(sorted finite values, share of all values at or below each, in %): a step CDF's points."""
    data = sorted(v for v in values if not math.isinf(v))
    n = len(values)
    return data, [100.0 * (i + 1) / n for i in range(len(data))]


def plot_lock_waits(sweep: Mapping[str, Sequence[Any]], ax: "Optional[Axes]" = None) -> "Figure":
    """Save lock wait p50/p99 (and the publish wait p99 of drafts) against the number of editors, per CMS mode."""
    fig, ax = new_figure(7.0, 3.8, ax)
    styles = {"locked": OKABE_ITO["vermillion"], "drafts": OKABE_ITO["blue"]}
    for mode, runs in sweep.items():
        editors = [r.params["editors"] for r in runs]
        colour = styles.get(mode, PALETTE[0])
        ax.plot(editors, [r.metrics["save_wait_p99_ms"] for r in runs], marker="o", color=colour,
                label=f"{mode}: save lock wait p99")
        ax.plot(editors, [r.metrics["save_wait_p50_ms"] for r in runs], marker=".", ls="--", color=colour,
                label=f"{mode}: save lock wait p50")
        if mode == "drafts":
            ax.plot(editors, [r.metrics["publish_wait_p99_ms"] for r in runs], marker="s", ls=":",
                    color=OKABE_ITO["bluish green"], label="drafts: publish lock wait p99")
    ax.set_ylim(bottom=0)
    finish(ax, "Lock wait per save as editors are added", "editors working at once", "lock wait (ms)",
           loc="upper left")
    return fig


def plot_perceived_cdf(results: Mapping[str, Any], ax: "Optional[Axes]" = None) -> "Figure":
    """CDF of perceived latency per run (rollbacks charged), with the 100-200 ms band; x on a log scale."""
    from ..patterns.optimistic_ui import perceived_latency_ms

    fig, ax = new_figure(7.0, 3.8, ax)
    ax.axvspan(*THRESHOLD_BAND_MS, color=BAND_COLOUR, alpha=0.2, lw=0, label="100-200 ms: feels instant")
    for (label, r), colour in zip(results.items(), PALETTE):
        xs, ys = cdf_points([perceived_latency_ms(d, r.params["rollback_penalty_ms"]) for d in r.deliveries])
        ax.step(xs, ys, where="post", color=colour, label=label)
    ax.set_xscale("log")
    ax.set_ylim(0, 101)
    finish(ax, "Perceived latency per message (rollbacks charged)", "time from send to true feedback (ms, log)",
           "messages at or below (%)", loc="lower right")
    return fig


def plot_perceived_cut(rows: Sequence[tuple[float, float, float]], ax: "Optional[Axes]" = None) -> "Figure":
    """The cut in mean perceived latency against server time, one line per refusal rate; the 50 % claim dashed.

    ``rows`` are (server_ms, refusal, cut as a fraction).
    """
    fig, ax = new_figure(7.0, 3.8, ax)
    refusals = sorted({r for _s, r, _c in rows})
    for refusal, colour in zip(refusals, PALETTE):
        pts = sorted((s, c) for s, r, c in rows if r == refusal)
        ax.plot([s for s, _ in pts], [100 * c for _, c in pts], marker="o", color=colour,
                label=f"refusal {100 * refusal:g} %")
    ax.axhline(50, color=OKABE_ITO["black"], ls="--", lw=1, label="the article's 50 %")
    ax.axhline(0, color=OKABE_ITO["grey"], lw=0.8)
    ax.set_xscale("log")
    finish(ax, "Optimistic UI: cut in mean perceived latency", "server's median answer time (ms, log)",
           "cut against pessimistic (%)", loc="lower right", fontsize="x-small")
    return fig


def plot_balances(results: Mapping[str, Any], ax: "Optional[Axes]" = None) -> "Figure":
    """The true balance over time per payments run (labels "eventual"/"reservation" get their usual colours)."""
    fig, ax = new_figure(7.0, 3.8, ax)
    ax.axhline(0, color=OKABE_ITO["black"], lw=1, label="zero balance")
    for (label, r), fallback in zip(results.items(), PALETTE):
        colour = MODE_COLOURS.get(label, fallback)  # "eventual" and "reservation" as in every chapter
        series = r.balance_series
        end = r.params["duration_ms"] + r.params["timeout_ms"]
        ax.step([t for t, _ in series] + [end], [b for _, b in series] + [series[-1][1]], where="post",
                color=colour, label=label)
    finish(ax, "True balance as spends are approved", "time (ms)", "balance (money units)", loc="upper right")
    return fig


def plot_drift(results: Mapping[str, Any], notice_at: Optional[float] = None,
               ax: "Optional[Axes]" = None) -> "Figure":
    """Divergent timelines over time per timeline run, with the level at which users notice (if given)."""
    fig, ax = new_figure(7.0, 3.8, ax)
    for (label, r), colour in zip(results.items(), PALETTE):
        ax.plot([t / 1000 for t, _ in r.divergence], [v for _, v in r.divergence], color=colour, label=label)
    if notice_at is not None:
        ax.axhline(notice_at, color=OKABE_ITO["vermillion"], ls="--", lw=1, label="users notice")
    ax.set_ylim(bottom=0)
    finish(ax, "Wrong timelines over time", "time (s)", "timelines that differ from the truth",
           loc="upper left")
    return fig
