"""The value of the merge of all replicas is what each type promises, over random histories."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from _histories import play, steps
from consistency_lab.crdt import (GCounter, GSet, LWWMap, LWWRegister, MVRegister, ORSet, PNCounter,
                                  TwoPSet)


def merged(played):
    """All replicas joined, in a fixed order (order does not matter: test_merge_laws)."""
    r = played.replicas
    return r["a"].merge(r["b"]).merge(r["c"])


@given(data=st.data())
def test_pn_counter_is_all_increments_minus_all_decrements(data):
    played = play("pncounter", data.draw(steps("pncounter")))
    expected = sum(e.arg[1] if e.name == "increment" else -e.arg[1] for e in played.events)
    assert merged(played).value() == expected


@given(data=st.data())
def test_g_counter_is_the_sum_of_all_increments(data):
    played = play("gcounter", data.draw(steps("gcounter")))
    assert merged(played).value() == sum(e.arg[1] for e in played.events)


@given(data=st.data())
def test_g_set_and_2p_set(data):
    played = play("gset", data.draw(steps("gset")))
    assert merged(played).value() == {e.arg[0] for e in played.events}
    played = play("twopset", data.draw(steps("twopset")))
    added = {e.arg[0] for e in played.events if e.name == "add"}
    removed = {e.arg[0] for e in played.events if e.name == "remove"}
    assert merged(played).value() == added - removed


@given(data=st.data())
def test_or_set_keeps_exactly_the_adds_no_remove_observed(data):
    played = play("orset", data.draw(steps("orset", max_steps=18)))
    events = {e.eid: e for e in played.events}
    observed = set()  # add events some remove of the same element had in its causal past
    for e in played.events:
        if e.name == "remove":
            observed |= {p for p in e.past if events[p].name == "add" and events[p].arg[0] == e.arg[0]}
    expected = {e.arg[0] for e in played.events if e.name == "add" and e.eid not in observed}
    assert merged(played).value() == expected


@given(data=st.data())
def test_lww_register_keeps_the_largest_stamp(data):
    played = play("lwwregister", data.draw(steps("lwwregister")))
    if played.events:
        assert merged(played).value() == max(played.events, key=lambda e: e.stamp).arg[0]
    else:
        assert merged(played).value() is None


@given(data=st.data())
def test_lww_map_keeps_the_largest_stamp_per_key(data):
    played = play("lwwmap", data.draw(steps("lwwmap")))
    expected = {}
    for key in {e.arg[0] for e in played.events}:
        last = max((e for e in played.events if e.arg[0] == key), key=lambda e: e.stamp)
        if last.name == "set":
            expected[key] = last.arg[1]
    assert merged(played).value() == expected


@given(data=st.data())
def test_mv_register_keeps_every_write_no_later_write_saw(data):
    played = play("mvregister", data.draw(steps("mvregister")))
    superseded = set().union(*(e.past for e in played.events)) if played.events else set()
    expected = {e.arg[0] for e in played.events if e.eid not in superseded}
    assert merged(played).value() == expected


def test_pn_counter_halves_are_merged_apart():
    a, b = PNCounter("a"), PNCounter("b")
    a.increment(5)
    b.merge_in(a)
    b.decrement(2)
    a.increment(1)  # concurrent with b's decrement: a net-value max would keep 6 and lose the -2
    assert a.merge(b).value() == 4 == b.merge(a).value()
    assert a.merge(b).state_size() == 2  # P: {a: 6}; N: {b: 2}


def test_g_counter_merge_is_max_not_sum():
    a, b = GCounter("a"), GCounter("b")
    a.increment(2)
    b.merge_in(a)
    b.merge_in(a)  # the same state twice: a summing merge would count 6
    assert b.value() == 2


def test_or_set_concurrent_add_and_remove_keeps_the_element():
    a, b = ORSet("a"), ORSet("b")
    a.add("x")
    b.merge_in(a)
    b.remove("x")
    a.add("x")  # concurrent with b's remove, which never saw this add
    assert "x" in a.merge(b) and "x" in b.merge(a)


def test_or_set_remove_after_observing_the_add_removes_it():
    a, b = ORSet("a"), ORSet("b")
    a.add("x")
    b.merge_in(a)
    b.remove("x")
    assert "x" not in a.merge(b) and a.merge(b).value() == frozenset()


def test_or_set_remove_delta_removes_elsewhere_and_stale_state_does_not_resurrect():
    a, b = ORSet("a"), ORSet("b")
    add = a.add("x")
    b.merge_in(add)
    removal = b.remove("x")
    a.merge_in(removal)
    assert "x" not in a
    a.merge_in(add)  # the old add delivered again (duplication, reordering)
    assert "x" not in a


def test_or_set_state_does_not_grow_with_removed_elements():
    a, b = ORSet("a"), ORSet("b")
    for i in range(300):
        b.merge_in(a.add(i))
        a.merge_in(b.remove(i))
    assert a.value() == frozenset() and a == b
    assert a.state_size() <= 2 and b.state_size() <= 2  # one version-vector entry per writer
    two_p = TwoPSet("a")
    for i in range(300):
        two_p.add(i)
        two_p.remove(i)
    assert two_p.state_size() == 600  # the 2P-Set, by contrast, keeps every tombstone


def test_or_set_out_of_order_deltas_keep_a_gap_then_compact():
    a, b = ORSet("a"), ORSet("b")
    first, second = a.add("x"), a.add("y")
    b.merge_in(second)
    assert b.context.cloud == {("a", 2)}
    b.merge_in(first)
    assert b.context.cloud == set() and b == a


def test_two_p_set_remove_is_forever():
    s = TwoPSet("a")
    s.add("x")
    s.remove("x")
    s.add("x")
    assert "x" not in s
    with pytest.raises(ValueError, match="element='y' must be in the set"):
        s.remove("y")


def test_lww_register_ties_go_to_the_larger_replica_id():
    a, b = LWWRegister("a"), LWWRegister("b")
    a.set("from a", 10)
    b.set("from b", 10)
    assert a.merge(b).value() == "from b" == b.merge(a).value()
    a.set("later", 11)
    assert b.merge(a).value() == "later"


def test_lww_register_an_older_write_loses_silently():
    a, b = LWWRegister("a"), LWWRegister("b")
    a.set("new", 20)
    b.set("skewed clock", 5)
    assert b.merge(a).value() == "new"


def test_lww_register_refuses_reusing_its_own_timestamp():
    r = LWWRegister("a")
    r.set(1, 5)
    with pytest.raises(ValueError, match="timestamp=5 must be > 5.0"):
        r.set(2, 5)
    with pytest.raises(ValueError, match="timestamp='x' must be a finite number"):
        r.set(2, "x")
    assert r.copy().merge(LWWRegister("b")).replica_id == "a"
    with pytest.raises(ValueError):
        r.copy().set(3, 4)  # the copy remembers this replica's last write


def test_mv_register_keeps_concurrent_values_until_overwritten():
    a, b = MVRegister("a"), MVRegister("b")
    a.set("red")
    b.set("blue")
    both = a.merge(b)
    assert both.value() == {"red", "blue"}
    both.set("purple")
    assert both.merge(a).merge(b).value() == {"purple"}
    assert MVRegister("c").value() == frozenset()


def test_lww_map_delete_beats_an_older_set():
    a, b = LWWMap("a"), LWWMap("b")
    a.set("k", 1, 1)
    b.merge_in(a)
    b.delete("k", 2)
    a.set("j", 7, 3)
    m = a.merge(b)
    assert m.value() == {"j": 7} and "k" not in m and m.get("k", "gone") == "gone"
    assert m.state_size() == 2  # the tombstone is kept


def test_bad_amounts_and_elements_are_one_line_value_errors():
    for bad in (0, -1, 1.5, True):
        with pytest.raises(ValueError, match="amount=.* must be an integer >= 1"):
            PNCounter("a").increment(bad)
        with pytest.raises(ValueError, match="amount=.* must be an integer >= 1"):
            PNCounter("a").decrement(bad)
    with pytest.raises(ValueError, match=r"element=\[1\] must be hashable"):
        ORSet("a").add([1])
    with pytest.raises(ValueError, match="must be hashable"):
        GSet("a").add({})
    with pytest.raises(ValueError, match="must be hashable"):
        MVRegister("a").set([])
