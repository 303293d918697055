"""Payments: an eventually consistent balance overdraws under concurrent spends; a single authority does not.

One account holds ``balance``; ``spends`` card payments of ``amount`` each arrive
within ``duration_ms`` at ``replicas`` regional payment nodes (each spend at one
node chosen at random: the family shares a card, or a fraud ring uses a copied one).

* ``mode="eventual"``: each node approves a spend against *its own view* of the
  balance (the initial balance minus the spends it knows about) and tells the
  other nodes about its approvals every ``sync_interval_ms``.  A decision is
  instant and needs no other node, and two nodes that have not heard from each
  other both approve against money that only one of them may spend.
* ``mode="reservation"``: one authority (``bank``, in the first node's region)
  owns the balance as a :class:`~consistency_lab.patterns.reservations.ReservationService`
  whose "seats" are the ``balance // amount`` spends it can pay for.  A node asks
  it for a hold (``Reserve``); a hold approves the spend, which is then confirmed;
  "sold-out" refuses it for lack of funds.  The price: a round trip to the
  authority's region (``wan_ms`` each way from the other regions) before every
  answer, and no answer at all while the authority is down
  (``authority_down_at`` / ``authority_down_ms``): those spends time out after
  ``timeout_ms`` and are refused as unavailable.

Metrics: approved, refused for funds, unavailable, **overdrafts** (approved spends
beyond what the balance covers), the amount overdrawn, decision latency p50/p99
and availability (the share of spends answered, yes or a justified no).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..faults import Crash, FaultSchedule
from ..latency import Constant
from ..metrics import latency_summary, rate
from ..network import Network, NetworkOptions
from ..node import Message, Node
from ..patterns.reservations import Confirm, Reserve, ReservationService
from ..sim import Simulation
from . import register_scenario
from .base import EVENT_BUDGET, Param, RunResult, Scenario, stop_note

__all__ = ["PaymentsResult", "PAYMENTS", "MODES"]

MODES = ("eventual", "reservation")
#: One-way delay inside a region (ms).
LOCAL_MS = 1.0

PARAMS = (
    Param("mode", str, "eventual", "approve against each node's own view, or ask one authority",
          choices=MODES),
    Param("balance", int, 1_000, "money on the account at the start", low=1, high=10_000_000),
    Param("amount", int, 50, "amount of every spend (at most the balance)", low=1, high=10_000_000),
    Param("spends", int, 40, "card payments attempted", low=0, high=20_000),
    Param("replicas", int, 3, "regional payment nodes, one region each", low=1, high=10),
    Param("duration_ms", float, 500.0, "the spends arrive within this time (ms)", low=1.0, high=3_600_000.0),
    Param("sync_interval_ms", float, 100.0, "eventual: how often a node tells the others its approvals (ms)",
          low=1.0, high=600_000.0),
    Param("wan_ms", float, 40.0, "one-way delay between two regions (ms)", low=0.0, high=10_000.0),
    Param("timeout_ms", float, 500.0, "reservation: a node stops waiting for the authority after this long (ms)",
          low=1.0, high=600_000.0),
    Param("lease_ms", float, 5_000.0, "reservation: how long a hold lasts unconfirmed (ms)", low=1.0,
          high=600_000.0),
    Param("authority_down_at", float, 0.0, "reservation: when the authority crashes (ms)", low=0.0,
          high=3_600_000.0),
    Param("authority_down_ms", float, 0.0, "reservation: how long it stays down (ms; 0 = never)", low=0.0,
          high=3_600_000.0),
)


def _cross_check(p: dict) -> None:
    if p["amount"] > p["balance"]:
        raise ValueError(f"amount={p['amount']} must be at most balance={p['balance']}; allowed: 1 to {p['balance']}")


@dataclass(frozen=True)
class Approvals(Message):
    """Spends a node approved since its last sync (ids), for the other nodes' views."""

    spend_ids: tuple[int, ...] = ()


