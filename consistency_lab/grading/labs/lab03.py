"""Public checks of lab 03, ``lab03_crdts``: counters, an add-wins set, a text sequence, gossip.

Students run these with ``check("q1_counter")`` and friends. The operations, the gossip network
and the size measure they use are :mod:`._lab03_world`, shared with the hidden checks.
"""

from __future__ import annotations

import copy

from consistency_lab.grading import check_for

from ._lab03_world import TinyNet, UnionSet, is_delete, is_insert, state_size

LAB = "lab03_crdts"


def _merged(a, b):
    """A copy of ``a`` with ``b`` merged in (``a`` and ``b`` unchanged)."""
    out = copy.deepcopy(a)
    out.merge(copy.deepcopy(b))
    return out


# -- part 1: counters -------------------------------------------------------------------------

@check_for(lab=LAB, grade_id="q1_counter", points=25,
           hint="Keep one entry per replica; a merge keeps the larger of each entry, and the value is their "
                "sum.")
def gcounter_merges_by_entry(ns):
    """two G-Counters merge to the sum of their increments, and merging again changes nothing"""
    a, b = ns.GCounter("a"), ns.GCounter("b")
    a.increment(2)
    b.increment(3)
    b.increment()
    assert a.value() == 2 and b.value() == 4, f"after a +2 and b +3, +1, the values are {a.value()!r} and " \
                                              f"{b.value()!r}; expected 2 and 4"
    a.merge(b)
    assert a.value() == 6, f"after a.merge(b), a reads {a.value()!r}; expected 2 + 4 = 6"
    assert b.value() == 4, f"a.merge(b) changed b: it now reads {b.value()!r}; merge must leave its argument alone"
    a.merge(b)
    assert a.value() == 6, f"merging the same state twice made a read {a.value()!r}; expected 6 (a state that " \
                           "arrives twice must count once: merge with max, not +)"
    b.merge(a)
    assert b.value() == 6, f"after b.merge(a), b reads {b.value()!r}; expected 6"


@check_for(lab=LAB, grade_id="q1_counter", points=25,
           hint="A G-Counter only grows: a negative increment is refused with a ValueError.")
def gcounter_refuses_negative_increments(ns):
    """a G-Counter refuses a negative increment with ValueError"""
    c = ns.GCounter("a")
    try:
        c.increment(-1)
    except ValueError:
        pass
    else:
        raise AssertionError("GCounter.increment(-1) was accepted: a shrinking entry would be undone by the next "
                             "merge (max keeps the larger number); raise ValueError")
    assert c.value() == 0, f"after a refused increment the counter reads {c.value()!r}; expected 0"


@check_for(lab=LAB, grade_id="q1_counter", points=25,
           hint="A PN-Counter is two G-Counters, one for increments and one for decrements; merge both.")
def pncounter_decrement_survives_a_merge(ns):
    """a decrement made after a merge survives the next merge"""
    a, b = ns.PNCounter("a"), ns.PNCounter("b")
    a.increment(5)
    b.merge(a)
    a.decrement(2)
    b.merge(a)
    assert a.value() == 3, f"after +5 and -2 at replica a, a reads {a.value()!r}; expected 3"
    assert b.value() == 3, f"b merged a's +5, then a decremented by 2 and b merged again: b reads {b.value()!r}; " \
                           "expected 3 (a decrement must survive the merge: merging one net number per " \
                           "replica with max keeps the old, larger one)"
    b.decrement(1)
    b.increment(4)
    a.merge(b)
    assert a.value() == b.value() == 6, f"after b -1 +4 and a.merge(b), a reads {a.value()!r} and b " \
                                        f"{b.value()!r}; expected 6 on both"


@check_for(lab=LAB, grade_id="q1_counter", points=25,
           hint="Merging in any order, or the same state twice, must give the same value.")
