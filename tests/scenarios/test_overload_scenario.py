"""The overload scenario: utilisation, retry storms and budgets, a slow index at peak, cascading timeouts."""

import math

import pytest

from consistency_lab import simulate
from consistency_lab.scenarios import get_scenario

OVERLOAD = get_scenario("overload")
SEEDS = (1, 2)

#: A 5x slower index for one second at 75% utilisation: the store drowns for a while.
STORM = dict(rps=600, duration_ms=8000, index_slowdown=5.0, index_fault_start_ms=2000, index_fault_ms=1000)
#: A 5x slower index for two seconds at a peak of 87.5% utilisation.
PEAK = dict(rps=700, duration_ms=8000, index_slowdown=5.0, index_fault_start_ms=2000, index_fault_ms=2000)


def _run(seed=1, **params):
    result = OVERLOAD.run(seed, **params)
    assert result.stopped == "", result.stopped
    return result.metrics


def test_below_capacity_every_request_succeeds_and_utilisation_is_offered_over_capacity():
    m = _run(rps=400, duration_ms=10_000)  # 8 workers, 10 ms each: 800 requests/s
    assert m["capacity_rps"] == pytest.approx(800.0)
    assert m["store_utilisation"] == pytest.approx(m["offered_utilisation"], abs=0.03)
    assert m["success_rate"] == 1.0 and m["retries_sent"] == 0 and m["wasted_work_ms"] == 0.0
    assert m["goodput_rps"] == pytest.approx(400.0, rel=0.05)
    assert m["latency_p50_ms"] <= m["latency_p99_ms"] <= m["latency_p999_ms"]
    assert math.isnan(m["fault_success_rate"])  # no fault, no fault window


def test_latency_grows_with_load_and_success_collapses_beyond_capacity():
    light, busy, over = (_run(rps=rps) for rps in (300, 760, 1000))
    assert light["latency_p99_ms"] < busy["latency_p99_ms"]
    assert busy["success_rate"] == 1.0
    # Past capacity the queue grows until waits exceed the timeouts: served work is wasted,
    # and goodput falls below what the store could have delivered.
    assert over["success_rate"] < 0.8
    assert over["goodput_rps"] < 0.9 * over["capacity_rps"]
    assert over["wasted_share"] > 0.2


@pytest.mark.parametrize("seed", SEEDS)
def test_immediate_retries_storm_while_backoff_with_a_budget_recovers(seed):
    none = _run(seed, **STORM, retry="none")
    immediate = _run(seed, **STORM, retry="immediate")
    budgeted = _run(seed, **STORM, retry="backoff", retry_budget=True)
    # The storm: retries keep the queue full long after the index is fixed.
    assert immediate["success_rate"] < none["success_rate"] - 0.3
    assert immediate["retries_sent"] > immediate["requests"]
    assert immediate["wasted_share"] > 2 * none["wasted_share"]
    # A budget caps retries at a share of requests, so the store recovers as it does without retries.
    assert budgeted["success_rate"] > immediate["success_rate"] + 0.3
    assert budgeted["success_rate"] > none["success_rate"] - 0.1
    assert budgeted["retries_sent"] <= 0.1 * budgeted["requests"] + 10 * STORM["duration_ms"] / 1000 + 50


@pytest.mark.parametrize("seed", SEEDS)
def test_the_slow_index_at_peak_collapses_success_unless_load_is_shed(seed):
    plain = _run(seed, **PEAK)
    # Without shedding the queue the fault built outlives it: nearly nothing succeeds for seconds after.
    assert plain["fault_success_rate"] < 0.15 and plain["success_rate"] < 0.4
    for guard in (dict(shedding="queue"), dict(shedding="deadline"), dict(breaker=True)):
        guarded = _run(seed, **PEAK, **guard)
        assert guarded["success_rate"] > plain["success_rate"] + 0.3, guard
        assert guarded["wasted_work_ms"] < plain["wasted_work_ms"], guard
        if "shedding" in guard:  # shedding also keeps goodput during the fault itself
            assert guarded["fault_goodput_rps"] > 1.5 * plain["fault_goodput_rps"], guard
            assert guarded["store_shed"] > 0 and guarded["store_overloaded"] == 0, guard
        else:  # the breaker fails fast at the app tier instead
            assert guarded["breaker_rejections"] > 0 and guarded["store_shed"] == 0


@pytest.mark.parametrize("seed", SEEDS)
def test_an_upstream_timeout_shorter_than_the_work_below_wastes_it(seed):
    # Deadline shedding trusts the app's timeout; when web gives up sooner, the store
    # keeps serving requests that web has already abandoned.
    ordered = _run(seed, **PEAK, shedding="deadline", web_timeout_ms=800, app_timeout_ms=600)
    inverted = _run(seed, **PEAK, shedding="deadline", web_timeout_ms=300, app_timeout_ms=1500)
    assert ordered["web_timeouts"] == 0 and inverted["web_timeouts"] > 100
    assert inverted["wasted_share"] > ordered["wasted_share"] + 0.1
    assert inverted["success_rate"] < ordered["success_rate"]


