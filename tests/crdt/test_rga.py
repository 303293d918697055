"""RGA: concurrent inserts, partitions, survival of every character, interleaving, causal order."""

import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from consistency_lab.crdt import RGA, GSet, RGADelete, RGAInsert
from consistency_lab.crdt import rga as rga_module


def exchange(*replicas: RGA, ops: list) -> None:
    """Deliver every op to every replica (idempotent, so a replica's own ops come back harmlessly)."""
    for r in replicas:
        for op in ops:
            r.apply(op)


class NaiveRGA:
    """The tree definition of RGA's order, recomputed from scratch: children of each element in
    descending id order, document = pre-order walk.  The chunked RGA must agree with it."""

    def __init__(self) -> None:
        self.elements: dict = {}  # id -> [after, char, deleted]

    def apply(self, op) -> None:
        if isinstance(op, RGAInsert):
            self.elements.setdefault(op.id, [op.after, op.char, False])
        else:
            self.elements[op.target][2] = True

    def order(self) -> list:
        children: dict = {}
        for eid, (after, _, _) in self.elements.items():
            children.setdefault(after, []).append(eid)
        out, stack = [], sorted(children.get(None, []))  # ascending, so pop() takes the largest id
        while stack:
            eid = stack.pop()
            out.append(eid)
            stack.extend(sorted(children.get(eid, [])))
        return out

    def text(self) -> str:
        return "".join(self.elements[e][1] for e in self.order() if not self.elements[e][2])


def random_session(seed: int, edits: int, replicas=("a", "b", "c"), sync_every: int = 7):
    """Replicas editing at random positions, syncing ops now and then; returns replicas and all ops."""
    rng = random.Random(seed)
    docs = {r: RGA(r) for r in replicas}
    log, delivered = [], {r: 0 for r in replicas}
    for i in range(edits):
        r = rng.choice(replicas)
        doc = docs[r]
        if len(doc) and rng.random() < 0.3:
            log.append(doc.delete(rng.randrange(len(doc))))
        else:
            log.append(doc.insert(rng.randrange(len(doc) + 1), chr(0x4E00 + i)))  # unique characters
        if i % sync_every == 0:
            s = rng.choice(replicas)
            exchange(docs[s], ops=log[delivered[s]:])
            delivered[s] = len(log)
    return docs, log


def test_concurrent_inserts_at_the_same_index_order_by_id_on_both_sides():
    a, b = RGA("a"), RGA("b")
    base = a.insert_text(0, "ac")
    exchange(b, ops=base)
    x = a.insert(1, "X")  # id (3, "a")
    y = b.insert(1, "Y")  # id (3, "b"): equal counters, the larger replica id goes left
    a.apply(y)
    b.apply(x)
    assert a.text() == b.text() == "aYXc"
    assert a == b
    z = a.insert(1, "Z")  # (4, "a") saw both: a larger counter, so it goes left of both
    b.apply(z)
    assert b.text() == "aZYXc"


@given(seed=st.integers(0, 10_000), edits=st.integers(1, 60))
def test_both_sides_of_a_partition_converge_and_every_surviving_character_is_kept_once(seed, edits):
    rng = random.Random(seed)
    left, right = RGA("left"), RGA("right")
    start = left.insert_text(0, "base")
    exchange(right, ops=start)
    ops = {"left": [], "right": []}
    for i in range(edits):  # the partition: each side types and deletes on its own
        name, doc = rng.choice([("left", left), ("right", right)])
        if len(doc) and rng.random() < 0.3:
            ops[name].append(doc.delete(rng.randrange(len(doc))))
        else:
            ops[name].append(doc.insert(rng.randrange(len(doc) + 1), chr(0x4E00 + i)))
    before = {"left": left.text(), "right": right.text()}
    inserted = {op.id: op.char for side in ops.values() for op in side if isinstance(op, RGAInsert)}
    deleted = {op.target for side in ops.values() for op in side if isinstance(op, RGADelete)}
    # the heal: the ops arrive shuffled and duplicated (still causal per side)
    right_ops = ops["right"] + ops["right"][: rng.randrange(len(ops["right"]) + 1)]
    exchange(left, ops=right_ops)
    exchange(right, ops=ops["left"] + ops["left"])
    assert left.text() == right.text() and left == right
    final = left.text()
    survivors = {c for eid, c in inserted.items() if eid not in deleted}
    assert sorted(c for c in final if c >= chr(0x4E00)) == sorted(survivors), "each survivor exactly once"
    for side in ("left", "right"):  # each side's own text keeps its order (minus the other side's deletes)
        kept = [c for c in before[side] if c in final]  # every character here is unique
        assert "".join(c for c in final if c in set(kept)) == "".join(kept)


@given(seed=st.integers(0, 10_000), edits=st.integers(1, 400))
def test_chunked_rga_agrees_with_the_tree_definition(seed, edits):
    docs, log = random_session(seed, edits)
    naive = NaiveRGA()
    for op in log:
        naive.apply(op)
    for doc in docs.values():
        exchange(doc, ops=log)
        assert doc.text() == naive.text()
        assert [eid for eid in naive.order() if not naive.elements[eid][2]] == doc.ids()
        assert doc.state_size() == len(naive.elements)