@dataclass
class PaymentsResult(RunResult):
    """A payments run: metrics, each spend's (arrival ms, node, outcome, decision ms) and the true balance over time."""

    spends: list[tuple[float, str, str, float]] = field(default_factory=list)
    balance_series: list[tuple[float, int]] = field(default_factory=list)


class _Ledger:
    """The truth nobody in eventual mode sees whole: every approval, in time order."""

    def __init__(self, balance: int, amount: int) -> None:
        self.balance, self.amount = balance, amount
        self.approved = 0
        self.series: list[tuple[float, int]] = [(0.0, balance)]
        self.outcomes: dict[int, tuple[float, str, str, float]] = {}

    def decide(self, spend_id: int, arrived: float, node: str, outcome: str, now: float) -> None:
        """Record a spend's outcome once (a late reply after a timeout is ignored)."""
        if spend_id in self.outcomes:
            return
        self.outcomes[spend_id] = (arrived, node, outcome, now - arrived)
        if outcome == "approved":
            self.approved += 1
            self.series.append((now, self.balance - self.approved * self.amount))


class _EventualNode(Node):
    """Approves against its own view and gossips its approvals every ``sync_interval_ms``."""

    def __init__(self, name: str, sim: Simulation, net: Network, *, peers: list[str], ledger: _Ledger,
                 interval_ms: float, region: str) -> None:
        self.peers, self.ledger, self.interval_ms = peers, ledger, interval_ms
        self.known: set[int] = set()
        self.unsent: list[int] = []
        super().__init__(name, sim, net, region=region)
        self.set_timer(interval_ms, self._sync)

    def spend(self, spend_id: int) -> None:
        """Decide at once from the local view."""
        view = self.ledger.balance - len(self.known) * self.ledger.amount
        ok = view >= self.ledger.amount
        if ok:
            self.known.add(spend_id)
            self.unsent.append(spend_id)
        self.ledger.decide(spend_id, self.sim.now, self.name, "approved" if ok else "refused", self.sim.now)

    def on_Approvals(self, msg: Approvals, src: str) -> None:
        """Learn the other node's approvals: the local view drops."""
        self.known.update(msg.spend_ids)

    def _sync(self) -> None:
        if self.unsent:
            self.broadcast(self.peers, Approvals(tuple(self.unsent)))
            self.unsent = []
        self.set_timer(self.interval_ms, self._sync)


class _AuthorityClient(Node):
    """Asks the authority for a hold per spend; a hold approves, then is confirmed."""

    def __init__(self, name: str, sim: Simulation, net: Network, *, ledger: _Ledger, timeout_ms: float,
                 region: str) -> None:
        self.ledger, self.timeout_ms = ledger, timeout_ms
        super().__init__(name, sim, net, region=region)

    def spend(self, spend_id: int) -> None:
        """Reserve the money at the authority; decide on its answer or on the timeout."""
        arrived = self.sim.now

        def answered(reply: Any, _src: str) -> None:
            if reply.status == "held":
                self.ledger.decide(spend_id, arrived, self.name, "approved", self.sim.now)
                self.request("bank", Confirm(self.sim.next_id(), hold_id=reply.hold_id), self.timeout_ms,
                             lambda _r, _s: None)
            else:
                self.ledger.decide(spend_id, arrived, self.name, "refused", self.sim.now)

        self.request("bank", Reserve(self.sim.next_id(), key=f"spend{spend_id}"), self.timeout_ms, answered,
                     lambda: self.ledger.decide(spend_id, arrived, self.name, "unavailable", self.sim.now))


