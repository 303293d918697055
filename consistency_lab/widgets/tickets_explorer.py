"""Chapter 03's explorer: the last-seat sale with eventual or reserved inventory."""

from __future__ import annotations

from typing import Any

from ..scenarios import get_scenario
from .base import Explorer, dropdown, float_slider, slider, toggle

__all__ = ["TicketsExplorer"]


class TicketsExplorer(Explorer):
    """Change demand, inventory style and overload protection; count oversold seats."""

    title = "The last seats: eventual inventory or a reservation service?"
    shown_metrics = ["sold", "oversold", "sold_out_rejections", "rejected_fast", "leases_expired",
                     "stranded_reservations", "buyer_latency_p50_ms", "buyer_latency_p99_ms"]
    figsize = (10.0, 3.8)
    margins = dict(left=0.07, right=0.98, bottom=0.14, top=0.9, wspace=0.45)

    def make_controls(self) -> dict:
        """Inventory style, seats, buyers, arrival burst, lease, breaker and reservation capacity."""
        return {
            "inventory": dropdown("eventual", ["eventual", "reservation"], "inventory"),
            "seats": slider(50, 5, 200, "seats", step=5),
            "buyers": slider(200, 10, 1000, "buyers", step=10),
            "arrival_window_ms": slider(2000, 100, 5000, "arrivals spread over (ms)", step=100),
            "lease_ms": slider(1000, 100, 5000, "lease (ms)", step=100),
            "capacity": slider(4, 1, 16, "reservation workers"),
            "breaker": toggle(True, "circuit breaker"),
            "loss": float_slider(0.0, 0.0, 0.2, "message loss"),
        }

    def run(self, params: dict) -> Any:
        """Simulate the sale."""
        p = dict(params)
        seed = p.pop("seed")
        return get_scenario("tickets").run(seed, trace=False, **p)

    def render(self, result: Any, fig) -> None:
        """Seats left over time, and the buyers' outcomes."""
        from ..plots.tickets_plots import plot_outcomes, plot_seats
        ax1, ax2 = fig.subplots(1, 2, gridspec_kw={"width_ratios": [3, 2]})
        plot_seats(result, ax=ax1)
        plot_outcomes(result, ax=ax2)
