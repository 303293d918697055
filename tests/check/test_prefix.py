"""Consistent prefix on logs and registers, and agreement with a brute force over orders of appends."""

from itertools import permutations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from consistency_lab.check import brute_force_sequential, tuple_kv_model
from consistency_lab.check.history_text import parse_history_text as parse
from consistency_lab.check.prefix import check_consistent_prefix
from consistency_lab.history import Operation


def test_readers_lagging_by_different_amounts_see_prefixes():
    ops = parse("c1 append log a @0-1\nc1 append log b @2-3\nc2 read log -> [a] @4-5\n"
                "c3 read log -> [a, b] @4-5\nc2 read log -> [] @6-7")
    res = check_consistent_prefix(ops)
    assert res.holds and "prefixes of one order" in res.reason


def test_a_gap_or_two_orders_break_it_with_the_two_reads_as_witness():
    gap = check_consistent_prefix(parse("c1 append log a @0-1\nc1 append log b @2-3\nc2 read log -> [b] @4-5\n"
                                        "c2 read log -> [a, b] @6-7"))
    assert gap.pattern == "DivergentReads" and [op.output for op in gap.witness] == [("b",), ("a", "b")]
    swapped = check_consistent_prefix(parse("c1 append log a @0-1\nc2 append log b @0-1\n"
                                            "c3 read log -> [a, b] @4-5\nc4 read log -> [b, a] @4-5"))
    assert not swapped and swapped.pattern == "DivergentReads"


def test_values_from_nowhere_fail_on_logs_and_registers():
    assert check_consistent_prefix(parse("c1 append log a @0-1\nc2 read log -> [a, z] @2-3")).pattern == \
        "UnknownValue"
    assert check_consistent_prefix(parse("c1 append log a @0-1\nc2 read log -> [a, a] @2-3")).pattern == \
        "UnknownValue"
    assert check_consistent_prefix(parse("c1 write x 1 @0-1\nc2 read x -> 2 @2-3")).pattern == "UnknownValue"
    # Going back in time is allowed (that is monotonic reads' business), on registers too.
    assert check_consistent_prefix(parse("c1 write x 1 @0-1\nc2 read x -> 1 @2-3\nc2 read x -> nil @4-5"))


def test_mixed_put_and_append_is_not_judged():
    ops = [Operation("c1", ("put", "k", 1), 0, None, 1), Operation("c1", ("append", "k", 2), 2, None, 3)]
    assert check_consistent_prefix(ops).holds is None


def test_duplicate_appends_are_a_one_line_error():
    with pytest.raises(ValueError, match="written twice to key 'log'"):
        check_consistent_prefix(parse("c1 append log a @0-1\nc2 append log a @0-1"))


def _brute_prefix(ops):
    """Some order of each key's appends has every read as one of its prefixes."""
    keys = {op.input[1] for op in ops}
    for key in keys:
        appends = [op.input[2] for op in ops if op.input[0] == "append" and op.input[1] == key]
        reads = [op.output or () for op in ops if op.input[0] == "get" and op.input[1] == key]
        if not any(all(tuple(order[: len(r)]) == r for r in reads) for order in permutations(appends)):
            return False
    return True


@st.composite
def log_histories(draw):
    ops, values = [], {"p": [], "q": []}
    for k in range(draw(st.integers(1, 7))):
        key = draw(st.sampled_from(["p", "q"]))
        call = draw(st.integers(0, 10))
        ret = call + draw(st.integers(0, 3))
        if draw(st.booleans()) and len(values[key]) < 4:
            values[key].append(f"v{k}")
            ops.append(Operation("abc"[k % 3], ("append", key, f"v{k}"), call, None, ret))
        else:
            pool = draw(st.permutations(values[key] or ["v0"]))
            seen = tuple(v for v in pool[: draw(st.integers(0, len(pool)))] if v in values[key])
            ops.append(Operation("abc"[k % 3], ("get", key, None), call, seen or None, ret))
    return ops


@settings(max_examples=200, deadline=None)
@given(log_histories())
def test_agrees_with_brute_force_and_is_implied_by_sequential(ops):
    res = check_consistent_prefix(ops)
    assert res.holds == _brute_prefix(ops)
    if len(ops) <= 7 and brute_force_sequential(tuple_kv_model(), ops):
        assert res.holds
    if not res.holds:
        assert res.witness and all(op in ops for op in res.witness)