def pncounter_merge_order_and_duplicates(ns):
    """PN-Counters merged in either order, or twice, agree"""
    a, b, c = ns.PNCounter("a"), ns.PNCounter("b"), ns.PNCounter("c")
    a.increment(3)
    b.decrement(2)
    c.increment(1)
    c.decrement(4)
    ab, ba = _merged(a, b), _merged(b, a)
    assert ab.value() == ba.value() == 1, f"a (+3) merged with b (-2) reads {ab.value()!r}, b merged with a " \
                                          f"{ba.value()!r}; expected 1 both ways"
    twice = _merged(ab, b)
    assert twice.value() == 1, f"merging b's state a second time gives {twice.value()!r}; expected 1"
    left, right = _merged(ab, c), _merged(a, _merged(b, c))
    assert left.value() == right.value() == -2, f"(a + b) + c reads {left.value()!r} and a + (b + c) " \
                                                f"{right.value()!r}; expected -2 both ways"


# -- part 2: the add-wins set ------------------------------------------------------------------

@check_for(lab=LAB, grade_id="q2_orset", points=30,
           hint="Every add gets a new dot from this replica's clock; a remove forgets the element's dots; the "
                "value is the elements that still have one.")
def orset_adds_and_removes_locally(ns):
    """on one replica, add, remove, contains and value behave like a set"""
    s = ns.ORSet("a")
    s.add("milk")
    s.add("eggs")
    s.add("milk")
    assert s.contains("milk") and "eggs" in s, "after add('milk'), add('eggs'), both must be in the set"
    s.remove("milk")
    s.remove("bread")  # never added: nothing happens
    assert not s.contains("milk"), "after remove('milk'), the set still contains 'milk'"
    got = s.value()
    assert isinstance(got, frozenset), f"value() returned a {type(got).__name__}; return a frozenset"
    assert got == frozenset({"eggs"}), f"value() is {set(got)!r}; expected {{'eggs'}}"
    s.add("milk")
    assert s.value() == frozenset({"eggs", "milk"}), f"adding 'milk' again gave {set(s.value())!r}"


@check_for(lab=LAB, grade_id="q2_orset", points=30,
           hint="When merging, a dot that one side has and the other side's clock has already seen was removed there.")
def orset_remove_of_a_seen_add_propagates(ns):
    """a remove made after seeing the add wins over that add on every replica"""
    a, b = ns.ORSet("a"), ns.ORSet("b")
    a.add("milk")
    a.add("eggs")
    b.merge(a)
    assert b.value() == frozenset({"milk", "eggs"}), f"after b.merge(a), b holds {set(b.value())!r}"
    b.remove("milk")
    a.merge(b)
    assert "milk" not in a, "b saw a's add of 'milk' and then removed it; after a.merge(b), a still holds " \
                            "'milk': a dot that b's clock has seen but b no longer has was removed at b"
    assert a.value() == b.value() == frozenset({"eggs"}), \
        f"after merging, a holds {set(a.value())!r} and b {set(b.value())!r}; expected {{'eggs'}} on both"


@check_for(lab=LAB, grade_id="q2_orset", points=30,
           hint="A remove only cancels the dots its replica had seen; an add concurrent with it has a dot nobody "
                "removed.")
def orset_concurrent_add_wins(ns):
    """an add concurrent with a remove of the same element wins, on both replicas"""
    a, b = ns.ORSet("a"), ns.ORSet("b")
    a.add("milk")
    b.merge(a)
    b.remove("milk")   # b removes the milk it has seen ...
    a.add("milk")      # ... while a, not knowing, adds milk again
    ab, ba = _merged(a, b), _merged(b, a)
    assert "milk" in ab and "milk" in ba, \
        f"a re-added 'milk' concurrently with b's remove; after merging, 'milk' is in a: {'milk' in ab}, in b: " \
        f"{'milk' in ba}; add-wins means both keep it (the concurrent remove must not beat the add)"
    c = ns.ORSet("c")
    c.add("tea")
    d = ns.ORSet("d")
    d.remove("tea")    # d never saw c's tea: its remove cancels nothing
    assert "tea" in _merged(d, c), "d removed 'tea' before it had seen c's add; after d.merge(c) 'tea' must be there"


@check_for(lab=LAB, grade_id="q2_orset", points=30,
           hint="Forget a removed element's dots entirely: the clock already says you have seen them.")
