"""The messaging scenario: where optimistic UI halves perceived latency, and where it does not."""

import math

import pytest

from consistency_lab import simulate
from consistency_lab.scenarios.messaging import compare_optimistic

SMALL = dict(messages=150, duration_ms=15_000.0)


def test_slow_server_rare_refusals_the_cut_is_at_least_half():
    opt, pess, cut = compare_optimistic(1, server_ms=500.0, refusal=0.05, **SMALL)
    assert cut >= 0.5
    # Optimistic: most messages feel instant; pessimistic: almost none do.
    assert opt.metrics["perceived_under_200ms"] > 0.9 > 0.1 > pess.metrics["perceived_under_200ms"]
    # The wait for the truth is the same either way: only the first feedback moves.
    assert opt.metrics["confirmation_p50_ms"] == pytest.approx(pess.metrics["confirmation_p50_ms"])
    assert opt.metrics["feedback_p50_ms"] < 0.1 * pess.metrics["feedback_p50_ms"]


def test_frequent_refusals_break_the_claim():
    _opt, _pess, rare = compare_optimistic(1, server_ms=250.0, refusal=0.05, **SMALL)
    opt, _pess, often = compare_optimistic(1, server_ms=250.0, refusal=0.5, **SMALL)
    assert often < 0.5 <= rare
    assert opt.metrics["rollback_rate"] > 0.4


def test_a_fast_server_is_already_under_the_threshold():
    opt, pess, cut = compare_optimistic(1, server_ms=30.0, refusal=0.0, spread=0.2, **SMALL)
    # The cut is large on paper, but both modes already answer within 100 ms: nothing the user can feel.
    assert cut > 0.5
    assert pess.metrics["perceived_under_100ms"] == opt.metrics["perceived_under_100ms"] == 1.0


def test_rollbacks_are_charged_and_pessimistic_never_rolls_back():
    a = simulate("messaging", seed=2, refusal=0.3, rollback_penalty_ms=0.0, **SMALL)
    b = simulate("messaging", seed=2, refusal=0.3, rollback_penalty_ms=1000.0, **SMALL)
    assert a.metrics["rollbacks"] == b.metrics["rollbacks"] > 0
    assert b.metrics["perceived_mean_ms"] > a.metrics["perceived_mean_ms"] + 200
    p = simulate("messaging", seed=2, refusal=0.3, optimistic=False, **SMALL)
    assert p.metrics["rollbacks"] == 0 and p.metrics["refused"] == a.metrics["refused"]


def test_loss_times_messages_out():
    r = simulate("messaging", seed=3, loss=0.3, timeout_ms=800.0, **SMALL)
    assert r.metrics["timed_out"] > 0 and r.metrics["pending"] == 0 and r.stopped == ""
    assert r.metrics["confirmation_p99_ms"] == pytest.approx(800.0)


def test_deterministic():
    a, b = (simulate("messaging", seed=5, refusal=0.2, **SMALL) for _ in range(2))
    assert a.trace_digest == b.trace_digest and a.metrics == b.metrics
    assert simulate("messaging", seed=6, refusal=0.2, **SMALL).trace_digest != a.trace_digest


def test_compare_refuses_a_mode_and_handles_no_messages():
    with pytest.raises(ValueError, match="optimistic"):
        compare_optimistic(0, optimistic=True)
    _o, _p, cut = compare_optimistic(0, messages=1, loss=1.0, timeout_ms=10.0)
    assert not math.isnan(cut)
