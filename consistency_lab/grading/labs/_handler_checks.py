"""Shared building blocks of lab 01's checks: run a student's handler against exactly-once."""

from __future__ import annotations

import copy
from typing import Any, Callable

from ...patterns.delivery import RecordingCrashPoint, at_least_once, cart_events, deliver, wrong_entities
from ...patterns.idempotency import exactly_once_state, first_differences
from ...scenarios.cart import cart_reducer
from ...streams.log import Event

__all__ = ["run_schedule", "assert_exactly_once", "crash_run", "ev", "cart_reducer", "StaleDropper"]


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


def crash_run(make: Callable[[], Any], seed: int, crash_every: int = 3,
              reorder: float = 0.3) -> tuple[Any, list[Event], RecordingCrashPoint]:
    """Like :func:`run_schedule`, with a crash between apply and remember on every n-th event."""
    events = cart_events(seed, 3, 8)
    handler = make()
    crash = RecordingCrashPoint([e.event_id for e in events[::crash_every]],
                                snapshot=lambda: (copy.deepcopy(getattr(handler, "state", None)),
                                                  copy.deepcopy(getattr(handler, "versions", None))))
    handler.crash_point = crash
    deliver(handler, at_least_once(events, seed, duplicate=0.2, reorder=reorder, window=3))
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
