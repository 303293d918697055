"""Payments: an eventually consistent balance overdraws under concurrent spends; one authority never does."""

import pytest

from consistency_lab import simulate


def test_eventual_balance_overdraws_under_concurrent_spends():
    for seed in range(5):
        m = simulate("payments", seed=seed, mode="eventual").metrics
        assert m["overdrafts"] > 0 and m["final_balance"] < 0, seed
        assert m["decision_p50_ms"] == 0.0 and m["availability"] == 1.0


def test_reservation_never_overdraws_and_costs_a_round_trip():
    for seed in range(5):
        m = simulate("payments", seed=seed, mode="reservation").metrics
        assert m["overdrafts"] == 0 and m["final_balance"] >= 0, seed
        assert m["approved"] == 1_000 // 50  # every unit of money is still spent
        assert m["decision_p50_ms"] == pytest.approx(2 * 40.0)  # a round trip to the authority's region


def test_slower_sync_overdraws_more():
    fast = sum(simulate("payments", seed=s, sync_interval_ms=5.0, wan_ms=2.0).metrics["overdrafts"] for s in range(3))
    slow = sum(simulate("payments", seed=s, sync_interval_ms=1000.0).metrics["overdrafts"] for s in range(3))
    assert slow > fast


def test_no_contention_no_overdraft():
    m = simulate("payments", seed=1, mode="eventual", spends=15).metrics
    assert m["overdrafts"] == 0 and m["approved"] == 15


def test_authority_down_costs_availability_not_correctness():
    m = simulate("payments", seed=1, mode="reservation", authority_down_at=100.0, authority_down_ms=200.0).metrics
    assert m["unavailable"] > 0 and m["availability"] < 1.0 and m["overdrafts"] == 0
    assert m["decision_max_ms"] == pytest.approx(500.0)


def test_balance_series_and_determinism():
    a, b = (simulate("payments", seed=3) for _ in range(2))
    assert a.trace_digest == b.trace_digest and a.metrics == b.metrics
    assert a.balance_series[0] == (0.0, 1_000) and a.balance_series[-1][1] == a.metrics["final_balance"]
    with pytest.raises(ValueError, match="amount=2000 must be at most balance=1000"):
        simulate("payments", amount=2000)
