"""Health metrics of an event-driven system, sampled on virtual time.

Definitions used throughout the course (times in ms inside, ``_s`` names in seconds):

consumer lag (offsets)
    records appended but not yet committed by a group, summed over partitions.
consumer lag (seconds), per event
    time from an event's append to the moment the group handled it for the first
    time -- how stale the derived data is when the event lands.  Summarised as
    ``consumer_lag_p50_s`` / ``_p99_s`` / ``_max_s``.
backlog age
    age of the oldest record the group has not committed yet (0 when caught up),
    sampled every ``interval_ms``; ``backlog_age_max_s`` is the largest sample.
throughput
    records handled for the first time per virtual second.
duplicate deliveries
    deliveries of a record the group had already delivered once (after a crash
    before the commit, a rebalance mid-record, or an injected duplicate); retries
    after a handler error are not counted.
divergence over time
    any count sampled on a fixed grid by :class:`SeriesMonitor` (e.g. timelines
    that differ from the source of truth).
reconciliation success rate
    repairs verified correct right after they were written / repairs attempted;
    NaN when nothing was repaired (report "no repairs": a job that never ran, or
    never found drift, has not succeeded at anything).
compensation rate
    finished sagas that took the compensation path / finished sagas.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable, Optional

from ..metrics import percentile, rate
from ..sim import Simulation, Timer

if TYPE_CHECKING:  # pragma: no cover
    from .consumer import ConsumerGroup

__all__ = [
    "LagSample", "LagMonitor", "SeriesMonitor", "consumer_lag_summary", "stream_metrics",
    "throughput_per_s", "success_rate", "compensation_rate",
]


def _interval(value: float) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0 or math.isinf(value):
        raise ValueError(f"interval_ms={value!r} must be a finite number > 0 ms")
    return float(value)


class _Sampler:
    """Calls ``self._sample()`` now and every ``interval_ms`` until stopped."""

    def __init__(self, sim: Simulation, interval_ms: float) -> None:
        self.sim = sim
        self.interval_ms = _interval(interval_ms)
        self._timer: Optional[Timer] = sim.call_soon(self._tick)

    def _tick(self) -> None:
        self._sample()
        self._timer = self.sim.schedule(self.interval_ms, self._tick)

    def _sample(self) -> None:  # pragma: no cover - overridden
        raise NotImplementedError

    def sample(self) -> None:
        """Take one extra sample now (e.g. at the very end of a run)."""
        self._sample()

    def stop(self) -> None:
        """Stop sampling (a sampler otherwise keeps the simulation busy forever)."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None


@dataclass(frozen=True, slots=True)
class LagSample:
    """A consumer group's lag at one time: records behind and age (ms) of the oldest of them."""

    time: float
    lag_offsets: int
    backlog_age_ms: float


class LagMonitor(_Sampler):
    """Samples a group's lag in records and its backlog age every ``interval_ms``."""

    def __init__(self, sim: Simulation, group: "ConsumerGroup", interval_ms: float = 100.0) -> None:
        self.group = group
        self.samples: list[LagSample] = []
        super().__init__(sim, interval_ms)

    def _sample(self) -> None:
        g = self.group
        self.samples.append(LagSample(self.sim.now, g.lag_offsets(), g.backlog_age_ms()))

    def summary(self) -> dict[str, float]:
        """``lag_offsets_max``, ``lag_offsets_mean``, ``backlog_age_max_s``, ``backlog_age_p99_s``."""
        lags = [s.lag_offsets for s in self.samples]
        ages = [s.backlog_age_ms for s in self.samples]
        return {
            "lag_offsets_max": float(max(lags, default=0)),
            "lag_offsets_mean": rate(sum(lags), len(lags)),
            "backlog_age_max_s": max(ages, default=0.0) / 1000.0,
            "backlog_age_p99_s": percentile(ages, 99) / 1000.0 if ages else math.nan,
        }


class SeriesMonitor(_Sampler):
    """Samples ``measure()`` every ``interval_ms``: ``series`` is a list of (time_ms, value)."""

    def __init__(self, sim: Simulation, measure: Callable[[], float], interval_ms: float = 100.0,
                 name: str = "value") -> None:
        self.measure = measure
        self.name = name
        self.series: list[tuple[float, float]] = []
        super().__init__(sim, interval_ms)

    def _sample(self) -> None:
        self.series.append((self.sim.now, self.measure()))

    def last(self) -> float:
        """The most recent sample (NaN before the first)."""
        return self.series[-1][1] if self.series else math.nan


def consumer_lag_summary(group: "ConsumerGroup", prefix: str = "consumer_lag") -> dict[str, float]:
    """Append-to-handled delay of each record, summarised in seconds: ``_p50_s``, ``_p99_s``, ``_max_s``."""
    lags = [lag for _, lag in group.processing_lags]
    return {
        f"{prefix}_p50_s": percentile(lags, 50) / 1000.0 if lags else math.nan,
        f"{prefix}_p99_s": percentile(lags, 99) / 1000.0 if lags else math.nan,
        f"{prefix}_max_s": max(lags) / 1000.0 if lags else math.nan,
    }


def throughput_per_s(count: float, duration_ms: float) -> float:
    """Events per virtual second over ``duration_ms`` (NaN for an empty interval)."""
    return rate(count * 1000.0, duration_ms)


def success_rate(succeeded: float, attempted: float) -> float:
    """succeeded / attempted; NaN when nothing was attempted (say "none attempted", never 100 %)."""
    return rate(succeeded, attempted)


def compensation_rate(compensated: float, finished: float) -> float:
    """Share of finished sagas that were compensated (NaN with no finished saga)."""
    return rate(compensated, finished)


def stream_metrics(group: "ConsumerGroup", monitor: Optional[LagMonitor], duration_ms: float) -> dict[str, float]:
    """The standard stream-health metrics of one group over a run of ``duration_ms``."""
    m: dict[str, float] = {}
    m.update(consumer_lag_summary(group))
    if monitor is not None:
        m.update(monitor.summary())
    m.update({
        "throughput_events_per_s": throughput_per_s(group.processed, duration_ms),
        "deliveries": group.deliveries,
        "duplicate_deliveries": group.redeliveries,
        "dead_letters": len(group.dead_letters),
        "rebalances": group.rebalances,
        "consumer_crashes": group.crashes,
        "lag_offsets_final": group.lag_offsets(),
    })
    return m
