"""The shopping cart: written locally, synced asynchronously, merged at checkout.

Each shopper's device keeps the cart locally and records every change as an event
-- "ItemAdded", "QuantityChanged", "ItemRemoved", "CartAbandoned" -- numbered per
cart (version 1, 2, ...).  The device syncs events to the cart service over the
simulated network in the background, resending any event not yet acknowledged
every ``retry_ms``.  The network may drop, duplicate and delay (reorder) messages,
so the service sees duplicates and out-of-order events.

When a shopper is done and every event is acknowledged, the device sends a
checkout; the service merges what it has -- the cart state its ``handler`` built --
and that is what gets charged.  A cart is *wrong at checkout* when that merged
state differs from the device's own cart (the exactly-once fold of its events).
Abandoned carts never check out; ``carts_wrong_final`` also counts them.

``handler`` picks the service's event handler from
:mod:`consistency_lab.patterns.idempotency`: ``naive`` applies every delivery
(duplicates add items twice), ``dedupe`` skips repeated event ids (but applies
reordered events as they come), ``versioned`` applies each cart's versions in
order exactly once.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Callable, Optional

from ..latency import Exponential
from ..metrics import percentile
from ..network import Network, NetworkOptions
from ..node import Message, Node
from ..patterns.idempotency import (HANDLERS, StatefulHandler, VersionedHandler, exactly_once_state,
                                    make_handler)
from ..sim import Simulation
from ..streams.lineage import Journey, Lineage
from ..streams.log import Event
from . import register_scenario
from .base import EVENT_BUDGET, Hook, Param, RunResult, Scenario, stop_note

__all__ = ["CartResult", "CartClient", "CartService", "SyncEvent", "SyncAck", "Checkout", "CheckoutAck",
           "cart_reducer", "CART", "CART_EVENTS"]

#: The cart's event types.
CART_EVENTS = ("ItemAdded", "QuantityChanged", "ItemRemoved", "CartAbandoned")

CATALOG = ("book", "mug", "lamp", "socks", "tea", "pen", "plant", "cable")

PARAMS = (
    Param("handler", str, "versioned", "how the cart service applies synced events", choices=HANDLERS),
    Param("carts", int, 50, "number of shoppers, one cart each", low=1, high=100_000),
    Param("events_per_cart", int, 12, "cart changes each shopper makes", low=1, high=10_000),
    Param("think_ms", float, 30.0, "mean pause between a shopper's changes (ms)", low=0.0, high=600_000),
    Param("latency_ms", float, 10.0, "mean one-way network delay (ms, exponential)", low=0.0, high=600_000),
    Param("loss", float, 0.05, "probability a message is dropped", low=0.0, high=0.9),
    Param("duplicate", float, 0.1, "probability a message is delivered twice", low=0.0, high=1.0),
    Param("reorder", float, 0.2, "probability a message is held back (reordered)", low=0.0, high=1.0),
    Param("retry_ms", float, 60.0, "a device resends unacknowledged events this often (ms)", low=1.0, high=600_000),
    Param("abandon_share", float, 0.1, "share of shoppers who abandon their cart", low=0.0, high=1.0),
    Param("dedupe_capacity", int, 100_000, "dedupe handler: idempotency keys remembered", low=1, high=10_000_000),
    Param("dedupe_ttl_ms", float, 0.0, "dedupe handler: how long a key is remembered (ms); 0 = forever",
          low=0.0, high=3_600_000),
)


def cart_reducer(state: Optional[dict], event: Event) -> dict:
    """Fold one cart event into ``{"items": {item: qty}, "abandoned": bool}`` (a new dict, input untouched)."""
    items = dict(state["items"]) if state else {}
    abandoned = state["abandoned"] if state else False
    p = event.payload
    if event.type == "ItemAdded":
        items[p["item"]] = items.get(p["item"], 0) + p["qty"]
    elif event.type == "QuantityChanged":
        items[p["item"]] = p["qty"]
    elif event.type == "ItemRemoved":
        items.pop(p["item"], None)
    elif event.type == "CartAbandoned":
        abandoned = True
    else:
        raise ValueError(f"unknown cart event type {event.type!r}; allowed: {', '.join(CART_EVENTS)}")
    return {"items": items, "abandoned": abandoned}


@dataclass(frozen=True)
class SyncEvent(Message):
    """Device -> service: one cart event."""

    event: Event


@dataclass(frozen=True)
class SyncAck(Message):
    """Service -> device: the event with this id has been received and handled."""

    event_id: str


@dataclass(frozen=True)
class Checkout(Message):
    """Device -> service: charge cart ``cart`` (all ``events`` of it are acknowledged)."""

    cart: str
    events: int


@dataclass(frozen=True)
class CheckoutAck(Message):
    """Service -> device: checkout of ``cart`` recorded."""

    cart: str


@dataclass
class CartResult(RunResult):
    """A cart run: metrics plus, per cart, the merged state at checkout and the device's own state."""

    at_checkout: dict = field(default_factory=dict)
    device_state: dict = field(default_factory=dict)
    service_state: dict = field(default_factory=dict)
    wrong_carts: list = field(default_factory=list)
    lineage: Optional[Lineage] = None
    journey: Optional[Journey] = None
    end_time: float = 0.0


