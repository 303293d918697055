"""The world lab 05's checks run in: package scans at depots, a partitioned log, a crashing projector.

Shared by the public checks (:mod:`.lab05`) and the hidden ones.  Scanners at depots
publish ``Scanned`` events to the topic ``scans`` of an :class:`~consistency_lab.streams.EventLog`
(keyed by package, so one package's scans share a partition; uploads are delayed by
different amounts, so a package's scans can be appended out of version order, and a
retried upload appends the same event twice).  A projector process applies records to a
read model and saves checkpoints; a :class:`Faults` schedule crashes it right after a
chosen durable write.  The world knows what it published, so each run carries the read
model every correct projection must end up with (``expected``).  No checks and no
reference implementation of a graded part live here: this module ships to students.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Optional

from consistency_lab.scenarios.base import EVENT_BUDGET, stop_note
from consistency_lab.sim import Simulation
from consistency_lab.streams.consumer import ConsumerGroup, SimulatedCrash
from consistency_lab.streams.log import Event, EventLog, Producer, Topic

__all__ = ["TOPIC", "DEPOTS", "RecordingView", "missing_and_extra", "Faults", "CheckpointStore", "DurableView",
           "ProjectionRun", "GroupRun", "LagSample", "run_projection", "run_consumer_group", "unapplied_count",
           "hand_log", "scan", "view_state", "compare_with", "Expected", "checkpoint_first"]

#: (scans per depot, each package's depot at its newest version): what a correct read model holds.
Expected = tuple[dict[str, int], dict[str, str]]

TOPIC = "scans"
DEPOTS = ("Antwerp", "Basel", "Cork", "Dijon", "Essen", "Faro", "Graz", "Hull")


def scan(event_id: str, package: str, version: int, depot: str, at: float = 0.0) -> Event:
    """One ``Scanned`` event: ``package``'s ``version``-th scan, at ``depot``, at time ``at`` (ms)."""
    return Event(event_id, package, "Scanned", {"depot": depot}, version, produced_at=at, source=f"scanner-{depot}")


class RecordingView:
    """A stand-in read model that only records what it is asked to do (it computes nothing).

    Checks of the projector and the rebuild use it, so they test those parts alone: a bug
    in the student's read model (part 1) cannot make them fail.
    """

    def __init__(self) -> None:
        self.scans: dict[str, int] = {}
        self.location: dict[str, str] = {}
        #: Every call in order: ("apply", event_id) or ("reset", "").
        self.log: list[tuple[str, str]] = []

    def apply(self, event: Event) -> None:
        """Record one apply call."""
        self.log.append(("apply", event.event_id))

    def reset(self) -> None:
        """Record one reset call."""
        self.log.append(("reset", ""))

    def applied_since_last_reset(self) -> list[str]:
        """Event ids applied after the last reset (all of them when there was none)."""
        last = max((i for i, (what, _) in enumerate(self.log) if what == "reset"), default=-1)
        return [eid for what, eid in self.log[last + 1:] if what == "apply"]


def missing_and_extra(applied: Iterable[str], records: Iterable[Any]) -> tuple[list[str], list[str]]:
    """(records of the log not applied, ids applied more often than the log holds them), each sorted."""
    want: dict[str, int] = {}
    for r in records:
        want[r.event.event_id] = want.get(r.event.event_id, 0) + 1
    got: dict[str, int] = {}
    for eid in applied:
        got[eid] = got.get(eid, 0) + 1
    missing = sorted(e for e, n in want.items() if got.get(e, 0) < n)
    extra = sorted(e for e, n in got.items() if n > want.get(e, 0))
    return missing, extra


def view_state(view: Any) -> tuple[dict, dict]:
    """(scans, location) of a view, as plain dicts, with a clear failure when they are missing."""
    for name in ("scans", "location"):
        assert isinstance(getattr(view, name, None), dict), \
            f"the view has no dict attribute `{name}`; keep `self.{name} = {{}}` from the template"
    return dict(view.scans), dict(view.location)


def compare_with(view: Any, expected: tuple[dict, dict], where: str, explain: bool = True) -> Optional[str]:
    """None when the view holds ``expected`` (scans, location), else one readable sentence on the first differences.

    With ``explain``, a total that is too high or too low is named (scans counted twice / never applied).
    """
    want_scans, want_location = expected
    scans, location = view_state(view)
    problems = []
    for depot in sorted(set(want_scans) | set(scans)):
        if scans.get(depot, 0) != want_scans.get(depot, 0):
            problems.append(f"scans[{depot!r}] is {scans.get(depot, 0)}, expected {want_scans.get(depot, 0)}")
    wrong = [p for p in sorted(set(want_location) | set(location)) if location.get(p) != want_location.get(p)]
    for package in wrong[:3]:
        problems.append(f"location[{package!r}] is {location.get(package)!r}, expected {want_location.get(package)!r}")
    if len(wrong) > 3:
        problems.append(f"and {len(wrong) - 3} more packages in the wrong place")
    if not problems:
        return None
    extra = sum(scans.values()) - sum(want_scans.values())
    why = "" if not explain else (f" ({extra} scans counted more than once)" if extra > 0 else
                                  f" ({-extra} scans never applied)" if extra < 0 else "")
    return f"{where}: " + "; ".join(problems[:4]) + why


