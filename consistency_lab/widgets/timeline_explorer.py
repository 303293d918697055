"""Chapter 06's explorer: the social timeline, its lossy feed and the reconciliation daemon, scrubbed in time.

A run is 30 users acting for 8 s (300 posts, 300 follow actions); the scrubber replays
the run without re-simulating: drift, the feed's backlog age and the daemon's repairs,
each drawn up to the scrubbed time.
"""

from __future__ import annotations

import bisect
import math
from typing import Any, Mapping

from ..scenarios import get_scenario
from .base import Explorer, float_slider, slider, toggle

__all__ = ["TimelineExplorer", "WORLD", "success_text", "time_axis_end"]

#: The explorer's fixed world (the controls change the pipeline, not the social network).
WORLD = dict(users=30, posts=300, follows=300, duration_ms=8000.0, consumer_crashes=0, burst_at=0.5,
             burst_ms=500.0, outage_at=0.5, page_size=10)


def success_text(metrics: Mapping[str, Any]) -> str:
    """The reconciliation success rate as an operator should read it: "no repairs" when there were none."""
    if metrics["repairs"] == 0:
        return "no repairs"
    return f"{100 * metrics['reconciliation_success_rate']:.0f}%"


def time_axis_end(current: float, end_s: float) -> float:
    """The time axis' end (s) for a run ending at ``end_s``: ``current`` while the run fits with 2-30% to spare,
    else the next whole second after ``end_s`` plus 5%.

    Runs end within a tenth of a second of each other (the settle period ends on the feed's 100 ms drain
    steps), so a "nice" end would flip between 10 and 15 s and redraw every axis for most new seeds.
    """
    if not (math.isfinite(end_s) and end_s > 0):
        raise ValueError(f"end_s={end_s!r} must be a positive number of seconds")
    if end_s * 1.02 <= current <= end_s * 1.3 + 1.0:
        return current
    return float(math.ceil(end_s * 1.05))


