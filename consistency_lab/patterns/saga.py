"""Orchestrated sagas: steps with compensations, retried with idempotency keys.

A saga is a sequence of :class:`SagaStep` s, each performed by a
:class:`SagaParticipant` (a node on the simulated network).  A
:class:`SagaOrchestrator` drives them one at a time:

* it asks the participant to **do** the step, with the idempotency key
  ``"<saga>/<step>"``; a timeout is retried with the same key, up to
  ``max_attempts`` times;
* a step that fails (the participant refuses) or whose outcome stays unknown after
  the last retry starts **compensation**: every step that may have happened is
  undone, latest first, by an **undo** request carrying the same key, retried until
  acknowledged (up to ``max_compensation_attempts``; a saga that exhausts them is
  "stuck" and needs a human);
* the orchestrator's saga log is durable: after a crash it resumes each unfinished
  saga by resending its current request.

Participants make both requests idempotent: a repeated do returns the stored
outcome, a repeated undo is acknowledged without effect, and an undo that arrives
before (or instead of) its do leaves a tombstone so a late do is refused.  Hence,
even with network duplicates and retries, **each step's compensation takes effect
at most once** -- :func:`saga_metrics` reports the largest count seen.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Optional, Sequence

from ..network import Network
from ..node import Node, Reply, Request
from ..sim import Simulation
from ..validation import count, positive, probability, text

__all__ = ["SagaStep", "StepRequest", "StepReply", "SagaRecord", "SagaParticipant", "SagaOrchestrator",
           "saga_metrics", "SAGA_STATUSES"]

#: The states of a saga; the last three are final.
SAGA_STATUSES = ("running", "compensating", "completed", "compensated", "stuck")


@dataclass(frozen=True)
class SagaStep:
    """One step: its name (unique within the saga) and the participant node that performs it."""

    name: str
    participant: str


@dataclass(frozen=True)
class StepRequest(Request):
    """Orchestrator -> participant: do or undo one step, identified by its idempotency key."""

    saga_id: str = ""
    step: str = ""
    action: str = "do"  # "do" or "undo"
    idem_key: str = ""


@dataclass(frozen=True)
class StepReply(Reply):
    """Participant -> orchestrator: whether the action succeeded, and why not."""

    ok: bool = True
    reason: str = ""


@dataclass
class SagaRecord:
    """The orchestrator's durable log entry for one saga."""

    saga_id: str
    steps: tuple[SagaStep, ...]
    started_at: float
    status: str = "running"
    position: int = 0
    done: list[str] = field(default_factory=list)
    to_compensate: list[int] = field(default_factory=list)
    compensated: list[str] = field(default_factory=list)
    attempts: int = 0
    retries: int = 0
    failed_step: str = ""
    reason: str = ""
    finished_at: float = math.inf

    @property
    def finished(self) -> bool:
        """True once completed, compensated or stuck."""
        return self.status in ("completed", "compensated", "stuck")


class SagaParticipant(Node):
    """A service that performs steps idempotently and undoes them at most once.

    A do fails (definitively) with probability ``fail_rate`` (stream
    ``"saga/<name>"``), decided once per idempotency key.  Durable state:
    outcomes by key, undo marks, and effect counters used to check the guarantees.
    """

    def __init__(self, name: str, sim: Simulation, network: Network, *, fail_rate: float = 0.0,
                 region: Optional[str] = None) -> None:
        self.fail_rate = probability("fail_rate", fail_rate)
        self.outcomes: dict[str, bool] = {}
        self._reasons: dict[str, str] = {}  # key -> why the first do failed ("" when it succeeded)
        self.undone: dict[str, bool] = {}  # key -> True if an executed do was undone, False if a tombstone
        self.do_effects: dict[str, int] = {}
        self.undo_effects: dict[str, int] = {}
        self.duplicates_suppressed = 0
        super().__init__(name, sim, network, region=region)
        self._rng = sim.rng(f"saga/{name}")

    def on_StepRequest(self, msg: StepRequest, src: str) -> None:
        """Do or undo the step named by ``msg.idem_key``, idempotently, and reply."""
        key = msg.idem_key
        if msg.action == "do":
            if key in self.outcomes:
                self.duplicates_suppressed += 1
                # The stored answer, reason included: a retried charge that was refused is still refused.
                ok, reason = self.outcomes[key], self._reasons[key]
            elif key in self.undone:
                ok, reason = False, "aborted: already compensated"
            else:
                ok = not (self.fail_rate and self._rng.random() < self.fail_rate)
                reason = "" if ok else "refused"
                self.outcomes[key] = ok
                self._reasons[key] = reason
                if ok:
                    self.do_effects[key] = self.do_effects.get(key, 0) + 1
        else:
            if key in self.undone:
                self.duplicates_suppressed += 1
            elif self.outcomes.get(key):
                self.undone[key] = True
                self.undo_effects[key] = self.undo_effects.get(key, 0) + 1
            else:
                self.undone[key] = False  # tombstone: nothing to undo, and a late do must not happen
            ok, reason = True, ""
        self.send(src, StepReply(reply_to=msg.req_id, ok=ok, reason=reason))


