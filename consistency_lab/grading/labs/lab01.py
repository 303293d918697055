"""Public checks of lab 01, idempotent handlers (students run these with ``check()``)."""

from __future__ import annotations

from ...patterns.delivery import at_least_once, deliver, payment_events
from ..checks import check_for
from ._handler_checks import StaleDropper, assert_exactly_once, crash_run, ev, run_schedule
from ._isolation import earlier_part_note, rebased

LAB = "lab01_idempotent_handlers"


# -- q1: deduplicate by idempotency key ----------------------------------------
@check_for(lab=LAB, grade_id="q1_dedupe", points=20,
           hint="Remember which event ids you have already applied, and skip an event whose id you remember.")
def same_event_twice_is_applied_once(ns):
    """the same ItemAdded delivered twice adds the item once"""
    h = ns.DedupeHandler()
    e = ev("c1", 1, item="mug", qty=2)
    h.handle(e)
    h.handle(e)
    got = h.state.get("c1", {}).get("items", {}).get("mug")
    assert got == 2, f"after delivering the same 'add 2 mugs' event twice, the cart has {got!r} mugs; expected 2"


@check_for(lab=LAB, grade_id="q1_dedupe", points=20,
           hint="Only the event id decides whether an event is a duplicate, not its contents.")
def different_events_are_all_applied(ns):
    """two different events that look alike are both applied"""
    h = ns.DedupeHandler()
    h.handle(ev("c1", 1, item="mug", qty=1))
    h.handle(ev("c1", 2, item="mug", qty=1))
    got = h.state["c1"]["items"]["mug"]
    assert got == 2, f"two distinct 'add 1 mug' events left {got!r} mugs; expected 2"


@check_for(lab=LAB, grade_id="q1_dedupe", points=20,
           hint="Each new event folds into its own cart's state with the cart reducer; a duplicate folds in nothing.")
def duplicates_in_order_match_exactly_once(ns):
    """a duplicated (but in-order) stream of 4 carts ends exactly-once"""
    handler, events = run_schedule(ns.DedupeHandler, seed=1, duplicate=0.5, reorder=0.0)
    assert_exactly_once(handler, events, "duplicates without reordering")


# -- q2: per-entity versions ---------------------------------------------------
@check_for(lab=LAB, grade_id="q2_versioned", points=30,
           hint="An event whose version is not above the cart's last applied version is stale: drop it.")
def stale_event_is_dropped(ns):
    """an old event that arrives late does not undo a newer one"""
    h = ns.VersionedHandler()
    h.handle(ev("c1", 1, item="mug", qty=1))
    h.handle(ev("c1", 2, "QuantityChanged", item="mug", qty=5))
    h.handle(ev("c1", 1, item="mug", qty=1))  # a late duplicate of version 1
    got = h.state["c1"]["items"]["mug"]
    assert got == 5, f"a late copy of version 1 changed the cart: {got!r} mugs; expected 5"


@check_for(lab=LAB, grade_id="q2_versioned", points=30,
           hint="An event that arrives before its predecessor waits in a hold buffer; when the gap fills, it "
                "is applied next.")
def early_event_waits_for_the_gap(ns):
    """version 3 arriving before 2 is held, then applied after 2"""
    h = ns.VersionedHandler()
    h.handle(ev("c1", 1, item="mug", qty=1))
    h.handle(ev("c1", 3, "QuantityChanged", item="mug", qty=7))
    early = h.state["c1"]["items"].get("mug")
    assert early == 1, f"version 3 was applied before version 2 arrived (mugs = {early!r}); hold it instead"
    h.handle(ev("c1", 2, "QuantityChanged", item="mug", qty=4))
    got = h.state["c1"]["items"]["mug"]
    assert got == 7, f"after versions 1, 3, 2 arrive, mugs = {got!r}; expected 7 (version 3 applied last)"


@check_for(lab=LAB, grade_id="q2_versioned", points=30,
           hint="Duplicates and reordering together: drop stale, hold early, apply ready, then drain held.")
def reordered_duplicated_stream_matches_exactly_once(ns):
    """a duplicated and reordered stream of 4 carts ends exactly-once"""
    handler, events = run_schedule(ns.VersionedHandler, seed=2)
    assert_exactly_once(handler, events, "duplicates with reordering")


# -- q3: apply and remember atomically ----------------------------------------
@check_for(lab=LAB, grade_id="q3_atomic", points=25,
           hint="Compute first, reach the crash point, and only then write anything: the cart and its version "
                "together.")
