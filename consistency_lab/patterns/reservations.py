"""Reservations with leases: the one inventory decision that must be strongly consistent.

Selling the last seat is a conditional decrement ("take one if any are left") and
it must be decided in one place.  A *lease* keeps that place from becoming a
bottleneck of abandoned carts: ``reserve`` takes a seat for ``lease_ms``; the buyer
pays meanwhile; ``confirm`` before the lease runs out turns the hold into a sale;
otherwise the hold **expires** and the seat goes back on sale.

Rules (the same in both classes below):

* ``reserve(key)`` gives a hold, or nothing when every seat is sold or held.  It is
  idempotent per ``key``: a retry returns the hold the first attempt created,
  whatever has become of it since.
* ``confirm(hold_id)`` before expiry -> ``"confirmed"``; again -> ``"already-confirmed"``
  (idempotent: a retried confirm never sells twice); at or after expiry ->
  ``"expired"`` (refused: the seat may already belong to someone else).
* ``cancel(hold_id)`` releases a live hold -> ``"cancelled"``; again ->
  ``"already-cancelled"``; a confirmed hold stays sold -> ``"confirmed"``.
* An unknown hold id -> ``"unknown"``.

Two implementations share :class:`ReservationBook`, the plain data structure
(usable in a lab cell with any clock), and :class:`ReservationService`, a simulated
node that serves ``Reserve`` / ``Confirm`` / ``Cancel`` requests with finite
capacity.  The book is the service's *durable* state: a crash loses the queue and
the requests being served (callers time out), never a sale or a hold, so a crashed
authority makes the sale unavailable but can never make it oversell.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass
from typing import Callable, Optional

from ..latency import Latency, parse_latency
from ..network import Network
from ..node import Node, Reply, Request
from ..sim import Simulation
from ..validation import count, optional, positive

__all__ = [
    "Hold", "ReservationBook", "HOLD_STATUSES", "CONFIRM_OUTCOMES", "CANCEL_OUTCOMES",
    "Reserve", "Confirm", "Cancel", "ReserveReply", "ConfirmReply", "CancelReply",
    "ReservationService",
]

#: What a hold can be: live ("held"), or closed one of three ways.
HOLD_STATUSES = ("held", "confirmed", "expired", "cancelled")
#: What ``confirm`` can answer; the first two mean the buyer has the seat.
CONFIRM_OUTCOMES = ("confirmed", "already-confirmed", "expired", "cancelled", "unknown")
#: What ``cancel`` can answer.
CANCEL_OUTCOMES = ("cancelled", "already-cancelled", "expired", "confirmed", "unknown")


@dataclass
class Hold:
    """One seat taken for ``key`` from ``created_ms`` until ``expires_ms`` (exclusive)."""

    hold_id: str
    key: str
    created_ms: float
    expires_ms: float
    status: str = "held"
    closed_ms: float = math.nan  # when it was confirmed, expired or cancelled

    @property
    def live(self) -> bool:
        """True while the hold still takes a seat without having bought it."""
        return self.status == "held"


class ReservationBook:
    """Seats, leases and sales with the rules of the module docstring; time is passed in (ms).

    ``external_sold`` counts sales made *elsewhere* that this book must respect; it
    is 0 for a single authority and is what an eventually consistent replica learns
    late from its peers (which is exactly how it comes to oversell).
    """

    def __init__(self, seats: int, lease_ms: float, *, prefix: str = "h") -> None:
        self.seats = count("seats", seats, low=0)
        self.lease_ms = positive("lease_ms", lease_ms, "ms")
        self.prefix = prefix
        self.external_sold = 0
        self.sold = 0
        self.expired = 0
        self.cancelled = 0
        self.holds: dict[str, Hold] = {}
        self._by_key: dict[str, str] = {}
        # Live holds in creation order; one lease length for all means this is also
        # expiry order, so expiring is popping from the front.
        self._live: dict[str, Hold] = {}
        self._now = -math.inf
        self._counter = 0

    # -- time ------------------------------------------------------------------
    def _tick(self, now: float) -> None:
        if isinstance(now, bool) or not isinstance(now, (int, float)) or math.isnan(now):
            raise ValueError(f"now={now!r} must be a time in ms")
        if now < self._now:
            raise ValueError(f"now={now!r} must not go back in time (last seen {self._now!r})")
        self._now = now

    def expire(self, now: float) -> list[Hold]:
        """Release every live hold whose lease has run out by ``now``; returns them."""
        self._tick(now)
        gone = []
        for hold in self._live.values():
            if hold.expires_ms > now:
                break
            gone.append(hold)
        for hold in gone:
            del self._live[hold.hold_id]
            hold.status = "expired"
            hold.closed_ms = hold.expires_ms
            self.expired += 1
        return gone

    def next_expiry(self) -> float:
        """When the oldest live hold expires (inf if none)."""
        for hold in self._live.values():
            return hold.expires_ms
        return math.inf

    # -- queries ---------------------------------------------------------------
    def held(self, now: float) -> int:
        """Seats taken by live holds at ``now``."""
        self.expire(now)
        return len(self._live)

    def available(self, now: float) -> int:
        """Seats that ``reserve`` could hand out at ``now`` (never negative)."""
        self.expire(now)
        return max(0, self.seats - self.sold - self.external_sold - len(self._live))

    @property
    def live_count(self) -> int:
        """Seats held by live holds (as of the last call; no expiry is applied)."""
        return len(self._live)

    def live_holds(self) -> list[Hold]:
        """Holds not yet confirmed, cancelled or expired (as of the last call)."""
        return list(self._live.values())

    def get(self, hold_id: str) -> Optional[Hold]:
        """The hold called ``hold_id``, or None."""
        return self.holds.get(hold_id)

    # -- operations ------------------------------------------------------------
    def reserve(self, now: float, key: Optional[str] = None) -> Optional[Hold]:
        """Take one seat for ``lease_ms`` (conditional decrement); None when none is available."""
        self.expire(now)
        if key is not None and key in self._by_key:
            return self.holds[self._by_key[key]]
        if self.seats - self.sold - self.external_sold - len(self._live) <= 0:
            return None
        self._counter += 1
        hold_id = f"{self.prefix}{self._counter}"
        hold = Hold(hold_id, key if key is not None else hold_id, now, now + self.lease_ms)
        self.holds[hold_id] = hold
        self._live[hold_id] = hold
        if key is not None:
            self._by_key[key] = hold_id
        return hold

    def confirm(self, hold_id: str, now: float) -> str:
        """Turn a live hold into a sale; one of :data:`CONFIRM_OUTCOMES`."""
        self.expire(now)
        hold = self.holds.get(hold_id)
        if hold is None:
            return "unknown"
        if hold.status == "confirmed":
            return "already-confirmed"
        if hold.status != "held":
            return hold.status  # "expired" or "cancelled": refused
        del self._live[hold_id]
        hold.status = "confirmed"
        hold.closed_ms = now
        self.sold += 1
        return "confirmed"

    def cancel(self, hold_id: str, now: float) -> str:
        """Give a live hold's seat back now; one of :data:`CANCEL_OUTCOMES`."""
        self.expire(now)
        hold = self.holds.get(hold_id)
        if hold is None:
            return "unknown"
        if hold.status == "cancelled":
            return "already-cancelled"
        if hold.status != "held":
            return hold.status  # "confirmed" stays sold; "expired" is already released
        del self._live[hold_id]
        hold.status = "cancelled"
        hold.closed_ms = now
        self.cancelled += 1
        return "cancelled"

    @property
    def oversold(self) -> int:
        """Sales beyond the seats, counting sales made elsewhere (0 for a single authority)."""
        return max(0, self.sold + self.external_sold - self.seats)

    def __repr__(self) -> str:
        return (f"ReservationBook(seats={self.seats}, sold={self.sold}, held={len(self._live)}, "
                f"expired={self.expired}, cancelled={self.cancelled}, lease_ms={self.lease_ms:g})")


