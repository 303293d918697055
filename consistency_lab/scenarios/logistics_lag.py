"""Projection lag against a tolerance: write rate, a peak, projector capacity and a lag alarm.

The CQRS read model of the logistics scenario, alone and over minutes: scan events
arrive at ``write_rate_per_s`` (exponential gaps), multiplied by ``peak_factor`` from
``peak_start_s`` for ``peak_s`` (the evening rush); one projector applies them at
``projector_per_s`` on average (exponential processing times).  This is a queue: while
writes arrive faster than the projector applies them, the backlog grows, and the age of
its oldest event -- the read model's lag -- grows with it.

A :class:`~consistency_lab.patterns.lag_alarm.LagAlarm` watches the age of the oldest
unapplied event against ``tolerance_s`` (the business's two minutes).

Metrics: ``lag_max_s`` (the longest any event waited to be applied), ``lag_p99_s``,
``lag_at_peak_end_s`` (the backlog age when the peak ends), ``alarm_raised`` (bool),
``alarm_times_raised``, ``alarm_first_s`` (NaN if never), ``alarm_raised_s`` (total time
raised), ``events_over_tolerance``, ``utilisation_at_peak`` (peak rate / projector
rate) and ``events``.

A run offers at most 60,000 events; it ends when the projector has applied every event
(or a bound stops it, which ``stopped`` says).  :func:`write_rate_where_lag_crosses`
bisects the base write rate for the point where ``lag_max_s`` crosses the tolerance.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from ..metrics import percentile
from ..patterns.lag_alarm import LagAlarm
from ..sim import Simulation
from ..streams.consumer import ConsumerGroup
from ..streams.log import Event, EventLog
from ..validation import count, positive
from . import register_scenario
from .base import EVENT_BUDGET, Param, RunResult, Scenario, stop_note
from .logistics_world import RouteView

__all__ = ["LogisticsLagResult", "LOGISTICS_LAG", "write_rate_where_lag_crosses", "fluid_crossing_rate"]

PARAMS = (
    Param("write_rate_per_s", float, 4.0, "scan events per second outside the peak (exponential gaps)",
          low=0.01, high=10_000),
    Param("peak_factor", float, 1.5, "the write rate is multiplied by this during the peak", low=1.0, high=100.0),
    Param("peak_start_s", float, 60.0, "the peak starts at (s)", low=0.0, high=86_400),
    Param("peak_s", float, 600.0, "... and lasts this long (s)", low=0.0, high=86_400),
    Param("duration_s", float, 1200.0, "events arrive for this long (s)", low=1.0, high=86_400),
    Param("projector_per_s", float, 5.0, "projector capacity: events it applies per second on average",
          low=0.01, high=100_000),
    Param("tolerance_s", float, 120.0, "the read model may be this far behind (s): the lag alarm's threshold",
          low=0.001, high=86_400),
    Param("sample_s", float, 5.0, "the backlog age is sampled this often for figures (s)", low=0.01, high=86_400),
)


def _expected_events(p: dict) -> float:
    peak = max(0.0, min(p["peak_start_s"] + p["peak_s"], p["duration_s"]) - min(p["peak_start_s"], p["duration_s"]))
    return p["write_rate_per_s"] * (p["duration_s"] + (p["peak_factor"] - 1.0) * peak)


def _cross_check(p: dict) -> None:
    if p["duration_s"] / p["sample_s"] > 5_000:
        raise ValueError(f"sample_s={p['sample_s']:g} must be at least duration_s / 5000 = "
                         f"{p['duration_s'] / 5_000:g} s")


def _work(p: dict) -> tuple[int, str]:
    """Expected scan events (peak included)."""
    return math.ceil(_expected_events(p)), "expected events"


@dataclass
class LogisticsLagResult(RunResult):
    """A projection-lag run: backlog age samples, every event's lag and the alarm's raised intervals (s)."""

    samples: list[tuple[float, float]] = field(default_factory=list)  # (time s, backlog age s)
    lags: list[tuple[float, float]] = field(default_factory=list)  # (applied at s, append-to-applied s)
    alarm_intervals: list[tuple[float, float]] = field(default_factory=list)  # (raised s, cleared s)


def _run_logistics_lag(seed: int, p: dict, _hooks: dict) -> LogisticsLagResult:
    """Append scan events at the offered rate, project them, watch the lag (``LOGISTICS_LAG.run``)."""
    sim = Simulation(seed, trace=True, max_events=EVENT_BUDGET)
    log = EventLog(sim)
    log.create_topic("scans", 1)  # one projector, one partition: a single FIFO queue
    view = RouteView("read_model").bind(sim)
    group = ConsumerGroup(sim, log, "scans", view, group_id="projector", consumers=1,
                          processing_time=f"exp:{1000.0 / p['projector_per_s']!r}")
    alarm = LagAlarm(sim, group, p["tolerance_s"] * 1000.0)
    gaps = sim.rng("writes")
    duration = p["duration_s"] * 1000.0
    peak_start, peak_end = p["peak_start_s"] * 1000.0, (p["peak_start_s"] + p["peak_s"]) * 1000.0
    base = p["write_rate_per_s"] / 1000.0
    at_peak_end: dict[str, float] = {}

    def rate_at(t: float) -> float:
        return base * p["peak_factor"] if peak_start <= t < peak_end else base

    def arrive(n: int) -> None:
        # One note per event: the digest covers the workload without the cost of full lineage.
        sim.record("note", "depot", "", "scan", n)
        log.append("scans", Event(f"scan-{n}", f"scan-{n}", "ScanRecorded", {"route": n % 8},
                                  produced_at=sim.now, source="scan_store"))
        schedule_next(n + 1)

    def schedule_next(n: int) -> None:
        # Thinning-free piecewise rate: draw the gap at the current rate; a gap that crosses a
        # rate change is redrawn from the change (memorylessness keeps this exact).
        t = sim.now
        while True:
            nxt = t + gaps.expovariate(rate_at(t))
            change = next((c for c in (peak_start, peak_end) if t < c < nxt), None)
            if change is None:
                break
            t = change
        if nxt < duration:
            sim.schedule(nxt - sim.now, arrive, n)

    samples: list[tuple[float, float]] = []
    sampling = {"on": True}

    def sample() -> None:
        samples.append((sim.now / 1000.0, group.backlog_age_ms() / 1000.0))
        if sampling["on"]:
            sim.schedule(p["sample_s"] * 1000.0, sample)

    sim.schedule(0.0, sample)
    if peak_end <= duration:
        sim.schedule(peak_end, lambda: at_peak_end.setdefault("age", group.backlog_age_ms()))
    schedule_next(0)
    finished = sim.env.event()

    def check() -> None:
        if sim.now >= duration and group.idle():
            finished.succeed()
        else:
            sim.schedule(p["sample_s"] * 1000.0, check)

    sim.schedule(duration, check)
    # The projector needs (events / capacity) to apply everything; allow ten times that.
    cap = duration + 10 * 1000.0 * (_expected_events(p) + 10) / p["projector_per_s"] + 1000.0
    reason = sim.run_bounded(cap, stop_when=finished)
    sampling["on"] = False
    stopped = stop_note(reason, cap, f"{group.lag_offsets()} events unapplied") if reason != "done" else ""
    lags = [(t / 1000.0, lag / 1000.0) for t, lag in group.processing_lags]
    values = [lag for _, lag in lags]
    intervals = [(a / 1000.0, b / 1000.0) for a, b in alarm.intervals]
    tol = p["tolerance_s"]
    metrics: dict[str, Any] = {
        "events": len(lags),
        "lag_max_s": max(values, default=0.0),
        "lag_p99_s": percentile(values, 99) if values else math.nan,
        "lag_at_peak_end_s": at_peak_end.get("age", math.nan) / 1000.0,
        "alarm_raised": bool(intervals),
        "alarm_times_raised": len(intervals),
        "alarm_first_s": intervals[0][0] if intervals else math.nan,
        "alarm_raised_s": alarm.raised_ms(sim.now) / 1000.0,
        "events_over_tolerance": sum(v > tol for v in values),
        "utilisation_at_peak": p["write_rate_per_s"] * p["peak_factor"] / p["projector_per_s"],
        "utilisation_base": p["write_rate_per_s"] / p["projector_per_s"],
    }
    return LogisticsLagResult(
        scenario="logistics_lag", seed=seed, params=dict(p), metrics=metrics, trace_digest=sim.trace_digest(),
        samples=samples, lags=lags, alarm_intervals=intervals, stopped=stopped)


LOGISTICS_LAG = register_scenario(Scenario(
    name="logistics_lag",
    summary="a CQRS projector over minutes: read-model lag against write rate, a peak and projector capacity, "
            "with a lag alarm on the age of the oldest unapplied event",
    params=PARAMS,
    runner=_run_logistics_lag,
    cross_check=_cross_check,
    work=_work,
    max_work=60_000,
))


def write_rate_where_lag_crosses(seed: int = 0, *, low: float = 0.1, high: float = 20.0, steps: int = 8,
                                 **params: Any) -> dict[str, Any]:
    """Bisect the base write rate (events/s) where ``lag_max_s`` crosses ``tolerance_s``.

    Returns ``rate_per_s`` (the middle of the last bracket), ``below`` / ``above`` (the
    bracket), and ``runs`` (rate, lag_max_s) of every run, in order.  Each run uses the
    same ``seed``; the lag is not exactly monotone in the rate for one seed, so the answer
    is a bracket, not a point.
    """
    low = positive("low", low, "events/s")
    high = positive("high", high, "events/s")
    if not low < high:
        raise ValueError(f"low={low!r} must be below high={high!r}")
    steps = count("steps", steps, low=1, high=30)
    tolerance = params.get("tolerance_s", LOGISTICS_LAG.defaults()["tolerance_s"])
    runs: list[tuple[float, float]] = []

    def lag(rate_per_s: float) -> float:
        value = LOGISTICS_LAG.run(seed, write_rate_per_s=rate_per_s, **params).metrics["lag_max_s"]
        runs.append((rate_per_s, value))
        return value

    if lag(low) > tolerance:
        raise ValueError(f"low={low!r} must be a rate whose lag stays within tolerance_s={tolerance!r}")
    if lag(high) <= tolerance:
        raise ValueError(f"high={high!r} must be a rate whose lag exceeds tolerance_s={tolerance!r}")
    for _ in range(steps):
        mid = (low + high) / 2
        if lag(mid) > tolerance:
            high = mid
        else:
            low = mid
    return {"rate_per_s": (low + high) / 2, "below": low, "above": high, "runs": runs,
            "tolerance_s": tolerance}


def fluid_crossing_rate(projector_per_s: float, peak_factor: float, peak_s: float, tolerance_s: float) -> float:
    """The base write rate (events/s) at which a peak leaves the read model ``tolerance_s`` behind.

    The fluid picture of the queue: during a peak of ``peak_s`` at ``peak_factor`` times the
    base rate r, the backlog grows by (peak_factor * r - capacity) events per second, and an
    event arriving at the end of the peak waits backlog / capacity.  Setting that wait to the
    tolerance gives r = capacity * (1 + tolerance / peak) / peak_factor.  Randomness (the
    M/M/1 wait on top, and one seed's draws) moves the simulated crossing a little either way.
    """
    mu = positive("projector_per_s", projector_per_s, "events/s")
    factor = positive("peak_factor", peak_factor)
    peak = positive("peak_s", peak_s, "s")
    tol = positive("tolerance_s", tolerance_s, "s")
    return mu * (1.0 + tol / peak) / factor
