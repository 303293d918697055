"""Session guarantees: each one violated and held."""

import math

import pytest

from consistency_lab.check import (
    monotonic_reads,
    monotonic_writes,
    read_your_writes,
    writes_follow_reads,
)


from _builders import op, r, w


def put(c, k, v, a, b):
    return op(c, ("put", k, v), a, b)


def get(c, k, v, a, b):
    return op(c, ("get", k, None), a, b, v)


ALL = (read_your_writes, monotonic_reads, monotonic_writes, writes_follow_reads)


# --- read your writes ---------------------------------------------------------------


def test_ryw_violated_by_reading_initial_value_after_own_write():
    h = [w(0, 1, 0, 1), r(0, None, 2, 3)]
    res = read_your_writes(h)
    assert not res.holds and not res
    assert res.violation == (h[0], h[1])
    assert "initial value" in res.reason
    assert "client 0" in res.reason


def test_ryw_violated_by_reading_a_value_overwritten_before_own_write():
    h = [w(1, 1, 0, 1), w(0, 2, 2, 3), r(0, 1, 4, 5)]
    res = read_your_writes(h)
    assert res.violation == (h[1], h[2])
    assert "1, an older value than 2" in res.reason


def test_ryw_holds_when_a_concurrent_write_wins_or_another_client_reads_stale():
    h = [w(0, 1, 0, 1), w(1, 2, 0.5, 3), r(0, 2, 4, 5), r(2, None, 6, 7)]
    assert read_your_writes(h).holds
    assert read_your_writes(h).violation is None


def test_ryw_ignores_pending_and_failed_writes():
    h = [op(0, ("write", 1), 0, math.inf, status="info"), r(0, None, 2, 3)]
    assert read_your_writes(h).holds
    h = [op(0, ("write", 1), 0, 1, status="fail"), r(0, None, 2, 3)]
    assert read_your_writes(h).holds


def test_ryw_is_per_key():
    h = [put(0, "x", 1, 0, 1), get(0, "y", None, 2, 3), get(0, "x", None, 4, 5)]
    res = read_your_writes(h)
    assert res.violation == (h[0], h[2])


# --- monotonic reads ----------------------------------------------------------------


def test_mr_violated_by_going_back_to_initial():
    h = [w(0, 1, 0, 1), r(1, 1, 2, 3), r(1, None, 4, 5)]
    res = monotonic_reads(h)
    assert res.violation == (h[1], h[2])
    assert read_your_writes(h).holds  # it is another client's write


def test_mr_violated_by_reading_an_older_write():
    h = [w(0, 1, 0, 1), w(0, 2, 2, 3), r(1, 2, 4, 5), r(1, 1, 6, 7)]
    assert monotonic_reads(h).violation == (h[2], h[3])


def test_mr_holds_forwards_and_for_overlapping_writes():
    assert monotonic_reads([w(0, 1, 0, 1), w(0, 2, 2, 3), r(1, 1, 4, 5), r(1, 2, 6, 7)]).holds
    # Overlapping writes are unordered, so either order of observation is allowed.
    assert monotonic_reads([w(0, 1, 0, 10), w(2, 2, 0, 10), r(1, 2, 11, 12), r(1, 1, 13, 14)]).holds


def test_mr_reports_the_violation_that_finished_first():
    h = [
        w(0, 1, 0, 1),
        r(1, 1, 2, 3), r(1, None, 20, 21),  # later violation
        r(2, 1, 2, 3), r(2, None, 10, 11),  # earlier violation
    ]
    assert monotonic_reads(h).violation == (h[3], h[4])


# --- monotonic writes ---------------------------------------------------------------


def test_mw_violated_when_reader_sees_second_write_then_first_same_key():
    h = [w(0, 1, 0, 1), w(0, 2, 2, 3), r(1, 2, 4, 5), r(1, 1, 6, 7)]
    res = monotonic_writes(h)
    assert res.violation == (h[2], h[3])
    assert "again" in res.reason


def test_mw_violated_across_keys_while_mr_holds():
    h = [put(0, "x", 1, 0, 1), put(0, "y", 1, 2, 3), get(1, "y", 1, 4, 5), get(1, "x", None, 6, 7)]
    res = monotonic_writes(h)
    assert res.violation == (h[2], h[3])
    assert monotonic_reads(h).holds
    assert read_your_writes(h).holds
    assert writes_follow_reads(h).holds


def test_mw_violated_inside_one_append_read():
    app = lambda c, k, v, a, b: op(c, ("append", k, v), a, b)  # noqa: E731
    h = [app(0, "x", 1, 0, 1), app(0, "x", 2, 2, 3), get(1, "x", (2,), 4, 5)]
    res = monotonic_writes(h)
    assert res.violation == (h[0], h[2])
    h_ok = h[:2] + [get(1, "x", (1, 2), 4, 5)]
    assert monotonic_writes(h_ok).holds


def test_mw_holds_when_first_write_is_visible():
    h = [put(0, "x", 1, 0, 1), put(0, "y", 1, 2, 3), get(1, "y", 1, 4, 5), get(1, "x", 1, 6, 7)]
    assert monotonic_writes(h).holds


# --- writes follow reads ------------------------------------------------------------


def _reply_before_post(x_seen):
    return [
        put(0, "x", "post", 0, 1),
        get(1, "x", "post", 2, 3), put(1, "y", "reply", 4, 5),
        get(2, "y", "reply", 6, 7), get(2, "x", x_seen, 8, 9),
    ]


def test_wfr_violated_when_reply_visible_without_post():
    h = _reply_before_post(None)
    res = writes_follow_reads(h)
    assert res.violation == (h[3], h[4])
    assert "reading" in res.reason
    assert monotonic_writes(h).holds  # two different writers
    assert monotonic_reads(h).holds


def test_wfr_holds_when_post_visible():
    h = _reply_before_post("post")
    for check in ALL:
        assert check(h).holds, check.__name__


# --- inputs ------------------------------------------------------------------------------


def test_duplicate_written_values_are_rejected():
    with pytest.raises(ValueError, match="unique"):
        monotonic_reads([w(0, 1, 0, 1), w(1, 1, 2, 3)])


def test_unsupported_operations_are_rejected():
    with pytest.raises(ValueError, match="not supported"):
        read_your_writes([op(0, ("add", 1), 0, 1)])


def test_successful_cas_counts_as_a_write():
    h = [op(0, ("cas", (None, 5)), 0, 1, True), r(0, None, 2, 3)]
    assert not read_your_writes(h).holds
    h = [op(0, ("cas", (None, 5)), 0, 1, False), r(0, None, 2, 3)]
    assert read_your_writes(h).holds


def test_all_hold_on_an_empty_history():
    for check in ALL:
        res = check([])
        assert res.holds and res.violation is None and res.reason == ""
