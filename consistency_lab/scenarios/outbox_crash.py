"""The outbox against a dual write, under crashes; a reconciliation job as the day-one guardrail.

A booking service records ``appointments`` (one every ``1000 / rate`` ms on average,
for ``duration_ms``) and tells the reminder service about each through an
``AppointmentScheduled`` event on the log.  It is the
:class:`~consistency_lab.patterns.outbox.OutboxService`, in one of two modes:

``mode="outbox"``
    the row and an outbox entry commit together; a relay publishes the entries.  A crash
    can delay events or publish one twice, never lose one.
``mode="write_then_publish"``
    the dual write: the row commits, then the event waits in memory for
    ``publish_ms``; a crash in between (``crash_after_write``: the probability of a crash
    right after a commit, restarting ``restart_ms`` later) loses the event for good.

The reminder service consumes the topic at least once (``duplicate``: the probability a
record is delivered again) with an idempotent handler (``handler="dedupe"``) or a
naive one.  With ``reconciliation=on`` a
:class:`~consistency_lab.patterns.reconciliation.ReconciliationDaemon` compares the
appointments (the truth) with the reminders scheduled every ``reconcile_every_ms``,
``page_size`` items a pass, skipping items younger than ``min_age_ms`` (they may
only be lagging) and schedules what is missing.

Metrics: ``writes`` (committed), ``refused_while_down``, ``events_lost`` (committed, never
on the log), ``duplicates_on_log``, ``crashes``, ``reminders_missing`` (appointments without a reminder at the end),
``reminders_doubled`` (a naive handler's second reminders), the daemon's ``repairs``,
``false_repairs`` and ``reconciliation_success_rate`` (NaN: no repair), ``event_age_*``
(age of the oldest event the reminder service has not handled, sampled every
``sample_ms``) and ``handling_lag_*`` (append to handled).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Hashable

from ..latency import parse_latency
from ..metrics import latency_summary, percentile
from ..patterns.idempotency import make_handler
from ..patterns.outbox import OUTBOX_MODES, OutboxService
from ..patterns.reconciliation import ReconciliationDaemon, RepairRecord
from ..sim import Simulation
from ..streams.consumer import ConsumerGroup
from ..streams.log import EventLog
from ..streams.monitors import LagMonitor, LagSample
from . import register_scenario
from .base import EVENT_BUDGET, Param, RunResult, Scenario, stop_note

__all__ = ["OUTBOX_CRASH", "OutboxCrashResult"]

TOPIC = "appointments"

PARAMS = (
    Param("mode", str, "outbox", "how the service writes its row and its event: one transaction with an "
          "outbox, or the row then the event (a dual write)", choices=OUTBOX_MODES),
    Param("rate", float, 50.0, "appointments recorded per second (exponential gaps)", low=0.01, high=10_000),
    Param("duration_ms", float, 4000.0, "appointments are recorded for this long (ms)", low=1.0, high=600_000),
    Param("crash_after_write", float, 0.05, "probability the service crashes right after a commit",
          low=0.0, high=1.0),
    Param("restart_ms", float, 100.0, "a crashed service restarts after this long (ms)", low=0.0, high=600_000),
    Param("publish_ms", str, "exp:5", "time an event takes to reach the log (ms)"),
    Param("relay_interval_ms", float, 20.0, "outbox: the relay looks for unpublished entries this often (ms)",
          low=1.0, high=600_000),
    Param("processing_ms", str, "exp:10", "time the reminder service spends on one event (ms)"),
    Param("handler", str, "dedupe", "the reminder service's handler: skip redeliveries (dedupe) or not (naive)",
          choices=("dedupe", "naive")),
    Param("duplicate", float, 0.05, "probability a record is delivered to the reminder service again",
          low=0.0, high=1.0),
    Param("reconciliation", bool, True, "run a reconciliation job between appointments and reminders"),
    Param("reconcile_every_ms", float, 500.0, "reconciliation: one pass this often (ms)", low=1.0, high=600_000),
    Param("page_size", int, 100, "reconciliation: items compared per pass", low=1, high=100_000),
    Param("min_age_ms", float, 200.0, "reconciliation: skip items whose appointment is younger (ms)",
          low=0.0, high=600_000),
    Param("sample_ms", float, 50.0, "event age is sampled this often (ms)", low=1.0, high=600_000),
    Param("settle_ms", float, 3000.0, "time after the last appointment for relays, consumers and the job (ms)",
          low=0.0, high=600_000),
)


def _cross_check(p: dict) -> None:
    for name in ("publish_ms", "processing_ms"):
        parse_latency(p[name], name)
    span = p["duration_ms"] + p["settle_ms"]
    if span / p["relay_interval_ms"] > 100_000:
        raise ValueError(f"relay_interval_ms={p['relay_interval_ms']:g} must be at least (duration_ms + settle_ms) "
                         f"/ 100000 = {span / 100_000:g} ms")
    # Each pass reads every appointment once (the simulation's oracle), so passes x appointments is the cost.
    passes = span / p["reconcile_every_ms"]
    if p["reconciliation"] and passes * math.ceil(p["rate"] * p["duration_ms"] / 1000.0) > 2_000_000:
        raise ValueError(f"reconcile_every_ms={p['reconcile_every_ms']:g} must be longer: {passes:.0f} passes over "
                         f"the appointments is more than one run reconciles; allowed: at most 2000000 item checks")
    if (p["duration_ms"] + p["settle_ms"]) / p["sample_ms"] > 20_000:
        raise ValueError(f"sample_ms={p['sample_ms']:g} must be at least (duration_ms + settle_ms) / 20000 = "
                         f"{(p['duration_ms'] + p['settle_ms']) / 20_000:g} ms")


class _RemindersReconciler:
    """Appointments (truth) against reminders scheduled (derived): one reminder per appointment."""

    def __init__(self, service: OutboxService, group: ConsumerGroup, handler: Any) -> None:
        self.service, self.group, self.handler = service, group, handler
        self._at = math.nan
        self._cache: tuple[dict, set] = ({}, set())

    def keys(self) -> list[Hashable]:
        """Every appointment, in booking order."""
        return list(self.service.rows)

    def expected(self, key: Hashable) -> int:
        """One reminder per appointment."""
        return 1

    def actual(self, key: Hashable) -> int:
        """Reminders the service has scheduled for it."""
        return self.handler.state.get(key, 0)

    def differs(self, key: Hashable, expected: int, actual: int) -> bool:
        """Only a missing reminder is drift: a reminder sent twice cannot be unsent."""
        return actual < expected

    def repair(self, key: Hashable, value: int) -> None:
        """Schedule the missing reminder (writing the same value twice is harmless)."""
        self.handler.state[key] = value

    def changed_at(self, key: Hashable) -> float:
        """When the appointment was committed."""
        return self._index()[0][key]

    def would_converge(self, key: Hashable) -> bool:
        """True when the appointment's event is on the log or still on its way (the item is only lagging)."""
        return key not in self._index()[1]

    def _index(self) -> tuple[dict, set]:
        # Rebuilt once per pass (the time moves between passes), not once per item: the oracle
        # is simulation-only and would otherwise cost a scan of every commit for each item.
        now = self.service.sim.now
        if self._at != now:
            self._at = now
            self._cache = ({e.key: e.produced_at for e in self.service.committed},
                           {e.key for e in self.service.lost_events()})
        return self._cache


