"""Logistics: one workload of package scans and route analytics, built three ways.

Depots scan packages at ``scan_rps`` per second (exponential gaps) for ``duration_ms``;
each scan belongs to one of ``routes`` delivery routes.  Analysts ask "how many scans
has route R seen?" at ``query_rps``.  A scan must reach the scan store, tracking and
billing; how it gets there is the ``architecture``:

``orchestration``
    a coordinator calls the scan store, then tracking, then billing, waiting for each
    (``call_timeout_ms`` per call).  The depot's answer comes after the last call; a
    call that fails or times out fails the scan, and the store's write is rolled back.
    Analytic queries run on the same normalised scan store (cost ``query_ms``), so they
    compete with scans for its ``store_workers``; their answers are always current.
``choreography``
    the depot waits only for the scan store, which records the scan and appends a
    ``ScanRecorded`` event to the log in the same step (an outbox).  Tracking and
    billing are consumer groups that react to the event.  Queries run on tracking's
    own normalised store (cost ``query_ms``), which is behind by tracking's lag.
``cqrs``
    the same command side, plus a projector (``projector_consumers`` members, each
    ``projector_ms`` per event) that keeps a denormalised read model of counts per
    route; queries run on it at cost ``view_query_ms``.  Tracking and billing still
    react to events.

An outage window (``outage_service`` down from ``outage_start_ms`` for ``outage_ms``)
shows how failure propagates: a down service answers no call (callers time out);
a down consumer group stops applying and catches up when it comes back.

Metrics: scan latency ``scan_p50_ms`` / ``scan_p99_ms`` (successful scans, arrival to
answer), ``scan_success_rate``, ``goodput_scans_per_s``, ``scans_failed`` and
``scan_stall_max_ms`` (the longest any depot waited), ``rollbacks``; queries:
``query_p50_ms`` / ``query_p99_ms``, ``stale_read_share`` (answers missing scans already
acknowledged to a depot), ``read_lag_p99_s`` / ``read_lag_max_s`` (append to applied,
for the view that answers queries; 0 where queries read the authoritative store),
``tracking_lag_max_s``, ``tracking_caught_up_s`` (after the outage ends, when the last
scan acknowledged before that was applied by tracking) and ``lineage_services`` (how
many services one scan's story touches: where someone tracing a wrong number looks; NaN with
``lineage=False``).

A run offers at most 40,000 requests (scans + queries); it ends when every request is
answered (each by its timeout at the latest) and every consumer group has drained, or
when a bound stops it, which ``stopped`` then says.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Optional

from ..latency import parse_latency
from ..metrics import percentile, rate
from ..patterns.service import Call, CapacityService, call_with_timeout
from ..sim import Simulation
from ..streams.consumer import ConsumerGroup
from ..streams.lineage import Journey, Lineage
from ..streams.log import Event, EventLog
from . import register_scenario
from .base import EVENT_BUDGET, Param, RunResult, Scenario, finite_end, stop_note
from .logistics_world import (ARCHITECTURES, OUTAGE_SERVICES, Coordinator, DownableService, Outage,
                              QueryRecord, RouteView, ScanRecord)

__all__ = ["LogisticsResult", "LOGISTICS", "ARCHITECTURES", "OUTAGE_SERVICES"]

PARAMS = (
    Param("architecture", str, "orchestration", "how a scan reaches scan store, tracking and billing",
          choices=ARCHITECTURES),
    Param("scan_rps", float, 200.0, "package scans per second offered by the depots (exponential gaps)",
          low=1.0, high=5_000),
    Param("query_rps", float, 20.0, "analytics queries per second (exponential gaps)", low=0.0, high=2_000),
    Param("duration_ms", float, 4000.0, "scans and queries arrive for this long (ms)", low=10.0, high=120_000),
    Param("routes", int, 8, "delivery routes a scan can belong to", low=1, high=1000),
    Param("store_workers", int, 4, "scan store: requests it works on at once", low=1, high=1000),
    Param("store_ms", float, 2.0, "scan store: mean time to record one scan (ms, exponential)", low=0.01, high=60_000),
    Param("service_workers", int, 4, "tracking and billing: requests (or events) each handles at once",
          low=1, high=1000),
    Param("tracking_ms", float, 3.0, "tracking: mean time to handle one scan (ms, exponential)", low=0.01,
          high=60_000),
    Param("billing_ms", float, 3.0, "billing: mean time to handle one scan (ms, exponential)", low=0.01,
          high=60_000),
    Param("query_ms", float, 20.0, "mean time of an analytic query on a normalised store (joins, group by) "
          "(ms, exponential)", low=0.01, high=60_000),
    Param("view_query_ms", float, 4.0, "cqrs: mean time of the same query on the denormalised read model "
          "(ms, exponential)", low=0.01, high=60_000),
    Param("projector_ms", float, 2.0, "cqrs: mean projector time per event (ms, exponential)", low=0.01,
          high=60_000),
    Param("projector_consumers", int, 1, "cqrs: projector members (each takes its share of the partitions)",
          low=1, high=16),
    Param("partitions", int, 4, "partitions of the scans topic", low=1, high=64),
    Param("call_timeout_ms", float, 500.0, "a caller gives up on one call (or query) after this long (ms)",
          low=1.0, high=60_000),
    Param("queue_limit", int, 2000, "each service: requests allowed to wait; more are refused", low=0,
          high=1_000_000),
    Param("outage_service", str, "none", "the service that is down during the outage window",
          choices=OUTAGE_SERVICES),
    Param("outage_start_ms", float, 1000.0, "the outage starts at (ms)", low=0.0, high=600_000),
    Param("outage_ms", float, 1000.0, "... and lasts this long (ms)", low=0.0, high=600_000),
    Param("lineage", bool, True, "keep every scan's lineage, for tracing (off: about a third faster)"),
    Param("sample_ms", float, 50.0, "lags are sampled this often for the figures (ms; never more often "
          "than every duration_ms / 2000)", low=1.0, high=600_000),
)


def _work(p: dict) -> tuple[int, str]:
    """Expected scans plus queries: what the run simulates."""
    return math.ceil((p["scan_rps"] + p["query_rps"]) * p["duration_ms"] / 1000.0), "scans + queries"


@dataclass
class LogisticsResult(RunResult):
    """A logistics run: every scan and query, lag samples and the lineage of every scan.

    ``samples``: (time ms, serving view's backlog age ms, tracking's backlog age ms, scan store queue);
    ``committed_at``: scan id -> when it was acknowledged to its depot (ms);
    ``scan_route``: scan id -> route; ``applied_at``: scan id -> when the view answering queries applied it.
    """

    scans: list[ScanRecord] = field(default_factory=list)
    queries: list[QueryRecord] = field(default_factory=list)
    samples: list[tuple[float, float, float, int]] = field(default_factory=list)
    lineage: Optional[Lineage] = None
    committed_at: dict[str, float] = field(default_factory=dict)
    scan_route: dict[str, int] = field(default_factory=dict)
    applied_at: dict[str, float] = field(default_factory=dict)
    end_time: float = 0.0

    def missing_scans(self, query: QueryRecord) -> list[str]:
        """The scans ``query``'s answer missed: acknowledged before it arrived, applied after it answered."""
        return [sid for sid, t in self.committed_at.items()
                if t <= query.arrival_ms and self.scan_route[sid] == query.route
                and self.applied_at.get(sid, math.inf) > query.done_ms]

    def applied_routes(self) -> dict[int, int]:
        """Scans per route in the view that answers queries, as it stands at the end of the run."""
        out: dict[int, int] = {}
        for sid in self.applied_at:
            out[self.scan_route[sid]] = out.get(self.scan_route[sid], 0) + 1
        return out

    def journey(self, scan_id: str) -> Journey:
        """The lineage of one scan across services and time (for ``plot_lineage``)."""
        if self.lineage is None:
            raise ValueError("this run kept no lineage")
        return self.lineage.journey(scan_id)

    def scan_latency_over_time(self, bin_ms: float = 250.0) -> list[tuple[float, float, float]]:
        """(bin start ms, p99 latency ms of the scans that arrived in it, failed share)."""
        if not bin_ms > 0:
            raise ValueError(f"bin_ms={bin_ms!r} must be a number > 0 ms")
        bins: dict[int, list[ScanRecord]] = {}
        for s in self.scans:
            bins.setdefault(int(s.arrival_ms // bin_ms), []).append(s)
        return [(k * bin_ms, percentile([s.latency_ms for s in v], 99),
                 sum(s.outcome != "ok" for s in v) / len(v)) for k, v in sorted(bins.items())]


def _run_logistics(seed: int, p: dict, _hooks: dict) -> LogisticsResult:
    """Offer scans and queries to one architecture, let the consumers drain, measure (``LOGISTICS.run``)."""
    sim = Simulation(seed, trace=True, max_events=EVENT_BUDGET)
    arch = p["architecture"]
    outage = Outage(p["outage_service"], p["outage_start_ms"], p["outage_start_ms"] + p["outage_ms"])
    # The trace gets one note per scan instead of every lineage step (the digest stays small).
    lineage = Lineage(sim, trace=False) if p["lineage"] else None
    lat = {k: parse_latency(f"exp:{p[k]!r}", k) for k in ("store_ms", "tracking_ms", "billing_ms", "query_ms",
                                               "view_query_ms", "projector_ms")}
    store = DownableService(CapacityService("scan_store", sim, workers=p["store_workers"], service_time=lat["store_ms"],
                                        queue_limit=p["queue_limit"], rng=sim.rng("scan_store")), outage)
    committed: dict[int, int] = {}  # route -> scans acknowledged to depots (the truth)
    committed_at: dict[str, float] = {}
    scan_route: dict[str, int] = {}
    scans: list[ScanRecord] = []
    queries: list[QueryRecord] = []
    left = {"open": 0, "arriving": 2}
    finished = sim.env.event()

    def settle() -> None:
        left["open"] -= 1
        if left["open"] == 0 and left["arriving"] == 0 and not finished.triggered:
            finished.succeed()

    def acknowledged(scan: ScanRecord) -> None:
        sim.record("note", "depot", "", scan.outcome, -1, scan.scan_id)
        if scan.outcome == "ok":
            committed[scan.route] = committed.get(scan.route, 0) + 1
            committed_at[scan.scan_id] = sim.now
        settle()

    groups: dict[str, ConsumerGroup] = {}
    views: dict[str, RouteView] = {}
    log: Optional[EventLog] = None
    if arch == "orchestration":
        tracking = DownableService(CapacityService("tracking", sim, workers=p["service_workers"],
                                                   service_time=lat["tracking_ms"], queue_limit=p["queue_limit"],
                                                   rng=sim.rng("tracking")), outage)
        billing = DownableService(CapacityService("billing", sim, workers=p["service_workers"],
                                                  service_time=lat["billing_ms"], queue_limit=p["queue_limit"],
                                                  rng=sim.rng("billing")), outage)
        coordinator = Coordinator(sim, [store, tracking, billing], [lat["store_ms"], lat["tracking_ms"],
                                                                    lat["billing_ms"]],
                                  p["call_timeout_ms"], lineage, acknowledged)
        start_scan = coordinator.start
        reads: DownableService = store
        read_cost = lat["query_ms"]
    else:
        log = EventLog(sim, lineage=lineage)
        log.create_topic("scans", p["partitions"])
        members = {"tracking": p["service_workers"], "billing": p["service_workers"]}
        costs = {"tracking": lat["tracking_ms"], "billing": lat["billing_ms"]}
        if arch == "cqrs":
            members["projector"] = p["projector_consumers"]
            costs["projector"] = lat["projector_ms"]
        for name in members:
            views[name] = RouteView(name).bind(sim)
            groups[name] = ConsumerGroup(sim, log, "scans", views[name], group_id=name, consumers=members[name],
                                         processing_time=costs[name], lineage=lineage)
        if outage.service in groups and p["outage_ms"] > 0:
            def take_down(group: ConsumerGroup) -> None:
                for member in list(group.members):
                    group.crash(member, restart_after_ms=p["outage_ms"])
            sim.schedule(outage.start_ms, take_down, groups[outage.service])

        def start_scan(scan: ScanRecord) -> None:
            def done(outcome: str) -> None:
                if outcome == "ok":
                    # Recording the scan and appending its event are one step (an outbox), so an
                    # acknowledged scan is never missing from the log.
                    if lineage is not None:
                        lineage.record(scan.scan_id, "written", "scan_store")
                    log.append("scans", Event(scan.scan_id, scan.scan_id, "ScanRecorded", {"route": scan.route},
                                              produced_at=sim.now, source="scan_store"))
                elif outcome == "timeout" and lineage is not None:
                    lineage.record(scan.scan_id, "lost", "scan_store", "timeout")
                scan.outcome = "ok" if outcome == "ok" else f"{outcome} at scan_store"
                scan.done_ms = sim.now
                acknowledged(scan)

            call_with_timeout(sim, store, Call(0, 0, sim.now, service_time=lat["store_ms"]), p["call_timeout_ms"],
                              done)

        if arch == "cqrs":
            reads = DownableService(CapacityService("read_model", sim, workers=p["service_workers"],
                                                    service_time=lat["view_query_ms"], queue_limit=p["queue_limit"],
                                                    rng=sim.rng("read_model")), outage)
            read_cost = lat["view_query_ms"]
        else:
            reads = DownableService(CapacityService("tracking", sim, workers=p["service_workers"],
                                                service_time=lat["query_ms"], queue_limit=p["queue_limit"],
                                                rng=sim.rng("tracking_reads")), outage)
            read_cost = lat["query_ms"]

    def answer_of(route: int) -> tuple[int, float]:
        if arch == "orchestration":
            return committed.get(route, 0), 0.0
        name = "projector" if arch == "cqrs" else "tracking"
        return views[name].count(route), groups[name].backlog_age_ms()

    def start_query(q: QueryRecord) -> None:
        def done(outcome: str) -> None:
            q.outcome, q.done_ms = outcome, sim.now
            if outcome == "ok":
                q.answer, q.lag_ms = answer_of(q.route)
            settle()

        call_with_timeout(sim, reads, Call(0, 0, sim.now, service_time=read_cost), p["call_timeout_ms"], done)

    route_rng = sim.rng("routes")
    scan_gaps, query_gaps = sim.rng("arrivals"), sim.rng("queries")
    duration = p["duration_ms"]

    def arrive_scan(n: int) -> None:
        left["open"] += 1
        scan = ScanRecord(f"scan-{n}", route_rng.randrange(p["routes"]), sim.now)
        scan_route[scan.scan_id] = scan.route
        scans.append(scan)
        start_scan(scan)
        nxt = sim.now + scan_gaps.expovariate(p["scan_rps"] / 1000.0)
        if nxt < duration:
            sim.schedule(nxt - sim.now, arrive_scan, n + 1)
        else:
            done_arriving()

    def arrive_query(_n: int) -> None:
        left["open"] += 1
        route = query_gaps.randrange(p["routes"])
        q = QueryRecord(route, sim.now, committed.get(route, 0))
        queries.append(q)
        start_query(q)
        nxt = sim.now + query_gaps.expovariate(p["query_rps"] / 1000.0)
        if nxt < duration:
            sim.schedule(nxt - sim.now, arrive_query, _n + 1)
        else:
            done_arriving()

    def done_arriving() -> None:
        left["arriving"] -= 1
        if left["arriving"] == 0 and left["open"] == 0 and not finished.triggered:
            finished.succeed()

    for rate_per_s, gaps, fn in ((p["scan_rps"], scan_gaps, arrive_scan), (p["query_rps"], query_gaps, arrive_query)):
        per_ms = rate_per_s / 1000.0  # a rate of a few 1e-324 per second underflows to 0 per ms: no arrivals
        first = gaps.expovariate(per_ms) if per_ms > 0 else math.inf
        if first < duration:
            sim.schedule(first, fn, 0)
        else:
            done_arriving()

    samples: list[tuple[float, float, float, int]] = []
    every = max(p["sample_ms"], duration / 2000.0)  # a few thousand samples at most
    serving_group = groups.get("projector" if arch == "cqrs" else "tracking")
    tracking_group = groups.get("tracking")
    sampling = {"on": True}

    def sample() -> None:
        samples.append((sim.now, serving_group.backlog_age_ms() if serving_group else 0.0,
                        tracking_group.backlog_age_ms() if tracking_group else 0.0,
                        store.service.queue_length))
        if sampling["on"]:
            sim.schedule(every, sample)

    sim.schedule(0.0, sample)
    # Every request ends by its timeouts (three sequential calls at most); the outage is in absolute time.
    cap = finite_end(duration, outage.end_ms) + 3 * p["call_timeout_ms"] + 1000.0
    reason = sim.run_bounded(cap, stop_when=finished)
    stopped = stop_note(reason, cap, f"{left['open']} requests unanswered") if reason != "done" else ""
    decided_at = sim.now
    if reason != "events" and groups:
        # Let the consumer groups apply what is left: each record costs at most a few mean processing
        # times; the outage may still hold a group down.
        backlog = sum(g.lag_offsets() for g in groups.values())
        per = max(lat[k].mean() for k in ("tracking_ms", "billing_ms", "projector_ms"))
        drain = finite_end(sim.now, outage.end_ms) + min(3_600_000.0, 10 * backlog * max(per, 0.01) + 5_000.0)
        drained = sim.env.event()

        def check() -> None:
            if all(g.idle() for g in groups.values()) and sim.now >= outage.end_ms and not drained.triggered:
                drained.succeed()
            elif not drained.triggered:
                sim.schedule(every, check)

        sim.schedule(0.0, check)
        why = sim.run_bounded(drain, stop_when=drained)
        if why in ("events", "time"):
            stopped = stop_note(why, drain, f"consumer backlog ({sum(g.lag_offsets() for g in groups.values())} "
                                            "records)")
    sampling["on"] = False
    serving_view = views.get("projector" if arch == "cqrs" else "tracking")
    applied_at = dict(serving_view.applied_at) if serving_view is not None else dict(committed_at)
    metrics = _metrics(p, scans, queries, groups, views, committed_at, lineage, decided_at, outage,
                       coordinator.rollbacks if arch == "orchestration" else 0)
    return LogisticsResult(
        scenario="logistics", seed=seed, params=dict(p), metrics=metrics, trace_digest=sim.trace_digest(),
        scans=scans, queries=queries, samples=samples, lineage=lineage, committed_at=committed_at,
        scan_route=scan_route, applied_at=applied_at, end_time=sim.now, stopped=stopped)


def _metrics(p: dict, scans: list[ScanRecord], queries: list[QueryRecord], groups: dict[str, ConsumerGroup],
             views: dict[str, RouteView], committed_at: dict[str, float], lineage: Optional[Lineage],
             decided_at: float,
             outage: Outage, rollbacks: int) -> dict[str, Any]:
    ok = [s.latency_ms for s in scans if s.outcome == "ok"]
    failed = [s for s in scans if s.outcome != "ok"]
    answered = [q for q in queries if q.outcome == "ok"]
    arch = p["architecture"]
    serving = groups.get("projector" if arch == "cqrs" else "tracking")
    lags = [lag for _, lag in serving.processing_lags] if serving is not None else [0.0] * len(ok)
    tracking = groups.get("tracking")
    tracking_lags = [lag for _, lag in tracking.processing_lags] if tracking is not None else [0.0]
    # An outage of a service this architecture does not have (a projector outside cqrs) changes nothing.
    outage_on = p["outage_ms"] > 0 and (p["outage_service"] in groups or p["outage_service"] in ("tracking",
                                                                                                "billing"))
    caught_up = math.nan
    if outage_on and "tracking" in views:
        before = [sid for sid, t in committed_at.items() if t < outage.end_ms]
        applied = views["tracking"].applied_at
        last = max((applied.get(sid, math.inf) for sid in before), default=outage.end_ms)
        caught_up = max(0.0, last - outage.end_ms) / 1000.0
    elif outage_on:
        caught_up = 0.0  # tracking is updated inside each scan: nothing to catch up
    stories = [lineage.journey(s.scan_id, follow=False) for s in scans[:200]] if lineage is not None else []
    m: dict[str, Any] = {
        "scans": len(scans),
        "scans_ok": len(ok),
        "scan_success_rate": rate(len(ok), len(scans)),
        "scan_p50_ms": percentile(ok, 50),
        "scan_p99_ms": percentile(ok, 99),
        "goodput_scans_per_s": len(ok) / (p["duration_ms"] / 1000.0),
        "scans_failed": len(failed),
        "scan_stall_max_ms": max((s.latency_ms for s in scans), default=math.nan),
        "failed_first_ms": min((s.arrival_ms for s in failed), default=math.nan),
        "failed_last_ms": max((s.arrival_ms for s in failed), default=math.nan),
        "rollbacks": rollbacks,
        "queries": len(queries),
        "queries_ok": len(answered),
        "query_p50_ms": percentile([q.done_ms - q.arrival_ms for q in answered], 50),
        "query_p99_ms": percentile([q.done_ms - q.arrival_ms for q in answered], 99),
        "stale_read_share": rate(sum(q.stale for q in answered), len(answered)),
        "stale_read_missing_max": max((q.truth - q.answer for q in answered), default=0),
        "read_lag_p99_s": percentile(lags, 99) / 1000.0 if lags else math.nan,
        "read_lag_max_s": max(lags, default=math.nan) / 1000.0,
        "tracking_lag_max_s": max(tracking_lags, default=0.0) / 1000.0,
        "tracking_caught_up_s": caught_up,
        "lineage_services": rate(sum(len(j.services()) for j in stories), len(stories)),
        "all_answered_ms": decided_at,
    }
    return m


LOGISTICS = register_scenario(Scenario(
    name="logistics",
    summary="package scans and route analytics on orchestration, choreography or CQRS: scan latency, "
            "failure propagation in an outage, read-model lag and stale analytics",
    params=PARAMS,
    runner=_run_logistics,
    work=_work,
    max_work=40_000,
))
