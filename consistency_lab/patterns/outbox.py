"""The transactional outbox versus "write the row, then publish".

A service that changes its own data and tells others about it makes two writes:
its database row and an event on the log.  :class:`OutboxService` runs either way:

``mode="outbox"``
    the row and an *outbox entry* are committed in one local transaction; a relay
    polls the outbox every ``relay_interval_ms``, publishes unpublished entries in
    commit order and marks them published when the broker acknowledges.  A crash
    after the broker appended but before the mark makes the relay publish the entry
    again after restart: at-least-once, duplicates possible, nothing lost.

``mode="write_then_publish"``
    the row is committed, then the event waits in the service's memory (a client-side
    send buffer) for ``publish_latency`` before it reaches the broker.  A crash in that
    gap loses the event for good, although the row is there: the lost update that
    reconciliation jobs exist to find.

Crashes come from :meth:`OutboxService.crash` (by hand or from a schedule) or from
``crash_after_write``: the probability that the service crashes right after a
commit, i.e. exactly between the two steps.  Draws come from ``"outbox/<name>"``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Mapping, Optional

from ..latency import Latency, parse_latency
from ..sim import Simulation
from ..streams.log import Event, EventLog
from ..validation import choice, count, non_negative, optional, positive, probability

if TYPE_CHECKING:  # pragma: no cover
    from ..streams.lineage import Lineage

__all__ = ["OUTBOX_MODES", "OutboxEntry", "OutboxService"]

#: Modes accepted by :class:`OutboxService`.
OUTBOX_MODES = ("outbox", "write_then_publish")


@dataclass
class OutboxEntry:
    """One row of the outbox table: the event, when it was committed, and whether it is published."""

    event: Event
    committed_at: float
    published: bool = False
    sends: int = 0


class OutboxService:
    """A service with a local database (rows, versions, outbox) that publishes its changes.

    Durable state (survives :meth:`crash`): ``rows``, per-key versions, ``outbox``,
    ``committed`` (every committed change's event, in commit order).  Volatile
    state: sends in flight.  While down, :meth:`write` refuses and returns None.
    """

    def __init__(self, sim: Simulation, log: EventLog, topic: str, *, name: str = "service",
                 mode: str = "outbox", relay_interval_ms: float = 10.0,
                 publish_latency: "Latency | str | float" = 1.0, relay_batch: int = 100,
                 crash_after_write: float = 0.0, restart_after_ms: Optional[float] = 50.0,
                 lineage: Optional["Lineage"] = None) -> None:
        self.mode = choice("mode", mode, OUTBOX_MODES)
        # Infinite intervals and restart delays stay allowed: "the relay never runs", "restart never".
        self.relay_interval_ms = positive("relay_interval_ms", relay_interval_ms, "ms", allow_inf=True)
        self.relay_batch = count("relay_batch", relay_batch, unit="entries per relay pass")
        self.crash_after_write = probability("crash_after_write", crash_after_write)
        self.restart_after_ms = optional(non_negative, "restart_after_ms", restart_after_ms, "ms",
                                         allow_inf=True, none_means="stay down")
        log.topic(topic)
        self.sim = sim
        self.log = log
        self.topic = topic
        self.name = name
        self.publish_latency = parse_latency(publish_latency, "publish_latency")
        self.lineage = lineage
        self._rng = sim.rng(f"outbox/{name}")
        # durable
        self.rows: dict[str, dict[str, Any]] = {}
        self.versions: dict[str, int] = {}
        self.outbox: list[OutboxEntry] = []
        self.committed: list[Event] = []
        self._count = 0
        self._first_unpublished = 0
        # volatile
        self.alive = True
        self.crashes = 0
        self._incarnation = 0
        self._sending: dict[str, None] = {}
        if mode == "outbox":
            self.sim.schedule(self.relay_interval_ms, self._relay, self._incarnation)

    # -- the write path ------------------------------------------------------------
    def write(self, key: str, type: str, payload: Optional[Mapping[str, Any]] = None) -> Optional[Event]:
        """Change row ``key`` and emit its event; returns the event, or None if the service is down."""
        if not self.alive:
            return None
        self._count += 1
        version = self.versions.get(key, 0) + 1
        event = Event(f"{self.name}-{self._count}", key, type, payload or {}, version,
                      produced_at=self.sim.now, source=self.name)
        # One local transaction: row, version, the record of the change and (outbox mode) the outbox entry.
        self.rows[key] = dict(payload or {})
        self.versions[key] = version
        self.committed.append(event)
        if self.mode == "outbox":
            self.outbox.append(OutboxEntry(event, self.sim.now))
        self._note(event, "written", f"{self.mode}: row committed")
        if self.crash_after_write and self._rng.random() < self.crash_after_write:
            self.crash(self.restart_after_ms)
            return event
        if self.mode == "write_then_publish":
            self._sending[event.event_id] = None
            self.sim.schedule(self.publish_latency.sample(self._rng), self._send_now, event, self._incarnation)
        return event

    def _send_now(self, event: Event, incarnation: int) -> None:
        if incarnation != self._incarnation:
            return  # the send buffer died with the process
        self._sending.pop(event.event_id, None)
        self._note(event, "published", "after the row was committed")
        self.log.append(self.topic, event)

    # -- the relay -------------------------------------------------------------------
    def _relay(self, incarnation: int) -> None:
        if incarnation != self._incarnation:
            return
        while self._first_unpublished < len(self.outbox) and self.outbox[self._first_unpublished].published:
            self._first_unpublished += 1
        batch = [e for e in self.outbox[self._first_unpublished:]
                 if not e.published and e.event.event_id not in self._sending][:self.relay_batch]
        if batch:
            for entry in batch:
                entry.sends += 1
                self._sending[entry.event.event_id] = None
                self._note(entry.event, "published", f"relay send {entry.sends}")
            # One request per batch keeps commit order on the log.
            self.sim.schedule(self.publish_latency.sample(self._rng), self._broker_append, batch, incarnation)
        self.sim.schedule(self.relay_interval_ms, self._relay, incarnation)

    def _broker_append(self, batch: list[OutboxEntry], incarnation: int) -> None:
        # The broker appends whatever reached it, whether or not the sender is still alive.
        for entry in batch:
            self.log.append(self.topic, entry.event)
        self.sim.schedule(self.publish_latency.sample(self._rng), self._acked, batch, incarnation)

    def _acked(self, batch: list[OutboxEntry], incarnation: int) -> None:
        if incarnation != self._incarnation:
            return  # the ack reached a dead process: the entries stay unpublished and go again
        for entry in batch:
            entry.published = True
            self._sending.pop(entry.event.event_id, None)

    # -- crashes ---------------------------------------------------------------------
    def crash(self, restart_after_ms: Optional[float] = None) -> None:
        """Crash now (in-flight sends are forgotten); restart after ``restart_after_ms`` if given."""
        restart_after_ms = optional(non_negative, "restart_after_ms", restart_after_ms, "ms",
                                    allow_inf=True, none_means="stay down")
        if not self.alive:
            return
        self.alive = False
        self.crashes += 1
        self._incarnation += 1
        self._sending.clear()
        self.sim.record("crash", self.name)
        if restart_after_ms is not None:
            self.sim.schedule(restart_after_ms, self._restart_if, self._incarnation)

    def _restart_if(self, incarnation: int) -> None:
        if incarnation == self._incarnation:
            self.restart()

    def restart(self) -> None:
        """Come back with the database intact; the relay resumes."""
        if self.alive:
            return
        self.alive = True
        self._incarnation += 1  # timers of the old life stay silent
        self.sim.record("restart", self.name)
        if self.mode == "outbox":
            self.sim.schedule(self.relay_interval_ms, self._relay, self._incarnation)

    # -- what happened ---------------------------------------------------------------
    def pending(self) -> int:
        """Committed changes that may still reach the log (unpublished outbox entries, sends in flight)."""
        if self.mode == "outbox":
            return sum(1 for e in self.outbox[self._first_unpublished:] if not e.published)
        return len(self._sending)

    def lost_events(self) -> list[Event]:
        """Committed changes whose event is not on the log and never will be."""
        on_log = self.log.count_ids(self.topic)
        waiting = set(self._sending)
        if self.mode == "outbox":
            waiting.update(e.event.event_id for e in self.outbox if not e.published)
        return [e for e in self.committed if e.event_id not in on_log and e.event_id not in waiting]

    def stats(self) -> dict[str, int]:
        """Writes committed, events on the log (distinct), duplicates on the log, lost events, pending, crashes."""
        on_log = self.log.count_ids(self.topic)
        mine = [on_log.get(e.event_id, 0) for e in self.committed]
        return {
            "writes": len(self.committed),
            "published": sum(1 for c in mine if c > 0),
            "duplicates_on_log": sum(c - 1 for c in mine if c > 1),
            "lost_events": len(self.lost_events()),
            "pending": self.pending(),
            "crashes": self.crashes,
        }

    def _note(self, event: Event, step: str, detail: str) -> None:
        if self.lineage is not None:
            self.lineage.record(event, step, self.name, detail)
