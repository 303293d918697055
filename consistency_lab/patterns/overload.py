"""A chain of services whose timeouts cascade, and clients that retry: how overload spreads.

A request travels ``client -> web -> app -> store``.  Every hop (a :class:`Tier`) waits
for the hop below for at most its own ``timeout_ms``, then answers ``"timeout"`` and
stops caring.  Nothing tells the hops below: they keep working on a request whose
answer nobody will read (the store's ``wasted_ms``).  When an upstream timeout is
shorter than the work below it (web gives up after 300 ms while app waits 1 s for the
store), every slow request is abandoned upstream and served anyway downstream, and
retries pile new copies on top of the old ones.

A :class:`RetryingClient` sends each request, waits ``timeout_ms`` per attempt and
retries failures by a :class:`~consistency_lab.patterns.retry.RetryPolicy`, within an
optional :class:`~consistency_lab.patterns.retry.RetryBudget`.  A tier may hold a
:class:`~consistency_lab.patterns.circuit_breaker.CircuitBreaker` in front of the hop
below: timeouts, "overloaded" and "shed" answers count as failures, and an open breaker
answers ``"breaker-open"`` at once.

Every hop speaks one interface: ``handle(call, deadline_ms, reply)`` with ``reply`` called
exactly once with one of :data:`~consistency_lab.patterns.service.OUTCOMES`.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field
from typing import Callable, Optional, Protocol

from ..latency import Latency, parse_latency
from ..sim import Simulation, Timer
from ..validation import positive
from .circuit_breaker import CircuitBreaker
from .retry import RetryBudget, RetryPolicy
from .service import Call, Reply

__all__ = ["Hop", "Tier", "RetryingClient", "RequestRecord"]


class Hop(Protocol):
    """Anything a request can be sent to: a :class:`Tier` or a store."""

    def handle(self, call: Call, deadline_ms: float, reply: Reply) -> None:
        """Work on ``call`` and answer through ``reply`` exactly once."""


class _Wait:
    """One hop's wait for one answer from below: answered or timed out, whichever comes first."""

    __slots__ = ("call", "reply", "timer", "open")

    def __init__(self, call: Call, reply: Reply) -> None:
        self.call = call
        self.reply = reply
        self.timer: Optional[Timer] = None
        self.open = True


class Tier:
    """A hop that forwards each call to ``downstream`` over a link of ``link`` delay and waits ``timeout_ms``."""

    def __init__(self, name: str, sim: Simulation, downstream: Hop, *, timeout_ms: float,
                 link: "Latency | str | float" = 0.5, breaker: Optional[CircuitBreaker] = None,
                 rng: Optional[random.Random] = None) -> None:
        self.name = name
        self.sim = sim
        self.downstream = downstream
        self.timeout_ms = positive("timeout_ms", timeout_ms, "ms")
        self.link = parse_latency(link, "link")
        if breaker is not None and not isinstance(breaker, CircuitBreaker):
            raise ValueError(f"breaker={breaker!r} must be None or a CircuitBreaker")
        self.breaker = breaker
        self.rng = rng if rng is not None else sim.rng(f"link/{name}")
        self.counts = {"calls": 0, "ok": 0, "timeout": 0, "failed": 0, "breaker-open": 0}

    def handle(self, call: Call, deadline_ms: float, reply: Reply) -> None:
        """Forward ``call`` below, or fail fast if the breaker is open; answer ``reply`` once."""
        sim = self.sim
        self.counts["calls"] += 1
        if self.breaker is not None and not self.breaker.allow(sim.now):
            self.counts["breaker-open"] += 1
            reply("breaker-open")
            return
        wait = _Wait(call, reply)
        wait.timer = sim.schedule(self.timeout_ms, self._timed_out, wait)
        # Our own deadline, not the caller's: a tier that does not propagate deadlines
        # is exactly how work below outlives the caller above.
        deadline = sim.now + self.timeout_ms
        sim.schedule(self.link.sample(self.rng), self.downstream.handle, call, deadline,
                     lambda outcome: sim.schedule(self.link.sample(self.rng), self._answered, wait, outcome))

    def _timed_out(self, wait: _Wait) -> None:
        wait.open = False
        wait.call.abandoned = True  # nobody above will read what the hops below produce
        self.counts["timeout"] += 1
        if self.breaker is not None:
            self.breaker.record_failure(self.sim.now)
        wait.reply("timeout")

    def _answered(self, wait: _Wait, outcome: str) -> None:
        if not wait.open:
            return  # a late answer: we already said "timeout"
        wait.open = False
        assert wait.timer is not None
        wait.timer.cancel()
        if self.breaker is not None:
            if outcome == "ok":
                self.breaker.record_success(self.sim.now)
            elif outcome != "breaker-open":  # a breaker further down is not a failure of the hop itself
                self.breaker.record_failure(self.sim.now)
        self.counts["ok" if outcome == "ok" else "failed"] += 1
        wait.reply(outcome)


