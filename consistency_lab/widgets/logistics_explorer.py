"""Chapter 07's explorer: one logistics workload on orchestration, choreography or CQRS, with an outage.

Two seconds of scans and route queries; the outage starts at 500 ms.  The figure shows,
over time, the p99 wait of the scans that arrived in each 100 ms, the share of them that
failed, and the lag of the view that answers analytics queries (and of tracking).
"""

from __future__ import annotations

from typing import Any

from ..scenarios import get_scenario
from ..scenarios.logistics_world import ARCHITECTURES, OUTAGE_SERVICES
from .base import Explorer, dropdown, slider

__all__ = ["LogisticsExplorer", "RUN", "BIN_MS"]

#: The explorer's fixed run: two seconds of arrivals, the outage from 500 ms.
RUN = dict(duration_ms=2000.0, outage_start_ms=500.0)
#: Scans are grouped in bins this long for the latency and failure panels.
BIN_MS = 100.0


class LogisticsExplorer(Explorer):
    """Pick an architecture, the load, an outage and the projector's capacity; watch waits, failures and lag."""

    title = "Scans and route analytics: orchestration, choreography or CQRS?"
    metric_labels = {
        "scan_p50_ms": ("median scan wait (ms)", "ms"),
        "scan_p99_ms": ("p99 scan wait (ms)", "ms"),
        "scan_success_rate": ("scans acknowledged", "pct"),
        "scan_stall_max_ms": ("longest a depot waited (ms)", "ms"),
        "query_p99_ms": ("p99 analytics query (ms)", "ms"),
        "stale_read_share": ("analytics answers missing scans", "pct"),
        "read_lag_max_s": ("worst read-model lag (s)", "num"),
        "tracking_caught_up_s": ("tracking caught up after the outage (s)", "num"),
    }
    shown_metrics = list(metric_labels)
    figsize = (10.0, 3.6)
    margins = dict(left=0.06, right=0.975, bottom=0.15, top=0.9, wspace=0.4)

    def make_controls(self) -> dict:
        """Architecture, scans and queries per second, the outage (service, length), projector capacity."""
        return {
            "architecture": dropdown("orchestration", list(ARCHITECTURES), "architecture"),
            "scan_rps": slider(150, 50, 1000, "scans per second", step=50),
            "query_rps": slider(20, 0, 150, "analytics queries per second", step=5),
            "outage_service": dropdown("tracking", list(OUTAGE_SERVICES), "down from 500 ms"),
            "outage_ms": slider(800, 100, 1500, "outage length (ms)", step=100),
            "projector_per_s": slider(500, 100, 3000, "projector capacity (events/s)", step=100),
        }

    def disabled_controls(self, params: dict) -> dict[str, str]:
        """The projector exists only in CQRS; the outage length needs an outage."""
        out = {}
        if params["architecture"] != "cqrs":
            out["projector_per_s"] = "only CQRS has a projector"
        if params["outage_service"] == "none":
            out["outage_ms"] = "no service is down"
        return out

    def result_hints(self, result: Any) -> dict[str, str]:
        """Say why a projector outage changes nothing outside CQRS."""
        p = result.params
        if p["outage_service"] == "projector" and p["architecture"] != "cqrs":
            return {"outage_service": "no projector here: nothing went down"}
        return {}

    def scenario_params(self, params: dict) -> dict:
        """The logistics scenario's parameters for these control values."""
        return {**RUN, "architecture": params["architecture"], "scan_rps": float(params["scan_rps"]),
                "query_rps": float(params["query_rps"]), "outage_service": params["outage_service"],
                "outage_ms": float(params["outage_ms"]), "projector_ms": 1000.0 / params["projector_per_s"]}

    def run(self, params: dict) -> Any:
        """Simulate two seconds of the workload on the chosen architecture."""
        return get_scenario("logistics").run(params["seed"], **self.scenario_params(params))

    def render(self, result: Any, fig) -> None:
        """Scan latency and read lag over time (drawn from scratch)."""
        from ..plots.logistics_plots import plot_read_lag, plot_scan_latency
        ax1, ax2 = fig.subplots(1, 2)
        plot_scan_latency(result, ax1, BIN_MS)
        plot_read_lag(result, ax2)

    def setup(self, live) -> None:
        """Three axes over the two seconds; lines updated in place, the outage span in the background."""
        from matplotlib.legend import Legend

        from ..plots.live import lean_axes, time_spans
        from ..plots.style import OKABE_ITO, PALETTE

        ax1, ax2, ax3 = live.fig.subplots(1, 3)
        self._ax = (ax1, ax2, ax3)
        lean_axes(ax1, f"p99 scan wait per {BIN_MS:g} ms")
        lean_axes(ax2, "Scans that failed")
        lean_axes(ax3, "Lag of the data behind analytics")
        self._spans = [time_spans(ax, "#999999", alpha=0.2) for ax in self._ax]
        (self._p99,) = ax1.plot([], [], color=PALETTE[0], label="p99 wait")
        (self._failed,) = ax2.plot([], [], color=OKABE_ITO["vermillion"], marker=".", label="failed share")
        (self._lag,) = ax3.plot([], [], color=PALETTE[2], label="view answering queries")
        (self._tracking,) = ax3.plot([], [], color=PALETTE[1], ls="--", label="tracking")
        end = RUN["duration_ms"]
        for ax in self._ax:
            ax.set_xlim(0, end + 500)
            ax.set_xlabel("virtual time (ms)")
            ax.grid(True, alpha=0.25)
        ax1.set_ylim(0, 100)
        ax1.set_ylabel("wait (ms)")
        ax2.set_ylim(-5, 105)
        ax2.set_ylabel("failed (%)")
        ax3.set_ylim(0, 1.0)
        ax3.set_ylabel("oldest unapplied scan (s)")
        live.dynamic(self._p99, self._failed, self._lag, self._tracking)
        self._outage_key: tuple = ()
        for ax, handles, loc in ((ax1, [self._p99], "upper right"), (ax2, [self._failed], "upper right"),
                                 (ax3, [self._lag, self._tracking], "upper right")):
            lg = Legend(ax, handles, [h.get_label() for h in handles], loc=loc, fontsize="x-small",
                        framealpha=1.0, fancybox=False)
            live.overlay(lg, key=lambda: self._outage_key)

    def refresh(self, result: Any, live) -> Any:
        """New lines; axes grow in steps so most runs share them; the outage span follows the run."""
        from ..plots.live import set_spans, sticky_limit

        bins = result.scan_latency_over_time(BIN_MS)
        mids = [t + BIN_MS / 2 for t, _p, _f in bins]
        self._p99.set_data(mids, [p for _t, p, _f in bins])
        self._failed.set_data(mids, [100 * f for _t, _p, f in bins])
        ts = [s[0] for s in result.samples]
        self._lag.set_data(ts, [s[1] / 1000.0 for s in result.samples])
        self._tracking.set_data(ts, [s[2] / 1000.0 for s in result.samples])
        p = result.params
        window = [] if p["outage_service"] == "none" else [(p["outage_start_ms"],
                                                            p["outage_start_ms"] + p["outage_ms"])]
        for spans in self._spans:
            set_spans(spans, window, RUN["duration_ms"])
        self._outage_key = tuple(window)
        ax1, _ax2, ax3 = self._ax
        worst = max((v for _t, v, _f in bins if v == v), default=10.0)
        ax1.set_ylim(0, sticky_limit(ax1.get_ylim()[1], worst * 1.2, 20.0, slack=0.3))
        lag = max((max(s[1], s[2]) / 1000.0 for s in result.samples), default=0.1)
        ax3.set_ylim(0, sticky_limit(ax3.get_ylim()[1], lag * 1.2, 0.1, slack=0.3))
        return self._outage_key  # part of the background: a new window redraws it