@dataclass
class OutboxCrashResult(RunResult):
    """A run: event age samples, the daemon's repairs, and what the service committed and published."""

    lag_samples: list[LagSample] = field(default_factory=list)
    repairs: list[RepairRecord] = field(default_factory=list)
    crash_times: list[float] = field(default_factory=list)
    end_time: float = 0.0


def _run_outbox_crash(seed: int, p: dict, _hooks: dict) -> OutboxCrashResult:
    """Record appointments through the chosen write path, consume, reconcile, and measure (``OUTBOX_CRASH.run``)."""
    sim = Simulation(seed, trace=True, max_events=EVENT_BUDGET)
    log = EventLog(sim)
    log.create_topic(TOPIC, 1)
    service = OutboxService(sim, log, TOPIC, name="booking", mode=p["mode"],
                            relay_interval_ms=p["relay_interval_ms"], publish_latency=p["publish_ms"],
                            crash_after_write=p["crash_after_write"], restart_after_ms=p["restart_ms"])
    handler = make_handler(p["handler"], lambda n, _e: (n or 0) + 1)
    group = ConsumerGroup(sim, log, TOPIC, handler, group_id="reminders", processing_time=p["processing_ms"],
                          duplicate=p["duplicate"])
    monitor = LagMonitor(sim, group, p["sample_ms"])
    daemon = None
    if p["reconciliation"]:
        daemon = ReconciliationDaemon(sim, _RemindersReconciler(service, group, handler),
                                      interval_ms=p["reconcile_every_ms"], page_size=p["page_size"],
                                      min_age_ms=p["min_age_ms"], name="reconciler")
        daemon.start()
    arrivals = sim.rng("appointments")
    writes = {"n": 0}

    def book() -> None:
        writes["n"] += 1
        service.write(f"a{writes['n']}", "AppointmentScheduled", {"n": writes["n"]})
        nxt = arrivals.expovariate(p["rate"] / 1000.0)
        if sim.now + nxt < p["duration_ms"]:
            sim.schedule(nxt, book)

    first = arrivals.expovariate(p["rate"] / 1000.0)
    if first < p["duration_ms"]:
        sim.schedule(first, book)
    # The relay, the sampler and the daemon tick forever, so the run ends at a fixed time.
    until = p["duration_ms"] + p["settle_ms"]
    reason = sim.run_bounded(until)
    stopped = stop_note(reason, until, "the appointments and their reminders") if reason == "events" else ""
    metrics = _metrics(p, service, group, handler, monitor, daemon)
    metrics["refused_while_down"] = writes["n"] - metrics["writes"]
    crashes = [e.time for e in sim.trace if e.kind == "crash"]
    return OutboxCrashResult(scenario="outbox_crash", seed=seed, params=dict(p), metrics=metrics,
                             trace_digest=sim.trace_digest(), lag_samples=list(monitor.samples),
                             repairs=list(daemon.repairs) if daemon is not None else [], crash_times=crashes,
                             end_time=sim.now, stopped=stopped)


