"""The pieces of the logistics scenario: services that can be down, a coordinator, route views.

A package *scan* at a depot must reach three services: the scan store (where the scan is
recorded), tracking (where a customer sees the package move) and billing.  Analytics
queries ask "how many scans did route R see?".  How the three services hear about a scan
is what the three architectures change; these classes are the parts they share.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Optional

from ..latency import Latency
from ..patterns.service import Call, CapacityService, call_with_timeout
from ..sim import Simulation
from ..streams.lineage import Lineage
from ..streams.log import Event

__all__ = ["ARCHITECTURES", "OUTAGE_SERVICES", "Outage", "ScanRecord", "QueryRecord", "DownableService",
           "Coordinator", "RouteView"]

#: The three ways the same workload is built.
ARCHITECTURES = ("orchestration", "choreography", "cqrs")
#: Which service an outage window takes down ("projector" exists only in cqrs).
OUTAGE_SERVICES = ("none", "scan_store", "tracking", "billing", "projector")


@dataclass(frozen=True)
class Outage:
    """``service`` answers nothing to requests that arrive in [start_ms, end_ms)."""

    service: str
    start_ms: float
    end_ms: float

    def down(self, service: str, now: float) -> bool:
        """True when ``service`` is down at ``now``."""
        return service == self.service and self.start_ms <= now < self.end_ms


@dataclass
class ScanRecord:
    """One scan as its depot saw it: when it arrived, how it ended, and how long the depot waited (ms)."""

    scan_id: str
    route: int
    arrival_ms: float
    outcome: str = ""  # "ok", or "timeout at <service>" / "overloaded at <service>"
    done_ms: float = float("nan")

    @property
    def latency_ms(self) -> float:
        """Arrival to answer (ms): the depot's wait, success or not."""
        return self.done_ms - self.arrival_ms


@dataclass
class QueryRecord:
    """One analytics query: route asked, the truth when it arrived, the answer and its staleness."""

    route: int
    arrival_ms: float
    truth: int  # scans of the route acknowledged before the query arrived
    answer: int = -1
    done_ms: float = float("nan")
    outcome: str = ""
    lag_ms: float = 0.0  # age of the oldest scan the serving view had not applied when it answered

    @property
    def stale(self) -> bool:
        """True when the answer missed scans already acknowledged to a depot."""
        return self.outcome == "ok" and self.answer < self.truth


class DownableService:
    """A :class:`CapacityService` behind an outage window: while down, requests get no answer."""

    def __init__(self, service: CapacityService, outage: Outage) -> None:
        self.service = service
        self.outage = outage
        self.name = service.name
        self.unanswered = 0

    def handle(self, call: Call, deadline_ms: float, reply: Callable[[str], None]) -> None:
        """Serve ``call`` unless the service is down now (then nothing ever answers)."""
        if self.outage.down(self.name, self.service.sim.now):
            self.unanswered += 1
            return
        self.service.handle(call, deadline_ms, reply)


class Coordinator:
    """Synchronous orchestration: call each service in turn, wait for each, give up after a timeout.

    A scan succeeds only when every call answered "ok"; then it commits.  If a later call
    fails after the scan store accepted the scan, the coordinator rolls the store back
    (a coordinated rollback), so the authoritative count never holds a half-done scan.
    """

    def __init__(self, sim: Simulation, services: list[DownableService], costs: list[Latency], timeout_ms: float,
                 lineage: Optional[Lineage], on_done: Callable[[ScanRecord], None]) -> None:
        self.sim = sim
        self.services = services
        self.costs = costs
        self.timeout_ms = timeout_ms
        self.lineage = lineage
        self.on_done = on_done
        self.rollbacks = 0

    def start(self, scan: ScanRecord) -> None:
        """Begin the chain of calls for ``scan``."""
        self._call(scan, 0)

    def _note(self, scan: ScanRecord, step: str, service: str, detail: str = "") -> None:
        if self.lineage is not None:
            self.lineage.record(scan.scan_id, step, service, detail)

    def _call(self, scan: ScanRecord, i: int) -> None:
        svc = self.services[i]

        def done(outcome: str) -> None:
            if outcome != "ok":
                self._fail(scan, i, f"{outcome} at {svc.name}")
                return
            self._note(scan, "applied", svc.name, "answered ok")
            if i + 1 < len(self.services):
                self._call(scan, i + 1)
            else:
                scan.outcome, scan.done_ms = "ok", self.sim.now
                self.on_done(scan)

        self._note(scan, "delivered", svc.name, "called, waiting")
        call_with_timeout(self.sim, svc, Call(0, 0, self.sim.now, service_time=self.costs[i]), self.timeout_ms, done)

    def _fail(self, scan: ScanRecord, i: int, why: str) -> None:
        self._note(scan, "lost", self.services[i].name, why)
        if i > 0:  # the scan store (first) had accepted it: undo that
            self.rollbacks += 1
            self._note(scan, "compensated", self.services[0].name, "rolled back")
        scan.outcome, scan.done_ms = why, self.sim.now
        self.on_done(scan)


class RouteView:
    """A read model of scans per route, fed by a consumer group: idempotent by event id.

    ``applied_at`` remembers when each scan was applied, so a wrong answer can be traced
    to the scans it missed.
    """

    def __init__(self, name: str) -> None:
        self.name = name
        self.counts: dict[int, int] = {}
        self.applied_at: dict[str, float] = {}
        self._sim: Optional[Simulation] = None

    def bind(self, sim: Simulation) -> "RouteView":
        """Attach the simulation (for applied times); returns self."""
        self._sim = sim
        return self

    def handle(self, event: Event) -> str:
        """Count one scan once (a redelivery is a duplicate)."""
        if event.event_id in self.applied_at:
            return "duplicate"
        self.applied_at[event.event_id] = self._sim.now if self._sim is not None else 0.0
        route = int(event.payload["route"])
        self.counts[route] = self.counts.get(route, 0) + 1
        return "applied"

    def count(self, route: int) -> int:
        """Scans of ``route`` this view has applied."""
        return self.counts.get(route, 0)
