"""The lag alarm: raised exactly while some event older than the tolerance is still unapplied."""

import math

import pytest

from consistency_lab.patterns.lag_alarm import LagAlarm
from consistency_lab.scenarios.logistics_world import RouteView
from consistency_lab.sim import Simulation
from consistency_lab.streams.consumer import ConsumerGroup
from consistency_lab.streams.log import Event, EventLog


def _world(processing="exp:10", tolerance_ms=100.0, gap_ms=8.0, events=400, crash=None, seed=0):
    sim = Simulation(seed)
    log = EventLog(sim)
    log.create_topic("scans", 2)
    view = RouteView("v").bind(sim)
    group = ConsumerGroup(sim, log, "scans", view, group_id="p", consumers=1, processing_time=processing)
    alarm = LagAlarm(sim, group, tolerance_ms)
    rng = sim.rng("gaps")
    t = 0.0
    for n in range(events):
        t += rng.expovariate(1 / gap_ms)
        sim.schedule(t, lambda n=n: log.append("scans", Event(f"e{n}", f"k{n}", "ScanRecorded", {"route": 0},
                                                                produced_at=sim.now)))
    if crash is not None:
        sim.schedule(crash[0], group.crash, "p-0", crash[1])
    sim.run()
    return group, alarm


def _expected_intervals(group, tolerance_ms):
    """Union of [appended + tolerance, applied) over events that waited longer than the tolerance."""
    spans = sorted((done - lag + tolerance_ms, done) for done, lag in group.processing_lags if lag > tolerance_ms)
    merged = []
    for a, b in spans:
        if merged and a <= merged[-1][1] + 1e-9:
            merged[-1] = (merged[-1][0], max(merged[-1][1], b))
        else:
            merged.append((a, b))
    return merged


@pytest.mark.parametrize("processing, crash", [("exp:10", None), ("exp:6", None), ("exp:9", None),
                                               ("exp:2", (500.0, 400.0)), ("exp:2", None)])
def test_the_alarm_is_raised_exactly_while_an_event_older_than_the_tolerance_waits(processing, crash):
    group, alarm = _world(processing, crash=crash)
    expected = _expected_intervals(group, 100.0)
    assert alarm.raised is False  # everything was applied in the end
    assert len(alarm.intervals) == len(expected)
    for (a, b), (x, y) in zip(alarm.intervals, expected, strict=True):
        assert a == pytest.approx(x, abs=1e-6) and b == pytest.approx(y, abs=1e-6)
    assert (alarm.times_raised > 0) == any(lag > 100.0 for _, lag in group.processing_lags)


def test_a_fast_projector_never_raises_it_and_a_crash_longer_than_the_tolerance_does():
    group, alarm = _world("exp:1")
    assert max(lag for _, lag in group.processing_lags) < 100.0
    assert alarm.intervals == []
    group, alarm = _world("exp:1", crash=(500.0, 300.0))
    assert alarm.times_raised >= 1
    first = alarm.intervals[0][0]
    assert 500.0 + 100.0 - 8.0 * 10 < first < 500.0 + 300.0  # raised during the outage, a tolerance after it began


def test_the_alarm_watches_age_not_count():
    # A long queue of fresh events (fast projector, bursty writes) stays below the tolerance in age.
    group, alarm = _world("exp:0.5", gap_ms=0.3, events=300, tolerance_ms=500.0)
    assert max(lag for _, lag in group.processing_lags) < 500.0
    assert alarm.intervals == []


def test_raised_ms_counts_an_open_alarm_to_the_end():
    group, alarm = _world("exp:10")
    total = sum(b - a for a, b in alarm.intervals)
    assert alarm.raised_ms(math.inf) == pytest.approx(total)


def test_a_bad_tolerance_is_refused():
    sim = Simulation(0)
    log = EventLog(sim)
    log.create_topic("t", 1)
    group = ConsumerGroup(sim, log, "t", RouteView("v").bind(sim))
    with pytest.raises(ValueError, match="tolerance_ms=0 must be"):
        LagAlarm(sim, group, 0)
