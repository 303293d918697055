"""The same orders by saga and by two-phase commit, with the coordinator crashing at a chosen point.

Each order touches three services: reserve one unit of an item at ``stock`` (orders
share ``items`` items, so they compete for the same rows), charge a card at
``payment`` (declined with probability ``decline``) and book a parcel at ``shipping``.

* ``protocol="saga"``: an orchestrated saga (:mod:`consistency_lab.patterns.saga`):
  the steps one after another, each visible as soon as it is done; a decline is undone
  by compensations.  Nothing is locked, so a reader can see half an order.
* ``protocol="2pc"``: two-phase commit (:mod:`consistency_lab.patterns.two_phase_commit`):
  every service locks its row and votes; nothing is visible until the decision, and a
  service that voted yes holds its lock, in doubt, until it hears the decision.

The coordinator (the saga orchestrator, or the 2PC coordinator) crashes once, when
order ``crash_order`` reaches ``crash_point``, and restarts ``downtime_ms`` later:

=================  ====================================  =====================================
crash_point        2PC                                   saga
=================  ====================================  =====================================
before_prepare     logged, no prepare sent               logged, no step sent
after_prepare      prepares sent, no votes counted       the stock is reserved, payment not asked
after_decision     decision logged, sent to one service  payment answered, shipping not asked
=================  ====================================  =====================================

A reader looks at the unfinished orders every ``read_every_ms`` (the oldest
``READS_PER_PASS`` of them): it sees a
**partial** order (some services changed, not all) or is **blocked** by a lock held in
doubt.  At the end every order must be all-or-nothing in both protocols
(``atomicity_violations`` = 0).  Metrics: committed and aborted orders (``declined``:
aborted by payment), compensations, time locks were held in doubt (total and longest),
lock waits that timed out, partial and blocked reads, time to finish (p50/p99) and throughput.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Callable

from ..latency import Exponential
from ..metrics import percentile
from ..network import Network, NetworkOptions
from ..node import Message
from ..patterns.saga import SagaOrchestrator, SagaParticipant, SagaStep, StepRequest, saga_metrics
from ..patterns.two_phase_commit import Prepare, TwoPCCoordinator, TwoPCParticipant
from ..sim import Simulation
from . import register_scenario
from .base import EVENT_BUDGET, Param, RunResult, Scenario, stop_note

__all__ = ["CommitResult", "COMMIT_PROTOCOLS", "CRASH_POINTS", "PROTOCOLS", "SERVICES"]

PROTOCOLS = ("saga", "2pc")
CRASH_POINTS = ("none", "before_prepare", "after_prepare", "after_decision")
#: The three services every order touches, in saga order.
SERVICES = ("stock", "payment", "shipping")
STEPS = tuple(SagaStep(f"{s}_step", s) for s in SERVICES)
#: How often the 2PC coordinator resends a decision before it gives up (never, on a reliable network).
DECISION_ATTEMPTS = 50
#: Tries per saga step: the orchestrator's defaults (3 for a do, 20 for an undo).
SAGA_TRIES = 3 + 20
#: The reader looks at no more than this many unfinished orders per pass (the oldest first), and
#: makes at most MAX_PASSES passes in a run: together they bound its work.
READS_PER_PASS = 50
MAX_PASSES = 20_000

PARAMS = (
    Param("protocol", str, "2pc", "how an order is made atomic", choices=PROTOCOLS),
    Param("orders", int, 200, "how many orders arrive", low=0, high=2_000),
    Param("order_rps", float, 100.0, "order arrival rate (orders per second)", low=1.0, high=2_000.0),
    Param("items", int, 5, "distinct items the orders share (fewer = more orders on one stock row)",
          low=1, high=10_000),
    Param("decline", float, 0.05, "probability that payment declines a card", low=0.0, high=1.0),
    Param("latency_ms", float, 5.0, "mean one-way network delay (ms, exponential)", low=0.0, high=1_000.0),
    Param("timeout_ms", float, 100.0, "the coordinator waits this long for a vote or a step's answer (ms)",
          low=1.0, high=10_000.0),
    Param("lock_wait_ms", float, 200.0, "2PC: a service waits this long for a locked row before voting no (ms)",
          low=1.0, high=10_000.0),
    Param("crash_point", str, "after_prepare", "where the coordinator crashes (in order crash_order)",
          choices=CRASH_POINTS),
    Param("crash_order", int, 50, "the order whose progress triggers the crash", low=0, high=1_999),
    Param("downtime_ms", float, 500.0, "how long the coordinator stays down (ms)", low=0.0, high=60_000.0),
    Param("read_every_ms", float, 10.0, "a reader looks at every unfinished order this often (ms)",
          low=1.0, high=1_000.0),
)


def _bound(p: dict) -> float:
    """The virtual-time bound (ms): the last arrival, the downtime, twice one order's worst case, a margin."""
    per_order = (len(SERVICES) * SAGA_TRIES * p["timeout_ms"] if p["protocol"] == "saga"
                 else p["timeout_ms"] * (DECISION_ATTEMPTS + 1) + p["lock_wait_ms"])
    return p["orders"] / p["order_rps"] * 1000.0 + p["downtime_ms"] + 2 * per_order + 1_000.0


