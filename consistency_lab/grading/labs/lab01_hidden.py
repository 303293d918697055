"""Hidden checks of lab 01 (grader only): more seeds, storms, crashes and long streams."""

from __future__ import annotations

import itertools

from ...patterns.delivery import at_least_once, cart_events, deliver, payment_events
from ...patterns.idempotency import exactly_once_state  # the yardstick of the checks, off limits to students
from ...scenarios.cart import cart_reducer
from ..checks import check_for
from ._handler_checks import assert_exactly_once, crash_run, run_schedule
from ._isolation import earlier_part_note, rebased
from ._off_limits import assert_own_work

LAB = "lab01_idempotent_handlers"


@check_for(lab=LAB, grade_id="q1_dedupe", points=20, public=False,
           hint="Every delivery of an id after the first must change nothing.")
def lab01_hidden_dedupe_storm_many_seeds(ns):
    """a duplicate storm (90 % duplicated) over 15 seeds ends exactly-once"""
    for seed in range(100, 115):
        handler, events = run_schedule(ns.DedupeHandler, seed, duplicate=0.9, reorder=0.0, carts=5)
        assert_exactly_once(handler, events, f"duplicate storm, seed {seed}")


@check_for(lab=LAB, grade_id="q2_versioned", points=30, public=False,
           hint="Reordering across a window of several events needs several held versions per cart.")
def lab01_hidden_versions_under_heavy_reordering(ns):
    """heavy reordering and duplication over 20 seeds ends exactly-once, nothing left held"""
    for seed in range(200, 220):
        handler, events = run_schedule(ns.VersionedHandler, seed, duplicate=0.4, reorder=0.6, window=6, carts=5)
        assert_exactly_once(handler, events, f"heavy reordering, seed {seed}")
        held = getattr(handler, "held", {})
        left = sum(len(v) for v in held.values()) if isinstance(held, dict) else 0
        assert left == 0, f"seed {seed}: {left} event(s) are still held after every gap was filled"


def _held_left(handler) -> int:
    held = getattr(handler, "held", {})
    return sum(len(v) for v in held.values()) if isinstance(held, dict) else 0


@check_for(lab=LAB, grade_id="q2_versioned", points=30, public=False,
           hint="Without duplicates nothing is delivered twice: when a gap fills, every held successor that is now "
                "ready must be applied at once, not one per later delivery.")
def lab01_hidden_versions_reordered_without_duplicates(ns):
    """heavy reordering and no duplicates over 20 seeds ends exactly-once, nothing left held"""
    for seed in range(230, 250):
        handler, events = run_schedule(ns.VersionedHandler, seed, duplicate=0.0, reorder=0.8, window=7, carts=4)
        assert_exactly_once(handler, events, f"reordering without duplicates, seed {seed}")
        assert _held_left(handler) == 0, f"seed {seed}: {_held_left(handler)} event(s) are still held"


@check_for(lab=LAB, grade_id="q2_versioned", points=30, public=False,
           hint="Whatever the order, each version is applied once, in version order, as soon as its predecessor is.")
def lab01_hidden_every_delivery_order_of_five_events(ns):
    """every one of the 120 delivery orders of a cart's 5 events, each delivered once, ends exactly-once"""
    events = cart_events(7, carts=1, events_per_cart=5)
    want = exactly_once_state(events, cart_reducer)
    for order in itertools.permutations(events):
        handler = ns.VersionedHandler()
        deliver(handler, order)
        state = getattr(handler, "state", None)
        assert state == want, f"delivery order {[e.version for e in order]} (each version once) left " \
                              f"{state!r}; expected {want!r}"
        assert _held_left(handler) == 0, f"delivery order {[e.version for e in order]}: events still held"


# -- part 3 on its own: CrashSafeHandler on a correct VersionedHandler ------------------------------

class _RefVersioned:
    """Part 2's answer (hidden): drop stale, hold early, apply ready, then drain every held successor."""

    def __init__(self) -> None:
        self.state, self.versions, self.held = {}, {}, {}

    def handle(self, event):
        """One delivery."""
        last = self.versions.get(event.key, 0)
        if event.version <= last:
            outcome = "stale"
        elif event.version > last + 1:
            self.held.setdefault(event.key, {})[event.version] = event
            outcome = "held"
        else:
            self._apply(event)
            outcome = "applied"
        waiting = self.held.get(event.key, {})
        while self.versions.get(event.key, 0) + 1 in waiting:
            nxt = self.versions[event.key] + 1
            self._apply(waiting[nxt])
            del waiting[nxt]
        if not waiting:
            self.held.pop(event.key, None)
        return outcome

    def _apply(self, event) -> None:
        self.state[event.key] = cart_reducer(self.state.get(event.key), event)
        self.versions[event.key] = event.version


def _crash_safe_isolated(ns, body):
    """``body(make)`` on CrashSafeHandler over the reference VersionedHandler, then on the student's own."""
    body(rebased(ns.CrashSafeHandler, "VersionedHandler", _RefVersioned))
    return earlier_part_note(lambda: body(ns.CrashSafeHandler), "q2_versioned", "versions")


@check_for(lab=LAB, grade_id="q3_atomic", points=25, public=False,
           hint="Nothing may be written before the crash point: neither the cart, nor the version, nor held events.")
def lab01_hidden_crash_everywhere(ns):
    """crashes on every second event over 15 seeds end exactly-once"""
    def body(make):
        for seed in range(300, 315):
            handler, events, crash = crash_run(make, seed, crash_every=2)
            assert crash.fired, f"seed {seed}: the crash point never fired"
            assert_exactly_once(handler, events, f"crash on every second event, seed {seed}")
    return _crash_safe_isolated(ns, body)