@pytest.mark.parametrize("chunk", [2, 5, 256])
def test_a_long_document_splits_into_chunks_and_stays_correct(monkeypatch, chunk):
    monkeypatch.setattr(rga_module, "_CHUNK", chunk)  # small chunks: every path crosses chunk borders
    docs, log = random_session(7, 1500, replicas=("a", "b"), sync_every=50)
    naive = NaiveRGA()
    for op in log:
        naive.apply(op)
    exchange(*docs.values(), ops=log)
    chunks = docs["a"]._chunks
    assert len(chunks) > 1 and all(0 < len(c.nodes) <= 2 * chunk for c in chunks)  # the split path ran
    assert all(c.visible == sum(not n.deleted for n in c.nodes) for c in chunks)
    assert docs["a"].text() == docs["b"].text() == naive.text()


@given(seed=st.integers(0, 10_000), edits=st.integers(1, 80))
def test_state_merge_equals_op_delivery_and_any_causal_order(seed, edits):
    docs, log = random_session(seed, edits)
    merged = docs["a"].merge(docs["b"]).merge(docs["c"])
    fresh = RGA("z")
    exchange(fresh, ops=log)
    assert merged == fresh and merged.text() == fresh.text()
    assert docs["c"].merge(docs["a"]).merge(docs["b"]) == merged
    again = fresh.copy()
    exchange(again, ops=log)  # every op a second time
    assert again == fresh


def test_two_words_typed_forwards_at_the_same_spot_never_interleave():
    words = ["quick", "lazy", "brown", "big", "old"]
    orders = set()
    for seed in range(30):
        rng = random.Random(seed)
        a, b = RGA("alice"), RGA("bob")
        exchange(b, ops=a.insert_text(0, "The  cat"))
        busy = rng.choice([a, b])  # types elsewhere first, unseen: unequal clocks, so either word may win
        ops_busy = [busy.insert(len(busy), "#") for _ in range(rng.randrange(3))]
        word_a, word_b = rng.sample(words, 2)
        ops_a = a.insert_text(4, word_a)  # concurrent: neither has seen the other's word
        ops_b = b.insert_text(4, word_b)
        ops_a, ops_b = (ops_busy + ops_a, ops_b) if busy is a else (ops_a, ops_busy + ops_b)
        exchange(a, ops=ops_b)
        exchange(b, ops=ops_a)
        assert a.text() == b.text()
        middle = a.text().replace("#", "")
        assert middle in (f"The {word_a}{word_b} cat", f"The {word_b}{word_a} cat"), middle
        orders.add(middle.index(word_a) < middle.index(word_b))
    assert orders == {True, False}  # which word goes first depends on the clocks, not on a fixed side


def test_the_known_anomaly_text_typed_backwards_interleaves():
    a, b = RGA("a"), RGA("b")
    ops_a = [a.insert(0, ch) for ch in "cba"]  # each character typed before the previous one
    ops_b = [b.insert(0, ch) for ch in "zyx"]
    assert a.text() == "abc" and b.text() == "xyz"
    exchange(a, ops=ops_b)
    exchange(b, ops=ops_a)
    assert a.text() == b.text() == "xaybzc"  # siblings in id order: (3,b) (3,a) (2,b) (2,a) ...


def test_deletes_are_tombstones_counted_by_state_size():
    t = RGA("a")
    t.insert_text(0, "hello")
    t.delete_range(1, 3)
    assert t.text() == "ho" and len(t) == 2 and t.state_size() == 5
    op = t.insert(1, "e")  # visible index 1 is right after 'h', before the tombstones of "ell"
    assert t.text() == "heo" and op.after == t.ids()[0] and t.state_size() == 6


def test_ops_whose_predecessor_is_missing_are_refused_and_ready_says_so():
    a, b = RGA("a"), RGA("b")
    first = a.insert(0, "x")
    second = a.insert(1, "y")
    assert not b.ready(second) and b.ready(first)
    with pytest.raises(ValueError, match=r"must come after the op that made element \(1, 'a'\)"):
        b.apply(second)
    with pytest.raises(ValueError, match="deliver ops causally"):
        b.apply(RGADelete((1, "a")))
    b.apply(first)
    b.apply(second)
    assert b.text() == "xy"


def test_bad_edits_are_one_line_value_errors():
    t = RGA("a")
    t.insert_text(0, "ab")
    with pytest.raises(ValueError, match="index=3 must be an integer between 0 and 2"):
        t.insert(3, "x")
    with pytest.raises(ValueError, match="index=-1 must be an integer between 0 and 2"):
        t.insert(-1, "x")
    with pytest.raises(ValueError, match="char='xy' must be a single character"):
        t.insert(0, "xy")
    with pytest.raises(ValueError, match="index=2 must be an integer between 0 and 1"):
        t.delete(2)
    with pytest.raises(ValueError, match="the text is empty"):
        RGA("b").delete(0)
    with pytest.raises(ValueError, match="must be an RGAInsert or an RGADelete"):
        t.apply("insert x")
    with pytest.raises(ValueError, match="other=GSet must be a RGA to merge with one"):
        t.merge(GSet("a"))