def crash_point_sees_nothing_committed(ns):
    """when the crash point is called, the event's effect is not yet written"""
    # Part 3 alone: CrashSafeHandler on a stand-in for the student's VersionedHandler (part 2).
    _nothing_committed(rebased(ns.CrashSafeHandler, "VersionedHandler", StaleDropper))
    return earlier_part_note(lambda: _nothing_committed(ns.CrashSafeHandler), "q2_versioned", "versions")


def _nothing_committed(make) -> None:
    h = make()
    calls = []
    h.crash_point = lambda e: calls.append((e.event_id, repr(h.state.get(e.key)), dict(h.versions)))
    before = (repr(h.state.get("c1")), dict(h.versions))
    h.handle(ev("c1", 1, item="mug", qty=2))
    assert calls, "handle() never called self.crash_point(event); call it between computing and committing"
    _, state_at_crash, versions_at_crash = calls[0]
    assert (state_at_crash, versions_at_crash) == before, (
        "by the time self.crash_point(event) ran, the cart or its version had already changed: "
        "a crash right there would lose the memory but keep the effect")
    assert h.state["c1"]["items"]["mug"] == 2, "after handle() returns, the event's effect must be in state"


@check_for(lab=LAB, grade_id="q3_atomic", points=25,
           hint="A SimulatedCrash raised by the crash point must leave state and versions untouched.")
def crashes_then_redelivery_match_exactly_once(ns):
    """crashes between apply and remember, then redelivery, still end exactly-once"""
    # Alone (on the stand-in, deliveries in version order), then with the student's own part 2 and reordering.
    _crashes(rebased(ns.CrashSafeHandler, "VersionedHandler", StaleDropper), reorder=0.0)
    return earlier_part_note(lambda: _crashes(ns.CrashSafeHandler, reorder=0.3), "q2_versioned", "versions")


def _crashes(make, reorder: float) -> None:
    handler, events, crash = crash_run(make, seed=3, reorder=reorder)
    assert crash.fired, "the crash point never fired: does handle() call self.crash_point(event)?"
    assert_exactly_once(handler, events, f"with {len(crash.fired)} crashes and redeliveries")


# -- q4: bounded memory ---------------------------------------------------------
@check_for(lab=LAB, grade_id="q4_bounded", points=25,
           hint="When the store is full, forget the key that was stored earliest.")
def store_never_exceeds_capacity(ns):
    """the key store never holds more than `capacity` keys"""
    store = ns.BoundedKeyStore(capacity=3, ttl_ms=1e9)
    for i in range(10):
        store.add(f"k{i}", now=float(i))
        assert len(store) <= 3, f"after adding {i + 1} keys with capacity=3, len(store) = {len(store)}"
    assert store.seen("k9", now=10.0), "the newest key was forgotten; forget the oldest instead"
    assert not store.seen("k0", now=10.0), "the oldest key is still remembered past capacity"


@check_for(lab=LAB, grade_id="q4_bounded", points=25,
           hint="A key is remembered for ttl_ms after it was stored and forgotten (its memory freed) once "
                "that time is up.")
def keys_expire_after_ttl(ns):
    """a key is remembered for ttl_ms, then forgotten (and its memory released)"""
    store = ns.BoundedKeyStore(capacity=100, ttl_ms=50.0)
    store.add("a", now=0.0)
    assert store.seen("a", now=49.0), "a key stored at 0 ms was forgotten before ttl_ms=50 ran out"
    assert not store.seen("a", now=51.0), "a key stored at 0 ms is still remembered at 51 ms (ttl_ms=50)"
    assert len(store) == 0, f"expired keys still take memory: len(store) = {len(store)}"


@check_for(lab=LAB, grade_id="q4_bounded", points=25,
           hint="A payment whose id the store remembers is a duplicate; a new one changes the balance once "
                "and is remembered.")
def payments_with_close_duplicates_are_exact(ns):
    """duplicated payments (duplicates arrive soon after) are counted once"""
    events = payment_events(seed=4, payments=60, accounts=3)
    handler = ns.PaymentHandler(ns.BoundedKeyStore(capacity=50, ttl_ms=1_000.0))
    deliver(handler, at_least_once(events, 4, duplicate=0.5, reorder=0.2, window=3))
    expected = {}
    for e in events:
        expected[e.key] = expected.get(e.key, 0) + e.payload["amount"]
    assert handler.balances == expected, f"balances {handler.balances} differ from exactly-once {expected}"
