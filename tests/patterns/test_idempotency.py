"""Idempotent handlers against the exactly-once reference, over random delivery schedules."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from consistency_lab.patterns.idempotency import (CrashPoint, DedupeHandler, IdempotencyStore, NaiveHandler,
                                                  StatefulHandler, VersionedHandler, VersionGate,
                                                  exactly_once_state, make_handler)
from consistency_lab.scenarios.cart import cart_reducer
from consistency_lab.sim import Simulation
from consistency_lab.streams import ConsumerGroup, Event, EventLog, Producer, SimulatedCrash


def add(state, event):
    """A commutative reducer: a running total."""
    return (state or 0) + event.payload["n"]


def set_last(state, event):
    """A non-commutative reducer: the last value written wins."""
    return event.payload["n"]


@st.composite
def histories(draw, max_keys=4, max_per_key=8):
    """Events of a few entities, each numbered 1, 2, ... per key."""
    events = []
    for k in range(draw(st.integers(1, max_keys))):
        for v in range(1, draw(st.integers(1, max_per_key)) + 1):
            events.append(Event(f"k{k}-{v}", f"k{k}", "Set", {"n": draw(st.integers(-5, 9))}, version=v))
    return events


@st.composite
def schedules(draw, keep_key_order=False):
    """(events, deliveries, crash positions): duplicates, reordering and crashes in any mix."""
    events = draw(histories())
    copies = draw(st.lists(st.sampled_from(events), max_size=len(events)))
    deliveries = list(events) + copies
    if keep_key_order:
        # Reorder across keys only: interleave per-key sequences in a random merge.
        by_key = {}
        for e in sorted(deliveries, key=lambda e: e.version):
            by_key.setdefault(e.key, []).append(e)
        deliveries = []
        queues = list(by_key.values())
        while queues:
            i = draw(st.integers(0, len(queues) - 1))
            deliveries.append(queues[i].pop(0))
            queues = [q for q in queues if q]
    else:
        deliveries = draw(st.permutations(deliveries))
    crashes = draw(st.sets(st.integers(0, max(0, len(deliveries) - 1)), max_size=5))
    return events, deliveries, crashes


def deliver(handler, deliveries):
    """At-least-once delivery: a delivery that crashes the handler is delivered again."""
    for e in deliveries:
        while True:
            try:
                handler.handle(e)
                break
            except SimulatedCrash:
                continue


def crash_at(deliveries, positions):
    """A crash point firing at the given delivery positions (first attempt only)."""
    ids = [deliveries[i].event_id for i in sorted(positions)]
    return CrashPoint(event_ids=ids)


@given(schedules())
def test_versioned_handler_reaches_exactly_once_state_under_any_schedule(schedule):
    events, deliveries, crashes = schedule
    handler = VersionedHandler(set_last, crash_between=crash_at(deliveries, crashes))
    deliver(handler, deliveries)
    assert handler.state == exactly_once_state(events, set_last)
    assert handler.held_count() == 0


@given(schedules())
def test_dedupe_handler_is_exact_for_commutative_updates_under_any_schedule(schedule):
    events, deliveries, crashes = schedule
    handler = DedupeHandler(add, crash_between=crash_at(deliveries, crashes))
    deliver(handler, deliveries)
    assert handler.state == exactly_once_state(events, add)


@given(schedules(keep_key_order=True))
def test_dedupe_handler_is_exact_when_each_key_arrives_in_order(schedule):
    events, deliveries, crashes = schedule
    handler = DedupeHandler(set_last, crash_between=crash_at(deliveries, crashes))
    deliver(handler, deliveries)
    assert handler.state == exactly_once_state(events, set_last)


@given(schedules())
def test_versioned_handler_also_exact_for_commutative_updates(schedule):
    events, deliveries, crashes = schedule
    handler = VersionedHandler(add, crash_between=crash_at(deliveries, crashes))
    deliver(handler, deliveries)
    assert handler.state == exactly_once_state(events, add)


def test_naive_handler_differs_from_exactly_once_for_most_seeds():
    import random
    wrong = 0
    for seed in range(20):
        rng = random.Random(seed)
        events = [Event(f"e{i}", f"k{i % 3}", "Add", {"n": 1 + i % 4}, version=i // 3 + 1) for i in range(15)]
        deliveries = events + [rng.choice(events) for _ in range(3)]
        rng.shuffle(deliveries)
        naive = NaiveHandler(add)
        deliver(naive, deliveries)
        wrong += naive.state != exactly_once_state(events, add)
    assert wrong >= 18


def test_atomic_versus_non_atomic_apply_and_remember():
    events = [Event(f"e{i}", "cart", "Add", {"n": 1}, version=i) for i in range(1, 6)]
    for cls in (DedupeHandler, VersionedHandler):
        atomic = cls(add, atomic=True, crash_between=CrashPoint(event_ids=["e3"]))
        deliver(atomic, events)
        assert atomic.state == {"cart": 5}, cls
        split = cls(add, atomic=False, crash_between=CrashPoint(event_ids=["e3"]))
        deliver(split, events)
        assert split.state == {"cart": 6}, cls  # applied, crashed before remembering, applied again


def test_handlers_share_one_interface():
    for name in ("naive", "dedupe", "versioned"):
        handler = make_handler(name, add)
        assert isinstance(handler, StatefulHandler) and handler.kind == name
        assert handler.handle(Event("e1", "k", "Add", {"n": 2}, version=1)) == "applied"
        assert handler.state == {"k": 2}
    with pytest.raises(ValueError, match="handler='fast' must be one of naive, dedupe, versioned"):
        make_handler("fast", add)


def test_versioned_handler_drops_stale_and_holds_early_events():
    released = []
    h = VersionedHandler(cart_reducer, on_release=released.append)
    e = [Event(f"c-{v}", "c", t, p, version=v) for v, (t, p) in enumerate([
        ("ItemAdded", {"item": "mug", "qty": 1}), ("QuantityChanged", {"item": "mug", "qty": 4}),
        ("ItemAdded", {"item": "tea", "qty": 2})], start=1)]
    assert [h.handle(e[2]), h.handle(e[1]), h.handle(e[0]), h.handle(e[1])] == ["held", "held", "applied", "stale"]
    assert released == [e[1], e[2]] and h.state["c"]["items"] == {"mug": 4, "tea": 2}
    with pytest.raises(ValueError, match="version=None"):
        h.handle(Event("x", "c", "ItemAdded", {"item": "pen", "qty": 1}))


def test_version_gate_reports_gaps():
    gate = VersionGate()
    assert gate.offer(Event("a3", "a", "T", version=3)) == "held"
    assert gate.held_count() == 1 and gate.held_keys() == ["a"] and gate.next_held("a") is None


def test_idempotency_store_forgets_oldest_first_by_capacity_and_ttl():
    store = IdempotencyStore(capacity=3, ttl_ms=100)
    for i, key in enumerate("abcd"):
        store.add(key, now=i)
    assert [store.seen(k, 4) for k in "abcd"] == [False, True, True, True] and store.evicted == 1
    assert not store.seen("b", 101.5) and store.seen("d", 101.5) and store.expired == 1
    with pytest.raises(ValueError, match="capacity=0 must be an integer >= 1 keys"):
        IdempotencyStore(capacity=0)
    with pytest.raises(ValueError, match=r"ttl_ms=-1 must be a number > 0 ms \(inf: never expire\)"):
        IdempotencyStore(ttl_ms=-1)


def test_bounded_dedupe_memory_lets_late_duplicates_through():
    clock = [0.0]
    h = DedupeHandler(add, capacity=2, clock=lambda: clock[0])
    events = [Event(f"e{i}", "k", "Add", {"n": 1}) for i in range(4)]
    deliver(h, events + [events[0]])  # e0 was evicted by e2 and e3
    assert h.state == {"k": 5} and h.store.evicted == 3  # e0, e1, then e2 to re-admit e0
    with pytest.raises(ValueError, match="needs clock="):
        DedupeHandler(add, ttl_ms=1_000)


def test_crash_point_rejects_bad_probability():
    with pytest.raises(ValueError, match="probability=2 must be a probability between 0 and 1"):
        CrashPoint(probability=2)
    with pytest.raises(ValueError, match="needs rng="):
        CrashPoint(probability=0.5)


@given(seed=st.integers(0, 10_000), duplicate=st.floats(0, 0.4), crash=st.floats(0, 0.2),
       crash_in_handler=st.floats(0, 0.2), partitions=st.integers(1, 4), consumers=st.integers(1, 3))
def test_handlers_on_the_simulated_stack_match_exactly_once(seed, duplicate, crash, crash_in_handler,
                                                             partitions, consumers):
    """Real log + consumer group: publish jitter reorders each key, faults duplicate and crash."""
    results = {}
    for kind in ("naive", "dedupe", "versioned"):
        sim = Simulation(seed, trace=False)
        log = EventLog(sim)
        log.create_topic("cart", partitions)
        options = {"crash_between": CrashPoint(probability=crash_in_handler, rng=sim.rng("handler-crash"),
                                               restart_after_ms=5)}
        handler = make_handler(kind, add, **options)
        ConsumerGroup(sim, log, "cart", handler, consumers=consumers, processing_time="exp:1",
                      duplicate=duplicate, crash_before_commit=crash, restart_after_ms=5, session_timeout_ms=10)
        events = []
        for i in range(60):
            producer = Producer(sim, log, "cart", name=f"device{i % 3}", latency="exp:4")
            key = f"k{i % 4}"
            event = Event(f"e{i}", key, "Add", {"n": 1 + i % 5}, version=i // 4 + 1)
            events.append(event)
            sim.schedule(i * 0.5, producer.publish, event)
        sim.run(until=20_000)
        results[kind] = handler.state
    reference = exactly_once_state(events, add)
    assert results["dedupe"] == reference
    assert results["versioned"] == reference
    if duplicate > 0.2:
        assert results["naive"] != reference  # dozens of duplicates: the naive total must be too high
