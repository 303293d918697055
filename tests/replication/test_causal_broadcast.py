"""Reliable causal broadcast on its own, against a fake network: each role (sender, receiver) and the whole."""

import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from consistency_lab.replication.causal_broadcast import BATCH, CausalBroadcast, CausalOp, OpAck, OpBatch

NAMES = ["a", "b", "c"]


class Member:
    """One member plus what it delivered, in order: (origin, payload)."""

    def __init__(self, name, names=NAMES, **options):
        self.got = []
        self.cast = CausalBroadcast(names, name, lambda origin, payload: self.got.append((origin, payload)),
                                    **options)


def group(names=NAMES, **options):
    return {n: Member(n, names, **options) for n in names}


# -- sender side ---------------------------------------------------------------------------------
def test_operations_are_numbered_and_stamped_with_what_their_origin_had_delivered():
    m = group()
    a, b = m["a"].cast, m["b"].cast
    first = a.publish("x")
    assert first == CausalOp((0, 0, 0), "x") and a.delivered == [1, 0, 0]
    b.receive(OpBatch(0, 1, (first,)))
    assert b.publish("y") == CausalOp((1, 0, 0), "y")  # typed after seeing x: depends on it
    assert b.publish("z").deps == (1, 1, 0) and b.delivered == [1, 2, 0]


def test_each_peer_gets_the_operations_it_has_not_acknowledged_and_acks_stop_resends():
    a = Member("a").cast
    for p in "xyz":
        a.publish(p)
    assert [(peer, b.first, [op.payload for op in b.ops]) for peer, b in a.batches()] == [
        ("b", 1, ["x", "y", "z"]), ("c", 1, ["x", "y", "z"])]
    a.on_ack(OpAck(0, 2), "b")
    assert [(peer, b.first, len(b.ops)) for peer, b in a.batches()] == [("b", 3, 1), ("c", 1, 3)]
    a.on_ack(OpAck(0, 1), "b")  # an older ack, arriving late, does not make it resend
    a.on_ack(OpAck(1, 3), "c")  # an ack about someone else's operations is not about mine
    a.on_ack(OpAck(0, 3), "nobody")
    assert [peer for peer, _ in a.batches()] == ["b", "c"]
    a.on_ack(OpAck(0, 3), "b")
    a.on_ack(OpAck(0, 3), "c")
    assert a.batches() == [] and a.settled()


def test_resend_batches_are_bounded_and_a_long_backlog_follows_batch_by_batch():
    a = Member("a", ["a", "b"], batch=200).cast
    for i in range(450):
        a.publish(i)
    spans = []
    while a.batches():
        (_, batch), = a.batches()
        assert len(batch.ops) <= 200
        spans.append((batch.first, batch.first + len(batch.ops) - 1))
        a.on_ack(OpAck(0, spans[-1][1]), "b")
    assert spans == [(1, 200), (201, 400), (401, 450)]
    assert BATCH == Member("a").cast.batch  # the default bound


# -- receiver side -------------------------------------------------------------------------------
def test_an_operation_is_held_back_until_the_operation_it_depends_on_arrives():
    m = group()
    x = m["a"].cast.publish("x")
    m["b"].cast.receive(OpBatch(0, 1, (x,)))
    y = m["b"].cast.publish("y")
    c = m["c"]
    assert c.cast.receive(OpBatch(1, 1, (y,))) == OpAck(1, 0)  # y first: nothing delivered, nothing acked
    assert c.got == [] and c.cast.holding() == 1 and not c.cast.settled()
    assert c.cast.receive(OpBatch(0, 1, (x,))) == OpAck(0, 1)  # x unblocks y, from another origin
    assert c.got == [(0, "x"), (1, "y")] and c.cast.delivered == [1, 1, 0] and c.cast.holding() == 0
    assert c.cast.receive(OpBatch(1, 1, (y,))) == OpAck(1, 1)  # the resend of y is acked, not applied again


def test_duplicates_overlaps_and_gaps_deliver_each_operation_once_in_number_order():
    a, b = Member("a", ["a", "b"]).cast, Member("b", ["a", "b"])
    ops = [a.publish(i) for i in range(1, 7)]
    assert b.cast.receive(OpBatch(0, 4, tuple(ops[3:]))) == OpAck(0, 0)  # 4..6 before 1..3: held
    assert b.cast.receive(OpBatch(0, 1, tuple(ops[:2]))) == OpAck(0, 2)
    assert b.cast.receive(OpBatch(0, 1, tuple(ops[:2]))) == OpAck(0, 2)  # a duplicate
    assert b.cast.receive(OpBatch(0, 2, tuple(ops[1:4]))) == OpAck(0, 6)  # overlaps what is delivered
    assert [p for _, p in b.got] == [1, 2, 3, 4, 5, 6] and b.cast.holding() == 0