# -- the simulated service ----------------------------------------------------------

@dataclass(frozen=True)
class Reserve(Request):
    """Take a seat for ``key`` (idempotent per key); the service drops it unserved after ``deadline_ms``."""

    key: str = ""
    deadline_ms: float = math.inf


@dataclass(frozen=True)
class Confirm(Request):
    """Buy the seat held by ``hold_id`` (idempotent)."""

    hold_id: str = ""


@dataclass(frozen=True)
class Cancel(Request):
    """Release the seat held by ``hold_id`` (idempotent)."""

    hold_id: str = ""


@dataclass(frozen=True)
class ReserveReply(Reply):
    """``status`` is "held" (see ``hold_id``/``expires_ms``), "sold-out", "overloaded", or the hold's later fate."""

    status: str = ""
    hold_id: str = ""
    expires_ms: float = math.nan


@dataclass(frozen=True)
class ConfirmReply(Reply):
    """``status`` is one of :data:`CONFIRM_OUTCOMES` or "overloaded"."""

    status: str = ""
    hold_id: str = ""


@dataclass(frozen=True)
class CancelReply(Reply):
    """``status`` is one of :data:`CANCEL_OUTCOMES` or "overloaded"."""

    status: str = ""
    hold_id: str = ""


class ReservationService(Node):
    """A single-authority seat inventory on the simulated network, with leases and finite capacity.

    ``capacity`` requests are served at a time, each taking a draw of
    ``service_time`` ms (stream ``"service/<name>"``); up to ``queue_limit`` more
    wait, and beyond that a request is answered "overloaded" at once.
    ``capacity=None`` serves everything instantly (an in-memory counter).  Queued
    requests past their ``deadline_ms`` are skipped: their caller has given up, and
    a hold nobody will confirm would only keep a seat off sale for a whole lease.

    Durable: the :class:`ReservationBook` (holds and sales) and the counters.
    Volatile: the queue and the requests in service, lost in a crash.
    """

    def __init__(self, name: str, sim: Simulation, network: Network, *, seats: int, lease_ms: float,
                 capacity: Optional[int] = None, service_time: Latency | str | float = 0.0,
                 queue_limit: Optional[int] = None, region: Optional[str] = None,
                 on_change: Optional[Callable[["ReservationService"], None]] = None) -> None:
        self.book = ReservationBook(seats, lease_ms, prefix=f"{name}/h")
        self.capacity = optional(count, "capacity", capacity, none_means="serve everything at once")
        self.queue_limit = optional(count, "queue_limit", queue_limit, low=0, none_means="no limit")
        self.service_time = parse_latency(service_time, "service_time")
        self.on_change = on_change
        self.served = 0
        self.overloaded = 0
        self.skipped_past_deadline = 0
        self.max_queue = 0
        #: (time, hold_id, key) of every sale, in order: the ground truth of who bought.
        self.sales: list[tuple[float, str, str]] = []
        super().__init__(name, sim, network, region=region)
        self._rng = sim.rng(f"service/{name}")

    def init_volatile(self) -> None:
        """The queue and the in-service count are memory only."""
        self._queue: deque[tuple[Request, str]] = deque()
        self._busy = 0

    def on_restart(self) -> None:
        """Release what expired while down and re-arm the lease timers the crash cancelled."""
        self._sweep()
        for hold in self.book.live_holds():
            self.set_timer(max(0.0, hold.expires_ms - self.sim.now), self._sweep)

    # -- admission: capacity and queue ---------------------------------------------
    def on_Reserve(self, msg: Reserve, src: str) -> None:
        """Queue or serve a reservation request."""
        self._admit(msg, src)

    def on_Confirm(self, msg: Confirm, src: str) -> None:
        """Queue or serve a confirmation."""
        self._admit(msg, src)

    def on_Cancel(self, msg: Cancel, src: str) -> None:
        """Queue or serve a cancellation."""
        self._admit(msg, src)

    def _admit(self, msg: Request, src: str) -> None:
        if self.capacity is None:
            self._serve(msg, src)
        elif self._busy < self.capacity:
            self._start(msg, src)
        elif self.queue_limit is None or len(self._queue) < self.queue_limit:
            self._queue.append((msg, src))
            self.max_queue = max(self.max_queue, len(self._queue))
        else:
            self.overloaded += 1
            self._reply(msg, src, "overloaded")

    def _start(self, msg: Request, src: str) -> None:
        self._busy += 1
        self.set_timer(self.service_time.sample(self._rng), self._finish, msg, src)

    def _finish(self, msg: Request, src: str) -> None:
        self._busy -= 1
        self._serve(msg, src)
        while self._queue and self._busy < self.capacity:  # type: ignore[operator]
            nxt, nsrc = self._queue.popleft()
            if getattr(nxt, "deadline_ms", math.inf) < self.sim.now:
                self.skipped_past_deadline += 1
                continue
            self._start(nxt, nsrc)

    # -- the decisions -------------------------------------------------------------
    def _serve(self, msg: Request, src: str) -> None:
        now = self.sim.now
        self.served += 1
        if isinstance(msg, Reserve):
            before = len(self.book.holds)
            hold = self.book.reserve(now, msg.key or None)
            if hold is None:
                self.send(src, ReserveReply(reply_to=msg.req_id, status="sold-out"))
            else:
                if len(self.book.holds) > before:  # a new hold, not a retry's repeat
                    self.set_timer(self.book.lease_ms, self._sweep)
                    self.sim.record("note", self.name, src, "hold", -1, hold.hold_id)
                self.send(src, ReserveReply(reply_to=msg.req_id, status=hold.status, hold_id=hold.hold_id,
                                            expires_ms=hold.expires_ms))
        elif isinstance(msg, Confirm):
            status = self.book.confirm(msg.hold_id, now)
            if status == "confirmed":
                hold = self.book.holds[msg.hold_id]
                self.sales.append((now, hold.hold_id, hold.key))
                self.sim.record("note", self.name, src, "sold", -1, hold.hold_id)
                self.on_sale(hold)
            self.send(src, ConfirmReply(reply_to=msg.req_id, status=status, hold_id=msg.hold_id))
        elif isinstance(msg, Cancel):
            status = self.book.cancel(msg.hold_id, now)
            self.send(src, CancelReply(reply_to=msg.req_id, status=status, hold_id=msg.hold_id))
        self._changed()

    def _reply(self, msg: Request, src: str, status: str) -> None:
        if isinstance(msg, Reserve):
            self.send(src, ReserveReply(reply_to=msg.req_id, status=status))
        elif isinstance(msg, Confirm):
            self.send(src, ConfirmReply(reply_to=msg.req_id, status=status, hold_id=msg.hold_id))
        elif isinstance(msg, Cancel):
            self.send(src, CancelReply(reply_to=msg.req_id, status=status, hold_id=msg.hold_id))

    def _sweep(self) -> None:
        for hold in self.book.expire(self.sim.now):
            self.sim.record("note", self.name, "", "expired", -1, hold.hold_id)
        self._changed()

    # -- hooks -----------------------------------------------------------------------
    def on_sale(self, hold: Hold) -> None:
        """Called after each new sale (subclasses replicate it, for instance)."""

    def _changed(self) -> None:
        if self.on_change is not None:
            self.on_change(self)

    @property
    def queue_length(self) -> int:
        """Requests waiting for a worker now."""
        return len(self._queue)
