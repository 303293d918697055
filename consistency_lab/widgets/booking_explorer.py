"""Chapter 08's explorer: booking as a command against booking as an event, as concurrency grows.

Every update runs the ``booking`` scenario in both modes at each arrival rate of
:data:`RATES` (40 patients each, the same patients for both modes) and draws double
bookings and the reminder lag against the rate.
"""

from __future__ import annotations

import math
from typing import Any, Mapping

from ..plots.dashboards import reminder_title as _reminder_title
from ..scenarios.booking import booking_sweep
from .base import Explorer, dropdown, float_slider, slider

__all__ = ["BookingExplorer", "RATES"]

#: Arrival rates swept on every update (patients per second), calm to rush: four rates over two decades
#: keep an update (eight runs) inside the explorers' budget; the chapter's own sweep has its own rates.
RATES = (0.5, 2.0, 10.0, 50.0)


class BookingExplorer(Explorer):
    """Change the handler's lag, the front-ends, how patients choose, and the reminder path."""

    title = "Booking as a command or as an event: double bookings and reminder lag against concurrency"
    metric_labels = {
        "event_double_bookings": ("double bookings, event, at 50/s", "count"),
        "command_double_bookings": ("double bookings, command, at 50/s", "count"),
        "command_latency_p99_ms": ("command: p99 answer time at 50/s (ms)", "ms"),
        "command_lock_wait_p99_ms": ("command: p99 lock wait at 50/s (ms)", "ms"),
        "command_turned_away": ("command: patients turned away at 50/s", "count"),
        "reminder_lag_p99_ms": ("reminder lag p99, worst rate (ms)", "ms"),
        "duplicate_reminders": ("duplicate reminders, all runs", "count"),
    }
    shown_metrics = list(metric_labels)
    figsize = (10.0, 3.6)
    margins = dict(left=0.07, right=0.975, bottom=0.16, top=0.9, wspace=0.3)

    def make_controls(self) -> dict:
        """Handler lag, front-ends, slots, choice window, reminder send time, duplicates and the reminder handler."""
        return {
            "handler_lag_ms": slider(200, 10, 2000, "event handler lag, mean (ms)", step=10),
            "frontends": slider(3, 1, 8, "booking front-ends"),
            "slots": slider(60, 10, 200, "appointment slots (40 patients)", step=10),
            "choice_window": slider(3, 1, 10, "earliest free slots to pick from"),
            "reminder_ms": slider(100, 10, 1000, "reminder send time, mean (ms)", step=10),
            "duplicate": float_slider(0.1, 0.0, 0.5, "events delivered twice (share)", step=0.05),
            "reminder_handler": dropdown("dedupe", ["dedupe", "naive"], "reminder handler"),
        }

    def scenario_params(self, params: dict) -> dict:
        """The booking scenario's parameters (besides mode and rate) for these control values."""
        return {"handler_lag_ms": f"exp:{params['handler_lag_ms']}", "frontends": params["frontends"],
                "slots": params["slots"], "choice_window": params["choice_window"],
                "reminder_ms": f"exp:{params['reminder_ms']}", "duplicate": float(params["duplicate"]),
                "reminder_handler": params["reminder_handler"]}

    def run(self, params: dict) -> Any:
        """Both modes at every rate of :data:`RATES`."""
        return booking_sweep(params["seed"], RATES, **self.scenario_params(params))

    def metrics(self, result: Any) -> Mapping[str, Any]:
        """The fastest rate's numbers, the worst reminder lag and every duplicate reminder."""
        ev, cmd = result.runs["event"][-1].metrics, result.runs["command"][-1].metrics
        lags = [r.metrics["reminder_lag_p99_ms"] for runs in result.runs.values() for r in runs]
        lags = [x for x in lags if not math.isnan(x)]
        return {
            "event_double_bookings": ev["double_bookings"],
            "command_double_bookings": cmd["double_bookings"],
            "command_latency_p99_ms": cmd["booking_latency_p99_ms"],
            "command_lock_wait_p99_ms": cmd["lock_wait_p99_ms"],
            "command_turned_away": cmd["turned_away"],
            "reminder_lag_p99_ms": max(lags) if lags else math.nan,
            "duplicate_reminders": sum(r.metrics["duplicate_reminders"] for runs in result.runs.values() for r in runs),
        }

    def render(self, result: Any, fig) -> None:
        """Double bookings and reminder lag against the rate (drawn from scratch)."""
        from ..plots.dashboards import plot_booking_sweep
        plot_booking_sweep(result, tuple(fig.subplots(1, 2)))

    def setup(self, live) -> None:
        """Two axes over the fixed rates; four lines updated in place."""
        from ..plots.dashboards import BOOKING_COLOURS
        from ..plots.live import lean_axes
        from ..plots.style import OKABE_ITO

        ax1, ax2 = live.fig.subplots(1, 2)
        self._ax = (ax1, ax2)
        zeros = [0.0] * len(RATES)
        (self._event,) = ax1.plot(RATES, zeros, marker="o", color=BOOKING_COLOURS["event"],
                                  label="booking as an event")
        (self._command,) = ax1.plot(RATES, zeros, marker="o", color=BOOKING_COLOURS["command"],
                                    label="booking as a command")
        (self._p50,) = ax2.plot(RATES, zeros, marker="o", color=OKABE_ITO["bluish green"], label="p50")
        (self._p99,) = ax2.plot(RATES, zeros, marker="s", ls="--", color=OKABE_ITO["bluish green"], label="p99")
        lean_axes(ax1, "Double bookings")
        lean_axes(ax2, "Reminder lag")
        for ax in self._ax:
            ax.set_xscale("log")
            ax.set_xlim(RATES[0] / 1.3, RATES[-1] * 1.3)
            ax.set_xlabel("arrival rate (patients per second)")
            ax.grid(True, alpha=0.25)
        ax1.set_ylabel("bookings on a taken slot (count)")
        ax2.set_ylabel("lag (s)")
        ax1.set_ylim(-1, 40)
        ax2.set_ylim(0, 5)
        live.dynamic(self._event, self._command, self._p50, self._p99)
        for ax, handles in ((ax1, [self._event, self._command]), (ax2, [self._p50, self._p99])):
            lg = ax.legend(handles=handles, loc="upper left", fontsize="small", framealpha=1.0, fancybox=False)
            live.overlay(lg)

    def refresh(self, result: Any, live) -> None:
        """New values; the y axes grow in steps so most runs share them."""
        from ..plots.live import sticky_limit

        ev, cmd = result.series("event", "double_bookings"), result.series("command", "double_bookings")
        self._event.set_ydata(ev)
        self._command.set_ydata(cmd)
        p50 = [v / 1000.0 for v in result.series("event", "reminder_lag_p50_ms")]
        p99 = [v / 1000.0 for v in result.series("event", "reminder_lag_p99_ms")]
        self._p50.set_ydata(p50)
        self._p99.set_ydata(p99)
        ax1, ax2 = self._ax
        # The handler decides what is sent twice, not when the first reminder leaves: the title says it.
        ax2.set_title(_reminder_title(result), y=1.0)
        ax1.set_ylim(-1, sticky_limit(ax1.get_ylim()[1], max(ev + cmd) * 1.3, 10.0, slack=0.3))
        ax2.set_ylim(0, sticky_limit(ax2.get_ylim()[1], max(p99) * 1.3, 1.0, slack=0.3))
        return None
