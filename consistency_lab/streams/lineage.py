"""Event lineage: where one event went, across services and virtual time.

Every component that touches an event can report a *step* (published, delivered,
retried, applied, repaired, dead-lettered...) to a shared :class:`Lineage`.  A
:class:`Journey` is the answer to "what happened to event X?": its steps in time
order, optionally with the steps of the events it caused (same correlation, linked
by causation id), ready for :func:`consistency_lab.plots.lineage_plot.plot_lineage`.

Steps are also written to the simulation trace (kind ``note``), so a run's digest
covers the behaviour of the stream components too.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Union

from ..sim import Simulation
from .log import Event

__all__ = ["STEPS", "LineageStep", "Journey", "Lineage"]

#: The step names the course's components use, in the order of a typical journey.
#: Other names are allowed; plots give them a neutral colour.
STEPS = (
    "written", "published", "lost", "appended", "delivered", "redelivered", "retried",
    "crashed", "applied", "duplicate", "stale", "held", "released", "dead_lettered", "repaired",
    "compensated",
)


@dataclass(frozen=True, slots=True)
class LineageStep:
    """One step of one event: when (ms), which service, what happened, and details."""

    time: float
    event_id: str
    service: str
    step: str
    detail: str = ""


@dataclass(frozen=True)
class Journey:
    """The steps of one event (and, if followed, of the events it caused), in time order."""

    event_id: str
    correlation_id: str
    steps: tuple[LineageStep, ...]

    def services(self) -> list[str]:
        """Services in order of first appearance (the swimlanes, top to bottom)."""
        seen: dict[str, None] = {}
        for s in self.steps:
            seen.setdefault(s.service, None)
        return list(seen)

    def step_names(self) -> list[str]:
        """Distinct step names in order of first appearance."""
        seen: dict[str, None] = {}
        for s in self.steps:
            seen.setdefault(s.step, None)
        return list(seen)

    def has(self, step: str) -> bool:
        """True if any step is called ``step``."""
        return any(s.step == step for s in self.steps)

    def first(self, step: str) -> Optional[LineageStep]:
        """The earliest step called ``step``, or None."""
        return next((s for s in self.steps if s.step == step), None)

    def count(self, step: str) -> int:
        """How many steps are called ``step``."""
        return sum(1 for s in self.steps if s.step == step)

    def span_ms(self) -> float:
        """Time from the first step to the last (0 for fewer than two steps)."""
        return self.steps[-1].time - self.steps[0].time if len(self.steps) > 1 else 0.0

    def rows(self) -> list[dict]:
        """The steps as plain dicts (for tables and JSON)."""
        return [{"time_ms": s.time, "event_id": s.event_id, "service": s.service, "step": s.step,
                 "detail": s.detail} for s in self.steps]

    def __len__(self) -> int:
        return len(self.steps)


class Lineage:
    """Collects lineage steps from every component of one simulation and answers queries."""

    def __init__(self, sim: Simulation, *, trace: bool = True) -> None:
        self.sim = sim
        self.trace = trace
        self._steps: dict[str, list[LineageStep]] = {}
        self._children: dict[str, list[str]] = {}
        self._correlation: dict[str, str] = {}
        self._order = 0

    def record(self, event: Union[Event, str], step: str, service: str, detail: str = "") -> None:
        """Note that ``service`` did ``step`` to ``event`` (an Event, or just its id) now."""
        if isinstance(event, Event):
            event_id = event.event_id
            if event_id not in self._correlation:
                self._correlation[event_id] = event.correlation_id
                if event.causation_id:
                    self._children.setdefault(event.causation_id, []).append(event_id)
        else:
            event_id = event
        entry = LineageStep(self.sim.now, event_id, service, step, detail)
        self._steps.setdefault(event_id, []).append(entry)
        if self.trace:
            self.sim.record("note", service, "", step, -1, f"{event_id} {detail}".rstrip())

    def steps_of(self, event_id: str) -> list[LineageStep]:
        """The steps recorded for exactly this event id, in recording order."""
        return list(self._steps.get(event_id, ()))

    def journey(self, event_id: str, *, follow: bool = True) -> Journey:
        """The journey of ``event_id``; with ``follow`` also of every event it caused, transitively."""
        ids = [event_id]
        if follow:
            i = 0
            while i < len(ids):
                ids.extend(self._children.get(ids[i], ()))
                i += 1
        steps = [s for eid in ids for s in self._steps.get(eid, ())]
        steps.sort(key=lambda s: s.time)  # stable: same-time steps keep recording order
        return Journey(event_id, self._correlation.get(event_id, event_id), tuple(steps))

    def correlated(self, correlation_id: str) -> Journey:
        """Every step of every event in one story (same correlation id), in time order."""
        steps = [s for eid, corr in self._correlation.items() if corr == correlation_id
                 for s in self._steps.get(eid, ())]
        steps.sort(key=lambda s: s.time)
        return Journey(correlation_id, correlation_id, tuple(steps))

    def events_with(self, step: str) -> list[str]:
        """Ids of events that have at least one step called ``step``, in first-recorded order."""
        return [eid for eid, steps in self._steps.items() if any(s.step == step for s in steps)]

    def count(self, step: str) -> int:
        """Total number of steps called ``step`` across all events."""
        return sum(1 for steps in self._steps.values() for s in steps if s.step == step)

    def __len__(self) -> int:
        return len(self._steps)
