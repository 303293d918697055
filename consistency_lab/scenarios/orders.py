"""Orders as orchestrated sagas: reserve stock, charge the card, ship; undo on failure.

Orders arrive at a steady rate (``order_rps`` over ``duration_ms``, spread like a
Poisson stream) plus an optional burst (``burst_orders`` within ``burst_ms`` from
``burst_at``).  Each order is one saga run by a :class:`SagaOrchestrator` over the
faulty network (loss, duplication): reserve stock at ``stock``, charge the card at
``payment``, book the parcel at ``shipping``.  The payment service declines a share
``decline`` of charges; it may also crash for a while (``payment_crash_at``,
``payment_crash_ms``), and so may the orchestrator (its saga log is durable, so it
resumes every unfinished order when it restarts).

A declined charge or a charge left unanswered after ``max_attempts`` tries sends
the saga down its compensation path: release the stock (and void the charge when
it may have happened).  The metrics are the ones an operator of such a workflow
watches: sagas completed / compensated / stuck, the **compensation rate** (NaN when
no saga finished: "no sagas finished", never 100 %), whether any compensation took
effect twice (it must not, even with duplicated messages), p50/p99 time to finish,
and compensations per second over time (``compensation_series``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from ..faults import Crash, FaultSchedule
from ..latency import Exponential
from ..metrics import percentile
from ..network import Network, NetworkOptions
from ..patterns.saga import SagaOrchestrator, SagaParticipant, SagaRecord, SagaStep, saga_metrics
from ..sim import Simulation
from ..streams.monitors import compensation_rate
from . import register_scenario
from .base import EVENT_BUDGET, Param, RunResult, Scenario, finite_end, stop_note

__all__ = ["OrdersResult", "ORDER_STEPS", "ORDERS", "order_count", "compensation_text"]

#: The saga every order runs, in order.
ORDER_STEPS = (SagaStep("reserve_stock", "stock"), SagaStep("charge_payment", "payment"),
               SagaStep("ship", "shipping"))

PARAMS = (
    Param("order_rps", float, 100.0, "steady order rate (orders per second)", low=0.0, high=2_000.0),
    Param("duration_ms", float, 2_000.0, "how long the steady orders keep arriving (ms)", low=0.0, high=30_000.0),
    Param("burst_orders", int, 0, "extra orders in one burst (0 = no burst)", low=0, high=5_000),
    Param("burst_at", float, 500.0, "when the burst starts (ms)", low=0.0, high=600_000.0),
    Param("burst_ms", float, 200.0, "how long the burst lasts (ms)", low=1.0, high=600_000.0),
    Param("decline", float, 0.05, "probability that the payment service declines a card", low=0.0, high=1.0),
    Param("latency_ms", float, 5.0, "mean one-way network delay (ms, exponential)", low=0.0, high=10_000.0),
    Param("loss", float, 0.0, "probability a message is dropped", low=0.0, high=1.0),
    Param("duplicate", float, 0.0, "probability a message is delivered twice", low=0.0, high=1.0),
    Param("timeout_ms", float, 50.0, "the orchestrator waits this long for a step's answer (ms)",
          low=1.0, high=60_000.0),
    Param("max_attempts", int, 3, "tries of a step before the order is compensated", low=1, high=10),
    Param("undo_attempts", int, 20, "tries of an undo before the order is stuck (needs a human)", low=1, high=50),
    Param("payment_crash_at", float, 0.0, "when the payment service crashes (ms)", low=0.0, high=600_000.0),
    Param("payment_crash_ms", float, 0.0, "how long the payment service stays down (ms; 0 = no crash)",
          low=0.0, high=600_000.0),
    Param("orchestrator_crash_at", float, 0.0, "when the orchestrator crashes (ms)", low=0.0, high=600_000.0),
    Param("orchestrator_crash_ms", float, 0.0, "how long the orchestrator stays down (ms; 0 = no crash)",
          low=0.0, high=600_000.0),
    Param("bucket_ms", float, 100.0, "width of one bucket of the compensations-per-second series (ms)",
          low=10.0, high=60_000.0),
)

#: The most buckets one compensation series may have (keeps a long run with tiny buckets cheap).
MAX_BUCKETS = 100_000


def order_count(p: dict) -> int:
    """How many orders a parameter set places: the steady ones plus the burst."""
    return round(p["order_rps"] * p["duration_ms"] / 1000.0) + p["burst_orders"]


def _workload_end(p: dict) -> float:
    """When the last order arrives or the last crash ends (ms)."""
    burst_end = p["burst_at"] + p["burst_ms"] if p["burst_orders"] else 0.0
    crashes = [p[f"{who}_crash_at"] + p[f"{who}_crash_ms"] for who in ("payment", "orchestrator")
               if p[f"{who}_crash_ms"] > 0]
    return finite_end(p["duration_ms"], burst_end, *crashes)


def _saga_worst_ms(p: dict) -> float:
    """The longest one saga can take while the orchestrator is up: every try of every do and undo times out."""
    steps = len(ORDER_STEPS)
    return steps * (p["max_attempts"] + p["undo_attempts"]) * p["timeout_ms"]


def _cross_check(p: dict) -> None:
    """A compensation series over the whole run must not have more than MAX_BUCKETS buckets."""
    span = _workload_end(p) + 2 * _saga_worst_ms(p)
    if span / p["bucket_ms"] > MAX_BUCKETS:
        least = math.ceil(span / MAX_BUCKETS)
        raise ValueError(f"bucket_ms={p['bucket_ms']:g} must be at least {least} ms for a run that may last "
                         f"{span:.0f} ms; allowed: at most {MAX_BUCKETS} buckets")


@dataclass
class OrdersResult(RunResult):
    """An orders run: metrics, every saga's record and compensations per second over time."""

    sagas: dict = field(default_factory=dict)
    #: (bucket start in s, compensations per second in that bucket), one per bucket of ``bucket_ms``.
    compensation_series: list = field(default_factory=list)
    end_time: float = 0.0