def _cross_check(p: dict) -> None:
    """The crash must be triggered by an order that exists; the reader may not make more than MAX_PASSES passes."""
    if p["crash_point"] != "none" and p["crash_order"] >= p["orders"]:
        raise ValueError(f"crash_order={p['crash_order']} must be below orders={p['orders']}; "
                         f"allowed: 0 to {max(p['orders'] - 1, 0)}, or crash_point='none'")
    bound = _bound(p)
    if bound / p["read_every_ms"] > MAX_PASSES:
        least = math.ceil(bound / MAX_PASSES)
        raise ValueError(f"read_every_ms={p['read_every_ms']:g} must be at least {least} ms for a run that may "
                         f"last {bound:.0f} ms; allowed: at most {MAX_PASSES:,} reader passes")


@dataclass
class CommitResult(RunResult):
    """A commit-protocols run: metrics, each order's outcome and a reader's view over time."""

    #: order id -> "committed", "aborted" or "unfinished".
    outcomes: dict = field(default_factory=dict)
    #: (time ms, locks held in doubt, orders seen partial), one per reader pass.
    samples: list = field(default_factory=list)
    #: (crash ms, restart ms), or None when the coordinator never crashed.
    crash_window: Any = None
    end_time: float = 0.0


class _Orders:
    """The workload both protocols run: arrival times and the item each order reserves."""

    def __init__(self, sim: Simulation, p: dict) -> None:
        rng = sim.rng("orders")
        span = p["orders"] / p["order_rps"] * 1000.0
        self.times = sorted(rng.uniform(0.0, span) for _ in range(p["orders"]))
        self.items = [rng.randrange(p["items"]) for _ in range(p["orders"])]
        self.ids = [f"o{i}" for i in range(p["orders"])]
        # A declined card belongs to the order, not to the protocol: both decline the same orders.
        cards = sim.rng("cards")
        self.declined = {oid for oid in self.ids if cards.random() < p["decline"]}

    def keys(self, i: int) -> tuple[tuple[str, str], ...]:
        """(service, key) per service: the item's stock row, this order's card charge and parcel."""
        oid = self.ids[i]
        return (("stock", f"item{self.items[i]}"), ("payment", f"card/{oid}"), ("shipping", f"parcel/{oid}"))


class _SagaPayment(SagaParticipant):
    """The saga's payment service: it declines exactly the orders whose card the workload declined."""

    declined: frozenset = frozenset()

    def on_StepRequest(self, msg: StepRequest, src: str) -> None:
        """Answer as a participant with a refusal rate of 1 for a declined card and 0 for any other."""
        self.fail_rate = 1.0 if msg.saga_id in self.declined else 0.0
        super().on_StepRequest(msg, src)


class _TwoPCPayment(TwoPCParticipant):
    """The 2PC payment service: it votes no for exactly the orders whose card the workload declined."""

    declined: frozenset = frozenset()

    def on_Prepare(self, msg: Prepare, src: str) -> None:
        """Vote as a participant with a refusal rate of 1 for a declined card and 0 for any other."""
        self.refuse_rate = 1.0 if msg.txn_id in self.declined else 0.0
        super().on_Prepare(msg, src)


class _CrashingOrchestrator(SagaOrchestrator):
    """A saga orchestrator that tells an observer after each message it handles (to crash at a point)."""

    after_message: Callable[[], None] = staticmethod(lambda: None)

    def receive(self, msg: Message, src: str) -> None:
        """Handle the message as usual, then let the observer look at the saga log."""
        super().receive(msg, src)
        self.after_message()


