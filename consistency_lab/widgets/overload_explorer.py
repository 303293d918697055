"""Chapter 02's explorer: a strongly consistent store at peak load, a slow index, and what clients do about it.

The store is kept small (2 workers, 10 ms each: 200 requests/s) so a run of four
seconds is a few hundred requests and an update stays interactive; the tiers' timeouts
are the chapter's (app 600 ms, web 800 ms), and the slow index hits from 1.5 s to 2.5 s.
"""

from __future__ import annotations

import math
from typing import Any, Mapping

from ..scenarios import get_scenario
from .base import Explorer, dropdown, float_slider, slider, toggle

__all__ = ["OverloadExplorer", "RETRY_CHOICES", "STORE", "CAPACITY_RPS", "BIN_MS"]

#: The explorer's fixed store and run: capacity = workers / mean service time.
STORE = dict(workers=2, service_ms="exp:10", duration_ms=4000.0, index_fault_start_ms=1500.0,
             index_fault_ms=1000.0)
CAPACITY_RPS = 200.0
#: Arrivals are grouped in bins this long for the figure (about 45 requests each at 90 % load).
BIN_MS = 250.0
#: The retry dropdown: "budget" is backoff with a retry budget (0.1 retries per request per second).
RETRY_CHOICES = ("none", "immediate", "backoff", "budget")


