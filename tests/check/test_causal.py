"""Causal consistency: the bad patterns on hand-made histories, and agreement with a brute force."""

from itertools import permutations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from consistency_lab.check import brute_force_sequential, precedes, register_model
from consistency_lab.check.causal import check_causal
from consistency_lab.check.history_text import parse_history_text as parse
from consistency_lab.history import Operation


def test_concurrent_writes_seen_in_opposite_orders_are_causal_but_not_sequential():
    ops = parse("c1 write x 1 @0-1\nc1 read x -> 2 @2-3\nc2 write x 2 @0-1\nc2 read x -> 1 @2-3")
    assert check_causal(ops).holds and not brute_force_sequential(register_model(), ops)


def test_a_value_overwritten_in_the_causal_past_is_write_co_read():
    ops = parse("c1 write x 1 @0-1\nc2 read x -> 1 @2-3\nc2 write x 2 @4-5\nc3 read x -> 2 @6-7\n"
                "c3 read x -> 1 @8-9")
    res = check_causal(ops)
    assert not res and res.pattern == "WriteCORead"
    assert [op.input for op in res.witness] == [("write", 1), ("write", 2), ("read", None)]
    assert res.witness[-1].call == 8 and "overwritten" in res.reason


def test_transitive_dependency_through_three_clients_is_found():
    ops = parse("c1 write x 1 @0-1\nc2 read x -> 1 @2-3\nc2 write y 2 @4-5\nc3 read y -> 2 @6-7\n"
                "c3 write z 3 @8-9\nc4 read z -> 3 @10-11\nc4 read x -> nil @12-13")
    res = check_causal(ops)
    assert res.pattern == "WriteCOInitRead" and res.witness[0].input == ("put", "x", 1)
    # Without the middle link the initial value is allowed: nothing causal connects c4 to x.
    assert check_causal([op for op in ops if op.input != ("put", "z", 3) and op.client_id != "c4"]
                        + parse("c4 read x -> nil @12-13")).holds


def test_cycle_and_thin_air():
    cyc = check_causal(parse("c1 read x -> 2 @0-1\nc1 write x 1 @2-3\nc2 read x -> 1 @0-1\nc2 write x 2 @2-3"))
    assert cyc.pattern == "CyclicCO" and len(cyc.witness) == 4
    air = check_causal(parse("c1 read x -> 7 @0-1"))
    assert air.pattern == "ThinAirRead" and air.witness[0].output == 7


def test_real_time_does_not_matter_but_session_order_does():
    # The old value long after a newer write finished, by a client that never saw the new one: causal.
    assert check_causal(parse("c1 write x 1 @0-1\nc1 write x 2 @2-3\nc2 read x -> 1 @100-101")).holds
    assert not check_causal(parse("c1 write x 1 @0-1\nc1 write x 2 @2-3\nc1 read x -> 1 @100-101"))


def test_pending_write_can_be_read_and_orders_nothing_after_it():
    ops = parse("c1 write x 1 @0-?\nc2 read x -> 1 @5-6\nc1 write x 2 @7-8")
    assert check_causal(ops).holds
    cas = [Operation("c1", ("cas", (None, 1)), 0, True, 1), Operation("c2", ("read", None), 2, 1, 3)]
    assert check_causal(cas).holds


def test_bad_input_is_a_one_line_error():
    with pytest.raises(ValueError, match="written twice to key"):
        check_causal(parse("c1 write x 1 @0-1\nc2 write x 1 @0-1"))
    with pytest.raises(ValueError, match="not supported by the causal check; allowed"):
        check_causal(parse("c1 append l a @0-1"))


# --- brute force: the same definition written out with a matrix closure and triple loops ---

def _co_matrix(ops):
    """(ops in call order, co as a boolean matrix: so and wr closed by Floyd–Warshall, ...); None for thin air."""
    ops = sorted((op for op in ops if op.status != "fail"), key=lambda op: op.call)
    n = len(ops)
    co = [[False] * n for _ in range(n)]
    for i in range(n):
        for j in range(n):
            a, b = ops[i], ops[j]
            if i < j and a.client_id == b.client_id and not a.pending and precedes(a, b):
                co[i][j] = True
    writer = {op.input[1]: i for i, op in enumerate(ops) if op.input[0] == "write"}
    reads = {j: writer.get(op.output) for j, op in enumerate(ops) if op.input[0] == "read"}
    for j, w in reads.items():
        if ops[j].output is not None and w is None:
            return None
        if w is not None:
            co[w][j] = True
    for k in range(n):
        for i in range(n):
            if co[i][k]:
                for j in range(n):
                    co[i][j] = co[i][j] or co[k][j]
    return ops, co, writer, reads


def _brute_causal(ops):
    found = _co_matrix(ops)
    if found is None:
        return False  # thin air
    ops, co, writer, reads = found
    if any(co[i][i] for i in range(len(ops))):
        return False
    for r, w1 in reads.items():
        for w2 in writer.values():
            if w1 is None and co[w2][r]:
                return False
            if w1 is not None and w2 != w1 and co[w1][w2] and co[w2][r]:
                return False
    return True


def _brute_causal_memory(ops):
    """Ahamad et al.'s causal memory: co acyclic and, per client, one legal order of all writes and its reads
    that respects co."""
    found = _co_matrix(ops)
    if found is None:
        return False
    ops, co, _, _ = found
    n = len(ops)
    if any(co[i][i] for i in range(n)):
        return False
    for c in {op.client_id for op in ops}:
        mine = [i for i in range(n) if ops[i].input[0] == "write" or ops[i].client_id == c]
        if not any(_legal_respecting_co(order, ops, co) for order in permutations(mine)):
            return False
    return True


def _legal_respecting_co(order, ops, co):
    pos = {i: k for k, i in enumerate(order)}
    if any(co[a][b] and pos[a] > pos[b] for a in order for b in order):
        return False
    value = None
    for i in order:
        if ops[i].input[0] == "write":
            value = ops[i].input[1]
        elif ops[i].output != value:
            return False
    return True


@st.composite
def register_histories(draw, max_ops=6):
    n = draw(st.integers(1, max_ops))
    ops, next_value = [], 1
    for _ in range(n):
        client = draw(st.sampled_from(["a", "b", "c"]))
        call = draw(st.integers(0, 12))
        ret = call + draw(st.integers(0, 4))
        if draw(st.booleans()):
            pending = draw(st.integers(0, 5)) == 0
            ops.append(Operation(client, ("write", next_value), call, None, ret, "info" if pending else "ok"))
            next_value += 1
        else:
            out = draw(st.sampled_from([None, *range(1, max_ops + 1)]))
            ops.append(Operation(client, ("read", None), call, out, ret))
    return ops


@settings(max_examples=150, deadline=None)
@given(register_histories())
def test_agrees_with_brute_force(ops):
    assert check_causal(ops).holds == _brute_causal(ops)


@settings(max_examples=80, deadline=None)
@given(register_histories(max_ops=5))
def test_weaker_than_sequential_and_causal_memory(ops):
    res = check_causal(ops)
    if brute_force_sequential(register_model(), ops):
        assert res.holds, "sequentially consistent, so causal"
    if _brute_causal_memory(ops):
        assert res.holds, "causal memory implies these patterns are absent"
    if not res.holds:
        assert res.witness and all(op in ops for op in res.witness)