@dataclass
class RequestRecord:
    """One client request: when it arrived, how it ended, after how many attempts, and when."""

    request_id: int
    arrival_ms: float
    outcome: str = ""  # "" while undecided, else one of OUTCOMES (the last attempt's answer)
    attempts: int = 0
    done_ms: float = math.nan
    answers: list[str] = field(default_factory=list)  # every attempt's answer, in order

    @property
    def latency_ms(self) -> float:
        """Arrival to final answer (ms), retries included; NaN while undecided."""
        return self.done_ms - self.arrival_ms


class RetryingClient:
    """Sends requests to ``target`` with a per-attempt ``timeout_ms`` and retries failures by ``policy``."""

    def __init__(self, sim: Simulation, target: Hop, *, timeout_ms: float, policy: RetryPolicy,
                 budget: Optional[RetryBudget] = None, rng: Optional[random.Random] = None,
                 on_done: Optional[Callable[[RequestRecord], None]] = None) -> None:
        self.sim = sim
        self.target = target
        self.timeout_ms = positive("timeout_ms", timeout_ms, "ms")
        if not isinstance(policy, RetryPolicy):
            raise ValueError(f"policy={policy!r} must be a RetryPolicy")
        if budget is not None and not isinstance(budget, RetryBudget):
            raise ValueError(f"budget={budget!r} must be None or a RetryBudget")
        self.policy = policy
        self.budget = budget
        self.rng = rng if rng is not None else sim.rng("retry")
        self.on_done = on_done
        self.records: list[RequestRecord] = []
        self.retries_sent = 0
        self.retries_refused = 0  # by the budget

    def start(self, request_id: int) -> RequestRecord:
        """A new request arrives now: send its first attempt."""
        record = RequestRecord(request_id, self.sim.now)
        self.records.append(record)
        if self.budget is not None:
            self.budget.record_request(self.sim.now)
        self._attempt(record)
        return record

    def _attempt(self, record: RequestRecord) -> None:
        sim = self.sim
        call = Call(record.request_id, record.attempts, sim.now)
        record.attempts += 1
        wait = _Wait(call, lambda outcome: self._finished(record, outcome))
        wait.timer = sim.schedule(self.timeout_ms, self._timed_out, wait)
        self.target.handle(call, sim.now + self.timeout_ms, lambda outcome: self._answered(wait, outcome))

    def _timed_out(self, wait: _Wait) -> None:
        wait.open = False
        wait.call.abandoned = True
        wait.reply("timeout")

    def _answered(self, wait: _Wait, outcome: str) -> None:
        if wait.open:
            wait.open = False
            assert wait.timer is not None
            wait.timer.cancel()
            wait.reply(outcome)

    def _finished(self, record: RequestRecord, outcome: str) -> None:
        sim = self.sim
        record.answers.append(outcome)
        retry = record.attempts  # the number this retry would have (1 = first retry)
        if outcome != "ok" and retry <= self.policy.retries_allowed():
            if self.budget is None or self.budget.try_retry(sim.now):
                self.retries_sent += 1
                sim.schedule(self.policy.delay(retry, self.rng), self._attempt, record)
                return
            self.retries_refused += 1
        record.outcome = outcome
        record.done_ms = sim.now
        if self.on_done is not None:
            self.on_done(record)