def _run_payments(seed: int, p: dict, hooks: dict) -> PaymentsResult:
    """Run the spends in the chosen mode; count overdrafts, refusals and unavailability.

    Called by ``PAYMENTS.run(seed, **params)`` with validated parameters.
    """
    sim = Simulation(seed, max_events=EVENT_BUDGET)
    net = Network(sim, NetworkOptions(latency=Constant(LOCAL_MS)))
    regions = [f"region{i}" for i in range(p["replicas"])]
    for i, a in enumerate(regions):
        for b in regions[i + 1:]:
            net.set_region_latency(a, b, Constant(p["wan_ms"]))
    ledger = _Ledger(p["balance"], p["amount"])
    names = [f"r{i}" for i in range(p["replicas"])]
    if p["mode"] == "eventual":
        nodes = [_EventualNode(n, sim, net, peers=[m for m in names if m != n], ledger=ledger,
                               interval_ms=p["sync_interval_ms"], region=r) for n, r in zip(names, regions)]
    else:
        ReservationService("bank", sim, net, seats=p["balance"] // p["amount"], lease_ms=p["lease_ms"],
                           region=regions[0])
        nodes = [_AuthorityClient(n, sim, net, ledger=ledger, timeout_ms=p["timeout_ms"], region=r)
                 for n, r in zip(names, regions)]
        start, ms = p["authority_down_at"], p["authority_down_ms"]
        if start + ms > start:  # a window too short to move the clock is no crash at all
            net.apply(FaultSchedule.of([Crash("bank", start, start + ms)]))
    rng = sim.rng("spends")
    arrivals = sorted((rng.uniform(0.0, p["duration_ms"]), rng.randrange(p["replicas"])) for _ in range(p["spends"]))
    for spend_id, (t, at) in enumerate(arrivals):
        sim.schedule(t, nodes[at].spend, spend_id)
    # Every spend is decided by its timeout after it arrives (a crash only makes more of them time out).
    bound = p["duration_ms"] + p["timeout_ms"] + 2 * p["wan_ms"] + 10.0
    step = max(bound / 20, 50.0)
    reason = "time"
    while sim.now < bound and len(ledger.outcomes) < len(arrivals):
        reason = sim.run_bounded(min(bound, sim.now + step))
        if reason in ("events", "idle"):
            break
    outcomes = [ledger.outcomes[i] for i in sorted(ledger.outcomes)]
    covered = p["balance"] // p["amount"]
    answered = sum(o[2] in ("approved", "refused") for o in outcomes)
    metrics: dict[str, Any] = {
        "spends": len(arrivals),
        "approved": ledger.approved,
        "refused_funds": sum(o[2] == "refused" for o in outcomes),
        "unavailable": sum(o[2] == "unavailable" for o in outcomes),
        "overdrafts": max(0, ledger.approved - covered),
        "overdrawn_amount": max(0, ledger.approved * p["amount"] - p["balance"]),
        "final_balance": p["balance"] - ledger.approved * p["amount"],
        "availability": rate(answered, len(arrivals)),
    }
    metrics.update(latency_summary([o[3] for o in outcomes], "decision"))
    unfinished = len(arrivals) - len(outcomes)
    return PaymentsResult(scenario="payments", seed=seed, params=dict(p), metrics=metrics,
                          trace_digest=sim.trace_digest(), spends=outcomes, balance_series=list(ledger.series),
                          stopped=stop_note(reason, bound, f"{unfinished} spends") if unfinished else "")


def _work(p: dict) -> tuple[int, str]:
    """Messages one run may send: spends to every node, plus every node's syncs to every other."""
    syncs = p["replicas"] * (p["replicas"] - 1) * (p["duration_ms"] + p["timeout_ms"]) / p["sync_interval_ms"]
    return round(p["spends"] * p["replicas"] + (syncs if p["mode"] == "eventual" else 0)), \
        "spends × replicas + replicas² × duration_ms / sync_interval_ms"


PAYMENTS = register_scenario(Scenario(
    name="payments",
    summary="an eventually consistent balance overdraws under concurrent spends; one authority does not",
    params=PARAMS,
    runner=_run_payments,
    cross_check=_cross_check,
    work=_work,
    max_work=200_000,
))
