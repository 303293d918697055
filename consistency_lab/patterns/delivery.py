"""A small, seeded at-least-once delivery harness for testing event handlers.

Labs and their checks need hundreds of delivery schedules per second, so this
module skips the network and the broker and keeps only what a handler can observe:
the *order* of deliveries, *duplicates*, and *crashes* (a handler that raises
:class:`~consistency_lab.streams.consumer.SimulatedCrash` gets the same event again,
as a consumer that restarts from its last committed offset would).

* :func:`cart_events`: per-cart event histories with versions 1, 2, 3...;
* :func:`payment_events`: payments with idempotency keys and no versions;
* :func:`at_least_once`: a delivery schedule with duplicates and reordering;
* :func:`deliver`: feed a schedule to a handler, redelivering after crashes;
* :func:`wrong_entities`: which entities differ from exactly-once processing.
"""

from __future__ import annotations

import random
from typing import Any, Callable, Iterable, Optional, Sequence

from ..streams.consumer import SimulatedCrash
from ..streams.log import Event
from ..validation import count, probability
from .idempotency import exactly_once_state

__all__ = ["cart_events", "payment_events", "at_least_once", "deliver", "wrong_entities",
           "RecordingCrashPoint"]

_ITEMS = ("book", "mug", "lamp", "socks", "tea", "pen")


def cart_events(seed: int, carts: int = 5, events_per_cart: int = 8) -> list[Event]:
    """Cart histories (added, quantity changed, removed, abandoned), versioned 1..n per cart."""
    count("carts", carts)
    count("events_per_cart", events_per_cart)
    rng = random.Random(f"cart-events/{seed}")
    events = []
    for c in range(carts):
        cart, held = f"cart{c}", []
        for v in range(1, events_per_cart + 1):
            roll = rng.random()
            if held and roll < 0.25:
                item = rng.choice(held)
                etype, payload = "QuantityChanged", {"item": item, "qty": rng.randint(1, 5)}
            elif held and roll < 0.4:
                item = held.pop(rng.randrange(len(held)))
                etype, payload = "ItemRemoved", {"item": item}
            elif v == events_per_cart and roll > 0.9:
                etype, payload = "CartAbandoned", {}
            else:
                item = rng.choice(_ITEMS)
                if item not in held:
                    held.append(item)
                etype, payload = "ItemAdded", {"item": item, "qty": rng.randint(1, 3)}
            events.append(Event(f"{cart}-e{v}", cart, etype, payload, version=v, produced_at=float(len(events))))
    # Carts act at the same time: interleave their histories, keeping each cart's own order.
    rng.shuffle(events)
    events.sort(key=lambda e: (e.version, rng.random()))
    return events


def payment_events(seed: int, payments: int = 100, accounts: int = 5) -> list[Event]:
    """Payments into accounts; the event id is the idempotency key, there are no versions."""
    count("payments", payments)
    count("accounts", accounts)
    rng = random.Random(f"payment-events/{seed}")
    return [Event(f"pay-{i}", f"acct{rng.randrange(accounts)}", "PaymentReceived",
                  {"amount": rng.randint(1, 100)}, produced_at=float(i) * 10.0)
            for i in range(payments)]


def at_least_once(events: Sequence[Event], seed: int, *, duplicate: float = 0.3, reorder: float = 0.3,
                  window: int = 4) -> list[Event]:
    """A delivery schedule: every event at least once, some twice, some moved up to ``window`` places later."""
    probability("duplicate", duplicate)
    probability("reorder", reorder)
    count("window", window, low=0)
    rng = random.Random(f"deliveries/{seed}")
    slots: list[tuple[float, int, Event]] = []
    for i, e in enumerate(events):
        shift = rng.randint(1, window) if window and rng.random() < reorder else 0
        slots.append((i + shift + rng.random() * 0.1, len(slots), e))
        if rng.random() < duplicate:
            slots.append((i + rng.randint(0, max(1, window)) + rng.random(), len(slots), e))
    slots.sort()
    return [e for _, _, e in slots]


def deliver(handler: Any, deliveries: Iterable[Event], *, max_redeliveries: int = 10) -> Any:
    """Feed deliveries to ``handler.handle``; after a SimulatedCrash, deliver the same event again."""
    count("max_redeliveries", max_redeliveries, low=0)
    for event in deliveries:
        for _attempt in range(max_redeliveries + 1):
            try:
                handler.handle(event)
                break
            except SimulatedCrash:
                continue  # the consumer restarts from its last commit: same event again
        else:
            raise RuntimeError(f"event {event.event_id} crashed the handler {max_redeliveries + 1} times in a row")
    return handler


def wrong_entities(state: dict, events: Iterable[Event], reducer: Callable) -> list[str]:
    """Entity keys whose state differs from processing every event exactly once, in version order."""
    expected = exactly_once_state(events, reducer)
    keys = sorted(set(expected) | set(state))
    return [k for k in keys if state.get(k) != expected.get(k)]


class RecordingCrashPoint:
    """A crash point that fires once for chosen event ids and records what the handler had committed.

    Call it as ``crash_point(event)`` between computing and committing.  It snapshots
    ``snapshot()`` (the handler's committed state) at each call, so a check can tell
    whether anything was written *before* the crash point.
    """

    def __init__(self, crash_ids: Iterable[str] = (), snapshot: Optional[Callable[[], Any]] = None) -> None:
        self.pending = set(crash_ids)
        self.snapshot = snapshot
        self.calls: list[tuple[str, Any]] = []
        self.fired: list[str] = []

    def __call__(self, event: Event) -> None:
        self.calls.append((event.event_id, self.snapshot() if self.snapshot else None))
        if event.event_id in self.pending:
            self.pending.discard(event.event_id)
            self.fired.append(event.event_id)
            raise SimulatedCrash(f"crash between apply and remember for {event.event_id}")
