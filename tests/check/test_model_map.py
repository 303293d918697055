"""The map of models: one call places a history, separating histories separate, implications hold."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from consistency_lab.check import check_operations, register_model
from consistency_lab.check.eventual import check_eventual
from consistency_lab.check.history_text import format_history_text, parse_history_text as parse
from consistency_lab.check.model_map import IMPLIES, MAP_EDGES, MAP_LEVELS, place_on_map
from consistency_lab.check.prefix import check_consistent_prefix
from consistency_lab.check.search_cost import concurrent_writes_history, measure_search
from consistency_lab.check.separating import SEPARATING, SESSIONS_NOT_CAUSAL
from consistency_lab.history import Operation


def _separates(ops, stronger, weaker):
    m = place_on_map(ops)
    return m.holds(weaker) is True and m.holds(stronger) is False


def test_every_edge_has_a_separating_history_that_is_minimal():
    assert set(SEPARATING) == set(MAP_EDGES)
    for (stronger, weaker), sep in SEPARATING.items():
        ops = sep.ops
        assert _separates(ops, stronger, weaker), (stronger, weaker)
        m = place_on_map(ops)
        assert m.witness(stronger), (stronger, "a failing model names its witness")
        for i in range(len(ops)):
            rest = ops[:i] + ops[i + 1:]
            # Dropping a write can leave a read of a value from nowhere: that "separates" trivially.
            if check_consistent_prefix(rest).pattern != "UnknownValue":
                assert not _separates(rest, stronger, weaker), (stronger, weaker, i)


def test_session_guarantees_all_hold_on_a_history_that_is_not_causal():
    m = place_on_map(SESSIONS_NOT_CAUSAL.ops)
    assert m.holds("causal") is False
    assert all(m.holds(g) for g in ("read-your-writes", "monotonic reads", "monotonic writes",
                                    "writes-follow-reads"))


def test_map_rows_strongest_and_witnesses():
    m = place_on_map(parse("c1 write x 1 @0-1\nc2 read x -> 1 @2-3"))
    assert [r[0] for r in m.rows] == list(MAP_LEVELS) and m.satisfied == list(MAP_LEVELS)
    assert m.strongest == ["linearizable", "eventual"]
    assert m.witness("causal") == () and "Strongest satisfied" in m.to_markdown() and "<table>" in m._repr_html_()
    bad = place_on_map(parse("c1 write x 1 @0-1\nc1 read x -> 2 @2-3\nc2 write x 2 @0-1\nc2 read x -> 1 @2-3"))
    # Causal does not cover the session rows: they order writes by real time (see model_map's docstring).
    assert bad.strongest == ["causal", "read-your-writes", "monotonic reads", "monotonic writes",
                             "writes-follow-reads", "consistent prefix"]
    assert bad.witness("linearizable")[0].input == ("read", None)
    assert len(bad.witness("eventual")) == 2
    with pytest.raises(ValueError, match="name='strict' must be a model on the map; allowed"):
        bad.holds("strict")


def test_a_check_that_does_not_apply_is_a_question_mark_not_a_crash():
    m = place_on_map(parse("c1 write x 1 @0-1\nc2 write x 1 @0-1\nc1 read x -> 1 @2-3"))
    assert m.holds("causal") is None and "written twice" in dict((r[0], r[2]) for r in m.rows)["causal"]
    logs = place_on_map(parse("c1 append log a @0-1\nc2 read log -> [a] @2-3"))
    assert logs.holds("linearizable") and logs.holds("causal") is None


def test_eventual_is_about_where_each_client_ends():
    assert check_eventual(SEPARATING[("monotonic reads", "eventual")].ops).holds
    stale = check_eventual(parse("c1 write x 1 @0-1\nc1 write x 2 @2-3\nc2 read x -> 1 @5-6"))
    assert stale.pattern == "StaleFinalRead" and stale.witness[0].input == ("write", 2)
    split = check_eventual(parse("c1 write x 1 @0-1\nc2 write x 2 @0-1\nc1 read x -> 1 @2-3\nc2 read x -> 2 @2-3"))
    assert split.pattern == "DivergentFinalReads"
    assert check_eventual(parse("c1 write x 1 @0-1\nc2 read x -> nil @0-1")).holds is None
    assert check_eventual(parse("c1 write x 1 @0-1\nc2 read x -> nil @0-1"), {"r0": 1, "r1": 1}).holds
    assert check_eventual(parse("c1 write x 1 @0-1"), {"r0": 1, "r1": 0}).pattern == "ReplicasDiffer"


def test_text_round_trip_and_errors_name_the_line():
    text = "c1 write x 1 @0-2\nc2 read x -> 1 @3-4\nc1 write x 3 @7-?"
    ops = parse(text)
    assert ops[2].pending and ops[1].output == 1 and format_history_text(ops) == text
    assert parse("# comment\n\nc1 write a 1 @0-1\nc2 read b -> nil @0-1")[0].input == ("put", "a", 1)
    with pytest.raises(ValueError, match=r"^line 2 'c1 wirte x 1 @0-2' must look like one of"):
        parse("c1 write x 1 @0-2\nc1 wirte x 1 @0-2")
    with pytest.raises(ValueError, match="line 1 .*returns at 1 ms, before its call at 3 ms"):
        parse("c1 write x 1 @3-1")
    with pytest.raises(ValueError, match="text has no operations"):
        parse("# nothing")


def test_search_grows_with_concurrency_and_counts_model_steps():
    small = measure_search(check_operations, register_model(), concurrent_writes_history(4))
    big = measure_search(check_operations, register_model(), concurrent_writes_history(8))
    batched = measure_search(check_operations, register_model(), concurrent_writes_history(8, overlap=2))
    assert small.verdict == big.verdict == batched.verdict == "illegal"
    assert big.steps > 20 * small.steps and batched.steps * 10 < big.steps
    assert measure_search(check_operations, register_model(), concurrent_writes_history(8, legal=True)).verdict == "ok"
    assert big.orders == 355_687_428_096_000  # 17!
    assert concurrent_writes_history(6, seed=3) == concurrent_writes_history(6, seed=3)
    with pytest.raises(ValueError, match="writes=1 must be an integer"):
        concurrent_writes_history(1)


@st.composite
def histories(draw):
    # Each client one operation at a time (the session checks' setting), clients overlapping freely.
    ops, value, free = [], 1, {"a": 0, "b": 0, "c": 0}
    for _ in range(draw(st.integers(1, 6))):
        client = draw(st.sampled_from(["a", "b", "c"]))
        call = free[client] + draw(st.integers(0, 4))
        ret = call + draw(st.integers(1, 3))
        free[client] = ret + 1
        if draw(st.booleans()):
            ops.append(Operation(client, ("write", value), call, None, ret))
            value += 1
        else:
            ops.append(Operation(client, ("read", None), call, draw(st.sampled_from([None, 1, 2, 3])), ret))
    return ops


@settings(max_examples=150, deadline=None)
@given(histories())
def test_implications_hold_on_random_histories(ops):
    m = place_on_map(ops)
    for stronger, weaker in IMPLIES:
        if m.holds(stronger) is True:
            assert m.holds(weaker) is True, (stronger, weaker)
    for name in MAP_LEVELS:
        if m.holds(name) is False and name != "eventual":
            assert m.witness(name), name


def test_per_key_registers_as_etcd_records_them():
    # cas-kv inputs: ("write", key, v), ("read", key, None), ("cas", key, (old, new)) -> True/False.
    ops = [Operation(1, ("write", "k", 1), 0, True, 1), Operation(1, ("cas", "k", (1, 2)), 2, True, 3),
           Operation(0, ("read", "k", None), 4, 1, 5), Operation(0, ("read", "j", None), 4, None, 5)]
    m = place_on_map(ops)
    assert m.results["linearizable"].model.name == "cas-kv" and m.holds("linearizable") is False
    assert m.holds("sequential") is True and m.holds("causal") is True and m.holds("eventual") is False
    own = place_on_map(ops[:2] + [Operation(1, ("read", "k", None), 4, 1, 5)])
    assert own.holds("read-your-writes") is False and own.witness("read-your-writes")[0] is ops[1]
    assert own.holds("causal") is False and own.results["causal"].pattern == "WriteCORead"