class Faults:
    """A fault schedule as data: crash the projector right after these durable writes (1 = the first)."""

    def __init__(self, sim: Optional[Simulation] = None, crash_after_writes: Iterable[int] = ()) -> None:
        self.sim = sim
        self.crash_after = frozenset(int(n) for n in crash_after_writes)
        self.writes = 0
        #: (time ms, write number, what that write was) of every crash.
        self.crashes: list[tuple[float, int, str]] = []

    def wrote(self, what: str) -> None:
        """Count one durable write; crash (raise SimulatedCrash) if the schedule says so."""
        self.writes += 1
        if self.writes in self.crash_after:
            self.crashes.append((self.sim.now if self.sim is not None else 0.0, self.writes, what))
            raise SimulatedCrash(f"projector crashed right after durable write {self.writes} ({what})")


class CheckpointStore:
    """Durable checkpoints: for each partition, the offset of the next record to apply (0 at first)."""

    def __init__(self, partitions: int, faults: Optional[Faults] = None) -> None:
        self.offsets = [0] * partitions
        self.faults = faults
        self.saves = 0

    def load(self, partition: int) -> int:
        """The saved offset of ``partition`` (0 when nothing was saved)."""
        self._check(partition)
        return self.offsets[partition]

    def save(self, partition: int, offset: int) -> None:
        """Durably save ``offset`` (the next record to apply) for ``partition``."""
        self._check(partition)
        if isinstance(offset, bool) or not isinstance(offset, int) or offset < 0:
            raise ValueError(f"offset={offset!r} must be an integer >= 0 (the offset of the next record to apply)")
        self.offsets[partition] = offset
        self.saves += 1
        if self.faults is not None:
            self.faults.wrote(f"save({partition}, {offset})")

    def _check(self, partition: int) -> None:
        if isinstance(partition, bool) or not isinstance(partition, int) or not 0 <= partition < len(self.offsets):
            raise ValueError(f"partition={partition!r} must be an integer in 0..{len(self.offsets) - 1}")


class DurableView:
    """A read model in its database: every ``apply`` is a durable write the fault schedule counts."""

    def __init__(self, view: Any, faults: Optional[Faults] = None) -> None:
        self.inner = view
        self.faults = faults
        #: The event id of every apply call, in call order (a redelivery shows up twice).
        self.calls: list[str] = []

    @property
    def scans(self) -> dict:
        """The wrapped view's scans per depot."""
        return self.inner.scans

    @property
    def location(self) -> dict:
        """The wrapped view's location per package."""
        return self.inner.location

    def apply(self, event: Event) -> None:
        """Apply through the wrapped view, then count the write (a crash may follow it)."""
        self.inner.apply(event)
        self.calls.append(event.event_id)
        if self.faults is not None:
            self.faults.wrote(f"apply({event.event_id})")

    def reset(self) -> None:
        """Empty the wrapped view."""
        self.inner.reset()


class _WritesSwapped:
    """Wraps one projector's view and checkpoints so that each step's two writes happen checkpoint first."""

    def __init__(self, view: Any, checkpoints: CheckpointStore) -> None:
        self.view, self.store = view, checkpoints
        self.pending: list[Event] = []  # applied by the projector, not yet written

    # The view side: hold the apply until the checkpoint is saved.
    @property
    def scans(self) -> dict:
        """The wrapped view's scans per depot."""
        return self.view.scans

    @property
    def location(self) -> dict:
        """The wrapped view's location per package."""
        return self.view.location

    def apply(self, event: Event) -> None:
        """Hold the write until the next checkpoint save."""
        self.pending.append(event)

    def reset(self) -> None:
        """Empty the wrapped view."""
        self.view.reset()

    # The checkpoint side: save first, then write what was held (a crash in between loses it).
    def load(self, partition: int) -> int:
        """The saved offset of ``partition``."""
        return self.store.load(partition)

    def save(self, partition: int, offset: int) -> None:
        """Save the checkpoint, then the held applies."""
        self.store.save(partition, offset)
        while self.pending:
            self.view.apply(self.pending.pop(0))


