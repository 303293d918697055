"""Overload: a strongly consistent store behind web and app tiers, clients that retry, a bad index.

Requests arrive at ``rps`` per second (exponential gaps) for ``duration_ms`` and travel
``client -> web -> app -> store``.  The store has ``workers`` servers, a service time
``service_ms`` and a queue of at most ``queue_limit`` (more are refused "overloaded"); its
capacity is ``workers / mean service time``.  Each hop waits for the one below for its own
timeout (``client_timeout_ms``, ``web_timeout_ms``, ``app_timeout_ms``); a hop that times
out answers "timeout" and forgets the request, while the hops below keep working on it.

Clients retry failed attempts by ``retry`` (``none``, ``immediate``, ``backoff``: exponential
with full jitter between 0 and ``min(backoff_cap_ms, backoff_base_ms * 2**(n-1))``), at most
``retries`` times, and with ``retry_budget`` at most ``budget_ratio`` retries per request
within a one-second window (plus ten).  ``breaker`` puts the course's
:class:`~consistency_lab.patterns.circuit_breaker.CircuitBreaker` on the app tier in front
of the store; ``shedding`` lets the store refuse work early (``queue``: more than
``shed_queue`` waiting; ``deadline``: the expected wait overruns the app's timeout).

The "misconfigured index": requests the store starts in the ``index_fault_ms`` after
``index_fault_start_ms`` take ``index_slowdown`` times as long.

Metrics: ``success_rate`` (requests answered "ok", retries included), ``latency_p50_ms`` /
``latency_p99_ms`` / ``latency_p999_ms`` of the successful requests (arrival to answer),
``goodput_rps`` (successes per second of the load window), ``retries_sent``,
``wasted_work_ms`` and ``wasted_share`` (store work on requests some hop had already
abandoned), the store's measured ``store_utilisation``, ``store_mean_queue_length`` and
``store_mean_wait_ms`` over the load window, how requests failed (the hops' counts run
until the store has drained its backlog), and ``fault_success_rate`` /
``fault_goodput_rps`` for the requests that arrived during the index fault.

A run offers at most 30,000 attempts (expected requests x (retries + 1), no retries with
``retry="none"``); it ends when
every request is decided (each attempt ends by the client's timeout) and the store has
finished what it accepted, or when a bound stops it, which ``stopped`` then says.

Hops are scheduled callbacks on the simulation, not network messages: the lesson is the
queue, and a request costs about ten events, so a run holds tens of thousands of them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from ..latency import parse_latency
from ..metrics import percentile, rate
from ..patterns.circuit_breaker import CircuitBreaker
from ..patterns.overload import RequestRecord, RetryingClient, Tier
from ..patterns.retry import RETRY_POLICIES, RetryBudget, RetryPolicy
from ..patterns.service import OUTCOMES, SHEDDING_MODES, CapacityService, Slowdown
from ..sim import Simulation
from . import register_scenario
from .base import EVENT_BUDGET, Param, RunResult, Scenario, stop_note

__all__ = ["OverloadResult", "OVERLOAD"]

PARAMS = (
    Param("rps", float, 600.0, "offered load: new requests per second (exponential gaps)", low=1.0, high=100_000),
    Param("duration_ms", float, 5000.0, "requests arrive for this long (ms)", low=1.0, high=600_000),
    Param("workers", int, 8, "store: requests it works on at once", low=1, high=10_000),
    Param("service_ms", str, "exp:10", "store: time to serve one request (ms)"),
    Param("queue_limit", int, 1000, "store: requests allowed to wait; more are refused 'overloaded'",
          low=0, high=1_000_000),
    Param("shedding", str, "off", "store: refuse early when the queue is long (queue) or the "
          "expected wait overruns the app's timeout (deadline)", choices=SHEDDING_MODES),
    Param("shed_queue", int, 50, "shedding=queue: refuse when this many requests wait", low=0, high=1_000_000),
    Param("client_timeout_ms", float, 1000.0, "a client gives up on an attempt after this long (ms)",
          low=1.0, high=600_000),
    Param("web_timeout_ms", float, 800.0, "web waits this long for app (ms)", low=1.0, high=600_000),
    Param("app_timeout_ms", float, 600.0, "app waits this long for the store (ms)", low=1.0, high=600_000),
    Param("link_ms", str, "0.5", "one-way delay between web and app, and app and store (ms)"),
    Param("retry", str, "none", "what a client does after a failed attempt", choices=RETRY_POLICIES),
    Param("retries", int, 3, "most retries per request", low=0, high=20),
    Param("backoff_base_ms", float, 50.0, "backoff: the first retry waits up to this long (ms)",
          low=0.001, high=600_000),
    Param("backoff_cap_ms", float, 2000.0, "backoff: no retry waits longer than this (ms)",
          low=0.001, high=600_000),
    Param("retry_budget", bool, False, "limit retries to budget_ratio of requests (per second)"),
    Param("budget_ratio", float, 0.1, "retry budget: retries allowed per request", low=0.0, high=20.0),
    Param("breaker", bool, False, "circuit breaker on the app tier, in front of the store"),
    Param("breaker_failures", int, 20, "consecutive failures that open the breaker", low=1, high=10_000),
    Param("breaker_open_ms", float, 250.0, "how long an open breaker fails fast before a trial (ms)",
          low=1.0, high=600_000),
    Param("index_fault_start_ms", float, 2000.0, "the misconfigured index slows the store from (ms)",
          low=0.0, high=600_000),
    Param("index_fault_ms", float, 1000.0, "... for this long (ms)", low=0.0, high=600_000),
    Param("index_slowdown", float, 1.0, "service times are multiplied by this during the fault (1 = no fault)",
          low=1.0, high=1000.0),
    Param("sample_ms", float, 50.0, "queue length and busy workers are sampled this often (ms)",
          low=1.0, high=600_000),
)


def _cross_check(p: dict) -> None:
    for name in ("service_ms", "link_ms"):
        parse_latency(p[name], name)
    if p["duration_ms"] / p["sample_ms"] > 20_000:
        raise ValueError(f"sample_ms={p['sample_ms']:g} must be at least duration_ms / 20000 = "
                         f"{p['duration_ms'] / 20_000:g} ms")


def _work(p: dict) -> tuple[int, str]:
    """Expected requests times the most attempts each may make: the most the store may be asked to do."""
    retries = 0 if p["retry"] == "none" else p["retries"]
    return math.ceil(p["rps"] * p["duration_ms"] / 1000.0) * (retries + 1), "requests x (retries + 1)"


@dataclass
class OverloadResult(RunResult):
    """An overload run: every request's record and the store's queue over time.

    ``samples``: (time ms, requests waiting, busy workers) every ``sample_ms``;
    ``breaker_transitions``: (time, from, to) of the app tier's breaker.
    """

    requests: list[RequestRecord] = field(default_factory=list)
    samples: list[tuple[float, int, int]] = field(default_factory=list)
    breaker_transitions: list[tuple[float, str, str]] = field(default_factory=list)
    end_time: float = 0.0

    def success_over_time(self, bin_ms: float = 250.0) -> list[tuple[float, float, int]]:
        """(bin start ms, success rate, requests) of the requests that arrived in each bin."""
        if not bin_ms > 0:
            raise ValueError(f"bin_ms={bin_ms!r} must be a number > 0 ms")
        bins: dict[int, list[int]] = {}
        for rec in self.requests:
            b = bins.setdefault(int(rec.arrival_ms // bin_ms), [0, 0])
            b[0] += rec.outcome == "ok"
            b[1] += 1
        return [(k * bin_ms, ok / n, n) for k, (ok, n) in sorted(bins.items())]

    def latency_over_time(self, bin_ms: float = 250.0,
                          qs: tuple[float, ...] = (50, 99, 99.9)) -> list[tuple[float, list[float]]]:
        """(bin start ms, latency percentiles of its successful requests) per bin of arrivals (NaN: none succeeded)."""
        if not bin_ms > 0:
            raise ValueError(f"bin_ms={bin_ms!r} must be a number > 0 ms")
        bins: dict[int, list[float]] = {}
        for rec in self.requests:
            b = bins.setdefault(int(rec.arrival_ms // bin_ms), [])
            if rec.outcome == "ok":
                b.append(rec.latency_ms)
        return [(k * bin_ms, [percentile(ok, q) for q in qs]) for k, ok in sorted(bins.items())]


def _run_overload(seed: int, p: dict, _hooks: dict) -> OverloadResult:
    """Offer the load through the chain, let the store drain, and measure (``OVERLOAD.run``)."""
    sim = Simulation(seed, trace=True, max_events=EVENT_BUDGET)
    service = parse_latency(p["service_ms"], "service_ms")
    fault_end = p["index_fault_start_ms"] + p["index_fault_ms"]
    slowdown = Slowdown(p["index_fault_start_ms"], fault_end, p["index_slowdown"])
    store = CapacityService("store", sim, workers=p["workers"], service_time=service,
                            queue_limit=p["queue_limit"], shedding=p["shedding"], shed_queue=p["shed_queue"],
                            slowdown=slowdown if p["index_slowdown"] > 1.0 else None, rng=sim.rng("store"))
    breaker = CircuitBreaker(p["breaker_failures"], p["breaker_open_ms"], name="app") if p["breaker"] else None
    app = Tier("app", sim, store, timeout_ms=p["app_timeout_ms"], link=p["link_ms"], breaker=breaker,
               rng=sim.rng("link/app"))
    web = Tier("web", sim, app, timeout_ms=p["web_timeout_ms"], link=p["link_ms"], rng=sim.rng("link/web"))
    policy = RetryPolicy(p["retry"], p["retries"], p["backoff_base_ms"], p["backoff_cap_ms"])
    budget = RetryBudget(p["budget_ratio"], window_ms=1000.0, min_retries=10) if p["retry_budget"] else None
    left = {"undecided": 0, "arriving": True}
    finished = sim.env.event()

    def on_done(rec: RequestRecord) -> None:
        sim.record("note", "client", "", rec.outcome, rec.request_id, f"attempts={rec.attempts}")
        left["undecided"] -= 1
        if left["undecided"] == 0 and not left["arriving"] and not finished.triggered:
            finished.succeed()

    client = RetryingClient(sim, web, timeout_ms=p["client_timeout_ms"], policy=policy, budget=budget,
                            rng=sim.rng("retry"), on_done=on_done)
    arrivals = sim.rng("arrivals")
    per_ms = p["rps"] / 1000.0
    duration = p["duration_ms"]

    def arrive(request_id: int) -> None:
        left["undecided"] += 1
        client.start(request_id)
        nxt = sim.now + arrivals.expovariate(per_ms)
        if nxt < duration:
            sim.schedule(nxt - sim.now, arrive, request_id + 1)
        else:
            left["arriving"] = False
            if left["undecided"] == 0 and not finished.triggered:
                finished.succeed()

    samples: list[tuple[float, int, int]] = []

    def sample() -> None:
        samples.append((sim.now, store.queue_length, store.busy))
        if sim.now + p["sample_ms"] <= duration:
            sim.schedule(p["sample_ms"], sample)

    first = arrivals.expovariate(per_ms)
    if first < duration:
        sim.schedule(first, arrive, 0)
    else:
        left["arriving"] = False
        finished.succeed()
    sim.schedule(0.0, sample)
    window: dict[str, dict] = {}  # the store's queue statistics over the load window, not the drain after it
    sim.schedule(duration, lambda: window.setdefault("stats", store.stats()))

    # Every attempt ends by the client's timeout; a request makes at most retries + 1
    # attempts, each after a backoff of at most the cap.
    per_attempt = p["client_timeout_ms"] + (p["backoff_cap_ms"] if p["retry"] == "backoff" else 0.0)
    cap = duration + (p["retries"] + 1) * per_attempt + 1000.0
    reason = sim.run_bounded(cap, stop_when=finished)
    stopped = stop_note(reason, cap, f"{left['undecided']} requests undecided") if reason != "done" else ""
    decided_at = sim.now
    # Then let the store finish what it had already accepted: abandoned work still costs.
    mean = service.mean() * p["index_slowdown"]
    drain = sim.now + min(3_600_000.0, (p["queue_limit"] + p["workers"]) * max(mean, 1.0) + 10_000.0)
    if reason != "events" and not store.idle:
        drained = sim.env.event()
        store.on_idle = lambda: None if drained.triggered else drained.succeed()
        why = sim.run_bounded(drain, stop_when=drained)
        if why in ("events", "time"):
            stopped = stop_note(why, drain, f"the store's backlog ({store.queue_length + store.busy} requests)")
    metrics = _metrics(p, client, store, web, app, decided_at, window.get("stats", store.stats()))
    return OverloadResult(
        scenario="overload", seed=seed, params=dict(p), metrics=metrics, trace_digest=sim.trace_digest(),
        requests=client.records, samples=samples,
        breaker_transitions=list(breaker.transitions) if breaker is not None else [],
        end_time=sim.now, stopped=stopped)


def _metrics(p: dict, client: RetryingClient, store: CapacityService, web: Tier, app: Tier,
             decided_at: float, during: dict[str, float]) -> dict[str, Any]:
    records = client.records
    ok = [rec.latency_ms for rec in records if rec.outcome == "ok"]
    failed = {o: sum(1 for rec in records if rec.outcome == o) for o in OUTCOMES if o != "ok"}
    stats = store.stats()
    mean_service = parse_latency(p["service_ms"], "service_ms").mean()
    capacity = p["workers"] / mean_service * 1000.0 if mean_service > 0 else math.inf
    attempts = sum(rec.attempts for rec in records)
    m: dict[str, Any] = {
        "requests": len(records),
        "succeeded": len(ok),
        "success_rate": rate(len(ok), len(records)),
        "latency_p50_ms": percentile(ok, 50),
        "latency_p99_ms": percentile(ok, 99),
        "latency_p999_ms": percentile(ok, 99.9),
        "goodput_rps": len(ok) / (p["duration_ms"] / 1000.0),
        "offered_rps": p["rps"],
        "capacity_rps": capacity,
        "offered_utilisation": p["rps"] / capacity if capacity else math.inf,
        "attempts": attempts,
        "retries_sent": client.retries_sent,
        "retries_refused_by_budget": client.retries_refused,
        "failed_timeout": failed["timeout"],
        "failed_overloaded": failed["overloaded"],
        "failed_shed": failed["shed"],
        "failed_breaker_open": failed["breaker-open"],
        "web_timeouts": web.counts["timeout"],
        "app_timeouts": app.counts["timeout"],
        "breaker_rejections": app.counts["breaker-open"],
        "breaker_trips": app.breaker.times_opened if app.breaker is not None else 0,
        "store_arrivals": stats["arrivals"],
        "store_completed": stats["completed"],
        "store_overloaded": stats["overloaded"],
        "store_shed": stats["shed"],
        "store_utilisation": during["utilisation"],
        "store_mean_queue_length": during["mean_queue_length"],
        "store_mean_wait_ms": during["mean_wait_ms"],
        "work_ms": stats["work_ms"],
        "wasted_work_ms": stats["wasted_ms"],
        "wasted_share": rate(stats["wasted_ms"], stats["work_ms"]),
        "all_decided_ms": decided_at,
    }
    # The same for the requests that arrived while the index was slow (NaN without a fault).
    start = p["index_fault_start_ms"]
    end = min(start + p["index_fault_ms"], p["duration_ms"])
    during_fault = [rec for rec in records if start <= rec.arrival_ms < end] if p["index_slowdown"] > 1.0 else []
    fault_ok = sum(1 for rec in during_fault if rec.outcome == "ok")
    m["fault_success_rate"] = rate(fault_ok, len(during_fault))
    m["fault_goodput_rps"] = fault_ok / ((end - start) / 1000.0) if during_fault else math.nan
    return m


OVERLOAD = register_scenario(Scenario(
    name="overload",
    summary="a strongly consistent store with finite capacity behind web and app tiers: timeouts cascade, "
            "retries storm, a slow index at peak; backoff, retry budgets, shedding and a breaker",
    params=PARAMS,
    runner=_run_overload,
    cross_check=_cross_check,
    work=_work,
    max_work=30_000,
))