class OverloadExplorer(Explorer):
    """Change the load, the retry policy, the slow index, shedding, the breaker and the client's timeout."""

    title = "A slow index at peak: who still gets an answer? (store: 2 workers x 10 ms = 200 requests/s)"
    metric_labels = {
        "success_rate": ("requests answered ok", "pct"),
        "fault_success_rate": ("... of those arriving in the slow second", "pct"),
        "latency_p99_ms": ("p99 of the successful (ms)", "ms"),
        "latency_p999_ms": ("p99.9 of the successful (ms)", "ms"),
        "retries_per_request": ("retries per request", "num"),
        "store_shed": ("attempts shed by the store", "count"),
        "breaker_rejections": ("attempts refused by the breaker", "count"),
        "app_timeouts": ("app-tier timeouts", "count"),
        "wasted_share": ("store work nobody waited for", "pct"),
    }
    shown_metrics = list(metric_labels)
    figsize = (10.0, 3.6)
    margins = dict(left=0.06, right=0.975, bottom=0.15, top=0.9, wspace=0.4)

    def make_controls(self) -> dict:
        """Load, retry policy, the index fault and its slowdown, shedding, breaker, client timeout."""
        return {
            "load_pct": slider(90, 25, 150, "offered load (% of 200 req/s)", step=5),
            "retry": dropdown("none", list(RETRY_CHOICES), "client retries"),
            "fault": toggle(True, "slow index from 1.5 s to 2.5 s"),
            "slowdown": float_slider(5.0, 1.5, 20.0, "index slowdown (x service time)", step=0.5,
                                     readout_format=".1f"),
            "shedding": dropdown("off", ["off", "queue", "deadline"], "load shedding at the store"),
            "breaker": toggle(False, "circuit breaker on the app tier"),
            "client_timeout_ms": slider(1000, 100, 3000, "client timeout per attempt (ms)", step=100),
        }

    def disabled_controls(self, params: dict) -> dict[str, str]:
        """The slowdown only matters while the fault is on."""
        if not params["fault"]:
            return {"slowdown": "the index is healthy: switch the fault on"}
        return {}

    def result_hints(self, result: Any) -> dict[str, str]:
        """Say why the breaker changes nothing when it never opened."""
        if result.params["breaker"] and result.metrics["breaker_trips"] == 0:
            return {"breaker": "never opened: no 20 failures in a row reached the app tier"}
        return {}

    def scenario_params(self, params: dict) -> dict:
        """The overload scenario's parameters for these control values."""
        return {
            **STORE,
            "rps": CAPACITY_RPS * params["load_pct"] / 100.0,
            "retry": "backoff" if params["retry"] == "budget" else params["retry"],
            "retry_budget": params["retry"] == "budget",
            "index_slowdown": float(params["slowdown"]) if params["fault"] else 1.0,
            "shedding": params["shedding"],
            "breaker": bool(params["breaker"]),
            "client_timeout_ms": float(params["client_timeout_ms"]),
        }

    def run(self, params: dict) -> Any:
        """Simulate four seconds of load through client -> web -> app -> store."""
        return get_scenario("overload").run(params["seed"], **self.scenario_params(params))

    def metrics(self, result: Any) -> Mapping[str, Any]:
        """The scenario's metrics plus retries per request."""
        m = dict(result.metrics)
        m["retries_per_request"] = m["retries_sent"] / m["requests"] if m["requests"] else math.nan
        return m

    def render(self, result: Any, fig) -> None:
        """Success, the store's queue and latency over time (drawn from scratch)."""
        from ..plots.overload_plots import plot_overload_timeline
        plot_overload_timeline(result, tuple(fig.subplots(1, 3)), BIN_MS)

    def setup(self, live) -> None:
        """Three axes over the four seconds of arrivals; lines updated in place, the fault span in the background."""
        from matplotlib.legend import Legend
        from matplotlib.patches import Patch

        from ..plots.live import lean_axes, set_spans, time_spans
        from ..plots.overload_plots import PERCENTILE_STYLES, QUEUE_COLOUR, SUCCESS_COLOUR

        ax1, ax2, ax3 = live.fig.subplots(1, 3)
        self._ax = (ax1, ax2, ax3)
        end = STORE["duration_ms"]
        lean_axes(ax1, f"Success per {BIN_MS:g} ms of arrivals")
        lean_axes(ax2, "Requests waiting at the store")
        ax3.set_yscale("log")
        lean_axes(ax3, "Latency of the successful (log)")
        # The fault window is fixed, on or off: painted over the cached background (dynamic), so
        # switching the fault does not redraw every axes.  Grid lines go beneath everything, so a
        # full redraw layers them the same way.
        window = (STORE["index_fault_start_ms"], STORE["index_fault_start_ms"] + STORE["index_fault_ms"])
        self._spans = [time_spans(ax, "#999999", alpha=0.2) for ax in self._ax]
        for ax, spans in zip(self._ax, self._spans, strict=True):
            set_spans(spans, [window], end)
            ax.set_axisbelow(True)
        (self._success,) = ax1.plot([], [], marker=".", color=SUCCESS_COLOUR, label="success rate")
        (self._queue,) = ax2.plot([], [], color=QUEUE_COLOUR, label="waiting (sampled every 50 ms)")
        self._lat = [ax3.plot([], [], marker=".", color=colour, label=label)[0]
                     for _q, label, colour in PERCENTILE_STYLES]
        for ax in self._ax:
            ax.set_xlim(0, end)
            ax.set_xlabel("time (ms)")
            ax.grid(True, alpha=0.25)
        # A band below 0 % and below 5 ms holds the legends, so they never cover a line.
        ax1.set_ylim(-22, 103)
        ax1.set_yticks([0, 25, 50, 75, 100])
        ax1.set_ylabel("answered ok (%)")
        ax2.set_ylim(0, 100)
        ax2.set_ylabel("requests")
        ax3.set_ylim(1, 1000)
        ax3.set_ylabel("arrival to answer (ms)")
        live.dynamic(*self._spans, self._success, self._queue, *self._lat)
        fault = Patch(color="#999999", alpha=0.4, label="slow index")
        self._legends = {}
        self._fault_shown = True
        for key, ax, handles, loc in (("fault", ax1, [self._success, fault], "lower center"),
                                      ("healthy", ax1, [self._success], "lower center"),
                                      ("queue", ax2, [self._queue], "upper left"),
                                      ("latency", ax3, self._lat, "lower center")):
            lg = Legend(ax, handles, [h.get_label() for h in handles], loc=loc, ncol=len(handles),
                        fontsize="x-small", framealpha=1.0, fancybox=False, borderpad=0.3, columnspacing=0.8,
                        handlelength=1.5)
            # Re-rendered when the fault span appears or goes: a legend's pasted pixels include
            # the background around its frame, and the span runs under the legends.
            live.overlay(lg, key=lambda: self._fault_shown)
            self._legends[key] = lg

    def refresh(self, result: Any, live) -> Any:
        """New lines; the queue and latency axes grow in steps so most runs share them; the fault span on or off."""
        from ..plots.live import sticky_limit
        from ..plots.overload_plots import PERCENTILE_STYLES, fault_window

        success = result.success_over_time(BIN_MS)
        latency = result.latency_over_time(BIN_MS, tuple(q for q, _l, _c in PERCENTILE_STYLES))
        mids = [t + BIN_MS / 2 for t, _r, _n in success]
        self._success.set_data(mids, [100 * r for _t, r, _n in success])
        self._queue.set_data([t for t, _q, _b in result.samples], [q for _t, q, _b in result.samples])
        for i, line in enumerate(self._lat):
            line.set_data(mids, [qs[i] for _t, qs in latency])
        fault = fault_window(result.params) is not None
        for spans in self._spans:
            spans.set_visible(fault)
        self._fault_shown = fault
        self._legends["fault"].set_visible(fault)  # "slow index" is named only while it is shaded
        self._legends["healthy"].set_visible(not fault)
        _ax1, ax2, ax3 = self._ax
        waiting = max((q for _t, q, _b in result.samples), default=0)
        ax2.set_ylim(0, sticky_limit(ax2.get_ylim()[1], waiting * 1.3, 20.0, slack=0.3))
        worst = max((v for _t, qs in latency for v in qs if not math.isnan(v)), default=100.0)
        ax3.set_ylim(1, sticky_limit(ax3.get_ylim()[1], worst * 1.3, 100.0, slack=0.3))
        return None  # lines and spans are dynamic: the background changes only with the axes' limits
