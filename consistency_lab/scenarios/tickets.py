"""The last seat: a limited ticket sale with many concurrent buyers.

Buyers arrive over ``arrival_window_ms`` at the web server of their region
(``web0`` in region A, ``web1`` in B, ...).  Every checkout has the same three
steps in both modes: *take a seat* (a hold with a lease of ``lease_ms``), *pay*
(``payment_ms``; it may fail, or the buyer may walk away), *confirm* the hold.  An
unconfirmed hold simply expires and its seat goes back on sale.  What differs is
**who decides that a seat is left**:

``inventory="eventual"``
    one replica per region (``r0``, ``r1``...), each deciding alone from what it
    believes: its own sales, its own live holds, and the sales of the others as last
    heard through an asynchronous sync (a grow-only counter gossiped every
    ``sync_interval_ms``).  Fast and always available, but while news travels every
    replica sells "the last seat": demand above supply means overselling.

``inventory="reservation"``
    one strongly consistent authority, the :class:`ReservationService` ``rs`` in
    region A, does a conditional decrement per hold.  It cannot oversell, by
    construction: its book is the only one.  It costs a wide-area round trip for
    most buyers, queueing when ``capacity`` is short, and availability: while
    ``rs`` is down (``faults="crash:rs@500-1500"``) requests time out and nobody can
    buy, but its durable book still never oversells, and holds that ran out while it
    was down are released when it restarts.  If it never restarts they stay
    ``stranded_reservations``.

Web servers call the inventory through a :class:`CircuitBreaker` (``breaker=on``):
timeouts and "overloaded" answers count as failures; after ``breaker_failures`` in
a row the breaker opens and new checkouts fail fast (``rejected_fast``) for
``breaker_open_ms``.  Only taking a seat is gated: a confirm finishes work already
paid for and frees a seat either way, so it always goes through.  Requests are
retried ``retries`` times after a timeout; both requests are idempotent (by buyer
and by hold id), so retries and duplicates never take two seats or sell twice.

Buyer outcomes: ``sold``, ``oversold`` (a sale beyond the seats, by order of
confirmation; eventual only), ``sold-out``, ``failed-fast`` (breaker),
``payment-failed``, ``abandoned``, ``expired`` (paid too late: the lease had run
out), ``failed`` (timeouts, "overloaded", a crashed web server).

Main metrics: ``sold`` (sales recorded by the inventory, ground truth),
``oversold`` = max(0, sold - seats), ``sold_out_rejections``, ``rejected_fast``,
``leases_expired``, ``stranded_reservations`` (holds still live at the end: 0
unless the authority holding them never came back), ``holds_created``,
``buyer_latency_*`` (time a buyer waited on the inventory: arrival to decision
minus the time spent paying, which is the same in both modes; walk-aways
excluded) and ``checkout_latency_*`` (payment included).

This module is the scenario itself: its parameters, the run and the metrics.  The
nodes (replicas, web servers) live in :mod:`.tickets_nodes`, the buyers (plans and
records) in :mod:`.tickets_buyers`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from ..faults import Clog, Crash, FaultSchedule, Partition, parse_faults
from ..latency import parse_latency
from ..metrics import latency_summary
from ..network import Network, NetworkOptions
from ..patterns.circuit_breaker import CircuitBreaker
from ..patterns.reservations import ReservationService
from ..sim import Simulation, TraceEvent
from . import register_scenario
from .base import EVENT_BUDGET, Param, RunResult, Scenario, stop_note
from .tickets_buyers import OUTCOMES, BuyerRecord, plan_buyers
from .tickets_nodes import REGIONS, SERVICE, EventualReplica, WebServer, topology

__all__ = ["TicketsResult", "TICKETS", "INVENTORY_MODES"]

INVENTORY_MODES = ("eventual", "reservation")

PARAMS = (
    Param("inventory", str, "reservation", "who decides a seat is left: each regional replica alone, "
          "or one reservation service", choices=INVENTORY_MODES),
    Param("seats", int, 50, "seats on sale", low=1, high=100_000),
    Param("buyers", int, 200, "buyers who try to buy one seat each", low=1, high=100_000),
    Param("arrival", str, "poisson", "arrival process: poisson (exponential gaps) or uniform "
          "(independent uniform times in the window)", choices=("poisson", "uniform")),
    Param("arrival_window_ms", float, 2000.0, "buyers arrive over this long (ms)", low=0.0, high=3_600_000),
    Param("replicas", int, 3, "regions, each with a web server (and, for eventual, an inventory replica)",
          low=1, high=len(REGIONS)),
    Param("sync_interval_ms", float, 100.0, "eventual: replicas gossip their sales this often (ms)",
          low=1.0, high=600_000),
    Param("local_latency", str, "lognormal:1,0.3", "one-way delay inside a region"),
    Param("latency", str, "lognormal:40,0.2", "one-way delay between regions"),
    Param("lease_ms", float, 1000.0, "how long a hold keeps a seat for an unpaid buyer (ms)",
          low=1.0, high=3_600_000),
    Param("payment_ms", str, "lognormal:200,0.5", "time a buyer takes to pay (ms)"),
    Param("payment_failure", float, 0.05, "probability a payment fails", low=0.0, high=1.0),
    Param("abandon", float, 0.1, "probability a buyer walks away instead of paying", low=0.0, high=1.0),
    Param("capacity", int, 4, "reservation: requests the service works on at once", low=1, high=10_000),
    Param("service_ms", str, "lognormal:5,0.3", "reservation: time to serve one request (ms)"),
    Param("queue_limit", int, 64, "reservation: requests allowed to wait; more are refused 'overloaded'",
          low=0, high=1_000_000),
    Param("timeout_ms", float, 400.0, "a web server gives up on a request after this long (ms)",
          low=1.0, high=600_000),
    Param("retries", int, 2, "retries after a timeout (same idempotent request)", low=0, high=20),
    Param("breaker", bool, True, "circuit breaker in front of the inventory (fail fast when it drowns)"),
    Param("breaker_failures", int, 5, "consecutive failures that open the breaker", low=1, high=10_000),
    Param("breaker_open_ms", float, 500.0, "how long an open breaker fails fast before a trial (ms)",
          low=1.0, high=600_000),
    Param("loss", float, 0.0, "probability a message is dropped", low=0.0, high=1.0),
    Param("duplicate", float, 0.0, "probability a message is delivered twice", low=0.0, high=1.0),
    Param("faults", str, "", "partitions, clogs and crashes, e.g. 'crash:rs@500-1500' or 'A|B@300-900'"),
    Param("settle_ms", float, 1000.0, "quiet time after the last decision, lease and heal (ms)",
          low=0.0, high=600_000),
    Param("trace", bool, True, "include the full message trace in the result (the digest is always computed)"),
)


def _check_fault_names(faults: FaultSchedule, nodes: dict[str, str], inventory: str) -> None:
    regions = list(dict.fromkeys(nodes.values()))
    allowed = ", ".join(regions + list(nodes))
    names: list[str] = []
    for f in faults.faults:
        if isinstance(f, Crash):
            if f.node not in nodes:
                raise ValueError(f"faults: crash of unknown node {f.node!r} with inventory={inventory}; "
                                 f"allowed: {', '.join(nodes)}")
        elif isinstance(f, Clog):
            names += [f.a, f.b]
        elif isinstance(f, Partition):
            names += [n for g in f.groups for n in g]
    for n in names:
        if n not in nodes and n not in regions:
            raise ValueError(f"faults: unknown node or region {n!r} with inventory={inventory}; allowed: {allowed}")


def _cross_check(p: dict) -> None:
    for name in ("local_latency", "latency", "payment_ms", "service_ms"):
        parse_latency(p[name], name)
    _check_fault_names(parse_faults(p["faults"]), topology(p["inventory"], p["replicas"]), p["inventory"])


# -- the run -----------------------------------------------------------------------------------

@dataclass
class TicketsResult(RunResult):
    """A ticket sale: metrics, every buyer's outcome, and seats remaining over time.

    ``seats_believed[node]``: (time, seats the node believes unsold) for each
    inventory node (replicas, or ``rs``); ``seats_available[node]``: the same minus
    live holds (what it would still hand out); ``seats_truth``: (time, seats minus
    all sales everywhere), negative once oversold.
    """

    buyers: list[BuyerRecord] = field(default_factory=list)
    seats_believed: dict[str, list[tuple[float, int]]] = field(default_factory=dict)
    seats_available: dict[str, list[tuple[float, int]]] = field(default_factory=dict)
    seats_truth: list[tuple[float, int]] = field(default_factory=list)
    sales: list[tuple[float, str, str]] = field(default_factory=list)
    breaker_transitions: list[tuple[float, str, str, str]] = field(default_factory=list)
    trace: list[TraceEvent] = field(default_factory=list)
    faults: FaultSchedule = field(default_factory=FaultSchedule)
    regions: dict[str, str] = field(default_factory=dict)
    end_time: float = 0.0

    def outcome_counts(self) -> dict[str, int]:
        """How many buyers ended each way, in :data:`OUTCOMES` order."""
        counts = {o: 0 for o in OUTCOMES}
        for rec in self.buyers:
            counts[rec.outcome] = counts.get(rec.outcome, 0) + 1
        return counts


def _append(series: list[tuple[float, int]], t: float, value: int) -> None:
    if not series or series[-1][1] != value:
        series.append((t, value))


def _run_tickets(seed: int, p: dict, _hooks: dict) -> TicketsResult:
    """Build the regions, run the sale and the faults, and measure what happened (``TICKETS.run``)."""
    sim = Simulation(seed, trace=True, max_events=EVENT_BUDGET)
    faults = parse_faults(p["faults"])
    net = Network(sim, NetworkOptions(latency=p["latency"], loss=p["loss"], duplicate=p["duplicate"]))
    nodes = topology(p["inventory"], p["replicas"])
    seats, eventual = p["seats"], p["inventory"] == "eventual"
    believed: dict[str, list[tuple[float, int]]] = {}
    available: dict[str, list[tuple[float, int]]] = {}
    truth: list[tuple[float, int]] = [(0.0, seats)]
    inventory: dict[str, ReservationService] = {}

    def on_change(node: ReservationService) -> None:
        now, book = sim.now, node.book
        _append(believed[node.name], now, seats - book.sold - book.external_sold)
        _append(available[node.name], now, seats - book.sold - book.external_sold - book.live_count)
        _append(truth, now, seats - sum(n.book.sold for n in inventory.values()))

    if eventual:
        names = [f"r{i}" for i in range(p["replicas"])]
        for name in names:
            believed[name], available[name] = [(0.0, seats)], [(0.0, seats)]
            inventory[name] = EventualReplica(name, sim, net, seats=seats, lease_ms=p["lease_ms"], peers=names,
                                              sync_interval_ms=p["sync_interval_ms"], region=nodes[name],
                                              on_change=on_change)
    else:
        believed[SERVICE], available[SERVICE] = [(0.0, seats)], [(0.0, seats)]
        inventory[SERVICE] = ReservationService(
            SERVICE, sim, net, seats=seats, lease_ms=p["lease_ms"], capacity=p["capacity"],
            service_time=p["service_ms"], queue_limit=p["queue_limit"], region=nodes[SERVICE], on_change=on_change)

    plans = plan_buyers(sim, p, REGIONS[:p["replicas"]])
    records = {pl.buyer: BuyerRecord(pl.buyer, pl.region, f"web{REGIONS.index(pl.region)}", pl.arrival_ms)
               for pl in plans}
    left = {"undecided": len(plans)}
    finished = sim.env.event()

    def on_decision(_rec: BuyerRecord) -> None:
        left["undecided"] -= 1
        if left["undecided"] == 0 and not finished.triggered:
            finished.succeed()

    webs: list[WebServer] = []
    for i in range(p["replicas"]):
        region = REGIONS[i]
        breaker = (CircuitBreaker(p["breaker_failures"], p["breaker_open_ms"], name=f"web{i}")
                   if p["breaker"] else None)
        webs.append(WebServer(f"web{i}", sim, net, region=region, target=f"r{i}" if eventual else SERVICE,
                              timeout_ms=p["timeout_ms"], retries=p["retries"], breaker=breaker,
                              on_decision=on_decision))
    local = parse_latency(p["local_latency"], "local_latency")
    wide = parse_latency(p["latency"], "latency")
    regions = REGIONS[:p["replicas"]]
    for a in regions:
        for b in regions:
            if a <= b:
                net.set_region_latency(a, b, local if a == b else wide)
    for node in inventory.values():
        if isinstance(node, EventualReplica):
            node.start()
    for pl in plans:
        sim.schedule(pl.arrival_ms, webs[REGIONS.index(pl.region)].arrive, pl, records[pl.buyer])
    net.apply(faults)

    # Every checkout step has a timeout, so all buyers are decided; the cap is a
    # guard against a protocol bug turning into an endless run of gossip timers.
    last_heal = faults.last_heal()
    heal = last_heal if last_heal != math.inf else 0.0
    cap = (max(pl.arrival_ms + pl.payment_ms for pl in plans) + heal
           + 2 * (p["retries"] + 1) * p["timeout_ms"] + p["lease_ms"] + 60_000.0)
    reason = sim.run_bounded(cap, stop_when=finished)
    decided_at = sim.now
    stopped = stop_note(reason, cap, f"{left['undecided']} buyers undecided") if left["undecided"] else ""
    stop = max(sim.now, heal) + p["lease_ms"] + (2 * p["sync_interval_ms"] if eventual else 0.0) + p["settle_ms"]
    if reason != "events" and sim.run_bounded(stop) == "events":
        stopped = stop_note("events", stop, "the settle period (leases expiring, replicas gossiping)")
    for rec in records.values():
        if rec.outcome == "pending":
            rec.outcome, rec.detail = "failed", "no decision"

    sales = sorted((s for node in inventory.values() for s in node.sales), key=lambda s: (s[0], s[1]))
    # The first `seats` confirmations got real seats; anyone confirmed after that
    # holds a ticket for a seat that does not exist.
    for _t, _hold, key in sales[seats:]:
        if records[key].outcome == "sold":
            records[key].outcome = "oversold"
    buyers = list(records.values())
    transitions = [(t, w.name, a, b) for w in webs if w.breaker is not None for t, a, b in w.breaker.transitions]
    transitions.sort(key=lambda x: (x[0], x[1]))
    metrics = _metrics(p, buyers, sales, inventory, webs, net, decided_at)
    return TicketsResult(
        scenario="tickets", seed=seed, params=dict(p), metrics=metrics, trace_digest=sim.trace_digest(),
        buyers=buyers, seats_believed=believed, seats_available=available, seats_truth=truth, sales=sales,
        breaker_transitions=transitions, trace=sim.trace if p["trace"] else [], faults=faults,
        regions=dict(nodes), end_time=sim.now, stopped=stopped)


def _metrics(p: dict, buyers: list[BuyerRecord], sales: list, inventory: dict[str, ReservationService],
             webs: list[WebServer], net: Network, decided_at: float) -> dict[str, Any]:
    seats = p["seats"]
    count = {o: 0 for o in OUTCOMES}
    for rec in buyers:
        count[rec.outcome] += 1
    sold = len(sales)
    acknowledged = {rec.buyer for rec in buyers if rec.outcome in ("sold", "oversold")}
    sold_out_at = next((t for t, _h, _k in sales[seats - 1:seats]), math.nan)
    known = [n.known_sold() for n in inventory.values() if isinstance(n, EventualReplica)]
    service = inventory.get(SERVICE)
    m: dict[str, Any] = {
        "sold": sold,
        "oversold": max(0, sold - seats),
        "unsold_seats": max(0, seats - sold),
        "sold_out_rejections": count["sold-out"],
        "rejected_fast": count["failed-fast"],
        "payment_failures": count["payment-failed"],
        "abandoned": count["abandoned"],
        "confirms_after_expiry": count["expired"],
        "failed": count["failed"],
        "oversold_buyers": count["oversold"],
        "holds_created": sum(len(n.book.holds) for n in inventory.values()),
        "leases_expired": sum(n.book.expired for n in inventory.values()),
        "stranded_reservations": sum(n.book.live_count for n in inventory.values()),
        "sales_unacknowledged": sum(1 for _t, _h, key in sales if key not in acknowledged),
        "last_seat_sold_ms": sold_out_at,
        "all_decided_ms": decided_at,
        "timeouts": sum(w.timeouts for w in webs),
        "breaker_trips": sum(w.breaker.times_opened for w in webs if w.breaker is not None),
        "service_overloaded": service.overloaded if service is not None else 0,
        "service_max_queue": service.max_queue if service is not None else 0,
        "service_skipped_past_deadline": service.skipped_past_deadline if service is not None else 0,
        "replicas_converged": len(set(known)) <= 1,
        "messages": net.sent,
        "messages_dropped": net.dropped,
    }
    # Buyers who walked away never waited for an answer; the time buyers spend paying
    # is the same in both modes, so buyer_latency leaves it out to show the cost of
    # the inventory decision itself, and checkout_latency keeps it.
    decided = [rec for rec in buyers if rec.outcome != "abandoned" and not math.isnan(rec.decision_ms)]
    m.update(latency_summary([rec.latency_ms for rec in decided], "buyer_latency"))
    m.update(latency_summary([rec.checkout_ms for rec in decided], "checkout_latency"))
    return m


TICKETS = register_scenario(Scenario(
    name="tickets",
    summary="the last seat: many buyers, limited seats; eventual local counters oversell, "
            "a leased reservation service does not",
    params=PARAMS,
    runner=_run_tickets,
    cross_check=_cross_check,
    work=lambda p: (p["buyers"], "buyers"),
    max_work=20_000,
))
