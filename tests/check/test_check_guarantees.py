"""Convergence and the strongest-guarantee table."""

import pytest

from consistency_lab.check import (
    GuaranteeTable,
    check_convergence,
    convergence_time,
    counter_model,
    kv_model,
    strongest_guarantees,
)


from _builders import op, r, w


# --- convergence ----------------------------------------------------------------------


def test_convergence_all_equal():
    res = check_convergence({"a": 1, "b": 1, "c": 1})
    assert res.converged and res.holds and bool(res)
    assert res.differing == []
    assert "All 3 replicas" in res.explain()


def test_convergence_names_the_odd_ones_out():
    res = check_convergence({"a": {"x": 1}, "b": {"x": 2}, "c": {"x": 1}})
    assert not res.converged
    assert res.groups[0] == ({"x": 1}, ["a", "c"])
    assert res.differing == ["b"]
    assert "b holds" in res.explain()


def test_convergence_of_nothing_and_bad_input():
    assert check_convergence({}).converged
    with pytest.raises(TypeError, match="replica_states"):
        check_convergence([1, 1])


def test_convergence_time_after_heal():
    initial = {"a": 0, "b": 0}
    log = [(1, "a", 1), (5, "b", 1), (7, "a", 2), (9, "b", 2)]
    assert convergence_time(log, heal_time=3, initial=initial) == 9
    # Equal again at 5 but diverges at 7: only the last re-convergence counts.
    assert convergence_time(log[:2], heal_time=3, initial=initial) == 5
    # Already equal before the heal and never changed after: the heal time itself.
    assert convergence_time([(1, "a", 1), (2, "b", 1)], heal_time=3, initial=initial) == 3


def test_convergence_time_none_when_replicas_end_different():
    assert convergence_time([(1, "a", 1)], heal_time=0, initial={"a": 0, "b": 0}) is None


def test_convergence_time_same_instant_events_apply_together_and_unknown_replicas():
    log = [(4, "b", 1), (4, "a", 1)]
    assert convergence_time(log, heal_time=0, initial={"a": 0, "b": 2}) == 4
    # "c" only appears in the log, so it has no value until time 6.
    log = [(1, "a", 1), (2, "b", 1), (6, "c", 1)]
    assert convergence_time(log, heal_time=0, initial={"a": 0, "b": 0}) == 6
    # Unsorted input is sorted by time.
    assert convergence_time(list(reversed(log)), heal_time=0, initial={"a": 0, "b": 0}) == 6


def test_convergence_time_bad_arguments():
    with pytest.raises(ValueError, match="heal_time"):
        convergence_time([], heal_time="soon")
    with pytest.raises(ValueError, match=r"change_log\[0\]"):
        convergence_time([(1, "a")], heal_time=0)


# --- strongest guarantees -------------------------------------------------------------


def test_linearizable_history():
    table = strongest_guarantees([w(0, 1, 0, 1), r(1, 1, 2, 3)])
    assert isinstance(table, GuaranteeTable)
    assert table.strongest == "linearizable"
    assert table.holds("sequential") is True
    assert [row[0] for row in table.rows] == [
        "linearizable", "sequential", "read-your-writes", "monotonic reads",
        "monotonic writes", "writes-follow-reads",
    ]
    assert all(ok is True for _, ok, _ in table.rows)


def test_stale_read_is_sequential_only():
    table = strongest_guarantees([w(0, 1, 0, 1), r(1, None, 5, 6)])
    assert table.holds("linearizable") is False
    assert table.holds("sequential") is True
    assert table.strongest == "sequential"


def test_disagreeing_readers_keep_only_session_guarantees():
    h = [
        w(0, 1, 0, 1), w(1, 2, 0, 1),
        r(2, 1, 2, 3), r(2, 2, 4, 5),
        r(3, 2, 2, 3), r(3, 1, 4, 5),
    ]
    table = strongest_guarantees(h)
    assert table.holds("sequential") is False
    assert table.strongest == "session guarantees"


def test_monotonic_reads_violation_falls_to_eventual_or_none():
    h = [w(0, 1, 0, 1), r(1, 1, 2, 3), r(1, None, 4, 5)]
    table = strongest_guarantees(h)
    assert table.holds("monotonic reads") is False
    assert table.strongest == "none"
    converged = strongest_guarantees(h, replica_states={"a": 1, "b": 1})
    assert converged.holds("convergence") is True
    assert converged.strongest == "eventual"
    split = strongest_guarantees(h, replica_states={"a": 1, "b": None})
    assert split.holds("convergence") is False
    assert split.strongest == "none"


def test_large_non_linearizable_history_skips_sequential():
    h = [w(c, 10 * c + k, 10 * k, 10 * k + 1) for c in range(5) for k in range(10)]
    h.append(r(5, 999, 200, 201))
    table = strongest_guarantees(h, sequential_limit=1000)
    assert table.holds("sequential") is None
    assert "not checked" in dict((n, note) for n, _, note in table.rows)["sequential"]


def test_counter_session_rows_not_applicable():
    add = op(0, ("add", 1), 0, 1)
    table = strongest_guarantees([add, r(1, 0, 2, 3)], model=counter_model())
    assert table.holds("linearizable") is False
    assert table.holds("read-your-writes") is None
    assert table.strongest == "sequential"


def test_kv_table_and_rendering():
    h = [op(0, ("put", "x", 1), 0, 1), op(1, ("get", "x", None), 2, 3, None)]
    table = strongest_guarantees(h, model=kv_model())
    md = table.to_markdown()
    assert md.splitlines()[0] == "| guarantee | holds | note |"
    assert "| linearizable | ✗ |" in md
    assert "key 'x'" in md
    assert "**sequential**" in md
    html = table._repr_html_()
    assert html.startswith("<table>") and "<b>sequential</b>" in html


def test_bad_arguments():
    with pytest.raises(ValueError, match="sequential_limit"):
        strongest_guarantees([], sequential_limit=0)
    with pytest.raises(ValueError, match="timeout"):
        strongest_guarantees([], timeout=-1)
    with pytest.raises(KeyError, match="convergence"):
        strongest_guarantees([]).holds("convergence")
