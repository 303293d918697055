"""The logistics scenario: each architecture's lesson on the same seeded workload."""

import pytest

from consistency_lab import simulate
from consistency_lab.scenarios import get_scenario

SMALL = {"scan_rps": 150.0, "query_rps": 20.0, "duration_ms": 2000.0, "outage_start_ms": 500.0, "outage_ms": 600.0}


def run(arch, seed=1, **kw):
    return simulate("logistics", seed, **{**SMALL, "architecture": arch, **kw})


def test_orchestration_fails_every_scan_that_needs_tracking_while_it_is_down():
    r = run("orchestration", outage_service="tracking")
    assert r.stopped == ""
    failed = [s for s in r.scans if s.outcome != "ok"]
    assert failed and all(s.outcome == "timeout at tracking" for s in failed)
    # The failures are the scans that reached tracking in the window (one store call, a few ms, before it).
    assert all(500.0 - 50 <= s.arrival_ms < 1100.0 for s in failed)
    assert all(s.outcome == "ok" for s in r.scans if s.arrival_ms < 450.0 or s.arrival_ms >= 1100.0)
    # Each failed depot waited the whole timeout; the store's write was rolled back each time.
    assert min(s.latency_ms for s in failed) >= 500.0
    assert r.metrics["rollbacks"] == len(failed)
    assert r.metrics["stale_read_share"] == 0.0  # reads hit the authoritative store


def test_choreography_keeps_scanning_while_tracking_is_down_and_tracking_catches_up():
    r = run("choreography", outage_service="tracking")
    assert r.stopped == ""
    assert r.metrics["scan_success_rate"] == 1.0
    assert r.metrics["tracking_lag_max_s"] >= 0.5  # the events of the outage waited for it to end
    assert 0 < r.metrics["tracking_caught_up_s"] < 1.0
    # After the drain, tracking's view equals what the depots were told.
    truth = {}
    for s in r.scans:
        truth[s.route] = truth.get(s.route, 0) + (s.outcome == "ok")
    assert {route: n for route, n in truth.items() if n} == {k: v for k, v in r.applied_routes().items()}


def test_cqrs_reads_lag_during_a_projector_outage_but_converge():
    r = run("cqrs", outage_service="projector")
    assert r.stopped == ""
    assert r.metrics["scan_success_rate"] == 1.0
    during = [q for q in r.queries if 600.0 <= q.arrival_ms < 1100.0]
    assert during and all(q.outcome == "ok" for q in during)  # the read model still answers...
    assert sum(q.stale for q in during) >= len(during) // 2  # ...but misses scans
    assert r.metrics["read_lag_max_s"] >= 0.5
    after = [q for q in r.queries if q.arrival_ms >= 1500.0]
    assert after and not any(q.stale and q.truth - q.answer > 5 for q in after)
    assert set(r.applied_at) == set(r.committed_at)  # every acknowledged scan reached the read model


def test_a_stale_answer_is_traced_to_the_scans_it_missed():
    r = run("cqrs", outage_service="projector")
    stale = next(q for q in r.queries if q.stale)
    missing = r.missing_scans(stale)
    assert len(missing) == stale.truth - stale.answer
    journey = r.journey(missing[0])
    written, applied = journey.first("written"), journey.first("applied")
    assert written.service == "scan_store" and written.time <= stale.arrival_ms
    assert any(s.step == "applied" and s.service.startswith("projector") and s.time > stale.done_ms
               for s in journey.steps)
    assert applied is not None


def test_orchestration_waits_for_three_calls_and_the_event_driven_depots_for_one():
    orch, chor = run("orchestration"), run("choreography")
    assert orch.metrics["scan_p50_ms"] > 2 * chor.metrics["scan_p50_ms"]
    assert run("cqrs").metrics["scan_p50_ms"] == chor.metrics["scan_p50_ms"]  # same command side


def test_analytics_on_the_write_store_slows_scans_only_in_orchestration():
    quiet, busy = run("orchestration", query_rps=0.0), run("orchestration", query_rps=150.0)
    assert busy.metrics["scan_p99_ms"] > 2 * quiet.metrics["scan_p99_ms"]
    quiet, busy = run("cqrs", query_rps=0.0), run("cqrs", query_rps=150.0)
    assert [s.latency_ms for s in busy.scans] == [s.latency_ms for s in quiet.scans]


def test_a_scan_store_outage_fails_scans_in_every_architecture():
    for arch in ("orchestration", "choreography", "cqrs"):
        r = run(arch, outage_service="scan_store")
        assert r.metrics["scans_failed"] > 0
        assert all(s.outcome == "timeout at scan_store" for s in r.scans if s.outcome != "ok")


def test_a_projector_outage_changes_nothing_where_there_is_no_projector():
    assert run("choreography", outage_service="projector").trace_digest == run("choreography").trace_digest


def test_same_seed_same_run_and_the_architectures_differ():
    assert run("cqrs", seed=3).trace_digest == run("cqrs", seed=3).trace_digest
    assert run("cqrs", seed=3).trace_digest != run("cqrs", seed=4).trace_digest
    assert run("orchestration", seed=3).trace_digest != run("cqrs", seed=3).trace_digest


def test_bad_parameters_are_refused_in_one_line():
    sc = get_scenario("logistics")
    with pytest.raises(ValueError, match="architecture='saga' must be one of orchestration, choreography, cqrs"):
        sc.run(0, architecture="saga")
    with pytest.raises(ValueError, match="query_ms='fast' must be a number between 0.01 and 60000"):
        sc.run(0, query_ms="fast")
    with pytest.raises(ValueError, match="scans \\+ queries = .* allowed: at most 40000"):
        sc.run(0, scan_rps=5_000, duration_ms=10_000)


def test_a_query_rate_too_small_to_draw_means_no_queries():
    """5e-324 queries per second is 0 per ms in floating point: no queries, never a ZeroDivisionError."""
    r = simulate("logistics", 262, query_rps=5e-324, duration_ms=2_000.0, scan_rps=50.0)
    assert r.metrics["queries"] == 0 and not r.stopped