def test_same_seed_same_run_and_another_seed_another():
    params = dict(STORM, duration_ms=3000, retry="backoff")  # jitter draws, retries and a fault
    a = OVERLOAD.run(5, **params)
    b = simulate("overload", 5, **params)
    c = OVERLOAD.run(6, **params)
    assert a.metrics["retries_sent"] > 100
    assert a.trace_digest == b.trace_digest and a.metrics == b.metrics
    assert [(r.outcome, r.attempts, r.done_ms) for r in a.requests] == [(r.outcome, r.attempts, r.done_ms)
                                                                       for r in b.requests]
    assert a.trace_digest != c.trace_digest


def test_the_result_holds_requests_samples_and_breaker_transitions():
    result = OVERLOAD.run(1, **PEAK, breaker=True)
    m = result.metrics
    assert len(result.requests) == m["requests"]
    assert sum(r.outcome == "ok" for r in result.requests) == m["succeeded"]
    assert sum(r.attempts for r in result.requests) == m["attempts"]
    assert m["breaker_trips"] > 0 and result.breaker_transitions[0][1:] == ("closed", "open")
    assert len(result.samples) == int(PEAK["duration_ms"] / 50) + 1
    assert max(q for _t, q, _b in result.samples) > 0
    bins = result.success_over_time(1000.0)
    assert sum(n for _t, _rate, n in bins) == m["requests"]
    assert bins[0][1] == 1.0 and min(rate for _t, rate, _n in bins) < 0.5
    assert result.to_json()["metrics"]["requests"] == m["requests"]


def test_latency_over_time_bins_the_successful_requests_by_arrival():
    result = OVERLOAD.run(1, **PEAK)
    bins = result.latency_over_time(1000.0)
    assert [t for t, _q in bins] == [t for t, _r, _n in result.success_over_time(1000.0)]
    ok = [r for r in result.requests if r.outcome == "ok" and r.arrival_ms < 1000.0]
    p50, p99, p999 = bins[0][1]
    assert p50 <= p99 <= p999 <= max(r.latency_ms for r in ok)
    # About 700 requests in the bin: its p99.9 is close to the slowest one.
    assert p999 == pytest.approx(sorted(r.latency_ms for r in ok)[-1], rel=0.05)
    # Arrivals in the fault (2 s to 4 s) that still succeed waited far longer than the quiet first second.
    assert max(q[1] for t, q in bins if 2000.0 <= t < 4000.0 and not math.isnan(q[1])) > 5 * p99
    with pytest.raises(ValueError, match="bin_ms=0 must be a number > 0 ms"):
        result.latency_over_time(0)


@pytest.mark.parametrize("params,needle", [
    (dict(retry="sometimes"), "retry='sometimes' must be one of none, immediate, backoff"),
    (dict(shedding="maybe"), "shedding='maybe' must be one of off, queue, deadline"),
    (dict(retries=-1), "retries=-1 must be an integer between 0 and 20"),
    (dict(backoff_cap_ms=0), "backoff_cap_ms=0 must be a number between 0.001 and 600000"),
    (dict(index_fault_ms=-1), "index_fault_ms=-1 must be a number between 0 and 600000"),
    (dict(service_ms="fast"), "service_ms='fast'"),
    (dict(rps=10_000, duration_ms=10_000), "requests x (retries + 1) = 100000 is more than one overload run"),
    (dict(rps=1000, duration_ms=10_000, retry="backoff"), "requests x (retries + 1) = 40000 is more than"),
    (dict(duration_ms=600_000, rps=1, sample_ms=1), "sample_ms=1 must be at least duration_ms / 20000"),
    (dict(budget=True), "unknown parameter 'budget' for scenario 'overload'"),
])
def test_bad_parameters_are_refused_in_one_line(params, needle):
    with pytest.raises(ValueError) as err:
        OVERLOAD.run(0, **params)
    assert needle in str(err.value) and "\n" not in str(err.value), str(err.value)


def test_a_run_stopped_by_the_event_budget_says_what_was_left(monkeypatch):
    # A smaller budget than the real one keeps the test quick; the bound logic is the same.
    from consistency_lab.scenarios import base
    from consistency_lab.scenarios import overload as module
    monkeypatch.setattr(base, "EVENT_BUDGET", 5_000)
    monkeypatch.setattr(module, "EVENT_BUDGET", 5_000)
    r = OVERLOAD.run(1, **STORM, retry="immediate")
    assert r.stopped.startswith("stopped early: the event budget (5000 events) ran out; unfinished: ")
    assert r.stopped.endswith("requests undecided")
    assert r.metrics["requests"] < 4800  # arrivals stopped with the run