def test_bad_arguments_are_one_line_value_errors():
    deliver = lambda origin, payload: None  # noqa: E731
    with pytest.raises(ValueError, match="me='d' must be one of a, b, c"):
        CausalBroadcast(NAMES, "d", deliver)
    with pytest.raises(ValueError, match="batch=0 must be an integer >= 1"):
        CausalBroadcast(NAMES, "a", deliver, batch=0)
    with pytest.raises(ValueError, match=r"members=\['a', 'a'\] must be distinct"):
        CausalBroadcast(["a", "a"], "a", deliver)


# -- the whole, over a fake network --------------------------------------------------------------
class FakeNetwork:
    """Messages in flight, delivered one at a time in random order, with loss, duplication and cuts."""

    def __init__(self, members, seed, loss=0.0, duplicate=0.0):
        self.members, self.rng = members, random.Random(seed)
        self.loss, self.duplicate = loss, duplicate
        self.flight = []
        self.cut = set()  # members that can neither send nor receive
        self.sent = 0

    def send(self, src, dst, msg):
        self.sent += 1
        if src in self.cut or dst in self.cut or self.rng.random() < self.loss:
            return
        self.flight.append((src, dst, msg))
        if self.rng.random() < self.duplicate:
            self.flight.append((src, dst, msg))

    def tick(self):
        """Every member resends what its peers have not acknowledged."""
        for name, m in self.members.items():
            for peer, batch in m.cast.batches():
                self.send(name, peer, batch)

    def step(self):
        """Deliver one message in flight, chosen at random (so any order is possible)."""
        src, dst, msg = self.flight.pop(self.rng.randrange(len(self.flight)))
        if dst in self.cut:
            return
        m = self.members[dst].cast
        if isinstance(msg, OpBatch):
            self.send(dst, src, m.receive(msg))
        else:
            m.on_ack(msg, src)

    def drain(self):
        while self.flight:
            self.step()


def check_exactly_once_in_causal_order(members, published):
    """Every member delivered every other member's operations once, each after its whole causal past."""
    names = list(members)
    for name, m in members.items():
        order = {p: i for i, (_, p) in enumerate(m.got)}
        expected = {p for o, ps in published.items() if o != name for p in ps}
        assert len(m.got) == len(order) == len(expected) and set(order) == expected, name
        for origin, payload in m.got:
            assert origin == names.index(payload[0])
            for dep in payload[1]:  # what its origin had seen (or made) before making it
                if dep[0] != name:
                    assert order[dep] < order[payload], (name, dep, payload)


def run_group(seed, loss, duplicate, ops=40, cut_from=None, cut_to=None, batch=BATCH):
    """Members publish at random moments, each payload naming everything its origin had seen."""
    members = group(["a", "b", "c", "d"], batch=batch)
    net = FakeNetwork(members, seed, loss, duplicate)
    rng = random.Random(seed + 1)
    published = {n: [] for n in members}
    for step in range(ops):
        if step == cut_from:
            net.cut = {"a"}
        if step == cut_to:
            net.cut = set()
        name = rng.choice(list(members))
        m = members[name]
        seen = tuple(p for _, p in m.got) + tuple(published[name])
        payload = (name, frozenset(seen), step)
        m.cast.publish(payload)
        published[name].append(payload)
        if step % 5 == 0:
            net.tick()
        for _ in range(rng.randrange(4)):
            if net.flight:
                net.step()
    for _ in range(200):  # resend rounds until everything is acknowledged
        if all(m.cast.settled() for m in members.values()):
            break
        net.tick()
        net.drain()
    return members, published, net


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 10_000), loss=st.sampled_from([0.0, 0.2, 0.5]), duplicate=st.sampled_from([0.0, 0.3]),
       batch=st.sampled_from([1, 3, BATCH]))
def test_every_operation_is_delivered_exactly_once_in_causal_order_under_loss_duplication_and_reordering(
        seed, loss, duplicate, batch):
    members, published, _ = run_group(seed, loss, duplicate, batch=batch)
    assert all(m.cast.settled() for m in members.values())
    check_exactly_once_in_causal_order(members, published)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_a_partition_that_heals_delivers_both_sides_work_and_nothing_crosses_it_before(seed):
    members, published, net = run_group(seed, 0.1, 0.1, ops=60, cut_from=10)
    after = {n: [p for p in ps if p[2] >= 10] for n, ps in published.items()}  # made during the cut
    assert after["a"] and any(after[n] for n in "bcd")
    for name, m in members.items():
        seen = {p for _, p in m.got}
        crossing = after["a"] if name != "a" else [p for n in "bcd" for p in after[n]]
        assert not seen & set(crossing), name  # nothing made on one side reached the other
        if after[name]:
            assert not m.cast.settled() and m.cast.batches()  # ... and it is still being resent
    net.cut = set()  # the heal
    for _ in range(200):
        if all(m.cast.settled() for m in members.values()):
            break
        net.tick()
        net.drain()
    assert all(m.cast.settled() for m in members.values())
    check_exactly_once_in_causal_order(members, published)