def orset_memory_does_not_grow_with_removes(ns):
    """memory stays flat over 300 add/remove cycles on two replicas"""
    a, b = ns.ORSet("a"), ns.ORSet("b")
    first = None
    for i in range(300):
        x = f"item{i}"
        (a if i % 2 else b).add(x)
        a.merge(b)
        b.merge(a)
        (b if i % 2 else a).remove(x)
        a.merge(b)
        b.merge(a)
        if (i + 1) % 20 == 0:
            size = max(state_size(a), state_size(b))
            first = size if first is None else first
            assert size <= first + 8, \
                f"after 20 add/remove cycles a replica holds {first} entries, after {i + 1} it holds {size}: " \
                "memory grows with removed elements (tombstones); an OR-Set with a clock needs none"
    assert a.value() == b.value() == frozenset(), f"every element was removed, yet a holds {len(a.value())} " \
                                                  f"and b {len(b.value())}"


# -- part 3: RGA ---------------------------------------------------------------------------------

def _typed(ns, replica, text):
    """An RGA on ``replica`` with ``text`` typed left to right; returns (rga, ops)."""
    r = ns.RGA(replica)
    ops = [r.insert(i, ch) for i, ch in enumerate(text)]
    return r, ops


@check_for(lab=LAB, grade_id="q3_rga", points=35,
           hint="A local insert goes right after the visible character before the index; a delete keeps the "
                "element but marks it deleted.")
def rga_edits_locally(ns):
    """local inserts and deletes give the expected text and return Insert / Delete operations"""
    r, ops = _typed(ns, "a", "cat")
    assert r.text() == "cat", f"after typing 'c', 'a', 't' at indexes 0, 1, 2, text() is {r.text()!r}"
    assert all(is_insert(op) for op in ops), \
        f"insert returned {type(ops[0]).__name__}; return the Insert operation it applied (to broadcast it)"
    assert len({op.id for op in ops}) == 3, f"the three inserts have ids {[op.id for op in ops]}; ids must be unique"
    r.insert(0, "s")
    r.insert(2, "h")
    assert r.text() == "schat", f"after insert(0, 's') and insert(2, 'h'), text() is {r.text()!r}; expected 'schat'"
    op = r.delete(1)
    assert is_delete(op), f"delete returned {type(op).__name__}; return the Delete operation it applied"
    assert r.text() == "shat", f"after delete(1), text() is {r.text()!r}; expected 'shat'"
    for bad in ((r.insert, (9, "x")), (r.delete, (4,))):
        try:
            bad[0](*bad[1])
        except ValueError:
            continue
        raise AssertionError(f"{bad[0].__name__}{bad[1]} on the 4-character text 'shat' was accepted; raise "
                             "ValueError for an index out of range")


@check_for(lab=LAB, grade_id="q3_rga", points=35,
           hint="A remote insert goes after its anchor, past any neighbours with larger ids; an operation "
                "applied before changes nothing.")
def rga_remote_ops_replay_and_duplicates(ns):
    """another replica applying the ops (some twice) ends with the same text"""
    a, ops = _typed(ns, "a", "hello")
    ops.append(a.delete(0))
    ops.append(a.insert(0, "j"))
    b = ns.RGA("b")
    for op in ops + ops[2:5]:
        b.apply(op)
    assert b.text() == a.text() == "jello", f"a reads {a.text()!r}; b, after applying a's ops (three of them " \
                                            f"twice), reads {b.text()!r}; expected 'jello' on both"
    c = ns.RGA("c")
    for op in ops:
        c.apply(op)
    c.insert(5, "!")
    assert c.text() == "jello!", f"c applied a's ops, then typed '!' at the end: {c.text()!r}"


@check_for(lab=LAB, grade_id="q3_rga", points=35,
           hint="Concurrent inserts after the same element: the one with the larger id (counter, then replica) comes "
                "first, on every replica, whatever the arrival order.")
def rga_concurrent_inserts_converge(ns):
    """concurrent inserts at the same place end in the same order on both replicas"""
    a, b = ns.RGA("a"), ns.RGA("b")
    x = a.insert(0, "x")
    y = b.insert(0, "y")
    a.apply(y)
    b.apply(x)
    assert a.text() == b.text(), f"a typed 'x' and b typed 'y' at the start concurrently; after exchanging, a " \
                                 f"reads {a.text()!r} and b {b.text()!r}: the order must not depend on arrival"
    assert a.text() == "yx", f"both read {a.text()!r}; ids {x.id} and {y.id} have the same counter, so the " \
                             "replica id decides: the larger id, ('b'), goes first: expected 'yx'"