class CartService(Node):
    """Receives synced cart events, applies them with its handler, acknowledges, and checks out."""

    def __init__(self, name: str, sim: Simulation, network: Network, handler: StatefulHandler,
                 lineage: Optional[Lineage] = None) -> None:
        self.handler = handler
        self.lineage = lineage
        self.at_checkout: dict[str, Any] = {}
        self.checkout_times: dict[str, float] = {}
        self.deliveries = 0
        self.duplicate_deliveries = 0
        self.out_of_order = 0
        self._seen: set[str] = set()
        self._max_version: dict[str, int] = {}
        super().__init__(name, sim, network)

    def on_SyncEvent(self, msg: SyncEvent, src: str) -> None:
        """Apply one synced event and acknowledge it."""
        e = msg.event
        self.deliveries += 1
        if e.event_id in self._seen:
            self.duplicate_deliveries += 1
            step = "redelivered"
        else:
            self._seen.add(e.event_id)
            step = "delivered"
        if e.version is not None and e.version < self._max_version.get(e.key, 0):
            self.out_of_order += 1
        self._max_version[e.key] = max(self._max_version.get(e.key, 0), e.version or 0)
        outcome = self.handler.handle(e)
        if self.lineage is not None:
            self.lineage.record(e, step, self.name, f"from {src}")
            self.lineage.record(e, outcome if isinstance(outcome, str) and outcome else "applied", self.name)
        self.send(src, SyncAck(e.event_id))

    def on_Checkout(self, msg: Checkout, src: str) -> None:
        """Record the merged cart the first time a checkout arrives; always acknowledge."""
        if msg.cart not in self.at_checkout:
            self.at_checkout[msg.cart] = self.handler.state.get(msg.cart)
            self.checkout_times[msg.cart] = self.sim.now
        self.send(src, CheckoutAck(msg.cart))


