"""CQRS: a strongly consistent command side, eventually consistent read models.

:class:`CommandSide` decides commands against its authoritative state and answers
at once -- accepted (with the events it appended to the log and a
:class:`VersionToken`) or rejected with a reason.  Accepting a command, changing
the state and appending the events happen in one step, so the log *is* the
command side's history.

A :class:`Projection` is a read model fed by a consumer group (and so behind by
the group's lag).  It applies each entity's events once and in version order,
answers ``read(key)`` from whatever it has, and offers read-your-writes through
:meth:`Projection.read_after`: give it the token from a command and it answers
once it has caught up to that version (or says it timed out).
:meth:`Projection.rebuild` replays the log into a fresh projection; after the
group has drained, both hold the same state as :func:`fold_log`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable, Mapping, Optional, Sequence

from ..sim import Simulation, Timer
from ..streams.log import Event, EventLog
from ..validation import non_negative
from .idempotency import Reducer, VersionedHandler, exactly_once_state

if TYPE_CHECKING:  # pragma: no cover
    from ..streams.lineage import Lineage

__all__ = ["Command", "CommandResult", "Rejected", "VersionToken", "ReadResult", "CommandSide",
           "Projection", "fold_log"]


@dataclass(frozen=True)
class Command:
    """A request to change one entity: it may be accepted or rejected."""

    type: str
    key: str
    payload: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, order=True)
class VersionToken:
    """"Entity ``key`` has reached ``version``": what a reader waits for to see its own write."""

    key: str
    version: int


@dataclass(frozen=True)
class CommandResult:
    """The command side's immediate answer."""

    command: Command
    accepted: bool
    reason: str = ""
    events: tuple[Event, ...] = ()
    token: Optional[VersionToken] = None


class Rejected(Exception):
    """Raised by a decide function to reject a command; the message is the reason."""


#: ``decide(entity_state_or_None, command) -> [(event_type, payload), ...]``; raise Rejected to refuse.
Decider = Callable[[Optional[Any], Command], Sequence[tuple[str, Mapping[str, Any]]]]


@dataclass(frozen=True)
class ReadResult:
    """A query answer: the value, its version, how long the reader waited (ms), and whether it is fresh."""

    key: str
    value: Any
    version: int
    waited_ms: float
    fresh: bool


class CommandSide:
    """Validates commands against authoritative state and appends the resulting events.

    ``decide`` turns (state, command) into events or raises :class:`Rejected`;
    ``evolve`` is the reducer that folds an event into an entity's state (the same
    function read models may use).  Events get ids ``"<name>-<n>"`` and per-key
    versions 1, 2, ...
    """

    def __init__(self, sim: Simulation, log: EventLog, topic: str, decide: Decider, evolve: Reducer, *,
                 name: str = "commands", lineage: Optional["Lineage"] = None) -> None:
        if not callable(decide) or not callable(evolve):
            raise ValueError("decide and evolve must be functions (see Decider and Reducer)")
        log.topic(topic)
        self.sim = sim
        self.log = log
        self.topic = topic
        self.decide = decide
        self.evolve = evolve
        self.name = name
        self.lineage = lineage
        self.state: dict[str, Any] = {}
        self.versions: dict[str, int] = {}
        self.accepted = 0
        self.rejected = 0
        self._count = 0

    def execute(self, command: Command) -> CommandResult:
        """Decide ``command`` now: accept (state changed, events appended) or reject (nothing changed)."""
        current = self.state.get(command.key)
        try:
            decided = list(self.decide(current, command))
        except Rejected as why:
            self.rejected += 1
            return CommandResult(command, False, str(why))
        state, version = current, self.versions.get(command.key, 0)
        events = []
        for type_, payload in decided:
            version += 1
            self._count += 1
            event = Event(f"{self.name}-{self._count}", command.key, type_, payload, version,
                          produced_at=self.sim.now, source=self.name)
            state = self.evolve(state, event)
            events.append(event)
        self.accepted += 1
        if not events:
            return CommandResult(command, True, "no change", (), VersionToken(command.key, version))
        self.state[command.key] = state
        self.versions[command.key] = version
        for event in events:
            if self.lineage is not None:
                self.lineage.record(event, "written", self.name, f"accepted {command.type}")
            self.log.append(self.topic, event)
        return CommandResult(command, True, "", tuple(events), VersionToken(command.key, version))


