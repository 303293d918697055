"""The orders scenario: orchestrated sagas whose compensation rate an operator watches."""

import math
import os
import subprocess
import sys

import pytest

from consistency_lab import simulate
from consistency_lab.scenarios.orders import compensation_text

BURST = dict(burst_orders=400, burst_at=800.0, burst_ms=200.0)


def test_same_seed_same_run_and_another_seed_another():
    a = simulate("orders", seed=3, loss=0.1, duplicate=0.2, **BURST)
    b = simulate("orders", seed=3, loss=0.1, duplicate=0.2, **BURST)
    c = simulate("orders", seed=4, loss=0.1, duplicate=0.2, **BURST)
    assert a.trace_digest == b.trace_digest and a.metrics == b.metrics
    assert a.compensation_series == b.compensation_series
    assert c.trace_digest != a.trace_digest


def test_without_declines_or_faults_nothing_is_compensated():
    m = simulate("orders", seed=1, decline=0.0, **BURST).metrics
    assert m["orders"] == 600 and m["completed"] == 600 and m["unfinished"] == 0
    assert m["compensation_rate"] == 0.0 and m["compensations_applied"] == 0 and m["retries"] == 0


def test_with_no_orders_there_is_no_rate_and_it_reads_no_sagas_finished():
    r = simulate("orders", seed=1, order_rps=0.0)
    assert r.metrics["orders"] == 0 and math.isnan(r.metrics["compensation_rate"])
    assert compensation_text(r.metrics) == "no sagas finished"
    assert r.stopped == ""


@pytest.mark.parametrize("decline", [0.05, 0.3])
def test_declines_alone_give_a_rate_close_to_the_decline_probability(decline):
    n = 2000
    m = simulate("orders", seed=2, order_rps=1000.0, duration_ms=2000.0, decline=decline).metrics
    assert m["orders"] == n and m["unfinished"] == 0 and m["timed_out"] == 0
    # Each order is declined independently, so the count is binomial: 4 standard errors
    # leave a false alarm about once in 16,000 runs, and still catch a
    # rate 2 points off at 5 % (or 4 points off at 30 %).
    tolerance = 4 * math.sqrt(decline * (1 - decline) / n)
    assert abs(m["compensation_rate"] - decline) <= tolerance
    assert m["declined"] == m["compensated"] and m["compensations_applied"] == m["compensated"]


def test_a_payment_crash_during_a_burst_turns_timeouts_into_compensations():
    burst = simulate("orders", seed=1, **BURST).metrics
    crash = simulate("orders", seed=1, payment_crash_at=800.0, payment_crash_ms=300.0, **BURST).metrics
    assert burst["timed_out"] == 0
    # Orders that reached payment while it was down got no answer and were undone.
    assert crash["timed_out"] > 100 and crash["compensation_rate"] > burst["compensation_rate"] + 0.3
    # The crash was shorter than the undo retries, so every order still ended cleanly.
    assert crash["stuck"] == 0 and crash["unfinished"] == 0
    assert crash["completed"] + crash["compensated"] == crash["orders"]
    assert crash["finish_p99_ms"] > 2 * burst["finish_p99_ms"]


def test_a_crash_longer_than_the_undo_retries_leaves_stuck_orders_that_still_count_as_compensating():
    m = simulate("orders", seed=1, payment_crash_at=800.0, payment_crash_ms=2000.0, undo_attempts=5).metrics
    assert m["stuck"] > 0 and m["unfinished"] == 0
    assert m["compensation_rate"] == pytest.approx((m["compensated"] + m["stuck"]) / m["orders"])


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_no_compensation_ever_takes_effect_twice_even_with_duplicates_loss_and_crashes(seed):
    m = simulate("orders", seed=seed, duplicate=1.0, loss=0.3, decline=0.2, payment_crash_at=300.0,
                 payment_crash_ms=200.0, orchestrator_crash_at=600.0, orchestrator_crash_ms=300.0,
                 **BURST).metrics
    assert m["duplicates_suppressed"] > 0 and m["compensations_applied"] > 0
    assert m["max_compensations_per_step"] == 1 and m["max_effects_per_step"] == 1
    assert m["unfinished"] == 0


def test_an_orchestrator_crash_delays_orders_but_every_one_finishes():
    calm = simulate("orders", seed=1).metrics
    m = simulate("orders", seed=1, orchestrator_crash_at=500.0, orchestrator_crash_ms=500.0).metrics
    assert m["unfinished"] == 0 and m["completed"] + m["compensated"] == m["orders"]
    assert m["finish_p99_ms"] > calm["finish_p99_ms"] + 300


def test_the_series_counts_every_compensating_saga_once_in_its_bucket():
    r = simulate("orders", seed=1, payment_crash_at=800.0, payment_crash_ms=300.0, bucket_ms=50.0, **BURST)
    m = r.metrics
    assert sum(v * 50.0 / 1000.0 for _, v in r.compensation_series) == pytest.approx(m["compensated"] + m["stuck"])
    assert [t for t, _ in r.compensation_series] == pytest.approx([i * 0.05 for i in range(len(r.compensation_series))])
    # The peak sits in the crash window (0.8 s to 1.1 s, plus the tries before giving up).
    peak_t = max(r.compensation_series, key=lambda tv: tv[1])[0]
    assert 0.8 <= peak_t <= 1.5 and m["compensations_per_s_max"] == max(v for _, v in r.compensation_series)


@pytest.mark.parametrize("params, expected", [
    ({"decline": 1.5}, "decline=1.5 must be a number between 0 and 1"),
    ({"order_rps": -1}, "order_rps=-1 must be a number between 0 and"),
    ({"max_attempts": 0}, "max_attempts=0 must be an integer between 1 and 10"),
    ({"order_rps": 2000.0, "duration_ms": 3000.0}, "is more than one orders run simulates"),
    ({"duration_ms": 30_000.0, "order_rps": 1.0, "timeout_ms": 10_000.0, "bucket_ms": 10.0},
     "bucket_ms=10 must be at least"),
])
def test_bad_parameters_are_refused_with_one_line(params, expected):
    with pytest.raises(ValueError) as info:
        simulate("orders", seed=0, **params)
    message = str(info.value)
    assert expected in message and "\n" not in message


def test_the_same_run_in_another_process_with_another_string_hash_seed_is_identical():
    code = ("from consistency_lab import simulate; r = simulate('orders', seed=5, loss=0.1, duplicate=0.3, "
            "payment_crash_at=300.0, payment_crash_ms=200.0); print(r.trace_digest)")
    digests = {subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                              env={**os.environ, "PYTHONHASHSEED": h}).stdout.strip() for h in ("1", "2")}
    here = simulate("orders", seed=5, loss=0.1, duplicate=0.3, payment_crash_at=300.0, payment_crash_ms=200.0)
    assert digests == {here.trace_digest}