class CartClient(Node):
    """A shopper's device: changes the cart locally, syncs events until acknowledged, then checks out."""

    def __init__(self, name: str, sim: Simulation, network: Network, cart: str, service: str, *,
                 changes: int, think: Exponential | None, retry_ms: float, abandon: bool,
                 lineage: Optional[Lineage] = None) -> None:
        self.cart = cart
        self.service = service
        self.changes = changes
        self.think = think
        self.retry_ms = retry_ms
        self.abandon = abandon
        self.lineage = lineage
        self.events: list[Event] = []
        self.state: Optional[dict] = None
        self.unacked: dict[str, Event] = {}
        self.sent_at: dict[str, float] = {}
        self.checked_out = False
        self.done_at = math.inf
        super().__init__(name, sim, network)
        self._rng = sim.rng(f"workload/{cart}")

    def start(self) -> None:
        """Begin shopping now."""
        self._change()
        self.set_timer(self.retry_ms, self._resend)

    def _pause(self) -> float:
        return self.think.sample(self._rng) if self.think is not None else 0.0

    def _change(self) -> None:
        made = len(self.events)
        if made >= self.changes:
            self.done_at = self.sim.now
            self._maybe_checkout()
            return
        last = made == self.changes - 1
        type_, payload = ("CartAbandoned", {}) if last and self.abandon else self._pick()
        event = Event(f"{self.cart}-{made + 1}", self.cart, type_, payload, made + 1,
                      produced_at=self.sim.now, source=self.name)
        self.events.append(event)
        self.state = cart_reducer(self.state, event)
        self.unacked[event.event_id] = event
        self.sent_at[event.event_id] = self.sim.now
        if self.lineage is not None:
            self.lineage.record(event, "written", self.name, "local cart")
            self.lineage.record(event, "published", self.name, "sync")
        self.send(self.service, SyncEvent(event))
        self.set_timer(self._pause(), self._change)

    def _pick(self) -> tuple[str, dict]:
        rng = self._rng
        items = sorted(self.state["items"]) if self.state else []
        r = rng.random()
        if not items or r < 0.45:
            return "ItemAdded", {"item": rng.choice(CATALOG), "qty": rng.randint(1, 3)}
        if r < 0.75:
            return "QuantityChanged", {"item": rng.choice(items), "qty": rng.randint(1, 5)}
        return "ItemRemoved", {"item": rng.choice(items)}

    def _resend(self) -> None:
        for event in list(self.unacked.values()):
            if self.lineage is not None:
                self.lineage.record(event, "retried", self.name, "no ack yet")
            self.send(self.service, SyncEvent(event))
        self._maybe_checkout()  # a lost checkout (or its ack) is sent again
        if self.unacked or self.done_at == math.inf or (not self.abandon and not self.checked_out):
            self.set_timer(self.retry_ms, self._resend)

    def on_SyncAck(self, msg: SyncAck, src: str) -> None:
        """Forget an acknowledged event; check out once everything is acknowledged."""
        if self.unacked.pop(msg.event_id, None) is not None:
            self._maybe_checkout()

    def on_CheckoutAck(self, msg: CheckoutAck, src: str) -> None:
        """Checkout confirmed."""
        self.checked_out = True

    def _maybe_checkout(self) -> None:
        if self.done_at < math.inf and not self.unacked and not self.abandon and not self.checked_out:
            self.send(self.service, Checkout(self.cart, len(self.events)))


HOOKS = (
    Hook("handler_factory", "handler_factory(sim) -> a StatefulHandler (a lab's) used instead of the one "
         "named by handler; it folds events with cart_reducer into state[cart_id]"),
)


