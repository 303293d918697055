"""Projection lag against the 2-minute tolerance: queueing, the alarm on a whole run, the bisection."""

import pytest

from consistency_lab import simulate
from consistency_lab.scenarios.logistics_lag import fluid_crossing_rate, write_rate_where_lag_crosses

SHORT = {"duration_s": 600.0, "peak_start_s": 30.0, "peak_s": 300.0, "tolerance_s": 60.0}


def test_below_capacity_the_lag_stays_seconds_and_above_it_grows_with_the_peak():
    calm = simulate("logistics_lag", 0, write_rate_per_s=2.0, **SHORT)  # peak 3/s against 5/s
    assert calm.metrics["lag_max_s"] < 20.0 and not calm.metrics["alarm_raised"]
    rush = simulate("logistics_lag", 0, write_rate_per_s=5.0, **SHORT)  # peak 7.5/s against 5/s
    assert rush.metrics["lag_max_s"] > 60.0 and rush.metrics["alarm_raised"]
    # The backlog grows by (peak rate - capacity) events a second for the whole peak, 300 * 2.5 = 750
    # events: the last event of the peak waits about 750 / 5 = 150 s; the oldest waiting one is younger.
    assert 90.0 < rush.metrics["lag_max_s"] < 210.0
    assert 0.0 < rush.metrics["lag_at_peak_end_s"] < rush.metrics["lag_max_s"]


def test_the_alarm_fires_iff_some_event_waited_longer_than_the_tolerance():
    for rate in (3.0, 3.6, 4.0, 5.0):
        r = simulate("logistics_lag", 2, write_rate_per_s=rate, **SHORT)
        assert r.stopped == ""
        over = [lag for _, lag in r.lags if lag > 60.0]
        assert r.metrics["alarm_raised"] == bool(over), rate
        assert r.metrics["events_over_tolerance"] == len(over)
        if over:
            # First raise: one tolerance after the append of the first event that crossed it.
            first = min(done - lag for done, lag in r.lags if lag > 60.0) + 60.0
            assert r.metrics["alarm_first_s"] == pytest.approx(first, abs=1e-6)


def test_the_bisection_brackets_the_crossing_near_the_queueing_estimate():
    found = write_rate_where_lag_crosses(0, low=1.0, high=8.0, steps=5, **SHORT)
    assert found["below"] < found["rate_per_s"] < found["above"]
    lags = dict(found["runs"])
    assert lags[found["below"]] <= 60.0 < lags[found["above"]]
    estimate = fluid_crossing_rate(projector_per_s=5.0, peak_factor=1.5, peak_s=300.0, tolerance_s=60.0)
    assert estimate == pytest.approx(5.0 * (1 + 60 / 300) / 1.5)
    assert abs(found["rate_per_s"] - estimate) / estimate < 0.2


def test_a_faster_projector_moves_the_crossing_up():
    slow = write_rate_where_lag_crosses(0, low=1.0, high=8.0, steps=3, **SHORT)
    fast = write_rate_where_lag_crosses(0, low=1.0, high=16.0, steps=3, projector_per_s=10.0, **SHORT)
    assert fast["rate_per_s"] > 1.5 * slow["rate_per_s"]


def test_same_seed_same_run_and_bad_input_is_refused():
    assert simulate("logistics_lag", 1, **SHORT).trace_digest == simulate("logistics_lag", 1, **SHORT).trace_digest
    with pytest.raises(ValueError, match="high=2.0 must be a rate whose lag exceeds tolerance_s=60.0"):
        write_rate_where_lag_crosses(0, low=1.0, high=2.0, **SHORT)
    with pytest.raises(ValueError, match="low=3.0 must be below high=2.0"):
        write_rate_where_lag_crosses(0, low=3.0, high=2.0)
    with pytest.raises(ValueError, match="expected events = .* allowed: at most 60000"):
        simulate("logistics_lag", 0, write_rate_per_s=1000.0, duration_s=3600.0)
