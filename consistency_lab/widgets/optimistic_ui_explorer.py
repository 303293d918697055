"""Chapter 09's explorer: a chat client with and without optimistic UI, against the 100-200 ms threshold.

Each update runs the same 200 messages twice, in the chosen mode and in the other
one, so the figure can show both perceived-latency curves and the table can give
the cut that optimistic UI makes (the article's "50 %").
"""

from __future__ import annotations

import math
from typing import Any, Mapping

from ..scenarios import get_scenario
from .base import Explorer, float_slider, slider, toggle

__all__ = ["OptimisticUIExplorer", "WORKLOAD", "X_RANGE_MS"]

#: The explorer's fixed workload: 200 messages over 20 s, default network and penalty.
WORKLOAD = dict(messages=200, duration_ms=20_000.0)
#: The fixed x range of the figure (ms, log scale): every run fits, so the axes never move.
X_RANGE_MS = (5.0, 10_000.0)


class OptimisticUIExplorer(Explorer):
    """Change the server's answer time, how often it refuses, and whether the client is optimistic."""

    title = "Optimistic UI: when does a chat feel instant? (200 messages; a rollback costs 300 ms more)"
    metric_labels = {
        "feedback_p50_ms": ("time to first feedback, p50 (ms)", "ms"),
        "confirmation_p50_ms": ("time to the server's answer, p50 (ms)", "ms"),
        "perceived_mean_ms": ("perceived latency, mean (ms)", "ms"),
        "perceived_under_200ms": ("messages perceived within 200 ms", "pct"),
        "rollback_rate": ("messages rolled back", "pct"),
        "perceived_cut": ("cut in mean perceived latency by optimistic UI", "pct"),
    }
    shown_metrics = list(metric_labels)
    figsize = (9.0, 3.8)
    margins = dict(left=0.08, right=0.98, bottom=0.15, top=0.9)

    def make_controls(self) -> dict:
        """Server answer time, refusal rate, optimistic on or off."""
        return {
            "server_ms": slider(400, 10, 2000, "server answer time, median (ms)", step=10),
            "refusal": float_slider(0.05, 0.0, 0.6, "share refused by the server", step=0.05,
                                    readout_format=".2f"),
            "optimistic": toggle(True, "optimistic UI: show at once"),
        }

    def scenario_params(self, params: dict, optimistic: bool) -> dict:
        """The messaging scenario's parameters for these control values, in the given mode."""
        return {**WORKLOAD, "server_ms": float(params["server_ms"]), "refusal": float(params["refusal"]),
                "optimistic": optimistic}

    def run(self, params: dict) -> Any:
        """Run the chosen mode, and the other one for comparison (kept in ``result.extra["other"]``)."""
        scenario = get_scenario("messaging")
        mine = scenario.run(params["seed"], **self.scenario_params(params, bool(params["optimistic"])))
        other = scenario.run(params["seed"], **self.scenario_params(params, not params["optimistic"]))
        mine.extra["other"] = other
        return mine

    def metrics(self, result: Any) -> Mapping[str, Any]:
        """The run's metrics plus the cut in mean perceived latency, optimistic against pessimistic."""
        m = dict(result.metrics)
        runs = (result, result.extra["other"])
        opt, pess = runs if result.params["optimistic"] else runs[::-1]
        a, b = opt.metrics["perceived_mean_ms"], pess.metrics["perceived_mean_ms"]
        m["perceived_cut"] = 1.0 - a / b if b and not (math.isnan(a) or math.isnan(b)) else math.nan
        return m

    def _curves(self, result: Any) -> dict[str, tuple[list[float], list[float]]]:
        from ..patterns.optimistic_ui import perceived_latency_ms
        from ..plots.pitfall_plots import cdf_points

        penalty = result.params["rollback_penalty_ms"]
        other = result.extra["other"]
        return {
            "feedback": cdf_points([d.feedback_ms for d in result.deliveries]),
            "confirmation": cdf_points([d.confirmation_ms for d in result.deliveries]),
            "perceived": cdf_points([perceived_latency_ms(d, penalty) for d in result.deliveries]),
            "other": cdf_points([perceived_latency_ms(d, penalty) for d in other.deliveries]),
        }

    def render(self, result: Any, fig) -> None:
        """The same figure drawn from scratch (the benchmark's bare redraw)."""
        from ..plots.pitfall_plots import plot_perceived_cdf

        mode = "optimistic" if result.params["optimistic"] else "pessimistic"
        other = "pessimistic" if result.params["optimistic"] else "optimistic"
        plot_perceived_cdf({mode: result, other: result.extra["other"]}, ax=fig.subplots())

    def setup(self, live) -> None:
        """One log-x axes with fixed limits, the threshold band, and four step lines updated in place."""
        from ..plots.live import lean_axes
        from ..plots.pitfall_plots import BAND_COLOUR, THRESHOLD_BAND_MS
        from ..plots.style import OKABE_ITO

        ax = live.fig.subplots()
        self._ax = ax
        ax.set_xscale("log")
        lean_axes(ax, "Share of messages with feedback by a given time")
        ax.axvspan(*THRESHOLD_BAND_MS, color=BAND_COLOUR, alpha=0.2, lw=0, label="100-200 ms: feels instant")
        styles = {"feedback": (OKABE_ITO["sky blue"], ":", "time to first feedback"),
                  "confirmation": (OKABE_ITO["orange"], "--", "time to the server's answer"),
                  "perceived": (OKABE_ITO["blue"], "-", "perceived latency (this mode)"),
                  "other": (OKABE_ITO["grey"], "-", "perceived latency (other mode)")}
        self._lines = {k: ax.step([], [], where="post", color=c, ls=ls, label=label,
                                  lw=2 if k == "perceived" else 1.2)[0]
                       for k, (c, ls, label) in styles.items()}
        ax.set_xlim(*X_RANGE_MS)
        ax.set_ylim(0, 101)
        ax.set_xlabel("time from pressing send (ms, log)")
        ax.set_ylabel("messages at or below (%)")
        ax.grid(True, alpha=0.25)
        ax.legend(loc="lower right", fontsize="x-small", framealpha=0.9)
        live.dynamic(*self._lines.values())

    def refresh(self, result: Any, live) -> Any:
        """New curves; axes and legend stay."""
        for key, (xs, ys) in self._curves(result).items():
            self._lines[key].set_data(xs, ys)
        return None
