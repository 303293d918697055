"""The pycrdt bridge: character indices on non-ASCII text, convergence, and where Yjs and RGA order differently."""

import pytest

from consistency_lab.crdt import RGA
from consistency_lab.real.pycrdt_docs import PycrdtText


def _pair(base: str = "--"):
    start = PycrdtText.starting_update(base, 1000)
    return PycrdtText(1, start), PycrdtText(2, start)


def test_indices_are_characters_even_past_multibyte_characters():
    # pycrdt 0.14 passes indices to Yrs as UTF-8 byte offsets; the bridge converts them.
    doc = PycrdtText(1)
    doc.insert(0, "\u4e00\u4e01\u4e02")
    doc.insert(1, "x")
    assert doc.text() == "\u4e00x\u4e01\u4e02"
    doc.delete(2)
    assert doc.text() == "\u4e00x\u4e02"
    with pytest.raises(ValueError, match=r"index=4 must be an integer between 0 and 3"):
        doc.insert(4, "y")


def test_updates_converge_in_any_order_and_applying_twice_changes_nothing():
    a, b = _pair("\u4e00\u4e01")
    c = PycrdtText(3, PycrdtText.starting_update("\u4e00\u4e01", 1000))
    updates = [a.insert(1, "p"), a.insert(2, "q"), b.insert(0, "r"), a.delete(0)]
    for u in updates[2:3]:
        a.apply(u)
    for u in updates[:2] + updates[3:]:
        b.apply(u)
    for u in reversed(updates):  # c gets everything backwards: Yjs holds updates until their causes arrive
        c.apply(u)
    c.apply(updates[0])
    assert a.text() == b.text() == c.text() == "rpq\u4e01"


def test_a_peer_catches_up_from_a_state_vector():
    a, b = _pair()
    a.insert(1, "x")
    a.insert(2, "y")
    b.apply(a.update_since(b.state_vector()))
    assert b.text() == a.text() == "-xy-"


def _rga(edits_a, edits_b, base="--"):
    author = RGA("base")
    start = [author.insert(i, ch) for i, ch in enumerate(base)]
    a, b = RGA("e0"), RGA("e1")
    for op in start:
        a.apply(op)
        b.apply(op)
    ops_a = [a.insert(i, ch) for i, ch in edits_a]
    ops_b = [b.insert(i, ch) for i, ch in edits_b]
    for op in ops_b:
        a.apply(op)
    for op in ops_a:
        b.apply(op)
    assert a.text() == b.text()
    return a.text()


def _yjs(edits_a, edits_b, base="--"):
    a, b = _pair(base)
    ups_a = [a.insert(i, ch) for i, ch in edits_a]
    ups_b = [b.insert(i, ch) for i, ch in edits_b]
    for u in ups_b:
        a.apply(u)
    for u in ups_a:
        b.apply(u)
    assert a.text() == b.text()
    return a.text()


def _forwards(word):
    return [(1 + i, ch) for i, ch in enumerate(word)]


def _backwards(word):
    return [(1, ch) for ch in reversed(word)]


def test_concurrent_inserts_at_one_spot_are_ordered_differently_by_rga_and_yjs():
    # Editor 0 (RGA replica "e0", Yjs client 1) types x, editor 1 ("e1", client 2) types y, both after "-".
    # RGA puts the larger id first: equal Lamport counters, so the larger replica id "e1" goes left.
    # Yjs (YATA) puts the smaller client id first.  Both are deterministic; neither is "right".
    assert _rga([(1, "x")], [(1, "y")]) == "-yx-"
    assert _yjs([(1, "x")], [(1, "y")]) == "-xy-"
    # Words typed forwards stay whole in both, still in opposite orders.
    assert _rga(_forwards("abc"), _forwards("xyz")) == "-xyzabc-"
    assert _yjs(_forwards("abc"), _forwards("xyz")) == "-abcxyz-"


def test_text_typed_backwards_interleaves_in_rga_but_not_in_yjs():
    # Each character inserted before the previous one makes siblings in RGA's tree, so two such runs
    # interleave; YATA also records the right neighbour and keeps each run together.
    assert _rga(_backwards("abc"), _backwards("xyz")) == "-xaybzc-"
    assert _yjs(_backwards("abc"), _backwards("xyz")) == "-abcxyz-"
