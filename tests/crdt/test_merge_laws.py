"""Merge is a join for every type: commutative, associative, idempotent, and it mutates nothing."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from _histories import OP_NAMES, play, steps
from consistency_lab.crdt import CRDT_TYPES

KINDS = sorted(CRDT_TYPES)


@pytest.mark.parametrize("kind", KINDS)
@given(data=st.data())
def test_merge_is_commutative_associative_idempotent(kind, data):
    replicas = play(kind, data.draw(steps(kind))).replicas
    a, b, c = replicas["a"], replicas["b"], replicas["c"]
    frozen = [x.copy() for x in (a, b, c)]
    assert a.merge(b) == b.merge(a)
    assert a.merge(b).merge(c) == a.merge(b.merge(c))
    assert a.merge(a) == a
    assert a.merge(b).merge(b) == a.merge(b)
    assert [a, b, c] == frozen, "merge must not mutate either side"
    assert a.merge(b).replica_id == "a"
    assert a.merge(b).value() == b.merge(a).value()


@pytest.mark.parametrize("kind", KINDS)
def test_copy_is_independent_and_equality_ignores_replica_id(kind):
    one, two = CRDT_TYPES[kind]("a"), CRDT_TYPES[kind]("b")
    assert one == two
    played = play(kind, [("op", "a", OP_NAMES[kind][0], ("x", 2))])
    a = played.replicas["a"]
    clone = a.copy()
    assert clone == a and clone is not a and clone.replica_id == "a"
    assert a.state_size() >= 1
    assert a != CRDT_TYPES[kind]("a")
    before = a.canonical()
    MUTATE[kind](clone)
    assert a.canonical() == before and clone != a, "a copy must not share state with its original"


MUTATE = {
    "gcounter": lambda c: c.increment(1), "pncounter": lambda c: c.decrement(1), "gset": lambda c: c.add("new"),
    "twopset": lambda c: c.add("new"), "orset": lambda c: c.remove("x"), "lwwregister": lambda c: c.set("v", 99.0),
    "mvregister": lambda c: c.set("v"), "lwwmap": lambda c: c.delete("x", 99.0), "rga": lambda c: c.delete(0),
}


@pytest.mark.parametrize("kind", KINDS)
def test_merge_refuses_another_type(kind):
    other = CRDT_TYPES["gset" if kind != "gset" else "gcounter"]("b")
    with pytest.raises(ValueError, match="must be a"):
        CRDT_TYPES[kind]("a").merge(other)


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("bad", ["", 3, None])
def test_replica_id_must_be_a_non_empty_string(kind, bad):
    with pytest.raises(ValueError, match="replica_id=.* must be a non-empty string"):
        CRDT_TYPES[kind](bad)
