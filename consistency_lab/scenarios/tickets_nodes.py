"""The nodes of the ticket sale: regional inventory replicas and the web servers buyers check out at.

Region ``A`` holds ``web0`` (and ``r0``), region ``B`` ``web1`` (and ``r1``), and so
on; :func:`topology` names the nodes of a run.  The strongly consistent authority,
:class:`~consistency_lab.patterns.reservations.ReservationService` ``rs``, comes from
the patterns layer; :class:`EventualReplica` is the same book deciding alone and
gossiping its sales.  :class:`WebServer` runs each buyer's three steps (take a seat,
pay, confirm) behind an optional circuit breaker.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Optional

from ..network import Network
from ..node import Message, Node
from ..patterns.circuit_breaker import CircuitBreaker
from ..patterns.reservations import Confirm, ConfirmReply, Hold, Reserve, ReserveReply, ReservationService
from ..sim import Simulation
from .tickets_buyers import BuyerPlan, BuyerRecord

__all__ = ["REGIONS", "SERVICE", "topology", "Sync", "EventualReplica", "WebServer"]

#: Region names, in order: the i-th web server (and replica) lives in ``REGIONS[i]``.
REGIONS = "ABCDEFGH"
#: The name of the reservation service node (region A).
SERVICE = "rs"


def topology(inventory: str, replicas: int) -> dict[str, str]:
    """Node name -> region for a run: web servers, replicas or the service."""
    nodes: dict[str, str] = {}
    for i in range(replicas):
        nodes[f"web{i}"] = REGIONS[i]
    if inventory == "eventual":
        for i in range(replicas):
            nodes[f"r{i}"] = REGIONS[i]
    else:
        nodes[SERVICE] = REGIONS[0]
    return nodes


# -- the eventual inventory --------------------------------------------------------------

@dataclass(frozen=True)
class Sync(Message):
    """A replica's view of how many seats each replica has sold (a grow-only counter)."""

    sold_by: tuple[tuple[str, int], ...] = ()


class EventualReplica(ReservationService):
    """A regional inventory replica: leases decided locally, sales gossiped to peers.

    Its book counts its own sales and live holds exactly; other replicas' sales
    enter as ``book.external_sold``, as of the last :class:`Sync` heard.  Merging is
    an element-wise max, so lost, late or duplicated syncs do no harm and the
    replicas converge once the network lets them talk.
    """

    def __init__(self, name: str, sim: Simulation, network: Network, *, seats: int, lease_ms: float,
                 peers: list[str], sync_interval_ms: float, region: Optional[str] = None,
                 on_change: Optional[Callable[[ReservationService], None]] = None) -> None:
        self.peers = [q for q in peers if q != name]
        self.sync_interval_ms = float(sync_interval_ms)
        self.sold_by: dict[str, int] = {q: 0 for q in peers}
        super().__init__(name, sim, network, seats=seats, lease_ms=lease_ms, capacity=None, region=region,
                         on_change=on_change)

    def start(self) -> None:
        """Begin gossiping, at a random phase so replicas do not sync in lockstep."""
        phase = self.sim.rng(f"sync/{self.name}").uniform(0.0, self.sync_interval_ms)
        self.set_timer(phase, self._gossip)

    def on_restart(self) -> None:
        """Resume leases (see the service) and gossip."""
        super().on_restart()
        self.set_timer(0.0, self._gossip)

    def _gossip(self) -> None:
        if self.peers:
            self.broadcast(self.peers, Sync(tuple(self.sold_by.items())))
        self.set_timer(self.sync_interval_ms, self._gossip)

    def on_Sync(self, msg: Sync, src: str) -> None:
        """Merge a peer's counter (max per replica) and update what we believe others sold."""
        changed = False
        for replica, count in msg.sold_by:
            if replica != self.name and count > self.sold_by.get(replica, 0):
                self.sold_by[replica] = count
                changed = True
        if changed:
            self.book.external_sold = sum(c for r, c in self.sold_by.items() if r != self.name)
            self._changed()

    def on_sale(self, hold: Hold) -> None:
        """Count our own sale in the gossiped counter."""
        self.sold_by[self.name] += 1

    def known_sold(self) -> int:
        """Sales this replica knows of: its own plus what it has heard from peers."""
        return sum(self.sold_by.values())


# -- web servers: where buyers check out ----------------------------------------------------