@check_for(lab=LAB, grade_id="q3_rga", points=35,
           hint="Keep a Lamport counter: it jumps to the largest counter seen in any id, and a new id is one "
                "more than it.")
def rga_typing_on_both_sides_keeps_every_character(ns):
    """two editors typing words at the same spot converge and keep every character"""
    _, ops = _typed(ns, "s", "[]")
    a, b = ns.RGA("a"), ns.RGA("b")
    for op in ops:
        a.apply(op)
        b.apply(op)
    mine = [a.insert(1 + i, ch) for i, ch in enumerate("cat")]
    theirs = [b.insert(1 + i, ch) for i, ch in enumerate("dog")]
    for op in theirs:
        a.apply(op)
    for op in mine:
        b.apply(op)
    assert a.text() == b.text(), f"a typed 'cat' and b typed 'dog' between the brackets; after exchanging, a " \
                                 f"reads {a.text()!r} and b {b.text()!r}"
    assert sorted(a.text()) == sorted("[catdog]"), f"the merged text {a.text()!r} lost or doubled characters; " \
                                                   "expected every character of '[', 'cat', 'dog', ']' once"
    assert a.text() in ("[catdog]", "[dogcat]"), f"the merged text is {a.text()!r}: each word typed left to right " \
                                                 "must stay in one piece"
    later = a.insert(0, ">")
    b.apply(later)
    assert later.id[0] > max(op.id[0] for op in mine + theirs), \
        f"a's new insert got id {later.id} although a had already seen counters up to " \
        f"{max(op.id[0] for op in mine + theirs)}: keep the counter as the largest seen (a Lamport clock)"


# -- part 4: gossip ------------------------------------------------------------------------------

@check_for(lab=LAB, grade_id="q4_gossip", points=10,
           hint="Each round: every replica sends its state to every other replica, then merge each delivered state "
                "into its receiver.")
def gossip_spreads_every_update(ns):
    """gossip over a duplicating, reordering network brings three replicas to the same value"""
    replicas = [UnionSet(r) for r in "abc"]
    for r in replicas:
        r.add(f"from {r.replica}")
    net = TinyNet(seed=1, duplicate=0.5, delay=0.5)
    history = ns.gossip(replicas, net, 6)
    assert isinstance(history, list) and len(history) == 6, \
        f"gossip(replicas, net, 6) returned {type(history).__name__} of length " \
        f"{len(history) if hasattr(history, '__len__') else '?'}; return one list of values per round"
    assert all(len(h) == 3 for h in history), "each round's entry must hold one value per replica"
    want = frozenset({"from a", "from b", "from c"})
    got = [r.value() for r in replicas]
    assert all(v == want for v in got), f"after 6 rounds the replicas hold {[sorted(v) for v in got]}; expected " \
                                        "every replica to hold all three elements"
    assert net.sent >= 6 * 6, f"in 6 rounds gossip sent {net.sent} messages; every replica sends to every other " \
                              "replica each round (36 or more)"
    assert history[-1] == got, "the last entry of the history must be the replicas' values after the last round"


@check_for(lab=LAB, grade_id="q4_gossip", points=10,
           hint="Send and receive only through the network, and merge whatever it delivers: the network "
                "decides what crosses a cut.")
def gossip_converges_after_a_cut_heals(ns):
    """replicas on two sides of a cut diverge, then converge after it heals"""
    replicas = [UnionSet(r) for r in "abc"]
    net = TinyNet(seed=2, duplicate=0.3, delay=0.4)
    net.cut({0, 1}, {2})
    replicas[0].add("left")
    replicas[2].add("right")
    ns.gossip(replicas, net, 5)
    assert "right" not in replicas[0].value() and "left" not in replicas[2].value(), \
        "during a cut between {a, b} and {c}, an update crossed it: send every state through net.send"
    assert "left" in replicas[1].value(), "during the cut, b never received a's update: gossip to every replica"
    net.heal()
    ns.gossip(replicas, net, 6)
    got = [sorted(r.value()) for r in replicas]
    assert all(v == ["left", "right"] for v in got), f"6 rounds after the cut healed, the replicas hold {got}"