class _Crasher:
    """Crashes the coordinator once, when the chosen order reaches the chosen point; restarts it later."""

    def __init__(self, sim: Simulation, p: dict, order_id: str) -> None:
        self.sim, self.point, self.order_id, self.downtime = sim, p["crash_point"], order_id, p["downtime_ms"]
        self.node: Any = None
        self.window: Any = None

    def fire(self) -> None:
        """Crash the coordinator now and schedule its restart (once per run; never with crash_point none)."""
        if self.window is not None or self.point == "none":
            return
        self.window = (self.sim.now, self.sim.now + self.downtime)
        self.node.crash()
        self.sim.schedule(self.downtime, self.node.restart)

    def on_2pc_phase(self, txn_id: str, phase: str) -> None:
        """The 2PC coordinator's observer: crash when the chosen order reaches the chosen phase."""
        wanted = {"before_prepare": "begin", "after_prepare": "prepared", "after_decision": "decided"}
        if txn_id == self.order_id and wanted.get(self.point) == phase:
            self.fire()

    def saga_progress(self) -> None:
        """The orchestrator's observer: crash once the chosen order's step 1 (or step 2) has been answered."""
        record = self.node.sagas.get(self.order_id)
        if record is None or self.window is not None:
            return
        if self.point == "after_prepare" and record.done:
            self.fire()
        elif self.point == "after_decision" and (record.position >= 2 or record.status != "running"):
            self.fire()