@check_for(lab=LAB, grade_id="q3_atomic", points=25, public=False,
           hint="A restart keeps only the database: an early event you acknowledged must be held there, not only "
                "in the process's memory.")
def lab01_hidden_restart_keeps_only_the_database(ns):
    """crashes with reordering and no duplicates over 12 seeds: held events survive the restarts"""
    def body(make):
        for seed in range(340, 352):
            handler, events, crash = crash_run(make, seed, crash_every=2, reorder=0.7, duplicate=0.0, window=5)
            assert crash.fired, f"seed {seed}: the crash point never fired"
            assert_exactly_once(handler, events, f"seed {seed}, {len(crash.fired)} restarts (the consumer resumes "
                                                 "at its last committed offset; memory is lost)")
    return _crash_safe_isolated(ns, body)


@check_for(lab=LAB, grade_id="q3_atomic", points=25, public=False,
           hint="CrashSafeHandler must still drop stale and hold early events.")
def lab01_hidden_crash_safe_still_orders(ns):
    """without crashes, the crash-safe handler is still order-aware"""
    def body(make):
        for seed in range(320, 330):
            handler, events = run_schedule(make, seed, duplicate=0.4, reorder=0.6, window=5)
            assert_exactly_once(handler, events, f"reordering without crashes, seed {seed}")
    return _crash_safe_isolated(ns, body)


@check_for(lab=LAB, grade_id="q4_bounded", points=25, public=False,
           hint="Memory must stay bounded on a long stream, and eviction must be oldest-first.")
def lab01_hidden_long_stream_bounded_memory(ns):
    """a 5,000-payment stream never holds more than `capacity` keys and stays exact"""
    events = payment_events(seed=400, payments=5000, accounts=20)
    store = ns.BoundedKeyStore(capacity=64, ttl_ms=1e12)
    handler = ns.PaymentHandler(store)
    peak = 0
    for e in at_least_once(events, 400, duplicate=0.3, reorder=0.2, window=5):
        deliver(handler, [e])
        peak = max(peak, len(store))
    assert peak <= 64, f"the store held {peak} keys at its peak; capacity is 64"
    expected = {}
    for e in events:
        expected[e.key] = expected.get(e.key, 0) + e.payload["amount"]
    assert handler.balances == expected, "with duplicates close together, balances must be exact"


@check_for(lab=LAB, grade_id="q4_bounded", points=25, public=False,
           hint="Evict by age of insertion (oldest first), and drop expired keys before counting.")
def lab01_hidden_eviction_order_and_ttl(ns):
    """eviction is oldest-first and expired keys free room before anything is evicted"""
    store = ns.BoundedKeyStore(capacity=2, ttl_ms=10.0)
    store.add("a", now=0.0)
    store.add("b", now=5.0)
    store.add("c", now=12.0)  # "a" expired at 10 ms: it goes, "b" stays
    assert store.seen("b", now=12.0) and store.seen("c", now=12.0), \
        "an unexpired key was evicted while an expired one freed room"
    store.add("d", now=13.0)  # full: evict the oldest, "b"
    assert not store.seen("b", now=13.0) and store.seen("c", now=13.0) and store.seen("d", now=13.0), \
        "when full, the key stored earliest must be forgotten first"


# -- the package's ready-made handlers are off limits -------------------------------------------------
# consistency_lab.patterns.idempotency ships with the course (chapters 01 and 03 use its handlers and
# its IdempotencyStore); wrapping them is not writing a handler.
_READY_MADE = ("consistency_lab.patterns.idempotency",)
_WHAT = "ready-made handlers (consistency_lab.patterns.idempotency)"


@check_for(lab=LAB, grade_id="q1_dedupe", points=20, public=False,
           hint="Write the handler yourself; the course package's idempotency module is off limits in this lab.")
def lab01_hidden_dedupe_is_your_own(ns):
    """DedupeHandler does not wrap or import the package's idempotency module"""
    assert_own_work(ns, ["DedupeHandler"], _READY_MADE, _WHAT, lambda c: c())


@check_for(lab=LAB, grade_id="q2_versioned", points=30, public=False,
           hint="Write the handler yourself; the course package's idempotency module is off limits in this lab.")
def lab01_hidden_versioned_is_your_own(ns):
    """VersionedHandler does not wrap or import the package's idempotency module"""
    assert_own_work(ns, ["VersionedHandler"], _READY_MADE, _WHAT, lambda c: c())


@check_for(lab=LAB, grade_id="q3_atomic", points=25, public=False,
           hint="Write the handler yourself; the course package's idempotency module is off limits in this lab.")
def lab01_hidden_crash_safe_is_your_own(ns):
    """CrashSafeHandler does not wrap or import the package's idempotency module"""
    assert_own_work(ns, ["CrashSafeHandler"], _READY_MADE, _WHAT, lambda c: c())


@check_for(lab=LAB, grade_id="q4_bounded", points=25, public=False,
           hint="Write the store yourself; the course package's IdempotencyStore is off limits in this lab.")
def lab01_hidden_store_is_your_own(ns):
    """BoundedKeyStore and PaymentHandler do not wrap or import the package's idempotency module"""
    assert_own_work(ns, ["BoundedKeyStore"], _READY_MADE, _WHAT, lambda c: c(capacity=3, ttl_ms=10.0))
    assert_own_work(ns, ["PaymentHandler"], _READY_MADE, _WHAT)