def _arrivals(sim: Simulation, p: dict) -> list[float]:
    """Order times (ms): steady orders uniform over the duration (Poisson, given its count), then the burst."""
    rng = sim.rng("orders")
    steady = round(p["order_rps"] * p["duration_ms"] / 1000.0)
    times = [rng.uniform(0.0, p["duration_ms"]) for _ in range(steady)]
    times += [p["burst_at"] + rng.uniform(0.0, p["burst_ms"]) for _ in range(p["burst_orders"])]
    return sorted(times)


def _series(records: list[SagaRecord], bucket_ms: float, end_ms: float) -> list[tuple[float, float]]:
    """Compensations per second in each bucket: sagas that finished on the compensation path, by finish time."""
    buckets = [0] * max(1, math.ceil(end_ms / bucket_ms))
    for r in records:
        if r.status in ("compensated", "stuck"):
            buckets[min(int(r.finished_at // bucket_ms), len(buckets) - 1)] += 1
    return [(i * bucket_ms / 1000.0, n * 1000.0 / bucket_ms) for i, n in enumerate(buckets)]


def _run_orders(seed: int, p: dict, hooks: dict) -> OrdersResult:
    """Place the orders, run every saga over the faulty network with the crashes, and measure.

    Called by ``ORDERS.run(seed, **params)`` with validated parameters.
    """
    sim = Simulation(seed, max_events=EVENT_BUDGET)
    latency = Exponential(1.0 / p["latency_ms"]) if p["latency_ms"] > 0 else 0.0
    net = Network(sim, NetworkOptions(latency=latency, loss=p["loss"], duplicate=p["duplicate"]))
    orchestrator = SagaOrchestrator("orchestrator", sim, net, timeout_ms=p["timeout_ms"],
                                    max_attempts=p["max_attempts"], max_compensation_attempts=p["undo_attempts"])
    participants = [SagaParticipant("stock", sim, net), SagaParticipant("payment", sim, net, fail_rate=p["decline"]),
                    SagaParticipant("shipping", sim, net)]
    # Fault records, not their text form: any float time is exact.  A window too short to move
    # the clock (start + ms == start) is no crash at all.
    net.apply(FaultSchedule.of([Crash(who, p[f"{who}_crash_at"], p[f"{who}_crash_at"] + p[f"{who}_crash_ms"])
                                for who in ("payment", "orchestrator")
                                if p[f"{who}_crash_at"] + p[f"{who}_crash_ms"] > p[f"{who}_crash_at"]]))
    arrivals = _arrivals(sim, p)
    for i, t in enumerate(arrivals):
        # An order is written to the orchestrator's durable log when it arrives, even while the
        # orchestrator is down: it is driven when the orchestrator comes back.
        sim.schedule(t, orchestrator.start_saga, f"o{i}", ORDER_STEPS)

    # Every saga ends within its worst case once the orchestrator is up; a crash of the
    # orchestrator can make one saga start over, hence twice the worst case after the workload.
    bound = _workload_end(p) + 2 * _saga_worst_ms(p) + 1_000.0
    step = max(bound / 20, 100.0)
    reason = "time"
    while sim.now < bound:
        reason = sim.run_bounded(min(bound, sim.now + step))
        if reason in ("events", "idle") or (len(orchestrator.sagas) == len(arrivals)
                                             and all(r.finished for r in orchestrator.sagas.values())):
            break
    records = list(orchestrator.sagas.values())
    sm = saga_metrics(orchestrator, participants)
    finished = [r for r in records if r.finished]
    took = [r.finished_at - r.started_at for r in finished]
    series = _series(records, p["bucket_ms"], max(sim.now, p["bucket_ms"]))
    unfinished = len(arrivals) - len(finished)
    metrics: dict[str, Any] = {
        "orders": len(arrivals),
        "completed": sm["completed"],
        "compensated": sm["compensated"],
        "stuck": sm["stuck"],
        "unfinished": unfinished,
        "compensation_rate": compensation_rate(sm["compensated"] + sm["stuck"], len(finished)),
        "declined": sum(r.reason not in ("", "no answer") for r in records),
        "timed_out": sum(r.reason == "no answer" for r in records),
        "compensations_applied": sm["compensation_effects"],
        "max_compensations_per_step": sm["max_compensations_per_step"],
        "max_effects_per_step": sm["max_effects_per_step"],
        "retries": sm["retries"],
        "duplicates_suppressed": sm["duplicates_suppressed"],
        "finish_p50_ms": percentile(took, 50),
        "finish_p99_ms": percentile(took, 99),
        "compensations_per_s_max": max((v for _, v in series), default=0.0),
        "messages_dropped": net.dropped,
    }
    return OrdersResult(
        scenario="orders", seed=seed, params=dict(p), metrics=metrics, trace_digest=sim.trace_digest(),
        sagas=dict(orchestrator.sagas), compensation_series=series, end_time=sim.now,
        stopped=stop_note(reason, bound, f"{unfinished} orders") if unfinished else "")


def compensation_text(m: dict) -> str:
    """The compensation rate as an operator should read it: no finished saga means no rate."""
    rate = m["compensation_rate"]
    return "no sagas finished" if math.isnan(rate) else f"{100 * rate:.1f} %"


ORDERS = register_scenario(Scenario(
    name="orders",
    summary="orders as orchestrated sagas (stock, payment, shipping) under declines, a burst and crashes",
    params=PARAMS,
    runner=_run_orders,
    cross_check=_cross_check,
    # Tries, not orders: with every message lost each order sends up to max_attempts + undo_attempts
    # requests, so this bounds the events of the worst run well below the event budget.
    work=lambda p: (order_count(p) * (p["max_attempts"] + p["undo_attempts"]),
                    "orders × (max_attempts + undo_attempts)"),
    max_work=115_000,  # 5,000 orders at the default 3 + 20 tries
))