class TimelineExplorer(Explorer):
    """Change loss, the daemon, its interval and grace period, a burst and an outage; scrub through the run."""

    title = "Timelines fed by a lossy consumer, kept right by a reconciliation daemon (30 users, 8 s)"
    metric_labels = {
        "events_lost": ("events lost before the log", "count"),
        "divergent_timelines_max": ("most timelines wrong at once", "count"),
        "divergent_timelines_final": ("timelines wrong at the end", "count"),
        "backlog_age_max_ms": ("oldest unprocessed event, max (ms)", "ms"),
        "consumer_lag_p99_ms": ("consumer lag p99 (ms)", "ms"),
        "repairs": ("repairs", "count"),
        "false_repairs": ("... of them false (only lagging)", "count"),
        "success": ("reconciliation success rate", "num"),
        "convergence_time_ms": ("all right again after the workload (ms)", "ms"),
    }
    shown_metrics = list(metric_labels)
    figsize = (10.0, 3.5)
    margins = dict(left=0.06, right=0.975, bottom=0.15, top=0.88, wspace=0.38)

    def make_controls(self) -> dict:
        """Loss, the daemon and its interval and grace period, a burst of posts, an outage of the feed."""
        return {
            "loss": float_slider(0.03, 0.0, 0.2, "events lost on the way (share)"),
            "reconciliation": toggle(True, "reconciliation daemon"),
            "scan_interval_ms": slider(500, 100, 2000, "daemon: a pass every (ms)", step=100),
            "grace_ms": slider(0, 0, 2000, "daemon: grace period (ms)", step=100),
            "burst_posts": slider(0, 0, 2000, "burst of extra posts at 4 s", step=100),
            "outage_ms": slider(0, 0, 3000, "feed outage from 4 s (ms)", step=250),
        }

    def disabled_controls(self, params: dict) -> dict[str, str]:
        """The interval and the grace period belong to the daemon."""
        if not params["reconciliation"]:
            hint = "the daemon is off"
            return {"scan_interval_ms": hint, "grace_ms": hint}
        return {}

    def run(self, params: dict) -> Any:
        """Simulate the timeline with these settings."""
        return get_scenario("timeline").run(
            params["seed"], **WORLD, loss=float(params["loss"]),
            reconciliation="on" if params["reconciliation"] else "off",
            scan_interval_ms=float(params["scan_interval_ms"]), grace_ms=float(params["grace_ms"]),
            burst_posts=int(params["burst_posts"]), outage_ms=float(params["outage_ms"]))

    def metrics(self, result: Any) -> Mapping[str, Any]:
        """The scenario's metrics, times in ms, with the success rate in words."""
        m = result.metrics
        ms = {f"{k[:-2]}_ms": m[k] * 1000.0 for k in ("backlog_age_max_s", "consumer_lag_p99_s", "convergence_time_s")}
        return {**m, **ms, "success": success_text(m)}

    # -- the figure ----------------------------------------------------------------------
    def setup(self, live) -> None:
        """Three panels over the run; the lines so far and the now lines are dynamic."""
        from matplotlib.legend import Legend

        from ..plots.live import lean_axes, time_spans
        from ..plots.style import OKABE_ITO

        axes = live.fig.subplots(1, 3)
        self._ax = axes
        ax1, ax2, ax3 = axes
        lean_axes(ax1, "Timelines that differ from the truth")
        lean_axes(ax2, "Age of the oldest unprocessed event")
        lean_axes(ax3, "The daemon's repairs so far")
        self._spans = [time_spans(ax, "#999999", alpha=0.2) for ax in axes]
        (self._div,) = ax1.plot([], [], drawstyle="steps-post", color=OKABE_ITO["vermillion"], label="divergent")
        (self._age,) = ax2.plot([], [], color=OKABE_ITO["reddish purple"], label="backlog age")
        (self._rep,) = ax3.plot([], [], drawstyle="steps-post", color=OKABE_ITO["blue"], label="repairs")
        (self._false,) = ax3.plot([], [], drawstyle="steps-post", color=OKABE_ITO["orange"], label="false repairs")
        self._now = [ax.axvline(0, color="black", lw=1.0, ls=":", label="now") for ax in axes]
        for ax, ylabel in zip(axes, ("timelines", "seconds", "repairs"), strict=True):
            ax.set_xlabel("simulated time (s)")
            ax.set_ylabel(ylabel)
            ax.grid(True, alpha=0.25)
            ax.set_xlim(0, 10)
        ax1.set_ylim(0, 30)
        for ax in axes:
            ax.set_axisbelow(True)  # grid beneath the (dynamic) spans, as in a full redraw
        # The burst and outage spans are painted over the cached background: moving either control
        # then redraws no axes.
        live.dynamic(*self._spans, self._div, self._age, self._rep, self._false, *self._now)
        for ax, handles in ((ax1, [self._div, self._now[0]]), (ax2, [self._age, self._now[1]]),
                            (ax3, [self._rep, self._false])):
            live.overlay(Legend(ax, handles, [h.get_label() for h in handles], loc="upper left", fontsize="x-small",
                                framealpha=1.0, fancybox=False, borderpad=0.3, handlelength=1.5))

    def refresh(self, result: Any, live) -> Any:
        """Axes for the new run (time, and the largest values it reaches); the burst or outage shaded."""
        from ..plots.live import set_spans, sticky_limit

        ax1, ax2, ax3 = self._ax
        end_s = result.end_time / 1000.0
        x_end = time_axis_end(self._ax[0].get_xlim()[1], end_s)
        for ax in self._ax:
            ax.set_xlim(0, x_end)
        ax1.set_ylim(0, result.params["users"] * 1.05)
        age = max((s.backlog_age_ms for s in result.lag), default=0.0) / 1000.0
        ax2.set_ylim(0, sticky_limit(ax2.get_ylim()[1], age * 1.2, 0.1, slack=0.3))
        ax3.set_ylim(0, sticky_limit(ax3.get_ylim()[1], len(result.repairs) * 1.1, 10.0, slack=0.3))
        windows = []
        p = result.params
        start = p["burst_at"] * p["duration_ms"] / 1000.0
        if p["burst_posts"] > 0:
            windows.append((start, start + p["burst_ms"] / 1000.0))
        if p["outage_ms"] > 0:
            at = p["outage_at"] * p["duration_ms"] / 1000.0
            windows.append((at, at + p["outage_ms"] / 1000.0))
        for spans in self._spans:
            set_spans(spans, windows, end_s)
        # Precomputed once per run, so a scrub only slices lists.
        self._series = {
            "div": ([t / 1000.0 for t, _v in result.divergence], [v for _t, v in result.divergence]),
            "age": ([s.time / 1000.0 for s in result.lag], [s.backlog_age_ms / 1000.0 for s in result.lag]),
            "rep": ([r.time / 1000.0 for r in result.repairs], list(range(1, len(result.repairs) + 1))),
            "false": ([r.time / 1000.0 for r in result.repairs if r.false],
                      list(range(1, sum(r.false for r in result.repairs) + 1))),
        }
        return None  # lines and spans are dynamic: the background changes only with the axes' limits

    def time_range(self, result: Any) -> tuple[float, float]:
        """The whole run, from 0 to the end of the settle period (ms)."""
        return 0.0, result.end_time

    def scrub_step_ms(self, result: Any) -> float:
        """A tenth of a second per step."""
        return 100.0

    def at_time(self, result: Any, t_ms: float, live) -> None:
        """Draw each series up to ``t_ms`` and move the now lines there."""
        t = t_ms / 1000.0
        for line, key in ((self._div, "div"), (self._age, "age"), (self._rep, "rep"), (self._false, "false")):
            xs, ys = self._series[key]
            n = bisect.bisect_right(xs, t)
            if key in ("rep", "false"):  # a cumulative count: start at 0 and hold the last value until now
                line.set_data([0.0, *xs[:n], t], [0, *ys[:n], ys[n - 1] if n else 0])
            else:
                line.set_data(xs[:n], ys[:n])
        for now in self._now:
            now.set_xdata([t, t])

    def divergent_at(self, result: Any, t_ms: float) -> float:
        """Divergent timelines in the last sample at or before ``t_ms`` (what the left panel ends on)."""
        times = [t for t, _v in result.divergence]
        n = bisect.bisect_right(times, t_ms)
        return result.divergence[n - 1][1] if n else math.nan
