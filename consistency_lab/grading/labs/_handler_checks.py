"""Shared building blocks of lab 01's checks: run a student's handler against exactly-once.

Crashes follow a real consumer (:func:`consume`): the process dies, only the database survives
(the handler's ``durable`` attributes), and the new process resumes at the committed offset.
"""

from __future__ import annotations

from typing import Any, Callable, Sequence

from ...patterns.delivery import RecordingCrashPoint, at_least_once, cart_events, deliver, wrong_entities
from ...streams.consumer import SimulatedCrash
from ...patterns.idempotency import exactly_once_state, first_differences
from ...scenarios.cart import cart_reducer
from ...streams.log import Event

__all__ = ["run_schedule", "assert_exactly_once", "crash_run", "consume", "DURABLE", "ev", "cart_reducer",
           "StaleDropper"]


def ev(cart: str, version: int, etype: str = "ItemAdded", **payload: Any) -> Event:
    """A hand-made cart event (ids look like ``cart-v3``)."""
    if etype == "ItemAdded":
        payload = {"item": "mug", "qty": 1, **payload}
    return Event(f"{cart}-v{version}", cart, etype, payload, version=version)


def run_schedule(make: Callable[[], Any], seed: int, *, carts: int = 4, per_cart: int = 8,
                 duplicate: float = 0.3, reorder: float = 0.3, window: int = 4) -> tuple[Any, list[Event]]:
    """A fresh handler fed one seeded at-least-once schedule; returns (handler, the distinct events)."""
    events = cart_events(seed, carts, per_cart)
    handler = make()
    deliver(handler, at_least_once(events, seed, duplicate=duplicate, reorder=reorder, window=window))
    return handler, events


def assert_exactly_once(handler: Any, events: list[Event], what: str) -> None:
    """Fail with the first differing carts when ``handler.state`` is not the exactly-once state."""
    state = getattr(handler, "state", None)
    assert isinstance(state, dict), f"{what}: the handler has no `state` dict (got {type(state).__name__})"
    wrong = wrong_entities(state, events, cart_reducer)
    if wrong:
        expected = exactly_once_state(events, cart_reducer)
        raise AssertionError(f"{what}: {len(wrong)} cart(s) differ from exactly-once processing; "
                             + "; ".join(first_differences(state, expected, 2)))


#: What survives a crash when the handler does not say (``self.durable``): the two tables of the database.
DURABLE = ("state", "versions")


def consume(make: Callable[[], Any], deliveries: Sequence[Event], crash_point: Any = None,
            max_restarts: int = 1_000) -> tuple[Any, int]:
    """A consumer of a log of deliveries, as a real one: handle, then commit the offset; returns (handler, restarts).

    A ``SimulatedCrash`` kills the process: a new handler is made, only the attributes named by the
    old one's ``durable`` (default :data:`DURABLE`) are carried over (they live in the database;
    everything else was in memory), and it resumes at the last committed offset, so the delivery
    that crashed comes again and nothing before it does.
    """
    handler, offset, restarts = make(), 0, 0
    if crash_point is not None:
        handler.crash_point = crash_point
    while offset < len(deliveries):
        try:
            handler.handle(deliveries[offset])
        except SimulatedCrash:
            restarts += 1
            if restarts > max_restarts:
                raise AssertionError(f"the handler crashed {restarts} times at offset {offset}; a crash point fires "
                                     "once per event, so does a restart keep re-crashing on old state?") from None
            names = getattr(handler, "durable", DURABLE)
            names = (names,) if isinstance(names, str) else tuple(names)
            survived = {name: getattr(handler, name) for name in names if hasattr(handler, name)}
            handler = make()
            for name, value in survived.items():
                setattr(handler, name, value)
            if crash_point is not None:
                handler.crash_point = crash_point
            continue
        offset += 1  # handled: commit (an event held in memory is acknowledged here too)
    return handler, restarts


def crash_run(make: Callable[[], Any], seed: int, crash_every: int = 3, reorder: float = 0.3,
              duplicate: float = 0.2, window: int = 3) -> tuple[Any, list[Event], RecordingCrashPoint]:
    """A crash between compute and commit on every n-th event; each crash restarts the consumer (:func:`consume`)."""
    events = cart_events(seed, 3, 8)
    crash = RecordingCrashPoint([e.event_id for e in events[::crash_every]])
    handler, _ = consume(make, at_least_once(events, seed, duplicate=duplicate, reorder=reorder, window=window),
                         crash)
    return handler, events, crash


class StaleDropper:
    """A stand-in VersionedHandler for checking part 3 alone: drops stale events, applies the rest through
    ``self._apply`` (it never holds anything, so it is only right for deliveries in version order)."""

    def __init__(self) -> None:
        self.state: dict = {}
        self.versions: dict = {}
        self.held: dict = {}

    def handle(self, event: Event) -> str:
        """Apply unless stale."""
        if event.version <= self.versions.get(event.key, 0):
            return "stale"
        self._apply(event)
        return "applied"

    def _apply(self, event: Event) -> None:
        self.state[event.key] = cart_reducer(self.state.get(event.key), event)
        self.versions[event.key] = event.version
