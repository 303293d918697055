"""A reconciliation daemon: page through the data, compare with the truth, repair the drift.

The daemon is generic; what it compares is a *reconciler* (the plug-in a lab asks
students to write) implementing :class:`Reconciler`:

``keys()``            every item of the source of truth, in a stable order;
``expected(key)``     the item's value in the source of truth;
``actual(key)``       the item's value in the derived state (cache, read model, feed);
``repair(key, value)`` overwrite the derived item with ``value``; it must be
                      idempotent (writing the same value twice is harmless).

Optional methods add measurements: ``changed_at(key)`` (virtual ms of the item's
last change in the source of truth: enables ``min_age_ms``, and time to repair is
measured from it), ``would_converge(key)`` (a simulation-only oracle: True if work
already in flight would fix the item without help -- enables the lag half of false
repairs), ``explain(key)`` (event ids whose effect the repair restores, for lineage)
and ``differs(key, expected, actual)`` (a custom comparison; default ``!=``).

Every ``interval_ms`` the daemon runs one *pass*: it compares the next
``page_size`` items after its cursor (wrapping around), repairs those that differ
and reports a :class:`PassReport`.  Work per pass is bounded by ``page_size``;
a full sweep takes ``ceil(items / page_size)`` passes.

**Convergence bound.**  If drift stops at time ``t`` and nothing in flight can
re-introduce it, every item is correct by ``t + convergence_bound_ms(items)`` =
``t + min_age_ms + ceil(items / page_size) * interval_ms``: the k-th pass after
``t`` starts no later than ``t + k * interval_ms``, and ``ceil(items/page_size)``
consecutive passes cover every item.

**False repair.**  A repair of item *k* at time *t* is *false* when it was not
needed: either (a) ``actual(k) == expected(k)`` already held at *t* (only a
reconciler with its own ``differs`` can get here), or (b) the item was merely
lagging: ``would_converge(k)`` is True at *t*, i.e. the events already published
for *k* and not lost would, once applied, make it equal to the truth.  Case (b) is
counted only for reconcilers that provide the oracle.  A false repair is harmless
to correctness when repairs are idempotent, but it is wasted work and, at scale,
write amplification; ``min_age_ms`` (skip items whose truth changed less than that
long ago) trades false repairs against time to repair.

**Success rate.**  A repair is *verified* when, right after it, the derived item
equals the truth; ``reconciliation_success_rate`` = verified repairs / repairs,
NaN when there was no repair (a daemon that never found drift, or never ran, has
no success rate: report "no repairs", not 100 %).  A reconciler whose ``repair`` writes the wrong
thing, or whose ``expected`` is itself wrong, scores below 1.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Hashable, Optional, Protocol, Sequence, runtime_checkable

from ..metrics import percentile
from ..sim import Simulation, Timer
from ..streams.monitors import success_rate
from ..validation import count, non_negative, optional, positive

if TYPE_CHECKING:  # pragma: no cover
    from ..streams.lineage import Lineage

__all__ = ["Reconciler", "PassReport", "RepairRecord", "ReconciliationDaemon"]


@runtime_checkable
class Reconciler(Protocol):
    """The plug-in interface of :class:`ReconciliationDaemon` (see the module docstring)."""

    def keys(self) -> Sequence[Hashable]:
        """Every item of the source of truth, in a stable order."""
        ...

    def expected(self, key: Hashable) -> Any:
        """The item's value in the source of truth."""
        ...

    def actual(self, key: Hashable) -> Any:
        """The item's value in the derived state."""
        ...

    def repair(self, key: Hashable, value: Any) -> None:
        """Idempotently overwrite the derived item with ``value``."""
        ...


@dataclass(frozen=True)
class PassReport:
    """What one pass did: when (ms), how many items it compared, found divergent, deferred and repaired."""

    time: float
    scanned: int
    found: int
    repaired: int
    false_repairs: int
    deferred: int
    first_key: Optional[Hashable]


@dataclass(frozen=True)
class RepairRecord:
    """One repair: when, which item, whether it was false (and why), and time to repair (ms, NaN if unknown)."""

    time: float
    key: Hashable
    false: bool
    reason: str
    time_to_repair_ms: float
    verified: bool