def checkpoint_first(make_projector: Callable[[Topic, Any, CheckpointStore], Any]) -> Callable[..., Any]:
    """The same projector with each step's two durable writes swapped: checkpoint first, then apply.

    For the lab's demo of the wrong order; it wraps whatever projector it is given.
    """
    def make(topic: Topic, view: Any, checkpoints: CheckpointStore) -> Any:
        swapped = _WritesSwapped(view, checkpoints)
        return make_projector(topic, swapped, swapped)

    return make


def unapplied_count(topic: Topic, checkpoints: CheckpointStore) -> int:
    """Records at or after the checkpoints, summed over partitions."""
    return sum(part.end_offset - checkpoints.load(p) for p, part in enumerate(topic.partitions))


def hand_log(records: Iterable[tuple[float, Event]], partitions: int = 1) -> tuple[EventLog, Topic]:
    """A log built by hand: each (append time ms, event) appended in the order given, to its key's partition."""
    sim = Simulation(0)
    log = EventLog(sim)
    topic = log.create_topic(TOPIC, partitions)
    for at, event in records:
        if at > sim.now:
            sim.run(until=at)
        log.append(TOPIC, event)
    return log, topic


@dataclass(frozen=True)
class LagSample:
    """What a monitor saw at one time: the backlog age (ms) by ``age``, unapplied records, and the alarm's answer."""

    time: float
    age_ms: Optional[float]
    unapplied: int
    fires: Optional[bool]


@dataclass
class ProjectionRun:
    """The outcome of :func:`run_projection`."""

    topic: Topic
    view: DurableView
    checkpoints: CheckpointStore
    faults: Faults
    published: int
    stopped: str
    #: The read model every correct projection of this run ends with (from what the scanners published).
    expected: Expected = ({}, {})
    samples: list[LagSample] = field(default_factory=list)

    def events(self) -> list[Event]:
        """Every record's event, partition by partition (duplicates included)."""
        return [r.event for r in self.topic.records()]


def _publish_scans(sim: Simulation, log: EventLog, packages: int, scans_per_package: int, duration_ms: float,
                   hop_ms: float, upload_ms: float, duplicate: float,
                   burst: Optional[tuple[float, int]]) -> tuple[int, float, Expected]:
    """Schedule every scan's upload; returns (uploads scheduled, time by which all are appended (ms), expected).

    A package enters at a uniform time in ``[0, duration_ms]`` and is scanned at depots
    ``hop_ms`` apart on average; each upload takes uniform ``[0, upload_ms]``, so scans of one
    package closer than that may reach the log out of version order.  With probability
    ``duplicate`` a scan is uploaded twice (a retry after a lost acknowledgement).
    """
    rng = sim.rng("lab05/scanners")
    producer = Producer(sim, log, TOPIC, name="scanners", latency=f"uniform:0,{upload_ms}" if upload_ms else 0.0)
    plan: list[tuple[float, str, int, str]] = []
    for i in range(packages):
        at = rng.uniform(0, duration_ms)
        for v in range(1, scans_per_package + 1):
            plan.append((at, f"pkg{i:03d}", v, rng.choice(DEPOTS)))
            at += rng.uniform(0, 2 * hop_ms)
    if burst is not None:  # a sorting centre that was offline uploads its backlog at once
        when, n = burst
        plan.extend((when, f"bulk{j:04d}", 1, DEPOTS[j % len(DEPOTS)]) for j in range(n))
    plan.sort()
    # What was scanned, straight from the plan: a scan per entry, the highest version places the package.
    scans: dict[str, int] = {}
    newest: dict[str, tuple[int, str]] = {}
    for _, package, version, depot in plan:
        scans[depot] = scans.get(depot, 0) + 1
        newest[package] = max(newest.get(package, (0, "")), (version, depot))
    expected = (scans, {p: d for p, (_, d) in newest.items()})
    sent, last = 0, 0.0
    for at, package, version, depot in plan:
        event = scan(f"scan-{package}-{version}", package, version, depot, at)
        for c in range(2 if rng.random() < duplicate else 1):
            when = at + c * rng.uniform(0, upload_ms or 1.0)
            sim.schedule(when, producer.publish, event)
            sent += 1
            last = max(last, when)
    return sent, last + upload_ms, expected


