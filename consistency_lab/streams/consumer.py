"""Consumer groups: at-least-once processing of a topic by members that crash and rejoin.

A :class:`ConsumerGroup` reads one topic on behalf of one downstream *handler*
(the service's database, say) with one or more :class:`Consumer` members.  The
contract mirrors Kafka's, reduced to what the course needs:

* **Assignment.**  Each partition is owned by at most one live member: partitions
  are dealt round-robin over the live members sorted by name
  (:func:`assign_partitions`, a pure function), so every rebalance with the same
  members gives the same assignment.
* **Processing.**  A member takes one record at a time from its partitions (in
  turn, so events of different partitions interleave), spends a processing time
  drawn from ``processing_time`` (times its ``slowdown``), then calls
  ``handler.handle(event)``: the effect happens at the *end* of processing.
* **Commits.**  After every ``commit_every`` handled records the member commits its
  positions.  A member that crashes loses its uncommitted progress; whoever owns
  the partition next resumes from the committed offset, so records handled but not
  committed are **delivered again** (at-least-once).
* **Rebalancing.**  A member that joins (or restarts) triggers a rebalance at once;
  a member that crashes is noticed after ``session_timeout_ms``, during which its
  partitions stall.  A member that loses a partition commits what it has handled;
  a record still being processed for a lost partition is discarded unapplied.
* **Failures.**  A handler that raises is retried after ``retry_backoff_ms``; after
  ``max_attempts`` failed attempts the record goes to the dead-letter topic and the
  group moves on.  A handler that raises :class:`SimulatedCrash` crashes the member
  instead (this is how "crash between apply and commit" is injected).

Random draws come from the streams ``"group/<id>"`` (processing times) and
``"group/<id>/faults"`` (injected duplicates and crashes), so switching a fault on
never shifts the processing times.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable, Optional, Protocol, Sequence, Union, runtime_checkable

from ..latency import Latency, parse_latency
from ..sim import Simulation, Timer
from ..validation import count, non_negative, probability, text
from .log import Event, EventLog, Record

if TYPE_CHECKING:  # pragma: no cover
    from .lineage import Lineage

__all__ = ["EventHandler", "SimulatedCrash", "DeadLetter", "Consumer", "ConsumerGroup", "assign_partitions"]


@runtime_checkable
class EventHandler(Protocol):
    """The plug-in interface between a consumer group and the code that applies events.

    ``handle(event)`` is called once per *delivery*, which under at-least-once
    processing may be more than once per event, and not necessarily in production
    order across partitions.  It should make the event's effect durable before it
    returns.  It may return an outcome word for lineage ("applied", "duplicate",
    "stale", "held"); returning None means "applied".  Raising an exception counts as
    a failed attempt (retried, then dead-lettered); raising :class:`SimulatedCrash`
    crashes the consumer that called it.  A handler's own state should survive
    consumer crashes: it stands for a database, not for the consumer's memory.
    """

    def handle(self, event: Event) -> Optional[str]:
        """Apply one delivered event; return an outcome word or None."""
        ...


class SimulatedCrash(Exception):
    """Raised at an injected crash point to crash the consumer that is handling an event.

    ``restart_after_ms`` overrides the group's restart delay (None: use the group's).
    """

    def __init__(self, message: str = "simulated crash", restart_after_ms: Optional[float] = None) -> None:
        super().__init__(message)
        self.restart_after_ms = restart_after_ms


@dataclass(frozen=True)
class DeadLetter:
    """A record given up on after ``attempts`` failures, with the last error and the time (ms)."""

    record: Record
    attempts: int
    reason: str
    time: float
    consumer: str


def assign_partitions(members: Sequence[str], partitions: Sequence[int]) -> dict[str, list[int]]:
    """Deal ``partitions`` round-robin over ``members`` sorted by name: member -> its partitions, ascending.

    Pure and deterministic: the order in which members are given does not matter,
    every member appears in the result (possibly with no partitions), the counts
    differ by at most one, and each member's list is in ascending order.  With no
    members the result is empty (every partition is unowned).
    """
    names = sorted(members)
    if len(set(names)) != len(names):
        raise ValueError(f"members={list(members)!r} must be distinct names")
    parts = sorted(partitions)
    if len(set(parts)) != len(parts):
        raise ValueError(f"partitions={list(partitions)!r} must be distinct partition numbers")
    out: dict[str, list[int]] = {name: [] for name in names}
    if not names:
        return out
    for i, p in enumerate(parts):
        out[names[i % len(names)]].append(p)
    return out


class Consumer:
    """One member of a consumer group: processes its partitions one record at a time.

    Its positions, uncommitted progress and retry counters are volatile: a crash
    forgets them.  Create members with :meth:`ConsumerGroup.add_consumer`.
    """

    def __init__(self, group: "ConsumerGroup", name: str, slowdown: float = 1.0) -> None:
        self.group = group
        self.sim = group.sim
        self.name = name
        self.slowdown = slowdown
        self.alive = True
        #: False once the group has noticed a crash (session expired), until the next restart.
        self.in_session = True
        self.assigned: list[int] = []
        self._incarnation = 0
        self._reset()

    def _reset(self) -> None:
        self.busy = False
        self.positions: dict[int, int] = {}
        self._uncommitted: dict[int, int] = {}
        self._since_commit = 0
        self._attempts: dict[tuple[int, int], int] = {}
        self._duplicate: Optional[Record] = None
        self._waiting = False
        self._poll_timer: Optional[Timer] = None
        self._turn = 0

    # -- lifecycle -----------------------------------------------------------
    def crash(self, restart_after_ms: Optional[float] = None) -> None:
        """Stop now, forgetting uncommitted progress; restart after ``restart_after_ms`` if given."""
        # Checked first, so a bad delay is refused before the member goes down.
        delay = None if restart_after_ms is None else non_negative("restart_after_ms", restart_after_ms, "ms")
        if not self.alive:
            return
        self.alive = False
        self._incarnation += 1
        if self._poll_timer is not None:
            self._poll_timer.cancel()
        self._reset()
        self.sim.record("crash", self.name)
        self.group._member_crashed(self)
        if delay is not None:
            self.sim.schedule(delay, self._restart_if, self._incarnation)

    def restart(self) -> None:
        """Come back and rejoin the group (which rebalances)."""
        if self.alive:
            return
        self.alive = True
        self.in_session = True
        self._incarnation += 1  # timers of the old life stay silent
        self.sim.record("restart", self.name)
        self.group._member_joined(self)

    def _restart_if(self, incarnation: int) -> None:
        if not self.alive and self._incarnation == incarnation:
            self.restart()

    # -- the processing loop ---------------------------------------------------
    def _poll(self) -> None:
        if not self.alive or self.busy:
            return
        record, duplicate = self._next_record()
        if record is None:
            if self.group.poll_interval_ms > 0:
                if self._poll_timer is None or self._poll_timer.cancelled:
                    self._poll_timer = self.sim.schedule(self.group.poll_interval_ms, self._poll_tick,
                                                         self._incarnation)
            else:
                self._waiting = True
            return
        self._start(record, duplicate)

    def _poll_tick(self, incarnation: int) -> None:
        if incarnation == self._incarnation:
            self._poll_timer = None
            self._poll()

    def _next_record(self) -> tuple[Optional[Record], bool]:
        group = self.group
        if self._duplicate is not None:
            record, self._duplicate = self._duplicate, None
            if group._owner[record.partition] == self.name:
                return record, True
        n = len(self.assigned)
        partitions = group._topic.partitions
        for i in range(n):
            p = self.assigned[(self._turn + i) % n]
            part = partitions[p]
            pos = self.positions[p]
            if pos < part.base_offset:
                # Retention removed records this group never processed: they are gone for good.
                group.skipped_by_retention += part.base_offset - pos
                pos = self.positions[p] = part.base_offset
            record = part.read(pos)
            if record is not None:
                self._turn = (self._turn + i + 1) % n
                return record, False
        return None, False

    def _start(self, record: Record, duplicate: bool, retry: bool = False) -> None:
        self.busy = True
        group = self.group
        group._on_delivery(self, record, retry)
        delay = group.processing_time.sample(group._rng) * self.slowdown
        p = record.partition
        self.sim.schedule(delay, self._finish, record, duplicate, self._incarnation, group._owner_gen[p])

    def _finish(self, record: Record, duplicate: bool, incarnation: int, generation: int) -> None:
        if incarnation != self._incarnation:
            return  # this work belonged to a previous life
        group = self.group
        p = record.partition
        if group._owner[p] != self.name or group._owner_gen[p] != generation:
            # The partition moved while we worked: the new owner redoes it from the committed offset.
            self.busy = False
            self._poll()
            return
        try:
            outcome = group.handler.handle(record.event)
        except SimulatedCrash as crash:
            group._note(record, "crashed", self.name, str(crash))
            delay = crash.restart_after_ms if crash.restart_after_ms is not None else group.restart_after_ms
            self.crash(delay)
            return
        except Exception as exc:  # any other handler error is a failed attempt
            key = (p, record.offset)
            attempts = self._attempts.get(key, 0) + 1
            if attempts < group.max_attempts:
                self._attempts[key] = attempts
                group.failures += 1
                group._note(record, "retried", self.name, f"attempt {attempts} failed: {exc!r}")
                self.sim.schedule(group.retry_backoff_ms, self._retry, record, incarnation, generation)
                return
            self._attempts.pop(key, None)
            group.failures += 1
            group._dead_letter(self, record, attempts, repr(exc))
        else:
            self._attempts.pop((p, record.offset), None)
            group._on_handled(self, record, outcome)
        self._advance(record, duplicate)

    def _retry(self, record: Record, incarnation: int, generation: int) -> None:
        if incarnation != self._incarnation:
            return
        p = record.partition
        if self.group._owner[p] == self.name and self.group._owner_gen[p] == generation:
            self._start(record, False, retry=True)
        else:
            self.busy = False
            self._poll()

    def _advance(self, record: Record, duplicate: bool) -> None:
        group = self.group
        p = record.partition
        if record.offset + 1 > self.positions.get(p, 0):
            self.positions[p] = record.offset + 1
        if not duplicate and group.duplicate and group._fault_rng.random() < group.duplicate:
            self._duplicate = record  # the next delivery is this record again
        self._uncommitted[p] = self.positions[p]
        self._since_commit += 1
        if group.crash_before_commit and group._fault_rng.random() < group.crash_before_commit:
            group._note(record, "crashed", self.name, "after apply, before commit")
            self.crash(group.restart_after_ms)
            return
        if self._since_commit >= group.commit_every:
            self.commit()
        self.busy = False
        self._poll()

    def commit(self) -> None:
        """Commit the positions of everything this member has handled so far."""
        committed = self.group.committed
        for p, pos in self._uncommitted.items():
            committed[p] = pos
        self._uncommitted.clear()
        self._since_commit = 0
        self.group._committed_changed()

    def _revoke(self, partitions: Sequence[int]) -> None:
        moved = False
        for p in partitions:
            if p in self._uncommitted:
                self.group.committed[p] = self._uncommitted.pop(p)
                moved = True
            self.positions.pop(p, None)
        if moved:
            self.group._committed_changed()
        if self._duplicate is not None and self._duplicate.partition in partitions:
            self._duplicate = None


class ConsumerGroup:
    """Members sharing one topic's partitions, feeding one handler, with committed offsets.

    ``consumers`` is a count (members ``"<group_id>-0"``, ``-1``...) or a list of
    names.  Fault knobs: ``duplicate`` (probability a handled record is delivered
    once more right away), ``crash_before_commit`` (probability a member crashes
    after handling a record but before committing it; it restarts after
    ``restart_after_ms``, None = stays down).  Times are in ms.
    """

    def __init__(self, sim: Simulation, log: EventLog, topic: str, handler: EventHandler, *,
                 group_id: str = "group", consumers: Union[int, Sequence[str]] = 1,
                 processing_time: "Latency | str | float" = 1.0, commit_every: int = 1,
                 max_attempts: int = 3, retry_backoff_ms: float = 10.0, duplicate: float = 0.0,
                 crash_before_commit: float = 0.0, restart_after_ms: Optional[float] = 100.0,
                 session_timeout_ms: float = 100.0, poll_interval_ms: float = 0.0,
                 dead_letter_topic: Optional[str] = None, lineage: Optional["Lineage"] = None) -> None:
        if not callable(getattr(handler, "handle", None)):
            raise ValueError(f"handler={handler!r} must have a handle(event) method (see EventHandler)")
        text("group_id", group_id)
        self.sim = sim
        self.log = log
        self.topic = topic
        self._topic = log.topic(topic)
        self.handler = handler
        self.group_id = group_id
        self.processing_time = parse_latency(processing_time, "processing_time")
        self.commit_every = count("commit_every", commit_every)
        self.max_attempts = count("max_attempts", max_attempts)
        self.retry_backoff_ms = non_negative("retry_backoff_ms", retry_backoff_ms, "ms")
        self.duplicate = probability("duplicate", duplicate)
        self.crash_before_commit = probability("crash_before_commit", crash_before_commit)
        self.restart_after_ms = None if restart_after_ms is None else non_negative("restart_after_ms",
                                                                                   restart_after_ms, "ms")
        self.session_timeout_ms = non_negative("session_timeout_ms", session_timeout_ms, "ms")
        self.poll_interval_ms = non_negative("poll_interval_ms", poll_interval_ms, "ms")
        self.dead_letter_topic = dead_letter_topic or f"{topic}.dlq"
        if self.dead_letter_topic not in log.topics:
            log.create_topic(self.dead_letter_topic, 1)
        self.lineage = lineage
        self._rng = sim.rng(f"group/{group_id}")
        self._fault_rng = sim.rng(f"group/{group_id}/faults")

        n = len(self._topic.partitions)
        #: Committed offset per partition: where a new owner starts reading.
        self.committed: list[int] = [0] * n
        # High-water marks per partition: offsets delivered (to spot redeliveries) and handled.
        self._delivered: list[int] = [0] * n
        self._handled: list[int] = [0] * n
        self._owner: list[Optional[str]] = [None] * n
        self._owner_gen: list[int] = [0] * n
        self.generation = 0
        self.members: dict[str, Consumer] = {}

        self.deliveries = 0
        self.redeliveries = 0
        self.processed = 0
        self.failures = 0
        self.rebalances = 0
        self.crashes = 0
        self.skipped_by_retention = 0
        self.dead_letters: list[DeadLetter] = []
        self._commit_watchers: list[Callable[[], None]] = []
        #: (handled_at_ms, handled_at - appended_at) for each record handled for the first time.
        self.processing_lags: list[tuple[float, float]] = []

        if isinstance(consumers, int) and not isinstance(consumers, bool):
            names = [f"{group_id}-{i}" for i in range(count("consumers", consumers))]
        elif isinstance(consumers, (list, tuple)) and consumers:
            names = list(consumers)
        else:
            raise ValueError(f"consumers={consumers!r} must be an integer >= 1 or a non-empty list of names")
        log.subscribe(topic, self._on_append)
        for name in names:
            self._add(name, 1.0)
        self._rebalance("start")

    # -- membership --------------------------------------------------------------
    def add_consumer(self, name: Optional[str] = None, *, slowdown: float = 1.0) -> Consumer:
        """Add a member (it joins now and the group rebalances); returns it."""
        consumer = self._add(name or f"{self.group_id}-{len(self.members)}", slowdown)
        self._rebalance(f"{consumer.name} joined")
        return consumer

    def _add(self, name: str, slowdown: float) -> Consumer:
        if not isinstance(name, str) or not name:
            raise ValueError(f"consumer name {name!r} must be a non-empty string")
        if name in self.members:
            raise ValueError(f"consumer {name!r} is already a member of group {self.group_id!r}")
        if isinstance(slowdown, bool) or not isinstance(slowdown, (int, float)) or not slowdown > 0:
            raise ValueError(f"slowdown={slowdown!r} must be a number > 0 (2 = twice as slow)")
        consumer = Consumer(self, name, float(slowdown))
        self.members[name] = consumer
        return consumer

    def consumer(self, name: str) -> Consumer:
        """The member called ``name``, with an error listing the members."""
        try:
            return self.members[name]
        except KeyError:
            raise ValueError(f"unknown consumer {name!r}; members: {', '.join(self.members)}") from None

    def crash(self, name: str, restart_after_ms: Optional[float] = None) -> None:
        """Crash member ``name`` now; it restarts after ``restart_after_ms`` ms if given."""
        self.consumer(name).crash(restart_after_ms)

    def restart(self, name: str) -> None:
        """Restart crashed member ``name`` (it rejoins and the group rebalances)."""
        self.consumer(name).restart()

    def set_slowdown(self, name: str, slowdown: float) -> None:
        """Make member ``name`` take ``slowdown`` times longer per record (a slow consumer)."""
        if isinstance(slowdown, bool) or not isinstance(slowdown, (int, float)) or not slowdown > 0:
            raise ValueError(f"slowdown={slowdown!r} must be a number > 0 (2 = twice as slow)")
        self.consumer(name).slowdown = float(slowdown)

    def assignment(self) -> dict[str, list[int]]:
        """Partitions owned by each member (crashed members keep theirs until their session expires)."""
        return {name: list(c.assigned) for name, c in self.members.items()}

    def _member_crashed(self, consumer: Consumer) -> None:
        self.crashes += 1
        self.sim.schedule(self.session_timeout_ms, self._session_expired, consumer, consumer._incarnation)

    def _session_expired(self, consumer: Consumer, incarnation: int) -> None:
        if not consumer.alive and consumer._incarnation == incarnation:
            consumer.in_session = False
            self._rebalance(f"{consumer.name} session expired")

    def _member_joined(self, consumer: Consumer) -> None:
        self._rebalance(f"{consumer.name} rejoined")

    def _rebalance(self, reason: str) -> None:
        self.generation += 1
        self.rebalances += 1
        live = sorted((c for c in self.members.values() if c.alive), key=lambda c: c.name)
        # A crashed member whose session has not expired keeps its partitions (they stall).
        keep = {p for p, owner in enumerate(self._owner)
                if owner is not None and not self.members[owner].alive and self.members[owner].in_session}
        free = [p for p in range(len(self._owner)) if p not in keep]
        new_owner: list[Optional[str]] = list(self._owner)
        for p in free:
            new_owner[p] = None  # unowned unless a live member gets it below
        for name, owned in assign_partitions([c.name for c in live], free).items():
            for p in owned:
                new_owner[p] = name
        for c in live:
            revoked = [p for p in c.assigned if new_owner[p] != c.name]
            if revoked:
                c._revoke(revoked)
        for p, owner in enumerate(new_owner):
            if owner != self._owner[p]:
                self._owner[p] = owner
                self._owner_gen[p] = self.generation
        for c in self.members.values():
            c.assigned = [p for p, owner in enumerate(new_owner) if owner == c.name]
            if c.alive:
                for p in c.assigned:
                    if p not in c.positions:
                        c.positions[p] = self.committed[p]
        self.sim.record("note", self.group_id, "", "rebalance", -1,
                        f"{reason}: " + " ".join(f"{c.name}={c.assigned}" for c in live))
        for c in live:
            c._waiting = False
            c._poll()

    def _on_append(self, record: Record) -> None:
        owner = self._owner[record.partition]
        if owner is not None:
            consumer = self.members[owner]
            if consumer._waiting:
                consumer._waiting = False
                consumer._poll()

    # -- bookkeeping ---------------------------------------------------------------
    def _note(self, record: Record, step: str, service: str, detail: str = "") -> None:
        if self.lineage is not None:
            self.lineage.record(record.event, step, service, detail)

    def _on_delivery(self, consumer: Consumer, record: Record, retry: bool) -> None:
        self.deliveries += 1
        p = record.partition
        if retry:
            step = "delivered"
        elif record.offset < self._delivered[p]:
            self.redeliveries += 1
            step = "redelivered"
        else:
            self._delivered[p] = record.offset + 1
            step = "delivered"
        if self.lineage is not None:
            where = f"{self.topic}[{p}]@{record.offset}"
            self.lineage.record(record.event, step, consumer.name, f"{where} again after a failure" if retry else where)

    def _on_handled(self, consumer: Consumer, record: Record, outcome: Optional[str]) -> None:
        p = record.partition
        if record.offset >= self._handled[p]:
            self._handled[p] = record.offset + 1
            self.processed += 1
            now = self.sim.now
            self.processing_lags.append((now, now - record.appended_at))
        if self.lineage is not None:
            self.lineage.record(record.event, outcome if isinstance(outcome, str) and outcome else "applied",
                                consumer.name)

    def _dead_letter(self, consumer: Consumer, record: Record, attempts: int, reason: str) -> None:
        p = record.partition
        if record.offset >= self._handled[p]:
            self._handled[p] = record.offset + 1
        self.dead_letters.append(DeadLetter(record, attempts, reason, self.sim.now, consumer.name))
        self.log.append(self.dead_letter_topic, record.event)
        self._note(record, "dead_lettered", consumer.name, f"after {attempts} attempts: {reason}")

    def watch_commits(self, callback: Callable[[], None]) -> None:
        """Call ``callback()`` after every commit of this group (an alarm re-checks its backlog then)."""
        if not callable(callback):
            raise ValueError(f"callback={callback!r} must be callable with no arguments")
        self._commit_watchers.append(callback)

    def _committed_changed(self) -> None:
        for callback in self._commit_watchers:
            callback()

    # -- measurements ----------------------------------------------------------------
    def oldest_uncommitted(self) -> Optional[Record]:
        """The earliest-appended record this group has not committed yet (None when caught up)."""
        oldest = None
        for part, c in zip(self._topic.partitions, self.committed, strict=True):
            record = part.read(max(c, part.base_offset))
            if record is not None and (oldest is None or record.appended_at < oldest.appended_at):
                oldest = record
        return oldest

    def partition_lag(self) -> list[int]:
        """Per partition: records between the committed offset and the log end."""
        return [part.end_offset - max(c, part.base_offset)
                for part, c in zip(self._topic.partitions, self.committed, strict=True)]

    def lag_offsets(self) -> int:
        """Consumer lag in records: the sum over partitions of (log end - committed offset)."""
        return sum(self.partition_lag())

    def backlog_age_ms(self) -> float:
        """Age (ms) of the oldest record not yet committed by this group; 0 when caught up."""
        oldest = self.oldest_uncommitted()
        return 0.0 if oldest is None else self.sim.now - oldest.appended_at

    def idle(self) -> bool:
        """True when every record is committed and no member is mid-record."""
        return self.lag_offsets() == 0 and not any(c.busy for c in self.members.values())

    def stats(self) -> dict[str, float]:
        """Counters so far: deliveries, redeliveries, processed, failures, dead letters, rebalances..."""
        return {
            "deliveries": self.deliveries,
            "redeliveries": self.redeliveries,
            "processed": self.processed,
            "failures": self.failures,
            "dead_letters": len(self.dead_letters),
            "rebalances": self.rebalances,
            "crashes": self.crashes,
            "skipped_by_retention": self.skipped_by_retention,
            "lag_offsets": self.lag_offsets(),
        }
