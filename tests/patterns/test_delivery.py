"""The at-least-once delivery harness used by lab 01 and its checks."""

from collections import Counter

import pytest

from consistency_lab.patterns.delivery import (RecordingCrashPoint, at_least_once, cart_events, deliver,
                                               payment_events, wrong_entities)
from consistency_lab.scenarios.cart import cart_reducer
from consistency_lab.streams import SimulatedCrash


def test_cart_events_are_versioned_per_cart_and_deterministic():
    evs = cart_events(3, carts=3, events_per_cart=5)
    assert evs == cart_events(3, carts=3, events_per_cart=5) != cart_events(4, carts=3, events_per_cart=5)
    for cart in ("cart0", "cart1", "cart2"):
        assert [e.version for e in evs if e.key == cart] == [1, 2, 3, 4, 5]


def test_schedule_delivers_everything_at_least_once_with_duplicates_and_reordering():
    evs = cart_events(1, 4, 8)
    sched = at_least_once(evs, 1, duplicate=0.5, reorder=0.5, window=4)
    counts = Counter(e.event_id for e in sched)
    assert set(counts) == {e.event_id for e in evs} and max(counts.values()) >= 2
    assert [e.event_id for e in sched] != [e.event_id for e in evs]
    assert at_least_once(evs, 1, duplicate=0.0, reorder=0.0) == evs


def test_deliver_redelivers_after_a_crash_and_naive_handling_goes_wrong():
    class Naive:
        def __init__(self):
            self.state = {}
            self.crash_point = RecordingCrashPoint(["cart0-e1"])

        def handle(self, e):
            self.state[e.key] = cart_reducer(self.state.get(e.key), e)
            self.crash_point(e)

    evs = cart_events(2, 1, 4)
    h = deliver(Naive(), evs)
    assert h.crash_point.fired == ["cart0-e1"]
    assert wrong_entities(h.state, evs, cart_reducer) in ([], ["cart0"])  # depends on the event type
    always = type("Always", (), {"handle": lambda self, e: (_ for _ in ()).throw(SimulatedCrash())})()
    with pytest.raises(RuntimeError, match="crashed the handler"):
        deliver(always, evs[:1], max_redeliveries=2)


@pytest.mark.parametrize("call,match", [
    (lambda: cart_events(0, carts=0), "carts=0 must be an integer >= 1"),
    (lambda: payment_events(0, payments=-1), "payments=-1"),
    (lambda: at_least_once([], 0, duplicate=2), "duplicate=2 must be a probability"),
    (lambda: at_least_once([], 0, window=-1), "window=-1"),
])
def test_bad_arguments_are_named(call, match):
    with pytest.raises(ValueError, match=match):
        call()
