"""Chapter 11's explorer: the same 200 orders by saga or by two-phase commit, the coordinator crashing.

Orders arrive at 100 per second for two seconds; order 50 triggers the crash.  The
left panel is what a reader meets over time (locks held in doubt under 2PC, orders seen
half-done under the saga), the crash shaded; the right panel is how the orders ended.
"""

from __future__ import annotations

from typing import Any

from ..scenarios import get_scenario
from .base import Explorer, dropdown, float_slider, slider

__all__ = ["CommitExplorer", "WORKLOAD", "OUTCOME_BARS"]

#: The explorer's fixed workload: 200 orders over two seconds keeps an update near 40 ms (bench_explorers).
WORKLOAD = dict(orders=200, order_rps=100.0, crash_order=50)
#: The outcome bars, top to bottom (lengths from :func:`outcomes`).
OUTCOME_BARS = ("committed", "declined by payment", "aborted for another reason", "left half-done")


def outcomes(m: dict) -> list[float]:
    """The bar lengths for one run's metrics, in ``OUTCOME_BARS`` order."""
    return [m["committed"], m["declined"], m["aborted"] - m["declined"], m["atomicity_violations"]]


class CommitExplorer(Explorer):
    """Pick the protocol, where the coordinator crashes and for how long, the contention and the declines."""

    title = "Saga or two-phase commit: 200 orders, and the coordinator crashes while order 50 is under way"
    metric_labels = {
        "committed": ("orders committed", "count"),
        "aborted": ("orders aborted (all undone)", "count"),
        "atomicity_violations": ("orders left half-done at the end", "count"),
        "in_doubt_max_ms": ("longest lock held in doubt (ms)", "ms"),
        "lock_timeouts": ("prepares that gave up waiting for a lock", "count"),
        "blocked_reads": ("reads blocked by an in-doubt lock", "count"),
        "partial_reads": ("reads that saw a half-done order", "count"),
        "compensations": ("compensations run", "count"),
        "finish_p99_ms": ("slowest 1% of orders to finish (ms)", "ms"),
        "throughput_per_s": ("orders committed per second", "num"),
    }
    shown_metrics = list(metric_labels)
    figsize = (10.0, 3.6)
    margins = dict(left=0.06, right=0.98, bottom=0.15, top=0.9, wspace=0.62)

    def make_controls(self) -> dict:
        """Protocol, crash point, downtime, how many items the orders share, and the decline rate."""
        return {
            "protocol": dropdown("2pc", ["2pc", "saga"], "protocol"),
            "crash_point": dropdown("after_prepare", ["none", "before_prepare", "after_prepare", "after_decision"],
                                    "coordinator crashes"),
            "downtime_ms": slider(500, 0, 2000, "coordinator down for (ms)", step=100),
            "items": slider(5, 1, 50, "stock rows the orders share"),
            "decline": float_slider(0.05, 0.0, 0.3, "cards declined (share)"),
        }

    def disabled_controls(self, params: dict) -> dict[str, str]:
        """No crash: no downtime; a saga locks no stock row, so contention changes nothing."""
        off = {}
        if params["crash_point"] == "none":
            off["downtime_ms"] = "the coordinator never crashes"
        if params["protocol"] == "saga":
            off["items"] = "a saga locks nothing: sharing stock rows costs it no waiting"
        return off

    def run(self, params: dict) -> Any:
        """Simulate the 200 orders with these settings."""
        return get_scenario("commit_protocols").run(
            params["seed"], protocol=params["protocol"], crash_point=params["crash_point"],
            downtime_ms=float(params["downtime_ms"]), items=int(params["items"]), decline=float(params["decline"]),
            **WORKLOAD)

    # -- drawing ---------------------------------------------------------------------
    def render(self, result: Any, fig) -> None:
        """Both panels from scratch (the benchmark's bare redraw)."""
        from ..plots.style import OKABE_ITO, finish, shade_windows

        ax1, ax2 = fig.subplots(1, 2, gridspec_kw={"width_ratios": [3, 2]})
        t = [s[0] for s in result.samples]
        ax1.plot(t, [s[1] for s in result.samples], color=OKABE_ITO["blue"], label="locks held in doubt (2PC)")
        ax1.plot(t, [s[2] for s in result.samples], color=OKABE_ITO["orange"], label="orders seen half-done (saga)")
        if result.crash_window is not None:
            shade_windows(ax1, [result.crash_window], "coordinator down")
        finish(ax1, "What a reader meets", "virtual time (ms)", "orders or locks", loc="upper right",
               fontsize="x-small")
        ax2.barh(range(len(OUTCOME_BARS)), outcomes(result.metrics), color=self._colours())
        ax2.set_yticks(range(len(OUTCOME_BARS)), OUTCOME_BARS, fontsize="x-small")
        ax2.invert_yaxis()
        ax2.set_xlim(0, WORKLOAD["orders"])
        finish(ax2, "How the orders ended", "orders", "", legend=False)

    @staticmethod
    def _colours() -> list[str]:
        from ..plots.style import OKABE_ITO
        return [OKABE_ITO["bluish green"], OKABE_ITO["grey"], OKABE_ITO["vermillion"], OKABE_ITO["black"]]

    def setup(self, live) -> None:
        """Two lines and the crash span over time; four outcome bars; legends as overlays."""
        from matplotlib.legend import Legend
        from matplotlib.patches import Patch

        from ..plots.live import lean_axes, time_spans
        from ..plots.style import OKABE_ITO

        ax1, ax2 = live.fig.subplots(1, 2, gridspec_kw={"width_ratios": [3, 2]})
        self._ax = (ax1, ax2)
        lean_axes(ax1, "What a reader meets")
        lean_axes(ax2, "How the orders ended", y=False)
        self._span = time_spans(ax1, OKABE_ITO["grey"], alpha=0.2)
        (self._doubt,) = ax1.plot([], [], color=OKABE_ITO["blue"], label="locks held in doubt (2PC)")
        (self._partial,) = ax1.plot([], [], color=OKABE_ITO["orange"], label="orders seen half-done (saga)")
        ax1.set_xlabel("virtual time (ms)")
        ax1.set_ylabel("orders or locks")
        ax1.grid(True, alpha=0.25)
        self._bars = list(ax2.barh(range(len(OUTCOME_BARS)), [0] * len(OUTCOME_BARS), color=self._colours()))
        ax2.set_yticks(range(len(OUTCOME_BARS)), OUTCOME_BARS, fontsize="x-small")
        ax2.invert_yaxis()
        ax2.set_xlim(0, WORKLOAD["orders"])
        ax2.set_xlabel("orders")
        ax2.grid(True, axis="x", alpha=0.25)
        # The crash window moves with every seed (it follows order 50), so it is drawn per frame.
        live.dynamic(self._span, self._doubt, self._partial, *self._bars)
        crash = Patch(color=OKABE_ITO["grey"], alpha=0.4, label="coordinator down")
        lg = Legend(ax1, [self._doubt, self._partial, crash], [self._doubt.get_label(), self._partial.get_label(),
                                                               "coordinator down"],
                    loc="upper right", fontsize="x-small", framealpha=1.0, fancybox=False)
        live.overlay(lg)  # the bars are named by their tick labels: one legend is enough

    def refresh(self, result: Any, live) -> Any:
        """New lines and bars; the axes grow in steps so most runs share them; the crash span."""
        from ..plots.live import set_spans, sticky_limit

        t = [s[0] for s in result.samples]
        self._doubt.set_data(t, [s[1] for s in result.samples])
        self._partial.set_data(t, [s[2] for s in result.samples])
        for bar, value in zip(self._bars, outcomes(result.metrics)):
            bar.set_width(value)
        window = result.crash_window
        set_spans(self._span, [window] if window is not None else [], result.end_time)
        ax1 = self._ax[0]
        top = max((max(s[1], s[2]) for s in result.samples), default=0)
        ax1.set_ylim(0, sticky_limit(ax1.get_ylim()[1], top * 1.4, 5.0, slack=0.3))
        ax1.set_xlim(0, sticky_limit(ax1.get_xlim()[1], result.end_time, 1000.0, slack=0.5))
        return None
