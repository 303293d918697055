"""The dashboard each consistency model needs, drawn from runs (Step Four of the implementation guide).

* eventual side (:func:`plot_eventual_dashboard`, an ``outbox_crash`` run): the age of the
  oldest event the consumer has not handled, over time, and the reconciliation job's
  repairs with its success rate;
* strong side (:func:`plot_strong_dashboard`, a :class:`~consistency_lab.scenarios.booking.BookingSweep`):
  transaction latency and lock wait of the command path as concurrency grows;
* :func:`plot_booking_sweep`: double bookings and reminder lag against the arrival rate,
  for both ways of booking (the booking explorer's figure, drawn from scratch).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Sequence

from .style import MODE_COLOURS, OKABE_ITO, finish

if TYPE_CHECKING:  # pragma: no cover
    from matplotlib.axes import Axes

__all__ = ["plot_eventual_dashboard", "plot_strong_dashboard", "plot_booking_sweep", "reminder_title",
           "BOOKING_COLOURS"]

#: Booking as a command is the strong side, booking as an event the eventual side, in every figure.
BOOKING_COLOURS = {"command": MODE_COLOURS["reservation"], "event": MODE_COLOURS["eventual"]}


def plot_eventual_dashboard(result: Any, axes: "Sequence[Axes]") -> None:
    """Event age over time (crashes marked) and the reconciliation job's repairs, on two axes."""
    ax_age, ax_rec = axes
    t = [s.time / 1000.0 for s in result.lag_samples]
    ax_age.plot(t, [s.backlog_age_ms for s in result.lag_samples], color=OKABE_ITO["orange"],
                label="age of the oldest unhandled event")
    for i, c in enumerate(result.crash_times):
        ax_age.axvline(c / 1000.0, color=OKABE_ITO["grey"], lw=0.8, ls=":", label="service crash" if i == 0 else None)
    m = result.metrics
    finish(ax_age, f"Event age ({m['events_lost']} events lost, {result.params['mode']})", "time (s)",
           "event age (ms)", loc="upper right")
    repairs = sorted(result.repairs, key=lambda r: r.time)
    times = [r.time / 1000.0 for r in repairs]
    verified = [sum(1 for x in repairs[:i + 1] if x.verified) for i in range(len(repairs))]
    ax_rec.step(times, list(range(1, len(repairs) + 1)), where="post", color=OKABE_ITO["blue"], label="repairs")
    ax_rec.step(times, verified, where="post", color=OKABE_ITO["bluish green"], ls="--", label="verified repairs")
    ax_rec.axhline(m["events_lost"], color=OKABE_ITO["vermillion"], lw=1, ls=":", label="events lost")
    ax_rec.set_xlim(0, result.end_time / 1000.0)
    ax_rec.set_ylim(0, max(m["events_lost"], len(repairs), 1) * 1.2)
    rate = m["reconciliation_success_rate"]
    shown = "no repairs" if rate != rate else f"{100 * rate:.0f} %"
    finish(ax_rec, f"Reconciliation (success rate: {shown})", "time (s)", "reminders repaired (count)",
           loc="lower right")


def plot_strong_dashboard(sweep: Any, axes: "Sequence[Axes]", mode: str = "command") -> None:
    """Transaction latency (p50, p99) and lock wait (p99, max) of ``mode``'s runs against the arrival rate."""
    ax_lat, ax_lock = axes
    rates = sweep.rates
    colour = BOOKING_COLOURS.get(mode, OKABE_ITO["blue"])
    ax_lat.plot(rates, sweep.series(mode, "booking_latency_p50_ms"), marker="o", color=colour, label="p50")
    ax_lat.plot(rates, sweep.series(mode, "booking_latency_p99_ms"), marker="s", ls="--", color=colour, label="p99")
    ax_lat.set_xscale("log")
    finish(ax_lat, "Transaction latency (booking as a command)", "arrival rate (patients per second)",
           "arrival to answer (ms)", loc="upper left")
    ax_lock.plot(rates, sweep.series(mode, "lock_wait_p99_ms"), marker="o", color=OKABE_ITO["vermillion"],
                 label="p99")
    ax_lock.plot(rates, sweep.series(mode, "lock_wait_max_ms"), marker="s", ls="--", color=OKABE_ITO["vermillion"],
                 label="max")
    ax_lock.set_xscale("log")
    finish(ax_lock, "Lock wait on a slot", "arrival rate (patients per second)", "wait for the slot's lock (ms)",
           loc="upper left")


def plot_booking_sweep(sweep: Any, axes: "Sequence[Axes]") -> None:
    """Double bookings (both modes) and the reminder lag (p50, p99) against the arrival rate."""
    ax_d, ax_r = axes
    for mode in sweep.runs:
        ax_d.plot(sweep.rates, sweep.series(mode, "double_bookings"), marker="o", color=BOOKING_COLOURS[mode],
                  label=f"booking as {'a command' if mode == 'command' else 'an event'}")
    ax_d.set_xscale("log")
    finish(ax_d, "Double bookings", "arrival rate (patients per second)", "bookings on a taken slot (count)",
           loc="upper left")
    mode = "event" if "event" in sweep.runs else next(iter(sweep.runs))
    p50 = [v / 1000.0 for v in sweep.series(mode, "reminder_lag_p50_ms")]
    p99 = [v / 1000.0 for v in sweep.series(mode, "reminder_lag_p99_ms")]
    ax_r.plot(sweep.rates, p50, marker="o", color=OKABE_ITO["bluish green"], label="p50")
    ax_r.plot(sweep.rates, p99, marker="s", ls="--", color=OKABE_ITO["bluish green"], label="p99")
    ax_r.set_xscale("log")
    ax_r.set_ylim(0, max([*p99, 1.0]) * 1.3)
    finish(ax_r, reminder_title(sweep), "arrival rate (patients per second)", "lag (s)", loc="upper left")


def reminder_title(sweep: Any) -> str:
    """The reminder panel's title: the lag, and how many reminders went out twice over the whole sweep."""
    doubled = sum(r.metrics["duplicate_reminders"] for runs in sweep.runs.values() for r in runs)
    return f"Reminder lag ({doubled} reminders sent twice)"