class WebServer(Node):
    """Runs the checkouts of its region's buyers against one inventory node, behind an optional breaker.

    Sessions are volatile: a crash fails the buyers being served (their holds, if
    any, expire on their own).  The breaker survives a crash with its counters but
    restarts closed.
    """

    def __init__(self, name: str, sim: Simulation, network: Network, *, region: str, target: str,
                 timeout_ms: float, retries: int, breaker: Optional[CircuitBreaker],
                 on_decision: Callable[[BuyerRecord], None]) -> None:
        self.target = target
        self.timeout_ms = timeout_ms
        self.retries = retries
        self.breaker = breaker
        self.on_decision = on_decision
        self.timeouts = 0
        super().__init__(name, sim, network, region=region)

    def init_volatile(self) -> None:
        """Checkouts in progress live in memory only."""
        self._sessions: dict[str, tuple[BuyerPlan, BuyerRecord]] = {}

    def on_crash(self) -> None:
        """Every checkout in progress dies with the process."""
        sessions, self._sessions = self._sessions, {}
        for _plan, rec in sessions.values():
            self._decide(rec, "failed", "web server crashed")

    def on_restart(self) -> None:
        """A fresh process starts with a closed breaker."""
        if self.breaker is not None:
            self.breaker.reset(self.sim.now)

    def arrive(self, plan: BuyerPlan, rec: BuyerRecord) -> None:
        """A buyer starts checking out now."""
        if not self.alive:
            self._decide(rec, "failed", "web server down")
            return
        self._sessions[plan.buyer] = (plan, rec)
        self._reserve(plan, rec, 1)

    def _decide(self, rec: BuyerRecord, outcome: str, detail: str = "") -> None:
        self._sessions.pop(rec.buyer, None)
        rec.outcome, rec.detail, rec.decision_ms = outcome, detail, self.sim.now
        self.on_decision(rec)

    def _healthy(self, ok: bool) -> None:
        if self.breaker is not None:
            (self.breaker.record_success if ok else self.breaker.record_failure)(self.sim.now)

    # -- step 1: take a seat ---------------------------------------------------------
    def _reserve(self, plan: BuyerPlan, rec: BuyerRecord, attempt: int) -> None:
        if self.breaker is not None and not self.breaker.allow(self.sim.now):
            self._decide(rec, "failed-fast", "breaker open")
            return
        rec.attempts += 1
        # The deadline lets a drowning service skip work whose caller has given up.
        msg = Reserve(req_id=self.sim.next_id(), key=plan.buyer, deadline_ms=self.sim.now + self.timeout_ms)
        self.request(self.target, msg, self.timeout_ms,
                     lambda reply, _src: self._reserved(plan, rec, reply),
                     lambda: self._reserve_timed_out(plan, rec, attempt))

    def _reserve_timed_out(self, plan: BuyerPlan, rec: BuyerRecord, attempt: int) -> None:
        self.timeouts += 1
        self._healthy(False)
        if attempt <= self.retries:
            self._reserve(plan, rec, attempt + 1)
        else:
            self._decide(rec, "failed", "reserve timed out")

    def _reserved(self, plan: BuyerPlan, rec: BuyerRecord, reply: ReserveReply) -> None:
        self._healthy(reply.status != "overloaded")
        if reply.status == "held":
            rec.hold_id = reply.hold_id
            rec.pay_start_ms, rec.pay_end_ms = self.sim.now, self.sim.now + plan.payment_ms
            self.set_timer(plan.payment_ms, self._paid, plan, rec)
        elif reply.status == "sold-out":
            self._decide(rec, "sold-out")
        elif reply.status == "confirmed":  # only a very late duplicate could see this
            self._decide(rec, "sold")
        else:
            self._decide(rec, "failed", f"reserve {reply.status}")

    # -- step 2: pay -----------------------------------------------------------------
    def _paid(self, plan: BuyerPlan, rec: BuyerRecord) -> None:
        # Neither case cancels the hold: the lease is what gives the seat back, which
        # also covers buyers who simply close the tab.
        if plan.abandons:
            self._decide(rec, "abandoned")
        elif plan.payment_fails:
            self._decide(rec, "payment-failed")
        else:
            self._confirm(plan, rec, 1)

    # -- step 3: confirm --------------------------------------------------------------
    def _confirm(self, plan: BuyerPlan, rec: BuyerRecord, attempt: int) -> None:
        rec.attempts += 1
        msg = Confirm(req_id=self.sim.next_id(), hold_id=rec.hold_id)
        self.request(self.target, msg, self.timeout_ms,
                     lambda reply, _src: self._confirmed(plan, rec, reply, attempt),
                     lambda: self._confirm_failed(plan, rec, attempt, "confirm timed out"))

    def _confirm_failed(self, plan: BuyerPlan, rec: BuyerRecord, attempt: int, why: str) -> None:
        if why.endswith("timed out"):
            self.timeouts += 1
        self._healthy(False)
        if attempt <= self.retries:
            self._confirm(plan, rec, attempt + 1)  # same hold id: a repeat cannot sell twice
        else:
            self._decide(rec, "failed", why)

    def _confirmed(self, plan: BuyerPlan, rec: BuyerRecord, reply: ConfirmReply, attempt: int) -> None:
        if reply.status == "overloaded":
            self._confirm_failed(plan, rec, attempt, "confirm overloaded")
            return
        self._healthy(True)
        if reply.status in ("confirmed", "already-confirmed"):
            self._decide(rec, "sold")
        elif reply.status == "expired":
            self._decide(rec, "expired", "paid after the lease ran out: refunded")
        else:
            self._decide(rec, "failed", f"confirm {reply.status}")
