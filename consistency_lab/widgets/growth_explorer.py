"""Chapter 10's explorer: what each choice costs per day as users grow, and where the cheaper one flips.

Each user count on the grid is two short growth runs (eventual with 500 writes, strong
with 100): they measure anomalies per write and milliseconds per write.  The grid is one
point per decade and the runs are shorter than the chapter's study (which keeps its own
sizes), so that a new seed or simulation knob answers within the explorers' update budget.  The business
knobs (tickets per anomaly, the cost of a ticket, the cost of a millisecond) only
re-price those measurements, so the runs are kept by their simulation inputs and a
cost knob redraws without simulating again.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from ..scenarios.growth import GrowthRow, GrowthStudy, Measured, cost_study, measure_growth
from .base import Explorer, dropdown, float_slider, slider

__all__ = ["GrowthExplorer", "GrowthExplorerResult", "GRID", "WRITES", "STRONG_WRITES"]

#: The user counts drawn (one per decade) and the writes each run simulates.
GRID = (1_000, 10_000, 100_000, 1_000_000)
WRITES = 500
STRONG_WRITES = 100
X_LIMITS = (700.0, 1_500_000.0)


@dataclass
class GrowthExplorerResult:
    """The priced grid, the row at the chosen user count, and the numbers beside the figure."""

    study: GrowthStudy
    chosen: GrowthRow
    params: dict
    metrics: dict


class GrowthExplorer(Explorer):
    """Move the user count, the activity, the shared records and the cost assumptions; see the flip move."""

    title = "Eventual or strong as users grow? Anomaly tickets against coordination, per day"
    metric_labels = {
        "updates_per_record_day": ("updates per record per day", "count"),
        "anomaly_probability": ("writes that conflict (eventual, measured)", "pct"),
        "anomalies_per_day": ("anomalies per day (eventual)", "count"),
        "tickets_per_day": ("support tickets per day", "num"),
        "extra_ms": ("ms coordination adds per write (measured)", "ms"),
        "anomaly_cost_per_day": ("eventual: ticket cost per day ($)", "count"),
        "coordination_cost_per_day": ("strong: waiting cost per day ($)", "count"),
        "choice": ("cheaper here", "num"),
        "flip_users": ("the choice flips at (users)", "count"),
    }
    shown_metrics = list(metric_labels)
    figsize = (7.5, 3.8)
    margins = dict(left=0.11, right=0.97, bottom=0.14, top=0.9)

    def __init__(self, seed: int = 0, **initial: Any) -> None:
        self._runs: dict[tuple, Measured] = {}
        super().__init__(seed, **initial)

    def make_controls(self) -> dict:
        """Users, actions per user, shared records, mergeable share and the three cost assumptions."""
        return {
            "users_k": slider(100, 1, 1000, "active users (thousands)"),
            "actions_per_user_day": slider(20, 1, 200, "updates per user per day"),
            "shared_keys": dropdown("1000", ["20", "100", "1000", "10000"], "shared records"),
            "mergeable_share": float_slider(0.0, 0.0, 1.0, "share of mergeable updates", step=0.1,
                                            readout_format=".1f"),
            "tickets_per_anomaly": float_slider(0.05, 0.0, 0.5, "tickets per anomaly (assumed)"),
            "cost_per_ticket": slider(15, 1, 100, "cost per ticket ($)"),
            "cost_per_ms_micro": slider(10, 0, 100, "cost per ms waited (µ$)"),
        }

    def _measure(self, params: dict, users: int) -> Measured:
        """Both runs at ``users`` (kept by their simulation inputs: same inputs, same numbers)."""
        key = (params["seed"], users, params["actions_per_user_day"], params["shared_keys"],
               params["mergeable_share"])
        if key not in self._runs:
            if len(self._runs) > 400:  # a long session moves many sliders: keep memory bounded
                self._runs.clear()
            self._runs[key] = measure_growth(users, seed=params["seed"], writes=WRITES, strong_writes=STRONG_WRITES,
                                             actions_per_user_day=float(params["actions_per_user_day"]),
                                             shared_keys=int(params["shared_keys"]),
                                             mergeable_share=float(params["mergeable_share"]))
        return self._runs[key]

    def run(self, params: dict) -> GrowthExplorerResult:
        """Measure the grid and the chosen user count, then price both with the cost knobs."""
        costs = dict(tickets_per_anomaly=float(params["tickets_per_anomaly"]),
                     cost_per_ticket=float(params["cost_per_ticket"]),
                     cost_per_ms=params["cost_per_ms_micro"] * 1e-6)
        study = cost_study([self._measure(params, u) for u in GRID], **costs)
        users = params["users_k"] * 1000
        (chosen,) = cost_study([self._measure(params, users)], **costs).rows
        d = chosen.decision
        metrics = {"updates_per_record_day": chosen.per_key_rate_per_s * 86_400,
                   "per_key_rate_per_s": chosen.per_key_rate_per_s, "anomaly_probability": chosen.anomaly_probability,
                   "anomalies_per_day": chosen.anomalies_per_day, "tickets_per_day": d.tickets_per_day,
                   "extra_ms": chosen.extra_ms, "anomaly_cost_per_day": d.anomaly_cost_per_day,
                   "coordination_cost_per_day": d.coordination_cost_per_day, "choice": d.choice,
                   "flip_users": study.flip_users if study.flip_users is not None else math.nan}
        return GrowthExplorerResult(study, chosen, dict(params), metrics)

    def render(self, result: GrowthExplorerResult, fig) -> None:
        """The chapter's two-panel growth figure (drawn from scratch)."""
        from ..plots.growth_plots import plot_growth
        plot_growth(result.study, fig.subplots(1, 2))

    def setup(self, live) -> None:
        """One log-log axes: both cost curves, the flip line and the chosen user count, updated in place."""
        from ..plots.growth_plots import ANOMALY_COLOUR, COORD_COLOUR, FLIP_COLOUR
        from ..plots.live import lean_axes

        ax = live.fig.add_subplot()
        self._ax = ax
        (self._anomaly,) = ax.plot([], [], marker="o", color=ANOMALY_COLOUR, label="eventual: ticket cost")
        (self._coord,) = ax.plot([], [], marker="s", color=COORD_COLOUR, label="strong: waiting cost")
        self._flip = ax.axvline(GRID[0], color=FLIP_COLOUR, ls=":", label="the choice flips")
        (self._here,) = ax.plot([], [], ls="none", marker="D", markersize=8, markerfacecolor="none",
                                color=FLIP_COLOUR, label="your user count")
        # A measured zero has no place on a log axis: show it on the bottom edge, hollow, not as a gap.
        (self._none_seen,) = ax.plot([], [], ls="none", marker="o", markerfacecolor="none", clip_on=False,
                                     color=ANOMALY_COLOUR, label="eventual: no anomaly in the run")
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlim(*X_LIMITS)
        ax.set_ylim(0.1, 1e6)
        lean_axes(ax, "Cost per day of each choice", x=False, y=False)
        ax.set_xlabel("active users (log scale)")
        ax.set_ylabel("cost per day ($, log scale)")
        ax.grid(True, alpha=0.25)
        self._legend = ax.legend(handles=[self._anomaly, self._none_seen, self._coord, self._flip, self._here],
                                 loc="upper left",
                                 fontsize="small", framealpha=1.0, fancybox=False)
        live.dynamic(self._anomaly, self._none_seen, self._coord, self._flip, self._here)
        live.overlay(self._legend)

    def refresh(self, result: GrowthExplorerResult, live) -> None:
        """New curves and markers; the y axis spans whole decades, so most moves keep the background."""
        rows = result.study.rows
        users = [r.users for r in rows]
        anomaly = [(u, r.decision.anomaly_cost_per_day) for u, r in zip(users, rows)
                   if r.decision.anomaly_cost_per_day > 0]
        coord = [(u, r.decision.coordination_cost_per_day) for u, r in zip(users, rows)
                 if r.decision.coordination_cost_per_day > 0]
        self._anomaly.set_data([u for u, _ in anomaly], [c for _, c in anomaly])
        self._coord.set_data([u for u, _ in coord], [c for _, c in coord])
        flip = result.study.flip_users
        self._flip.set_visible(flip is not None)
        if flip is not None:
            self._flip.set_xdata([flip, flip])
        d = result.chosen.decision
        here = [c for c in (d.anomaly_cost_per_day, d.coordination_cost_per_day) if c > 0]
        self._here.set_data([result.chosen.users] * len(here), here)
        values = [c for _, c in anomaly + coord] + here
        lo = 10 ** math.floor(math.log10(min(values))) if values else 0.1
        hi = 10 ** math.ceil(math.log10(max(values) * 1.5)) if values else 1e6
        lo, hi = max(lo, 1e-3), max(hi, lo * 100)
        # Keep the current decades while the data fits and leaves at most one spare decade at
        # either end: a new axis range redraws the whole figure, and seeds mostly differ by less.
        cur_lo, cur_hi = self._ax.get_ylim()
        if not (cur_lo <= lo <= 10 * cur_lo and cur_hi / 10 <= hi <= cur_hi):
            self._ax.set_ylim(lo, hi)
        none_seen = [u for u, r in zip(users, rows) if r.decision.anomaly_cost_per_day == 0]
        self._none_seen.set_data(none_seen, [self._ax.get_ylim()[0]] * len(none_seen))
        return None