class SagaOrchestrator(Node):
    """Runs sagas step by step over the network, compensating on failure; resumes after a crash."""

    def __init__(self, name: str, sim: Simulation, network: Network, *, timeout_ms: float = 50.0,
                 max_attempts: int = 3, max_compensation_attempts: int = 20,
                 region: Optional[str] = None) -> None:
        # An infinite timeout stays allowed, as before: wait for every reply, never retry.
        self.timeout_ms = positive("timeout_ms", timeout_ms, "ms", allow_inf=True)
        self.max_attempts = count("max_attempts", max_attempts)
        self.max_compensation_attempts = count("max_compensation_attempts", max_compensation_attempts)
        self.sagas: dict[str, SagaRecord] = {}
        super().__init__(name, sim, network, region=region)

    def start_saga(self, saga_id: str, steps: Sequence[SagaStep]) -> SagaRecord:
        """Begin saga ``saga_id`` with ``steps`` now; returns its (live) record."""
        text("saga_id", saga_id)
        if saga_id in self.sagas:
            raise ValueError(f"saga {saga_id!r} already exists")
        if not steps:
            raise ValueError("steps must contain at least one SagaStep")
        names = [s.name for s in steps]
        if len(set(names)) != len(names):
            raise ValueError(f"step names {names} must be unique within a saga")
        for s in steps:
            self.network.expand(s.participant)
        record = SagaRecord(saga_id, tuple(steps), self.sim.now)
        self.sagas[saga_id] = record
        if self.alive:
            self._drive(record)
        return record

    def on_restart(self) -> None:
        """Resume every unfinished saga from the durable log."""
        for record in self.sagas.values():
            if not record.finished:
                record.attempts = 0
                self._drive(record)

    @staticmethod
    def idem_key(record: SagaRecord, index: int) -> str:
        """The idempotency key of step ``index`` of a saga (shared by its do and its undo)."""
        return f"{record.saga_id}/{record.steps[index].name}"

    def _drive(self, record: SagaRecord) -> None:
        if record.status == "running":
            if record.position >= len(record.steps):
                self._finish(record, "completed")
                return
            self._send(record, record.position, "do")
        elif record.status == "compensating":
            if not record.to_compensate:
                self._finish(record, "compensated")
                return
            self._send(record, record.to_compensate[0], "undo")

    def _send(self, record: SagaRecord, index: int, action: str) -> None:
        step = record.steps[index]
        msg = StepRequest(req_id=self.sim.next_id(), saga_id=record.saga_id, step=step.name,
                          action=action, idem_key=self.idem_key(record, index))
        record.attempts += 1
        if record.attempts > 1:
            record.retries += 1
        self.request(step.participant, msg, self.timeout_ms,
                     lambda reply, _src: self._on_reply(record, index, action, reply),
                     lambda: self._on_timeout(record, index, action))

    def _on_reply(self, record: SagaRecord, index: int, action: str, reply: StepReply) -> None:
        record.attempts = 0
        if action == "do":
            if reply.ok:
                record.done.append(record.steps[index].name)
                record.position += 1
            else:
                self._begin_compensation(record, index, include_current=False, reason=reply.reason)
        else:
            record.compensated.append(record.steps[index].name)
            record.to_compensate.pop(0)
        self._drive(record)

    def _on_timeout(self, record: SagaRecord, index: int, action: str) -> None:
        limit = self.max_attempts if action == "do" else self.max_compensation_attempts
        if record.attempts < limit:
            self._send(record, index, action)
            return
        record.attempts = 0
        if action == "do":
            # The step may or may not have happened: undo it too (a tombstone if it never ran).
            self._begin_compensation(record, index, include_current=True, reason="no answer")
            self._drive(record)
        else:
            self._finish(record, "stuck")

    def _begin_compensation(self, record: SagaRecord, index: int, *, include_current: bool, reason: str) -> None:
        record.status = "compensating"
        record.failed_step = record.steps[index].name
        record.reason = reason
        last = index if include_current else index - 1
        record.to_compensate = list(range(last, -1, -1))

    def _finish(self, record: SagaRecord, status: str) -> None:
        record.status = status
        record.finished_at = self.sim.now
        self.sim.record("note", self.name, "", f"saga {status}", -1, record.saga_id)


def saga_metrics(orchestrator: SagaOrchestrator, participants: Sequence[SagaParticipant]) -> dict[str, float]:
    """Saga counts by status, compensation rate and the at-most-once check of compensations.

    ``compensation_rate`` = finished sagas that took the compensation path (ended
    "compensated" or "stuck") / finished sagas.
    ``max_compensations_per_step`` is the largest number of times any one step's
    undo took effect (the guarantee: at most 1).
    """
    records = list(orchestrator.sagas.values())
    finished = [r for r in records if r.finished]
    compensating = [r for r in finished if r.status in ("compensated", "stuck")]
    undo_counts = [n for p in participants for n in p.undo_effects.values()]
    do_counts = [n for p in participants for n in p.do_effects.values()]
    return {
        "sagas": len(records),
        "completed": sum(r.status == "completed" for r in records),
        "compensated": sum(r.status == "compensated" for r in records),
        "stuck": sum(r.status == "stuck" for r in records),
        "unfinished": len(records) - len(finished),
        "compensation_rate": len(compensating) / len(finished) if finished else math.nan,
        "compensation_effects": sum(undo_counts),
        "max_compensations_per_step": max(undo_counts, default=0),
        "max_effects_per_step": max(do_counts, default=0),
        "retries": sum(r.retries for r in records),
        "duplicates_suppressed": sum(p.duplicates_suppressed for p in participants),
    }