class Projection:
    """A read model: an idempotent, ordered fold of the log that readers can wait on.

    It is an :class:`~consistency_lab.streams.consumer.EventHandler`: hand it to a
    :class:`~consistency_lab.streams.consumer.ConsumerGroup`.  ``lags`` records, per
    applied event, the time (ms) from its production to its application.
    """

    def __init__(self, sim: Simulation, reducer: Reducer, *, name: str = "projection") -> None:
        self.sim = sim
        self.name = name
        self._handler = VersionedHandler(reducer, name=name, on_release=self._applied)
        self._waiters: dict[str, list[tuple[int, Callable[[ReadResult], None], float, Timer]]] = {}
        self.lags: list[float] = []

    @property
    def state(self) -> dict[str, Any]:
        """Entity key -> state as this read model sees it now."""
        return self._handler.state

    def version(self, key: str) -> int:
        """The last version of ``key`` applied here (0: none)."""
        return self._handler.versions.get(key, 0)

    def handle(self, event: Event) -> str:
        """Apply one delivered event (duplicates and stale versions are ignored, early ones held)."""
        outcome = self._handler.handle(event)
        if outcome == "applied":
            self._applied(event)
        return outcome

    def read(self, key: str) -> Any:
        """The current value of ``key`` here, possibly stale (None if never seen)."""
        return self._handler.state.get(key)

    def read_after(self, token: VersionToken, on_result: Callable[[ReadResult], None],
                   timeout_ms: float = 1_000.0) -> None:
        """Answer ``on_result`` once ``token.version`` is applied, or after ``timeout_ms`` with fresh=False."""
        timeout_ms = non_negative("timeout_ms", timeout_ms, "ms", allow_inf=True)
        key = token.key
        if self.version(key) >= token.version:
            on_result(ReadResult(key, self.read(key), self.version(key), 0.0, True))
            return
        start = self.sim.now
        timer = self.sim.schedule(timeout_ms, self._timed_out, key, on_result) if math.isfinite(timeout_ms) \
            else Timer(math.inf, lambda: None, ())
        self._waiters.setdefault(key, []).append((token.version, on_result, start, timer))

    def _timed_out(self, key: str, on_result: Callable[[ReadResult], None]) -> None:
        waiting = self._waiters.get(key, [])
        for i, (_, callback, start, _timer) in enumerate(waiting):
            if callback is on_result:
                del waiting[i]
                on_result(ReadResult(key, self.read(key), self.version(key), self.sim.now - start, False))
                return

    def _applied(self, event: Event) -> None:
        self.lags.append(self.sim.now - event.produced_at)
        waiting = self._waiters.get(event.key)
        if not waiting:
            return
        version = self.version(event.key)
        ready = [w for w in waiting if w[0] <= version]
        if ready:
            self._waiters[event.key] = [w for w in waiting if w[0] > version]
            for _, callback, start, timer in ready:
                timer.cancel()
                callback(ReadResult(event.key, self.read(event.key), version, self.sim.now - start, True))

    def held_count(self) -> int:
        """Events waiting here for a missing predecessor."""
        return self._handler.held_count()

    @classmethod
    def rebuild(cls, sim: Simulation, log: EventLog, topic: str, reducer: Reducer, *,
                name: str = "rebuilt") -> "Projection":
        """A fresh projection built by replaying every retained record of ``topic`` in offset order."""
        projection = cls(sim, reducer, name=name)
        for record in log.topic(topic).records():
            projection.handle(record.event)
        return projection


def fold_log(log: EventLog, topic: str, reducer: Reducer) -> dict[str, Any]:
    """The reference read model: each distinct event of ``topic`` applied once in version order."""
    return exactly_once_state(log.events(topic), reducer)
