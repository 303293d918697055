"""An append-only event log: topics split into partitions, offsets, retention, producers.

The log is the durable spine of the eventual world.  Services append events to a
*topic*; the topic routes each event to one *partition* by a stable hash of its key,
so every event of one entity lands in one partition, in append order.  A record's
*offset* is its position in that partition and never changes; retention may drop
old records, after which reading them is impossible (the first retained offset
moves up).

Nothing here is random or timed by itself: time comes from the :class:`Simulation`
and the only random choices (a producer's publish delay and loss) come from named
streams.  The log is a plain durable object, not a node: it never crashes.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Callable, Iterator, Mapping, Optional

from ..latency import Latency, parse_latency
from ..sim import Simulation
from ..validation import count, optional, positive, probability, text

if TYPE_CHECKING:  # pragma: no cover
    from .lineage import Lineage

__all__ = ["Event", "Record", "PartitionLog", "Topic", "EventLog", "Producer", "partition_for"]


@dataclass(frozen=True)
class Event:
    """One immutable fact: what happened to which entity, and where it came from.

    ``version`` is the entity's sequence number (1, 2, 3... per key) when the producer
    knows it, else None.  ``correlation_id`` names the whole story an event belongs to
    (it defaults to the event's own id: a root event starts a story) and
    ``causation_id`` the event that directly caused this one ("" for a root).
    ``produced_at`` is the virtual time (ms) the producer created it and ``source``
    the producing service.  Events are equal when all fields are equal, and hash by
    ``event_id``; the payload is stored as a read-only mapping.
    """

    event_id: str
    key: str
    type: str
    payload: Mapping[str, Any] = field(default_factory=dict)
    version: Optional[int] = None
    correlation_id: str = ""
    causation_id: str = ""
    produced_at: float = 0.0
    source: str = ""

    def __post_init__(self) -> None:
        text("event_id", self.event_id)
        if not isinstance(self.key, str):
            raise ValueError(f"key={self.key!r} must be a string")
        text("type", self.type)
        optional(count, "version", self.version)
        if not isinstance(self.payload, Mapping):
            raise ValueError(f"payload={self.payload!r} must be a mapping (e.g. a dict)")
        if not isinstance(self.payload, MappingProxyType):
            object.__setattr__(self, "payload", MappingProxyType(dict(self.payload)))
        if not self.correlation_id:
            object.__setattr__(self, "correlation_id", self.event_id)

    def __hash__(self) -> int:
        return hash(self.event_id)

    def caused(self, event_id: str, key: str, type: str, payload: Optional[Mapping[str, Any]] = None, *,
               version: Optional[int] = None, produced_at: float = 0.0, source: str = "") -> "Event":
        """A new event caused by this one: same correlation id, causation id = this event's id."""
        return Event(event_id, key, type, payload or {}, version, self.correlation_id, self.event_id,
                     produced_at, source)


def partition_for(key: str, partitions: int) -> int:
    """The partition of ``key``: crc32 of its UTF-8 bytes modulo ``partitions`` (stable in every process)."""
    # hash() of a str is salted per process; crc32 gives every run the same placement.
    return zlib.crc32(key.encode("utf-8")) % partitions


@dataclass(frozen=True, slots=True)
class Record:
    """An event at its place in the log: topic, partition, offset and append time (ms)."""

    topic: str
    partition: int
    offset: int
    event: Event
    appended_at: float


class PartitionLog:
    """One partition: records at consecutive offsets, the oldest possibly trimmed by retention."""

    __slots__ = ("topic", "index", "_records", "_start", "base_offset", "trimmed")

    def __init__(self, topic: str, index: int) -> None:
        self.topic = topic
        self.index = index
        self._records: list[Record] = []
        self._start = 0  # records before this list index are trimmed, not yet compacted
        #: The offset of the oldest retained record.
        self.base_offset = 0
        #: How many records retention has removed so far.
        self.trimmed = 0

    @property
    def end_offset(self) -> int:
        """The offset the next appended record will get (the "log end offset")."""
        return self.base_offset + len(self._records) - self._start

    def __len__(self) -> int:
        return len(self._records) - self._start

    def append(self, event: Event, now: float) -> Record:
        """Append ``event`` at the end offset and return its record."""
        record = Record(self.topic, self.index, self.end_offset, event, now)
        self._records.append(record)
        return record

    def read(self, offset: int) -> Optional[Record]:
        """The record at ``offset``, or None if it is trimmed or not written yet."""
        i = offset - self.base_offset
        if i < 0 or i >= len(self._records) - self._start:
            return None
        return self._records[self._start + i]

    def records(self, start: int = 0) -> Iterator[Record]:
        """Retained records from offset ``start`` (or the first retained one) to the end."""
        first = self._start + max(0, start - self.base_offset)
        yield from self._records[first:]

    def oldest(self) -> Optional[Record]:
        """The oldest retained record, or None if the partition is empty."""
        return self._records[self._start] if self._start < len(self._records) else None

    def trim(self, now: float, max_count: Optional[float], max_age_ms: Optional[float]) -> int:
        """Drop records beyond the count limit or older than the age limit; returns how many."""
        dropped = 0
        if max_count is not None:
            excess = len(self) - int(max_count)
            if excess > 0:
                self._start += excess
                dropped += excess
        if max_age_ms is not None:
            records, start = self._records, self._start
            while start < len(records) and now - records[start].appended_at > max_age_ms:
                start += 1
            dropped += start - self._start
            self._start = start
        if dropped:
            self.base_offset += dropped
            self.trimmed += dropped
            if self._start > 1024 and self._start * 2 > len(self._records):
                # Compact rarely so trimming stays O(1) amortised per record.
                del self._records[:self._start]
                self._start = 0
        return dropped


class Topic:
    """A named stream of events split into ``partitions`` partition logs.

    Retention keeps at most ``retention_count`` records per partition and drops
    records older than ``retention_ms``; None keeps everything.  Retention is applied
    whenever a record is appended and whenever :meth:`EventLog.enforce_retention` runs.
    """

    def __init__(self, name: str, partitions: int = 1, *, retention_count: Optional[int] = None,
                 retention_ms: Optional[float] = None) -> None:
        self.name = text("topic", name)
        count("partitions", partitions)
        self.retention_count = optional(count, "retention_count", retention_count, unit="records per partition",
                                        none_means="keep everything")
        self.retention_ms = optional(positive, "retention_ms", retention_ms, "ms", none_means="keep everything")
        self.partitions = [PartitionLog(name, i) for i in range(partitions)]

    def partition_of(self, key: str) -> int:
        """The partition index that events with ``key`` go to."""
        return partition_for(key, len(self.partitions))

    def end_offsets(self) -> list[int]:
        """The log end offset of every partition."""
        return [p.end_offset for p in self.partitions]

    def records(self) -> Iterator[Record]:
        """Every retained record, partition by partition, in offset order."""
        for p in self.partitions:
            yield from p.records()

    def __len__(self) -> int:
        return sum(len(p) for p in self.partitions)


class EventLog:
    """A broker holding topics; appends are durable and ordered within a partition.

    With a ``lineage``, every append is recorded as an "appended" step.  Listeners
    registered with :meth:`subscribe` are called synchronously with each new record
    (consumer groups use this to wake idle consumers without polling).
    """

    def __init__(self, sim: Simulation, *, name: str = "log", lineage: Optional["Lineage"] = None) -> None:
        self.sim = sim
        self.name = text("name", name)
        self.lineage = lineage
        self.topics: dict[str, Topic] = {}
        self._listeners: dict[str, list[Callable[[Record], None]]] = {}

    def create_topic(self, name: str, partitions: int = 1, *, retention_count: Optional[int] = None,
                     retention_ms: Optional[float] = None) -> Topic:
        """Create and return a topic (an error if the name is taken)."""
        if name in self.topics:
            raise ValueError(f"topic {name!r} already exists in log {self.name!r}")
        topic = Topic(name, partitions, retention_count=retention_count, retention_ms=retention_ms)
        self.topics[name] = topic
        self._listeners[name] = []
        return topic

    def topic(self, name: str) -> Topic:
        """The topic called ``name``, with an error listing the known topics."""
        try:
            return self.topics[name]
        except KeyError:
            known = ", ".join(self.topics) or "none yet"
            raise ValueError(f"unknown topic {name!r}; known topics: {known}") from None

    def append(self, topic: str, event: Event) -> Record:
        """Append ``event`` to its key's partition of ``topic`` now, notify listeners, return the record."""
        t = self.topic(topic)
        part = t.partitions[t.partition_of(event.key)]
        record = part.append(event, self.sim.now)
        if t.retention_count is not None or t.retention_ms is not None:
            part.trim(self.sim.now, t.retention_count, t.retention_ms)
        if self.lineage is not None:
            self.lineage.record(event, "appended", self.name, f"{topic}[{record.partition}]@{record.offset}")
        for listener in self._listeners[topic]:
            listener(record)
        return record

    def subscribe(self, topic: str, listener: Callable[[Record], None]) -> None:
        """Call ``listener(record)`` for every record appended to ``topic`` from now on."""
        self.topic(topic)
        self._listeners[topic].append(listener)

    def enforce_retention(self, topic: str) -> int:
        """Apply ``topic``'s retention limits now; returns how many records were dropped."""
        t = self.topic(topic)
        return sum(p.trim(self.sim.now, t.retention_count, t.retention_ms) for p in t.partitions)

    def events(self, topic: str) -> list[Event]:
        """Every retained event of ``topic``, partition by partition, in offset order."""
        return [r.event for r in self.topic(topic).records()]

    def count_ids(self, topic: str) -> dict[str, int]:
        """How many times each event id appears in ``topic`` (duplicates show as counts > 1)."""
        counts: dict[str, int] = {}
        for r in self.topic(topic).records():
            counts[r.event.event_id] = counts.get(r.event.event_id, 0) + 1
        return counts


class Producer:
    """Creates events with deterministic ids and publishes them to one topic.

    Publishing models a fire-and-forget client call: the event reaches the log after
    a delay drawn from ``latency`` (ms), or never, with probability ``loss``.  Two
    events of one key published close together can therefore be appended out of
    order, which is how per-entity reordering enters a partition.  Draws come from
    the stream ``"producer/<name>"``.
    """

    def __init__(self, sim: Simulation, log: EventLog, topic: str, *, name: str = "producer",
                 latency: "Latency | str | float" = 0.0, loss: float = 0.0,
                 lineage: Optional["Lineage"] = None) -> None:
        log.topic(topic)
        self.sim = sim
        self.log = log
        self.topic = topic
        self.name = text("name", name)
        self.latency = parse_latency(latency, "latency")
        self.loss = probability("loss", loss)
        self.lineage = lineage
        self._rng = sim.rng(f"producer/{name}")
        self._count = 0
        self.published = 0
        self.appended = 0
        self.lost = 0

    @property
    def in_flight(self) -> int:
        """Events published but neither appended nor lost yet."""
        return self.published - self.appended - self.lost

    def make(self, key: str, type: str, payload: Optional[Mapping[str, Any]] = None, *,
             version: Optional[int] = None, cause: Optional[Event] = None) -> Event:
        """A new event with id ``"<name>-<n>"``, produced now; ``cause`` sets correlation and causation."""
        self._count += 1
        event_id = f"{self.name}-{self._count}"
        if cause is not None:
            return cause.caused(event_id, key, type, payload, version=version, produced_at=self.sim.now,
                                source=self.name)
        return Event(event_id, key, type, payload or {}, version, produced_at=self.sim.now, source=self.name)

    def publish(self, event: Event, on_appended: Optional[Callable[[Record], None]] = None) -> bool:
        """Send ``event`` to the log; False if it is lost.  ``on_appended(record)`` runs when it is appended.

        The return value is simulation-only knowledge (a real fire-and-forget client
        cannot know); scenarios use it to measure loss and to tell lag from drift.
        """
        self.published += 1
        if self.lineage is not None:
            self.lineage.record(event, "published", self.name)
        if self.loss and self._rng.random() < self.loss:
            self.lost += 1
            if self.lineage is not None:
                self.lineage.record(event, "lost", self.name, "publish lost on the way to the log")
            return False
        delay = self.latency.sample(self._rng)
        if delay > 0:
            self.sim.schedule(delay, self._append, event, on_appended)
        else:
            self._append(event, on_appended)
        return True

    def send(self, key: str, type: str, payload: Optional[Mapping[str, Any]] = None, *,
             version: Optional[int] = None, cause: Optional[Event] = None) -> Event:
        """Make an event and publish it; returns the event (it may still be lost)."""
        event = self.make(key, type, payload, version=version, cause=cause)
        self.publish(event)
        return event

    def _append(self, event: Event, on_appended: Optional[Callable[[Record], None]]) -> None:
        record = self.log.append(self.topic, event)
        self.appended += 1
        if on_appended is not None:
            on_appended(record)