def _run_commit_protocols(seed: int, p: dict, hooks: dict) -> CommitResult:
    """Place the orders, run them by saga or by 2PC with the crash, watch with the reader, and measure.

    Called by ``COMMIT_PROTOCOLS.run(seed, **params)`` with validated parameters.
    """
    sim = Simulation(seed, max_events=EVENT_BUDGET)
    latency = Exponential(1.0 / p["latency_ms"]) if p["latency_ms"] > 0 else 0.0
    net = Network(sim, NetworkOptions(latency=latency))
    work = _Orders(sim, p)
    crasher = _Crasher(sim, p, work.ids[p["crash_order"]] if p["crash_order"] < p["orders"] else "")
    saga = p["protocol"] == "saga"
    if saga:
        coord: Any = _CrashingOrchestrator("coordinator", sim, net, timeout_ms=p["timeout_ms"])
        coord.after_message = crasher.saga_progress
        parts: list[Any] = [SagaParticipant("stock", sim, net), _SagaPayment("payment", sim, net),
                            SagaParticipant("shipping", sim, net)]
    else:
        coord = TwoPCCoordinator("coordinator", sim, net, vote_timeout_ms=p["timeout_ms"],
                                 decision_timeout_ms=p["timeout_ms"], max_decision_attempts=DECISION_ATTEMPTS,
                                 on_phase=crasher.on_2pc_phase)
        parts = [cls(s, sim, net, lock_wait_ms=p["lock_wait_ms"])
                 for s, cls in zip(SERVICES, (TwoPCParticipant, _TwoPCPayment, TwoPCParticipant))]
    parts[1].declined = frozenset(work.declined)
    crasher.node = coord

    def arrive(i: int) -> None:
        oid = work.ids[i]
        if saga:
            # "before_prepare": the order is in the log, the crash comes before its first step is sent.
            # The log is durable: while the orchestrator is down start_saga only records the order.
            if crasher.point == "before_prepare" and oid == crasher.order_id:
                crasher.fire()
            coord.start_saga(oid, STEPS)
        else:
            coord.begin(oid, work.keys(i))
        active.append(i)

    # The saga's idempotency keys, one per service, made once (the reader asks for them often).
    step_keys = [[f"{oid}/{st.name}" for st in STEPS] for oid in work.ids] if saga else []

    def effects(i: int) -> list[int]:
        """How many times each service's change for order i is in effect now."""
        if saga:
            return [int(bool(pt.outcomes.get(key)) and not pt.undone.get(key, False))
                    for pt, key in zip(parts, step_keys[i])]
        oid = work.ids[i]
        return [pt.applied.get(oid, 0) for pt in parts]

    def finished(i: int) -> bool:
        rec = coord.sagas[work.ids[i]] if saga else coord.log[work.ids[i]]
        return rec.finished

    active: list[int] = []
    reads = {"reads": 0, "partial": 0, "blocked": 0}
    seen_partial: set[str] = set()
    samples: list[tuple[float, int, int]] = []

    def read_pass() -> None:
        # The reader looks at the oldest unfinished orders, at most READS_PER_PASS of them, and drops
        # the finished ones it passes over: each order is dropped once, so a pass stays cheap.
        looked: list[int] = []
        j = 0
        while j < len(active) and len(looked) < READS_PER_PASS:
            if not finished(active[j]):
                looked.append(active[j])
            j += 1
        active[:j] = looked
        partial = blocked = 0
        for i in looked:
            reads["reads"] += 1
            oid = work.ids[i]
            if not saga and any(pt.in_doubt(oid) for pt in parts):
                blocked += 1
            elif 0 < sum(1 for n in effects(i) if n) < len(SERVICES):
                partial += 1
                seen_partial.add(oid)
        reads["partial"] += partial
        reads["blocked"] += blocked
        in_doubt = 0 if saga else sum(len(pt.prepared) for pt in parts)
        samples.append((sim.now, in_doubt, partial))
        sim.schedule(p["read_every_ms"], read_pass)

    for i, t in enumerate(work.times):
        sim.schedule(t, arrive, i)
    sim.schedule(0.0, read_pass)

    bound = _bound(p)
    step = max(bound / 20, 100.0)
    reason = "time"
    while sim.now < bound:
        reason = sim.run_bounded(min(bound, sim.now + step))
        logged = len(coord.sagas if saga else coord.log)
        if logged == len(work.ids) and all(finished(i) for i in range(logged)):
            reason = "done"
            break
        if reason in ("events", "idle"):
            break

    records = [coord.sagas.get(oid) if saga else coord.log.get(oid) for oid in work.ids]
    outcomes: dict[str, str] = {}
    violations = 0
    for i, (oid, rec) in enumerate(zip(work.ids, records)):
        n = effects(i)
        if any(x > 1 for x in n) or 0 < sum(1 for x in n if x) < len(SERVICES):
            violations += 1
        if rec is None or not rec.finished:
            outcomes[oid] = "unfinished"
        elif all(n):
            outcomes[oid] = "committed"
        else:
            outcomes[oid] = "aborted"
    committed = sum(v == "committed" for v in outcomes.values())
    unfinished = sum(v == "unfinished" for v in outcomes.values())
    took = [(r.finished_at - (r.started_at if saga else r.arrived_at)) for r in records if r is not None and r.finished]
    last = max((r.finished_at for r in records if r is not None and r.finished), default=0.0)
    spans = [] if saga else [end - start for pt in parts for _t, _k, start, end in pt.in_doubt_spans]
    # A lock still held at the end counts as held until now: the run cannot hide a stuck participant.
    spans += [] if saga else [sim.now - since for pt in parts for _k, since in pt.prepared.values()]
    waits = [] if saga else [w for pt in parts for w in pt.lock_waits]
    compensations = saga_metrics(coord, parts)["compensation_effects"] if saga else 0
    orders = len(work.ids)
    metrics: dict[str, Any] = {
        "orders": orders,
        "committed": committed,
        "aborted": orders - committed - unfinished,
        "unfinished": unfinished,
        "atomicity_violations": violations,
        "declined": sum(1 for r in records if r is not None and r.reason == "refused"),
        "compensations": compensations,
        "compensations_per_1000": 1000.0 * compensations / orders if orders else math.nan,
        "in_doubt_total_ms": sum(spans),
        "in_doubt_max_ms": max(spans, default=0.0),
        "lock_wait_p99_ms": percentile(waits, 99) if waits else 0.0,
        "lock_timeouts": 0 if saga else sum(pt.lock_timeouts for pt in parts),
        "reads": reads["reads"],
        "partial_reads": reads["partial"],
        "orders_seen_partial": len(seen_partial),
        "blocked_reads": reads["blocked"],
        "finish_p50_ms": percentile(took, 50),
        "finish_p99_ms": percentile(took, 99),
        "throughput_per_s": 1000.0 * committed / last if last > 0 else 0.0,
    }
    return CommitResult(
        scenario="commit_protocols", seed=seed, params=dict(p), metrics=metrics, trace_digest=sim.trace_digest(),
        outcomes=outcomes, samples=samples, crash_window=crasher.window, end_time=sim.now,
        stopped=stop_note(reason, bound, f"{unfinished} orders") if unfinished else "")


COMMIT_PROTOCOLS = register_scenario(Scenario(
    name="commit_protocols",
    summary="the same orders by saga and by two-phase commit, the coordinator crashing at a chosen point",
    params=PARAMS,
    runner=_run_commit_protocols,
    cross_check=_cross_check,
    work=lambda p: (p["orders"], "orders"),
    max_work=2_000,
))