def _metrics(p: dict, service: OutboxService, group: ConsumerGroup, handler: Any, monitor: LagMonitor,
             daemon: Any) -> dict[str, Any]:
    stats = service.stats()
    ages = [s.backlog_age_ms for s in monitor.samples]
    m: dict[str, Any] = {
        "writes": stats["writes"],
        "published": stats["published"],
        "events_lost": stats["lost_events"],
        "duplicates_on_log": stats["duplicates_on_log"],
        "events_pending": stats["pending"],
        "crashes": stats["crashes"],
        "reminders_missing": sum(1 for k in service.rows if handler.state.get(k, 0) == 0),
        "reminders_doubled": sum(1 for k in service.rows if handler.state.get(k, 0) > 1),
        "redeliveries": group.redeliveries,
        "event_age_p50_ms": percentile(ages, 50),
        "event_age_p99_ms": percentile(ages, 99),
        "event_age_max_ms": max(ages, default=math.nan),
    }
    m.update(latency_summary([lag for _t, lag in group.processing_lags], "handling_lag"))
    report = daemon.report() if daemon is not None else {}
    m["repairs"] = report.get("repairs", 0)
    m["false_repairs"] = report.get("false_repairs", 0)
    m["reconciliation_success_rate"] = report.get("reconciliation_success_rate", math.nan)
    m["reconciliation_passes"] = report.get("passes", 0)
    return m


OUTBOX_CRASH = register_scenario(Scenario(
    name="outbox_crash",
    summary="a booking service publishes AppointmentScheduled through an outbox or a dual write while it "
            "crashes: events lost, counted; a reconciliation job schedules the missing reminders",
    params=PARAMS,
    runner=_run_outbox_crash,
    cross_check=_cross_check,
    work=lambda p: (math.ceil(p["rate"] * p["duration_ms"] / 1000.0), "expected appointments"),
    max_work=20_000,
))
