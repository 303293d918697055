"""The social timeline: a feed built from events, kept honest by a reconciliation daemon.

Users follow, unfollow and post.  The social service is the source of truth: it
commits each action at once and then publishes an event ("Followed",
"Unfollowed", "Posted") to the ``social`` topic.  Publishing is fire-and-forget:
an event reaches the log after a random delay (so two actions of one user can
land out of order) or, with probability ``loss``, never.  The feed service
consumes the topic with a consumer group (processing time per event, crashes and
redeliveries) and maintains, per user, the people they follow, their own posts and
their timeline: the posts of everyone they follow.

Two operational events can be added: a *burst* of ``burst_posts`` extra posts within
``burst_ms`` from ``burst_at`` (a share of the workload), and an *outage* in which every
feed consumer crashes at ``outage_at`` and stays down ``outage_ms`` (``consumer_crashes``
are single consumers that restart after 200 ms while the others take over).

Without reconciliation a lost or reordered event leaves a timeline wrong for good.
With ``reconciliation=on`` a daemon pages through the users every
``scan_interval_ms``, ``page_size`` at a time, compares each user's feed record with
the source of truth and overwrites it when they differ.  The run continues past the
workload until the consumer has drained, then for one full sweep plus one interval,
so the daemon has had every chance to finish.  A lab can replace the daemon by its
own job (``TIMELINE.run(..., hooks={"job_factory": ...})``), which the scenario measures
from the outside by watching the feed's writes.

One *item* of the daemon is one user: (follows, own posts, timeline).  A
*divergent timeline* is a user whose timeline differs from the source of truth.
A repair is *false* when the item was only lagging: replaying the events already
on their way (published, not lost, not yet handled; in production order) onto the
feed would have made it right without help (see
:mod:`consistency_lab.patterns.reconciliation`).

This module is the run: parameters, workload, the wiring of log, consumers and
daemon, and the metrics.  The world it runs (social service, feed, reconciler) is
:mod:`.timeline_world`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Callable, Optional

from ..latency import Exponential, parse_latency
from ..metrics import percentile
from ..patterns.reconciliation import PassReport, ReconciliationDaemon, Reconciler, RepairRecord
from ..sim import Simulation
from ..streams.consumer import ConsumerGroup
from ..streams.lineage import Journey, Lineage
from ..streams.log import Event, EventLog, Producer
from ..streams.monitors import LagMonitor, LagSample, SeriesMonitor, stream_metrics, success_rate
from . import register_scenario
from .base import EVENT_BUDGET, Hook, Param, RunResult, Scenario, stop_note
from .timeline_world import FeedService, Item, SocialGraph, TimelineReconciler, divergent_timelines

__all__ = ["TimelineResult", "TIMELINE"]

PARAMS = (
    Param("users", int, 40, "number of users", low=2, high=10_000),
    Param("posts", int, 400, "posts written during the workload", low=0, high=1_000_000),
    Param("follows", int, 400, "follow and unfollow actions during the workload", low=0, high=1_000_000),
    Param("unfollow_share", float, 0.2, "share of follow actions that unfollow someone", low=0.0, high=1.0),
    Param("duration_ms", float, 10_000.0, "length of the workload (ms)", low=1.0, high=3_600_000),
    Param("loss", float, 0.02, "probability that an event never reaches the log", low=0.0, high=1.0),
    Param("publish_latency_ms", float, 5.0, "mean delay from the social service to the log (ms, exponential)",
          low=0.0, high=600_000),
    Param("processing_ms", float, 5.0, "mean time the feed spends on one event (ms, exponential)",
          low=0.0, high=600_000),
    Param("poll_interval_ms", float, 0.0, "how often an idle feed consumer polls (ms); 0 = woken at once",
          low=0.0, high=600_000),
    Param("partitions", int, 4, "partitions of the social topic", low=1, high=256),
    Param("consumers", int, 2, "feed consumers in the group", low=1, high=64),
    Param("consumer_crashes", int, 1, "feed consumer crashes during the workload (each restarts after 200 ms)",
          low=0, high=1_000),
    Param("reconciliation", str, "on", "run the timeline reconciliation daemon", choices=("on", "off")),
    Param("scan_interval_ms", float, 500.0, "time between reconciliation passes (ms)", low=1.0, high=3_600_000),
    Param("page_size", int, 10, "users compared per reconciliation pass", low=1, high=10_000),
    Param("grace_ms", float, 0.0, "skip users whose source of truth changed less than this long ago (ms)",
          low=0.0, high=3_600_000),
    Param("burst_posts", int, 0, "extra posts written in one burst, on top of posts", low=0, high=1_000_000),
    Param("burst_at", float, 0.5, "when the burst starts, as a share of the workload (0.5 = halfway)",
          low=0.0, high=1.0),
    Param("burst_ms", float, 500.0, "how long the burst lasts (ms; it ends with the workload at the latest)",
          low=0.0, high=3_600_000),
    Param("outage_at", float, 0.5, "when every feed consumer crashes at once, as a share of the workload",
          low=0.0, high=1.0),
    Param("outage_ms", float, 0.0, "how long the whole feed group stays down (ms); 0 = no outage",
          low=0.0, high=3_600_000),
)

#: Consumers restart this long after a crash (ms).
RESTART_MS = 200.0


@dataclass
class TimelineResult(RunResult):
    """A timeline run: metrics plus divergence over time, lag samples, daemon passes and lineage."""

    divergence: list[tuple[float, float]] = field(default_factory=list)
    lag: list[LagSample] = field(default_factory=list)
    passes: list[PassReport] = field(default_factory=list)
    repairs: list[RepairRecord] = field(default_factory=list)
    lineage: Optional[Lineage] = None
    journey: Optional[Journey] = None
    workload_end_ms: float = 0.0
    end_time: float = 0.0


HOOKS = (
    Hook("reconciler_factory", "reconciler_factory(social, feed) -> a Reconciler (a lab's) that the package's "
         "daemon drives; the reference TimelineReconciler still measures it"),
    Hook("job_factory", "job_factory(social, feed, reference) -> a whole reconciliation job (a lab's): the "
         "scenario calls job.run_pass(now) every scan_interval_ms and measures it from the outside"),
)


def _run_timeline(seed: int, p: dict, hooks: dict) -> TimelineResult:
    """Run the workload, the lossy feed and (optionally) the daemon; measure divergence and repair.

    Called by ``TIMELINE.run(seed, hooks=..., **params)`` with validated parameters.

    The ``reconciler_factory(social, feed)`` hook swaps in another reconciler (a lab's)
    that the package's daemon drives; it is still measured by the reference
    :class:`TimelineReconciler`.

    The ``job_factory(social, feed, reference)`` hook swaps in a whole reconciliation
    *job* (a lab's own paging loop) instead of the daemon: with ``reconciliation="on"``
    the scenario calls ``job.run_pass(now)`` every ``scan_interval_ms`` (first pass after
    one interval) and measures the job from the outside, by watching every
    ``feed.overwrite``: a write is a repair; it is false when the user's feed record
    already equalled the truth or when ``reference.would_converge(user)`` held (the
    daemon's definitions); time to repair is measured from ``social.changed_at[user]``;
    it is verified when the record equals the truth right after.  ``passes``,
    ``scanned``, ``found`` and ``deferred`` come from the dicts the job's ``run_pass``
    returns (missing keys count as 0).  The job handles its own grace period;
    ``grace_ms`` still stretches the settle time and the convergence bound.
    """
    reconciler_factory: Optional[Callable[[SocialGraph, FeedService], Reconciler]] = hooks.get("reconciler_factory")
    job_factory: Optional[Callable[[SocialGraph, FeedService, TimelineReconciler], Any]] = hooks.get("job_factory")
    if reconciler_factory is not None and job_factory is not None:
        raise ValueError("hooks: pass either reconciler_factory (a reconciler for the package's daemon) or "
                         "job_factory (a whole reconciliation job), not both")
    sim = Simulation(seed, trace=True, max_events=EVENT_BUDGET)
    lineage = Lineage(sim)
    log = EventLog(sim, lineage=lineage)
    log.create_topic("social", p["partitions"])
    users = [f"u{i}" for i in range(p["users"])]
    social = SocialGraph(users)
    in_flight: dict[str, Event] = {}
    feed = FeedService(users, on_handled=lambda e: in_flight.pop(e.event_id, None))
    publish_latency = (Exponential(1.0 / p["publish_latency_ms"]) if p["publish_latency_ms"] > 0
                       else parse_latency(0))
    producer = Producer(sim, log, "social", name="social", latency=publish_latency, loss=p["loss"],
                        lineage=lineage)
    processing = Exponential(1.0 / p["processing_ms"]) if p["processing_ms"] > 0 else parse_latency(0)
    group = ConsumerGroup(sim, log, "social", feed, group_id="feed", consumers=p["consumers"],
                          processing_time=processing, poll_interval_ms=p["poll_interval_ms"],
                          restart_after_ms=RESTART_MS, lineage=lineage)

    duration = p["duration_ms"]
    sweep_ms = math.ceil(len(users) / p["page_size"]) * p["scan_interval_ms"]
    settle_ms = p["grace_ms"] + sweep_ms + p["scan_interval_ms"]
    sample_ms = max(10.0, (duration + settle_ms) / 200.0)
    divergence = SeriesMonitor(sim, lambda: divergent_timelines(social, feed), sample_ms, "divergent_timelines")
    lag = LagMonitor(sim, group, max(1.0, sample_ms / 4))

    reference = TimelineReconciler(social, feed, in_flight)
    job = reconciler_factory(social, feed) if reconciler_factory is not None else reference
    daemon = ReconciliationDaemon(sim, job, interval_ms=p["scan_interval_ms"], page_size=p["page_size"],
                                  min_age_ms=p["grace_ms"], name="reconciler", lineage=lineage, judge=reference)
    outside: Optional[_OutsideMeasure] = None
    if p["reconciliation"] == "on":
        if job_factory is None:
            daemon.start()
        else:
            outside = _OutsideMeasure(sim, social, feed, reference, lineage, p["scan_interval_ms"])
            outside.start(job_factory)

    _schedule_workload(sim, p, social, producer, in_flight, users)
    faults = sim.rng("faults")
    names = sorted(group.members)
    for _ in range(p["consumer_crashes"]):
        sim.schedule(faults.uniform(0, duration), group.crash, faults.choice(names), RESTART_MS)
    if p["outage_ms"] > 0:  # the whole group down at once: nobody left to take over the partitions
        def outage() -> None:
            for name in names:
                group.crash(name, p["outage_ms"])
        sim.schedule(p["outage_at"] * duration, outage)

    reason = sim.run_bounded(duration)
    # Let the feed drain what is still in flight (bounded, in case a consumer never recovers).
    deadline = duration + max(10 * duration, 60_000.0)
    while reason != "events" and (producer.in_flight or not group.idle()) and sim.now < deadline:
        reason = sim.run_bounded(sim.now + 100.0)
    drained = not (producer.in_flight or not group.idle())
    if reason != "events":
        reason = sim.run_bounded(sim.now + settle_ms)
    stopped = (stop_note("events", deadline, "the workload, the drain or the settle period") if reason == "events"
               else "" if drained else stop_note("time", deadline, "events still waiting for the feed"))
    divergence.sample()  # one last sample at the very end
    divergence.stop()
    lag.stop()
    daemon.stop()
    if outside is not None:
        outside.stop()
    measured = outside if outside is not None else daemon

    metrics = _metrics(p, sim, social, feed, producer, group, lag, divergence, daemon, measured.report(),
                       duration)
    return TimelineResult(
        scenario="timeline", seed=seed, params=dict(p), metrics=metrics, trace_digest=sim.trace_digest(),
        divergence=list(divergence.series), lag=list(lag.samples), passes=list(measured.passes),
        repairs=list(measured.repairs), lineage=lineage, journey=_pick_journey(lineage),
        workload_end_ms=duration, end_time=sim.now, stopped=stopped)


class _OutsideMeasure:
    """Runs a lab's reconciliation job every interval and measures it by watching the feed's writes.

    Every ``feed.overwrite`` while the job runs is a repair, judged with the daemon's
    definitions (see :mod:`consistency_lab.patterns.reconciliation`) by the reference
    reconciler; the job's own bookkeeping is never trusted.
    """

    def __init__(self, sim: Simulation, social: SocialGraph, feed: FeedService, reference: TimelineReconciler,
                 lineage: Lineage, interval_ms: float) -> None:
        self.sim = sim
        self.social = social
        self.feed = feed
        self.reference = reference
        self.lineage = lineage
        self.interval_ms = interval_ms
        self.passes: list[PassReport] = []
        self.repairs: list[RepairRecord] = []
        self._job: Any = None
        self._timer: Any = None
        self._overwrite = feed.overwrite
        self._false_in_pass = 0

    def start(self, job_factory: Callable[[SocialGraph, FeedService, TimelineReconciler], Any]) -> None:
        """Watch the feed's writes, build the job, and run ``job.run_pass(now)`` every interval."""
        # Watch first, so a job that keeps a reference to feed.overwrite is measured too.
        self.feed.overwrite = self._measured_overwrite  # type: ignore[method-assign]
        job = job_factory(self.social, self.feed, self.reference)
        if not callable(getattr(job, "run_pass", None)):
            raise ValueError(f"job_factory returned {job!r}, which has no run_pass(now) method")
        self._job = job
        self._timer = self.sim.schedule(self.interval_ms, self._tick)

    def stop(self) -> None:
        """No more passes; the feed's writes are no longer watched."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self.feed.__dict__.pop("overwrite", None)

    def _tick(self) -> None:
        self._timer = self.sim.schedule(self.interval_ms, self._tick)
        now = self.sim.now
        before = len(self.repairs)
        self._false_in_pass = 0
        done = self._job.run_pass(now)
        done = done if isinstance(done, dict) else {}

        def count(name: str) -> int:
            value = done.get(name, 0)
            return int(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else 0

        self.passes.append(PassReport(now, count("scanned"), count("found"), len(self.repairs) - before,
                                      self._false_in_pass, count("deferred"), None))

    def _measured_overwrite(self, u: str, item: Item) -> None:
        now = self.sim.now
        truth = self.social.item(u)
        reason = ""
        if self.feed.item(u) == truth:
            reason = "already equal"
        elif self.reference.would_converge(u):
            reason = "only lagging"
        for event_id in self.reference.explain(u):
            self.lineage.record(event_id, "repaired", "reconciler", f"item {u}")
        self._overwrite(u, item)
        verified = self.feed.item(u) == truth
        self._false_in_pass += bool(reason)
        self.repairs.append(RepairRecord(now, u, bool(reason), reason, now - self.social.changed_at[u], verified))

    def report(self) -> dict[str, float]:
        """The same totals as :meth:`ReconciliationDaemon.report`, from the outside records."""
        ttr = [r.time_to_repair_ms for r in self.repairs]
        scanned = sum(p.scanned for p in self.passes)
        return {
            "passes": len(self.passes),
            "scanned": scanned,
            "found": sum(p.found for p in self.passes),
            "repairs": len(self.repairs),
            "false_repairs": sum(r.false for r in self.repairs),
            "deferred": sum(p.deferred for p in self.passes),
            "reconciliation_success_rate": success_rate(sum(r.verified for r in self.repairs),
                                                        len(self.repairs)),  # NaN: no repairs
            "time_to_repair_p50_s": percentile(ttr, 50) / 1000.0 if ttr else math.nan,
            "time_to_repair_max_s": max(ttr) / 1000.0 if ttr else math.nan,
            "scan_cost_per_pass": scanned / len(self.passes) if self.passes else 0.0,
        }


def _schedule_workload(sim: Simulation, p: dict, social: SocialGraph, producer: Producer,
                       in_flight: dict[str, Event], users: list[str]) -> None:
    rng = sim.rng("workload")
    kinds = ["post"] * p["posts"] + ["follow"] * p["follows"]
    rng.shuffle(kinds)
    times = sorted(rng.uniform(0, p["duration_ms"]) for _ in kinds)
    versions: dict[str, int] = {}
    counter = [0]

    def emit(key: str, type_: str, payload: dict) -> Event:
        versions[key] = versions.get(key, 0) + 1
        return producer.make(key, type_, payload, version=versions[key])

    def publish(event: Event) -> None:
        if producer.publish(event):
            in_flight[event.event_id] = event

    def act(kind: str, rng=rng) -> None:
        a = rng.choice(users)
        now = sim.now
        if kind == "post":
            counter[0] += 1
            post = f"p{counter[0]}"
            event = emit(a, "Posted", {"post": post})
            social.post(a, post, event.event_id, now)
            publish(event)
            return
        followees = list(social.follows[a])
        if followees and rng.random() < p["unfollow_share"]:
            b = rng.choice(followees)
            event = emit(a, "Unfollowed", {"followee": b})
            social.unfollow(a, b, event.event_id, now)
            publish(event)
            return
        for _ in range(5):  # a few tries to find someone new; otherwise the user does nothing
            b = rng.choice(users)
            if b != a and b not in social.follows[a]:
                event = emit(a, "Followed", {"followee": b})
                social.follow(a, b, event.event_id, now)
                publish(event)
                return

    for t, kind in zip(times, kinds, strict=True):
        sim.schedule(t, act, kind)
    # The burst draws from its own stream, so adding one leaves the ordinary workload as it was.
    burst = sim.rng("burst")
    start = p["burst_at"] * p["duration_ms"]
    end = min(p["duration_ms"], start + p["burst_ms"])
    for t in sorted(burst.uniform(start, end) for _ in range(p["burst_posts"])):
        sim.schedule(t, act, "post", burst)


def _pick_journey(lineage: Lineage) -> Optional[Journey]:
    """An instructive journey: a lost event that was repaired, else a redelivered one, else the first."""
    repaired = set(lineage.events_with("repaired"))
    for event_id in lineage.events_with("lost"):
        if event_id in repaired:
            return lineage.journey(event_id)
    for step in ("redelivered", "published"):
        ids = lineage.events_with(step)
        if ids:
            return lineage.journey(ids[0])
    return None


def _metrics(p: dict, sim: Simulation, social: SocialGraph, feed: FeedService, producer: Producer,
             group: ConsumerGroup, lag: LagMonitor, divergence: SeriesMonitor, daemon: ReconciliationDaemon,
             report: dict[str, float], duration: float) -> dict[str, Any]:
    series = divergence.series
    final = divergent_timelines(social, feed)
    converged_at = math.nan
    if final == 0:
        # The start of the last run of zero samples at or after the end of the workload.
        converged_at = sim.now
        for t, v in reversed(series):
            if v != 0:
                break
            converged_at = t
        converged_at = max(converged_at, duration)
    m: dict[str, Any] = {
        "divergent_timelines_final": final,
        "divergent_users_final": sum(1 for u in social.users if feed.item(u) != social.item(u)),
        "divergent_timelines_max": max((v for _, v in series), default=0),
        "divergent_timelines_mean": sum(v for _, v in series) / len(series) if series else 0.0,
        "convergence_time_s": (converged_at - duration) / 1000.0 if final == 0 else math.nan,
        "convergence_bound_s": daemon.convergence_bound_ms(len(social.users)) / 1000.0,
        "events_published": producer.published,
        "events_lost": producer.lost,
        "events_processed": group.processed,
    }
    m.update(stream_metrics(group, lag, duration))
    m.update({k: report[k] for k in ("passes", "scanned", "found", "repairs", "false_repairs", "deferred",
                                     "reconciliation_success_rate", "time_to_repair_p50_s",
                                     "time_to_repair_max_s", "scan_cost_per_pass")})
    return m


TIMELINE = register_scenario(Scenario(
    name="timeline",
    summary="follows and posts feed timelines through a lossy, lagging consumer; a daemon repairs the drift",
    params=PARAMS,
    runner=_run_timeline,
    hooks=HOOKS,
    work=lambda p: (p["posts"] + p["follows"] + p["burst_posts"], "posts + follows + burst_posts"),
    max_work=10_000,
))