class ReconciliationDaemon:
    """Runs a reconciler periodically with bounded work per pass and reports what it did.

    Start it with :meth:`start` (first pass after ``start_after_ms``, default one
    interval) or call :meth:`run_pass` directly.  With a ``lineage``, each repair is
    recorded as a "repaired" step on the events named by ``reconciler.explain(key)``.

    The reconciler decides what to repair; the *judge* measures it (false repairs,
    verified repairs, time to repair, the ``min_age_ms`` clock).  The judge defaults
    to the reconciler itself; a scenario that runs a student's reconciler passes its
    reference reconciler as ``judge`` so every job is measured with the same yardstick.
    """

    def __init__(self, sim: Simulation, reconciler: Reconciler, *, interval_ms: float, page_size: int,
                 min_age_ms: float = 0.0, name: str = "reconciler", lineage: Optional["Lineage"] = None,
                 judge: Optional[Reconciler] = None) -> None:
        for who, obj in (("reconciler", reconciler), ("judge", judge)):
            for method in ("keys", "expected", "actual", "repair"):
                if obj is not None and not callable(getattr(obj, method, None)):
                    raise ValueError(f"{who}={obj!r} has no {method}() method; "
                                     "it must provide keys, expected, actual and repair (see Reconciler)")
        self.interval_ms = positive("interval_ms", interval_ms, "ms")
        self.page_size = count("page_size", page_size, unit="items per pass")
        # Infinity stays allowed, as before: every item whose change time is known counts as too young.
        self.min_age_ms = non_negative("min_age_ms", min_age_ms, "ms", allow_inf=True)
        self.sim = sim
        self.reconciler = reconciler
        self.name = name
        self.lineage = lineage
        self.judge = judge if judge is not None else reconciler
        self._changed_at = getattr(self.judge, "changed_at", None)
        self._would_converge = getattr(self.judge, "would_converge", None)
        self._explain = getattr(self.judge, "explain", None)
        self._differs = getattr(reconciler, "differs", None)
        if self.min_age_ms and self._changed_at is None:
            raise ValueError("min_age_ms > 0 needs a reconciler (or judge) with changed_at(key)")
        self._cursor = 0
        self._timer: Optional[Timer] = None
        self.passes: list[PassReport] = []
        self.repairs: list[RepairRecord] = []
        self.scanned = 0

    # -- scheduling -------------------------------------------------------------------
    def start(self, start_after_ms: Optional[float] = None) -> None:
        """Run a pass every ``interval_ms``, the first after ``start_after_ms`` (default: one interval)."""
        if self._timer is not None:
            return
        start_after_ms = optional(non_negative, "start_after_ms", start_after_ms, "ms", none_means="one interval")
        delay = self.interval_ms if start_after_ms is None else start_after_ms
        self._timer = self.sim.schedule(delay, self._tick)

    def stop(self) -> None:
        """Stop the periodic passes."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    @property
    def running(self) -> bool:
        """True between :meth:`start` and :meth:`stop`."""
        return self._timer is not None

    def _tick(self) -> None:
        self._timer = self.sim.schedule(self.interval_ms, self._tick)
        self.run_pass()

    def convergence_bound_ms(self, items: Optional[int] = None) -> float:
        """Longest time from the last drift to full repair: min_age + ceil(items / page_size) * interval."""
        n = len(self.reconciler.keys()) if items is None else count("items", items, low=0)
        return self.min_age_ms + math.ceil(n / self.page_size) * self.interval_ms

    # -- one pass ----------------------------------------------------------------------
    def run_pass(self) -> PassReport:
        """Compare the next page of items, repair those that differ, and report."""
        rec = self.reconciler
        keys = list(rec.keys())
        now = self.sim.now
        n = len(keys)
        page = min(self.page_size, n)
        start = self._cursor % n if n else 0
        found = repaired = false = deferred = 0
        for i in range(page):
            key = keys[(start + i) % n]
            expected = rec.expected(key)
            actual = rec.actual(key)
            differs = self._differs(key, expected, actual) if self._differs is not None else actual != expected
            if not differs:
                continue
            found += 1
            changed = self._changed_at(key) if self._changed_at is not None else math.nan
            if self.min_age_ms and now - changed < self.min_age_ms:
                deferred += 1
                continue
            judge = self.judge
            truth = expected if judge is rec else judge.expected(key)
            reason = ""
            if (actual if judge is rec else judge.actual(key)) == truth:
                reason = "already equal"
            elif self._would_converge is not None and self._would_converge(key):
                reason = "only lagging"
            if self._explain is not None and self.lineage is not None:
                for event_id in self._explain(key):
                    self.lineage.record(event_id, "repaired", self.name, f"item {key}")
            rec.repair(key, expected)
            verified = judge.actual(key) == truth
            repaired += 1
            false += bool(reason)
            self.repairs.append(RepairRecord(now, key, bool(reason), reason, now - changed, verified))
        self._cursor = (start + page) % n if n else 0
        self.scanned += page
        report = PassReport(now, page, found, repaired, false, deferred, keys[start] if n else None)
        self.passes.append(report)
        return report

    # -- what it did --------------------------------------------------------------------
    def report(self) -> dict[str, float]:
        """Totals: passes, items scanned, divergences found, repairs, false repairs, success rate, time to repair."""
        ttr = [r.time_to_repair_ms for r in self.repairs if not math.isnan(r.time_to_repair_ms)]
        verified = sum(r.verified for r in self.repairs)
        return {
            "passes": len(self.passes),
            "scanned": self.scanned,
            "found": sum(p.found for p in self.passes),
            "repairs": len(self.repairs),
            "false_repairs": sum(r.false for r in self.repairs),
            "deferred": sum(p.deferred for p in self.passes),
            "reconciliation_success_rate": success_rate(verified, len(self.repairs)),  # NaN: no repairs
            "time_to_repair_p50_s": percentile(ttr, 50) / 1000.0 if ttr else math.nan,
            "time_to_repair_max_s": max(ttr) / 1000.0 if ttr else math.nan,
            "scan_cost_per_pass": self.scanned / len(self.passes) if self.passes else 0.0,
        }