def run_projection(make_projector: Callable[[Topic, Any, CheckpointStore], Any], view: Any, seed: int = 0, *,
                   packages: int = 20, scans_per_package: int = 4, partitions: int = 3, duration_ms: float = 400.0,
                   hop_ms: float = 20.0, upload_ms: float = 60.0, duplicate: float = 0.2, step_ms: float = 2.0,
                   crash_after_writes: Iterable[int] = (), restart_ms: float = 50.0,
                   burst: Optional[tuple[float, int]] = None, alarm: Any = None,
                   sample_ms: Optional[float] = None,
                   age: Optional[Callable[[Topic, CheckpointStore, float], float]] = None) -> ProjectionRun:
    """Scanners publish, a projector from ``make_projector(topic, view, checkpoints)`` applies, crashes restart it.

    The projector takes one record per ``step_ms`` (partitions in turn) while there is work,
    and waits for the next append when there is none.  A crash (raised right after a scheduled
    durable write) discards it; ``restart_ms`` later a new one is made from the same durable
    view and checkpoints.  With ``sample_ms`` the run records, every ``sample_ms``, the number
    of unapplied records, the backlog age by ``age(topic, checkpoints, now)`` when given, and,
    with an ``alarm``, its ``fires`` answer.
    """
    sim = Simulation(seed, max_events=EVENT_BUDGET)
    log = EventLog(sim)
    topic = log.create_topic(TOPIC, partitions)
    published, last_upload, expected = _publish_scans(sim, log, packages, scans_per_package, duration_ms, hop_ms,
                                                      upload_ms, duplicate, burst)
    faults = Faults(sim, crash_after_writes)
    checkpoints = CheckpointStore(partitions, faults)
    durable = DurableView(view, faults)
    run = ProjectionRun(topic, durable, checkpoints, faults, published, "", expected)
    box: dict[str, Any] = {"projector": make_projector(topic, durable, checkpoints), "turn": 0, "busy": True}

    def restart() -> None:
        box["projector"] = make_projector(topic, durable, checkpoints)
        box["busy"] = True
        sim.call_soon(tick)

    def tick() -> None:
        projector = box["projector"]
        try:
            for i in range(partitions):
                p = (box["turn"] + i) % partitions
                if projector.step(p):
                    box["turn"] = p + 1
                    sim.schedule(step_ms, tick)
                    return
        except SimulatedCrash:
            box["projector"], box["busy"] = None, False
            sim.schedule(restart_ms, restart)
            return
        box["busy"] = False  # nothing to do: wait for the next append

    def appended(_record: Any) -> None:
        if box["projector"] is not None and not box["busy"]:
            box["busy"] = True
            sim.schedule(step_ms, tick)

    def sample() -> None:
        fires = None if alarm is None else bool(alarm.fires(topic, checkpoints, sim.now))
        run.samples.append(LagSample(sim.now, None if age is None else float(age(topic, checkpoints, sim.now)),
                                     unapplied_count(topic, checkpoints), fires))
        if box["projector"] is None or sim.now < last_upload or unapplied_count(topic, checkpoints):
            sim.schedule(sample_ms, sample)

    log.subscribe(TOPIC, appended)
    sim.call_soon(tick)
    if sample_ms is not None:
        sim.call_soon(sample)
    crashes = len(faults.crash_after)
    bound = last_upload + (published + crashes + 10) * step_ms * 2 + crashes * restart_ms + 10 * (sample_ms or 0) \
        + 1_000.0
    reason = sim.run_bounded(bound)
    run.stopped = stop_note("done" if reason == "idle" else reason, bound, "the projector was still running")
    return run


def run_consumer_group(view: Any, seed: int = 0, *, packages: int = 20, scans_per_package: int = 4,
                       partitions: int = 3, consumers: int = 2, duplicate: float = 0.3,
                       crash_before_commit: float = 0.1, upload_ms: float = 60.0) -> "GroupRun":
    """Feed ``view.apply`` from a consumer group (duplicates, crashes before commit)."""

    class Handler:
        """The consumer group's handler: every delivery goes to ``view.apply``."""

        def handle(self, event: Event) -> str:
            """Apply one delivery to the view."""
            view.apply(event)
            return "applied"

    sim = Simulation(seed, max_events=EVENT_BUDGET)
    log = EventLog(sim)
    log.create_topic(TOPIC, partitions)
    _, last_upload, expected = _publish_scans(sim, log, packages, scans_per_package, 400.0, 20.0, upload_ms, 0.1,
                                              None)
    group = ConsumerGroup(sim, log, TOPIC, Handler(), group_id="view", consumers=consumers,
                          processing_time="uniform:0.5,2", duplicate=duplicate,
                          crash_before_commit=crash_before_commit, restart_after_ms=20.0, session_timeout_ms=30.0)
    sim.run_bounded(last_upload + 30_000.0)
    return GroupRun(log.events(TOPIC), group, expected)


@dataclass(frozen=True)
class GroupRun:
    """The outcome of :func:`run_consumer_group`: the log's events, the group, the read model to expect."""

    events: list[Event]
    group: Any
    expected: Expected
