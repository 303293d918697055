"""Chapter 10's figures: anomalies and costs as users grow, the ticket assumption, the game platform."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Mapping, Optional, Sequence

from .style import MODE_COLOURS, OKABE_ITO, PALETTE, finish, new_figure

if TYPE_CHECKING:  # pragma: no cover
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

__all__ = ["plot_growth", "plot_ticket_sensitivity", "plot_game_platform", "ANOMALY_COLOUR", "COORD_COLOUR"]

ANOMALY_COLOUR = MODE_COLOURS["eventual"]
COORD_COLOUR = MODE_COLOURS["sync"]
FLIP_COLOUR = OKABE_ITO["black"]


def _positive(xs: Sequence[float], ys: Sequence[float]) -> tuple[list, list]:
    """The points a log axis can show (a measured zero has no place on it)."""
    pts = [(x, y) for x, y in zip(xs, ys) if y > 0 and not math.isnan(y)]
    return [x for x, _ in pts], [y for _, y in pts]


def plot_growth(study, axes: Optional[Sequence["Axes"]] = None) -> "Figure":
    """Two panels against users (log x): measured anomalies per day; anomaly cost and coordination cost per day."""
    if axes is None:
        from matplotlib.figure import Figure
        fig = Figure(figsize=(11.0, 4.0), layout="constrained")
        axes = fig.subplots(1, 2)
    ax1, ax2 = axes
    users = study.users
    rows = study.rows
    ax1.plot(*_positive(users, [r.anomalies_per_day for r in rows]), marker="o", color=ANOMALY_COLOUR,
             label="anomalies/day under eventual (measured)")
    ax1.plot(users, [r.detection_limit_per_day for r in rows], ls="--", color=OKABE_ITO["grey"],
             label="one anomaly in the whole run (detection limit)")
    ax2.plot(*_positive(users, [r.decision.anomaly_cost_per_day for r in rows]), marker="o", color=ANOMALY_COLOUR,
             label="eventual: cost of the tickets anomalies cause")
    ax2.plot(*_positive(users, [r.decision.coordination_cost_per_day for r in rows]), marker="s",
             color=COORD_COLOUR, label="strong: cost of the added waiting")
    for ax in (ax1, ax2):
        ax.set_xscale("log")
        ax.set_yscale("log")
    # A measured zero has no place on a log axis: show it on the bottom edge, hollow, not as a gap.
    none_seen = [u for u, r in zip(users, rows) if r.decision.anomaly_cost_per_day == 0]
    if none_seen:
        bottom = ax2.get_ylim()[0]
        ax2.plot(none_seen, [bottom] * len(none_seen), ls="none", marker="o", markerfacecolor="none",
                 clip_on=False, color=ANOMALY_COLOUR, label="eventual: no anomaly in the run")
        ax2.set_ylim(bottom=bottom)  # the markers sit on the edge; autoscaling must not move it under them
    for ax in (ax1, ax2):
        if study.flip_users is not None:
            ax.axvline(study.flip_users, color=FLIP_COLOUR, ls=":",
                       label=f"cheaper choice flips at about {study.flip_users:,.0f} users")
    finish(ax1, "Anomalies per day as users grow", "active users (log scale)", "anomalies per day (log scale)",
           loc="upper left")
    finish(ax2, "What each choice costs per day", "active users (log scale)", "cost per day ($, log scale)",
           loc="upper left")
    return ax1.figure


def plot_ticket_sensitivity(row, tickets_per_anomaly: Sequence[float], decisions: Sequence,
                            ax: Optional["Axes"] = None) -> "Figure":
    """At one user count: the anomaly cost for each assumed tickets-per-anomaly against the coordination cost."""
    fig, ax = new_figure(7.0, 3.8, ax)
    costs = [d.anomaly_cost_per_day for d in decisions]
    ax.plot(tickets_per_anomaly, costs, marker="o", color=ANOMALY_COLOUR, label="eventual: ticket cost per day")
    ax.axhline(decisions[0].coordination_cost_per_day, color=COORD_COLOUR, ls="--",
               label="strong: waiting cost per day")
    for t, d, c in zip(tickets_per_anomaly, decisions, costs):
        ax.annotate(d.choice, (t, c), textcoords="offset points", xytext=(0, 6), ha="center", fontsize="small")
    finish(ax, f"Which choice, if each anomaly brings this many tickets? ({row.users:,} users)",
           "support tickets per anomaly (an assumption)", "cost per day ($)")
    return fig


def plot_game_platform(results: Mapping[str, object], axes: Optional[Sequence["Axes"]] = None) -> "Figure":
    """Per stage: what players see (share of sessions) and what they wait (ms, p50), side by side."""
    if axes is None:
        from matplotlib.figure import Figure
        fig = Figure(figsize=(11.0, 4.0), layout="constrained")
        axes = fig.subplots(1, 2)
    ax1, ax2 = axes
    names = list(results)
    width = 0.38
    xs = range(len(names))
    seen = [("missing_friend_share", "a friend missing at start"), ("double_win_share", "two players both win")]
    for i, (key, label) in enumerate(seen):
        ax1.bar([x + (i - 0.5) * width for x in xs], [100 * results[n].metrics[key] for n in names], width,
                color=PALETTE[i + 1], label=label)
    waits = [("start_latency_p50_ms", "session start (p50)"), ("move_latency_p50_ms", "a move (p50)")]
    for i, (key, label) in enumerate(waits):
        ax2.bar([x + (i - 0.5) * width for x in xs], [results[n].metrics[key] for n in names], width,
                color=PALETTE[[0, 2][i]], label=label)
    for ax in (ax1, ax2):
        ax.set_xticks(list(xs), names, fontsize="small")
    finish(ax1, "What players see", "stage of the migration", "sessions affected (%)")
    finish(ax2, "What players wait", "stage of the migration", "time (ms)")
    return ax1.figure
