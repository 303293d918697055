"""Sequential consistency: program order only, not real time."""

import math

import pytest

from consistency_lab.check import (
    check_operations,
    check_sequential,
    kv_model,
    register_model,
)
from consistency_lab.check.sequential import sequential_search_size

from _builders import op, r, w

REG = register_model()


def test_stale_read_is_sequential_but_not_linearizable():
    # Client 1 reads the old value after the write finished: fine if client 1's
    # read is ordered before the write, which real time forbids but program order allows.
    h = [w(0, 1, 0, 1), r(1, None, 5, 6)]
    assert check_operations(REG, h).verdict == "illegal"
    res = check_sequential(REG, h)
    assert res.verdict == "ok"
    assert res.kind == "sequential"
    assert res.order == [h[1], h[0]]
    assert "Sequentially consistent" in res.explain()


def test_going_back_in_time_within_a_client_is_not_sequential():
    h = [w(0, 1, 0, 1), r(1, 1, 5, 6), r(1, None, 7, 8)]
    res = check_sequential(REG, h)
    assert res.verdict == "illegal"
    assert res.witness.unplaceable == [h[2]]
    assert "program order" in res.explain()


def test_two_clients_disagreeing_on_write_order_is_not_sequential():
    # Clients 2 and 3 see the two writes in opposite orders: no single order exists.
    h = [
        w(0, 1, 0, 1), w(1, 2, 0, 1),
        r(2, 1, 2, 3), r(2, 2, 4, 5),
        r(3, 2, 2, 3), r(3, 1, 4, 5),
    ]
    assert check_sequential(REG, h).verdict == "illegal"


def test_sequential_is_not_compositional_over_keys():
    # Each key alone is fine, but together each client's get must come before the
    # other client's put, which with program order makes a cycle.
    m = kv_model()
    h = [
        op(0, ("put", "x", 1), 0, 1), op(0, ("get", "y", None), 2, 3, None),
        op(1, ("put", "y", 1), 0, 1), op(1, ("get", "x", None), 2, 3, None),
    ]
    for key in "xy":
        assert check_sequential(m, [o for o in h if o.input[1] == key]).ok
    assert check_sequential(m, h).verdict == "illegal"


def test_pending_ops_may_be_skipped_or_placed():
    h = [op(0, ("write", 1), 0, math.inf, status="info"), r(1, None, 5, 6), r(1, 1, 7, 8)]
    assert check_sequential(REG, h).ok
    h = [op(0, ("write", 1), 0, math.inf, status="info"), r(1, None, 5, 6)]
    assert check_sequential(REG, h).ok


def test_timeout_gives_unknown_and_bad_timeout_raises():
    h = [w(c, c, 0, 1) for c in range(5)]
    assert check_sequential(REG, h, timeout=1e-9).verdict == "unknown"
    with pytest.raises(ValueError, match="timeout"):
        check_sequential(REG, h, timeout=-3)


def test_search_size():
    h = [w(0, 1, 0, 1), w(0, 2, 2, 3), r(1, 1, 0, 1)]
    assert sequential_search_size(h) == 3 * 2
