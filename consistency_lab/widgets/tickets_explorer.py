"""Chapter 03's explorer: the last-seat sale with eventual or reserved inventory."""

from __future__ import annotations

from typing import Any

from ..scenarios import get_scenario
from .base import Explorer, dropdown, float_slider, slider, toggle

__all__ = ["TicketsExplorer", "OUTCOMES_SHOWN"]

#: Outcomes drawn as bars in each inventory mode (fixed, so a bar at zero says "this did not happen").
OUTCOMES_SHOWN = {
    "eventual": ("sold", "oversold", "sold-out", "payment-failed", "abandoned", "expired", "failed"),
    "reservation": ("sold", "sold-out", "failed-fast", "payment-failed", "abandoned", "expired", "failed"),
}


class TicketsExplorer(Explorer):
    """Change demand, inventory style and overload protection; count oversold seats."""

    title = "The last seats: eventual inventory or a reservation service?"
    metric_labels = {
        "sold": ("tickets sold", "count"),
        "oversold": ("sold beyond the seats", "count"),
        "sold_out_rejections": ("buyers told “sold out”", "count"),
        "rejected_fast": ("buyers refused at once by the breaker", "count"),
        "breaker_trips": ("times a breaker opened", "count"),
        "leases_expired": ("holds that ran out", "count"),
        "stranded_reservations": ("holds stranded at the end", "count"),
        "buyer_latency_p50_ms": ("median wait for an answer (ms)", "ms"),
        "buyer_latency_p99_ms": ("slowest 1% of waits (ms)", "ms"),
    }
    shown_metrics = list(metric_labels)
    figsize = (10.0, 3.8)
    margins = dict(left=0.065, right=0.98, bottom=0.14, top=0.9, wspace=0.5)

    def make_controls(self) -> dict:
        """Inventory style, seats, buyers, arrival burst, lease, breaker and reservation capacity."""
        return {
            "inventory": dropdown("eventual", ["eventual", "reservation"], "inventory"),
            "seats": slider(50, 5, 200, "seats on sale", step=5),
            "buyers": slider(200, 10, 1000, "buyers", step=10),
            "arrival_window_ms": slider(2000, 100, 5000, "buyers arrive within (ms)", step=100),
            "lease_ms": slider(1000, 100, 5000, "a hold lasts (ms)", step=100),
            "capacity": slider(4, 1, 16, "reservation workers"),
            "breaker": toggle(True, "circuit breaker"),
            "loss": float_slider(0.0, 0.0, 0.2, "message loss (share)"),
        }

    def disabled_controls(self, params: dict) -> dict[str, str]:
        """Workers and the breaker belong to the reservation service."""
        if params["inventory"] == "eventual":
            return {"capacity": "only the reservation service has workers",
                    "breaker": "each region's own replica answers at once: nothing to protect"}
        return {}

    def result_hints(self, result: Any) -> dict[str, str]:
        """Say why the breaker changes nothing when it never opened."""
        if result.params["inventory"] == "reservation" and result.params["breaker"] \
                and result.metrics["breaker_trips"] == 0:
            return {"breaker": "never opened: the service kept up (try 1 worker, 1000 buyers within 300 ms)"}
        return {}

    def run(self, params: dict) -> Any:
        """Simulate the sale."""
        p = dict(params)
        seed = p.pop("seed")
        return get_scenario("tickets").run(seed, trace=False, **p)

    def render(self, result: Any, fig) -> None:
        """Seats left over time, and the buyers' outcomes (drawn from scratch)."""
        from ..plots.tickets_plots import plot_outcomes, plot_seats
        ax1, ax2 = fig.subplots(1, 2, gridspec_kw={"width_ratios": [3, 2]})
        plot_seats(result, ax=ax1)
        plot_outcomes(result, ax=ax2)

    def setup(self, live) -> None:
        """Seats axes (a line per inventory node, made as nodes appear) and outcome bars per mode."""
        from ..plots.live import lean_axes
        from ..plots.style import OKABE_ITO

        ax1, ax2 = live.fig.subplots(1, 2, gridspec_kw={"width_ratios": [3, 2]})
        lean_axes(ax1)
        lean_axes(ax2, "How each buyer's attempt ended", y=False)
        self._ax = (ax1, ax2)
        self._seat_lines: dict[str, Any] = {}
        (self._truth,) = ax1.step([], [], where="post", color=OKABE_ITO["black"], lw=2.2, label="truth", zorder=3)
        ax1.axhline(0, color=OKABE_ITO["vermillion"], ls=":", lw=1.2)
        ax1.set_xlabel("virtual time (ms)")
        ax1.set_ylabel("seats left (below 0 = oversold)")
        ax1.grid(True, alpha=0.25)
        ax2.set_xlabel("buyers")
        ax2.set_ylabel("outcome")
        ax2.grid(True, axis="x", alpha=0.25)
        self._bar_sets: dict[str, tuple[list, Any]] = {}  # mode -> (bars, legend), made on first use
        self._seat_legends: dict[tuple, Any] = {}  # inventory nodes -> legend
        live.dynamic(self._truth)

    def legends(self) -> list:
        """The legends currently shown (seats, outcomes)."""
        return [lg for lg in (*self._seat_legends.values(), *(lg for _, lg in self._bar_sets.values()))
                if lg.get_visible()]

    def _seat_line(self, live, node: str):
        from ..plots.style import PALETTE
        if node not in self._seat_lines:
            i = len(self._seat_lines)
            (line,) = self._ax[0].step([], [], where="post", color=PALETTE[(i + 1) % len(PALETTE)], lw=1.2,
                                       label=f"{node} believes")
            self._seat_lines[node] = line
            live.dynamic(line)
        return self._seat_lines[node]

    def _legend(self, live, ax, handles, **kw):
        """A legend kept off the axes' own slot, drawn as an overlay (several can exist, one shown)."""
        from matplotlib.legend import Legend
        lg = Legend(ax, handles, [h.get_label() for h in handles], framealpha=1.0, fancybox=False, **kw)
        live.overlay(lg)
        return lg

    def _bars_for(self, live, mode: str) -> list:
        """This mode's outcome bars (with a legend swatch per colour), shown; the other mode's hidden."""
        from matplotlib.patches import Patch

        from ..plots.tickets_plots import OUTCOME_COLOURS

        ax2 = self._ax[1]
        names = OUTCOMES_SHOWN[mode]
        if mode not in self._bar_sets:
            colours = [OUTCOME_COLOURS[k] for k in names]
            bars = list(ax2.barh(range(len(names)), [0] * len(names), color=colours))
            live.dynamic(*bars)
            legend = self._legend(live, ax2, [Patch(color=c, label=k) for k, c in zip(names, colours)],
                                  loc="lower right", fontsize="x-small")
            self._bar_sets[mode] = (bars, legend)
        for m, (bars, legend) in self._bar_sets.items():
            for bar in bars:
                bar.set_visible(m == mode)
            legend.set_visible(m == mode)
        ax2.set_yticks(range(len(names)), names)
        ax2.set_ylim(len(names) - 0.5, -0.5)  # first outcome on top
        return self._bar_sets[mode][0]

    def refresh(self, result: Any, live) -> Any:
        """New seat curves and bar lengths; axes rescale only to rounded ends."""
        from matplotlib.lines import Line2D

        from ..plots.live import sticky_limit
        from ..plots.style import OKABE_ITO

        ax1, ax2 = self._ax
        end = result.end_time
        lo, hi = 0.0, float(result.params["seats"])

        def steps(line, series) -> None:
            nonlocal lo
            if not series:
                line.set_data([], [])
                return
            xs = [t for t, _ in series] + [end]
            ys = [v for _, v in series] + [series[-1][1]]
            line.set_data(xs, ys)
            lo = min(lo, min(ys))

        nodes = tuple(sorted(result.seats_believed))
        for node in nodes:
            steps(self._seat_line(live, node), result.seats_believed[node])
        for node, line in self._seat_lines.items():
            line.set_visible(node in result.seats_believed)
        steps(self._truth, result.seats_truth)
        if nodes not in self._seat_legends:
            handles = [self._seat_lines[n] for n in nodes] + [
                self._truth, Line2D([], [], color=OKABE_ITO["vermillion"], ls=":", label="sold out")]
            self._seat_legends[nodes] = self._legend(live, ax1, handles, loc="upper right", fontsize="small")
        for key, legend in self._seat_legends.items():
            legend.set_visible(key == nodes)
        mode = result.params["inventory"]
        counts = result.outcome_counts()
        for bar, name in zip(self._bars_for(live, mode), OUTCOMES_SHOWN[mode]):
            bar.set_width(counts.get(name, 0))
        ax1.set_xlim(0, sticky_limit(ax1.get_xlim()[1], end, 100))
        bottom = -ax1.get_ylim()[0] if ax1.get_ylim()[0] < -0.05 * hi - 1e-9 else None
        top = ax1.get_ylim()[1] if ax1.get_ylim()[1] > 1.0 else None
        ax1.set_ylim(-sticky_limit(bottom, -lo * 1.1, 5, slack=0.25) if lo < 0 else -0.05 * hi,
                     sticky_limit(top, hi * 1.05, 5, slack=0.7))
        ax1.set_title(f"Seats left ({mode} inventory)")
        ax2.set_xlim(0, sticky_limit(ax2.get_xlim()[1], max(counts.values(), default=1) * 1.05, 10))
        return None