def _run_cart(seed: int, p: dict, hooks: dict) -> CartResult:
    """Shoppers change carts locally, sync over a faulty network, and check out; compare merged carts.

    Called by ``CART.run(seed, hooks=..., **params)`` with validated parameters.  The
    ``handler_factory(sim)`` hook swaps in another handler (a lab's) for the ready-made
    one named by ``p["handler"]``; it must fold events with :func:`cart_reducer`
    semantics into ``state[cart_id]``.
    """
    handler_factory: Optional[Callable[[Simulation], StatefulHandler]] = hooks.get("handler_factory")
    sim = Simulation(seed, trace=True, max_events=EVENT_BUDGET)
    lineage = Lineage(sim)
    latency = Exponential(1.0 / p["latency_ms"]) if p["latency_ms"] > 0 else 0.0
    reorder_mean = max(3 * p["latency_ms"], 1.0)
    net = Network(sim, NetworkOptions(latency=latency, loss=p["loss"], duplicate=p["duplicate"],
                                      reorder=p["reorder"], reorder_delay=Exponential(1.0 / reorder_mean)))
    options: dict[str, Any] = {"name": p["handler"]}
    if p["handler"] == "dedupe":
        ttl = p["dedupe_ttl_ms"] if p["dedupe_ttl_ms"] > 0 else math.inf
        options.update(capacity=p["dedupe_capacity"], ttl_ms=ttl, clock=lambda: sim.now)
    if p["handler"] == "versioned":
        options["on_release"] = lambda e: lineage.record(e, "released", "cart-service", "gap filled")
    handler: StatefulHandler = (handler_factory(sim) if handler_factory is not None
                                else make_handler(p["handler"], cart_reducer, **options))
    if handler_factory is not None and (not callable(getattr(handler, "handle", None))
                                        or not isinstance(getattr(handler, "state", None), dict)):
        # A lab's handler is checked here, not by an AttributeError deep inside the first delivery.
        raise ValueError(f"handler_factory returned {handler!r}, which must have a handle(event) method and a "
                         "state dict (see StatefulHandler)")
    service = CartService("cart-service", sim, net, handler, lineage)
    choose = sim.rng("shoppers")
    think = Exponential(1.0 / p["think_ms"]) if p["think_ms"] > 0 else None
    clients = []
    for i in range(p["carts"]):
        abandon = choose.random() < p["abandon_share"]
        client = CartClient(f"device-{i}", sim, net, f"c{i}", service.name, changes=p["events_per_cart"],
                            think=think, retry_ms=p["retry_ms"], abandon=abandon, lineage=lineage)
        clients.append(client)
        sim.schedule(choose.uniform(0, 10 * max(p["think_ms"], 1.0)), client.start)

    # Run in steps until every device has finished (bounded: a lossy network still delivers eventually).
    horizon = 10 * max(p["think_ms"], 1.0) + p["events_per_cart"] * (p["think_ms"] + 1.0)
    deadline = max(60_000.0, 100 * horizon)
    reason = "time"
    while reason != "events" and sim.now < deadline and not all(
            c.checked_out or (c.abandon and c.done_at < math.inf and not c.unacked) for c in clients):
        reason = sim.run_bounded(min(deadline, sim.now + max(horizon / 4, 50.0)))

    # The device's cart is the exactly-once fold of its own events: the yardstick.
    device = exactly_once_state([e for c in clients for e in c.events], cart_reducer)
    checkouts = [c for c in clients if not c.abandon]
    # .get: a run stopped by its event budget can leave devices that never made a change.
    wrong_checkout = sorted(c.cart for c in checkouts if service.at_checkout.get(c.cart) != device.get(c.cart))
    wrong_final = sorted(c.cart for c in clients if handler.state.get(c.cart) != device.get(c.cart))
    sync_lag = _first_delivery_lags(lineage, clients)
    metrics: dict[str, Any] = {
        "carts": len(clients),
        "checkouts": len(checkouts),
        "abandoned": len(clients) - len(checkouts),
        "carts_wrong_at_checkout": len(wrong_checkout),
        "wrong_at_checkout_share": len(wrong_checkout) / len(checkouts) if checkouts else 0.0,
        "carts_wrong_final": len(wrong_final),
        "events": sum(len(c.events) for c in clients),
        "deliveries": service.deliveries,
        "duplicate_deliveries": service.duplicate_deliveries,
        "out_of_order_deliveries": service.out_of_order,
        "events_applied": getattr(handler, "applied", math.nan),
        "duplicates_skipped": getattr(handler, "duplicates", math.nan),
        "stale_skipped": getattr(handler, "stale", math.nan),
        "held_final": handler.held_count() if isinstance(handler, VersionedHandler) else 0,
        "messages_dropped": net.dropped,
        "sync_lag_p50_s": percentile(sync_lag, 50) / 1000.0 if sync_lag else math.nan,
        "sync_lag_p99_s": percentile(sync_lag, 99) / 1000.0 if sync_lag else math.nan,
        "unfinished_devices": sum(1 for c in clients if c.unacked or (not c.abandon and not c.checked_out)),
    }
    params = dict(p) if handler_factory is None else {**p, "handler": "custom"}
    return CartResult(
        scenario="cart", seed=seed, params=params, metrics=metrics, trace_digest=sim.trace_digest(),
        at_checkout=dict(service.at_checkout), device_state=device, service_state=dict(handler.state),
        wrong_carts=wrong_checkout, lineage=lineage, journey=_pick_journey(lineage), end_time=sim.now,
        stopped=stop_note(reason, deadline, f"{metrics['unfinished_devices']} devices")
        if metrics["unfinished_devices"] else "")


def _first_delivery_lags(lineage: Lineage, clients: list[CartClient]) -> list[float]:
    """Per event: time from the local write to its first delivery at the service (ms)."""
    lags = []
    for c in clients:
        for e in c.events:
            first = next((s for s in lineage.steps_of(e.event_id) if s.step == "delivered"), None)
            if first is not None:
                lags.append(first.time - e.produced_at)
    return lags


def _pick_journey(lineage: Lineage) -> Optional[Journey]:
    """An instructive journey: an event that was held or redelivered, else the first synced one."""
    for step in ("held", "redelivered", "duplicate", "delivered"):
        ids = lineage.events_with(step)
        if ids:
            return lineage.journey(ids[0])
    return None


CART = register_scenario(Scenario(
    name="cart",
    summary="cart events written locally and synced through duplicates and reordering; merged at checkout",
    params=PARAMS,
    runner=_run_cart,
    hooks=HOOKS,
    work=lambda p: (p["carts"] * p["events_per_cart"], "carts × events_per_cart"),
    max_work=10_000,
))
