"""A strongly consistent store as a service with finite capacity: workers, a queue, shedding.

One place decides every write, so one place does all the work.  The store has
``workers`` servers working on one request each, a service-time distribution
(:mod:`consistency_lab.latency`) and a FIFO queue of at most ``queue_limit`` waiting
requests; a request that finds the queue full is refused ``"overloaded"``.  With
exponential gaps between arrivals and exponential service times it is the M/M/c queue
of textbooks, and :func:`mmc_expectations` gives what it should measure (Erlang C).

Load shedding refuses work the store cannot do in time, early and cheaply:

``shedding="off"``
    serve everything the queue holds, however late the answer will be;
``shedding="queue"``
    refuse (``"shed"``) when ``shed_queue`` requests are already waiting;
``shedding="deadline"``
    refuse when the expected wait plus one service time ends after the caller's
    deadline.  The store does not know the true service time (a misconfigured index
    may have slowed it down), so it estimates it from the requests it has just served
    (an exponentially weighted mean).

The store never learns that a caller gave up: a request whose caller timed out is
still served when its turn comes.  That work is *wasted*; the service counts it
(``wasted_ms``) from the :class:`Call` the caller marks ``abandoned``.

A :class:`Slowdown` multiplies service times during a window: the "misconfigured
index" that turns a 5 ms lookup into a scan at the worst moment.

Calls are scheduled callbacks on a :class:`~consistency_lab.sim.Simulation` (no
messages): a request costs two events, so a run can hold tens of thousands.
"""

from __future__ import annotations

import math
import random
from collections import deque
from dataclasses import dataclass
from typing import Callable, Optional

from ..latency import Latency, parse_latency
from ..sim import Simulation
from ..validation import choice, count, non_negative, number, positive

__all__ = ["Call", "Slowdown", "CapacityService", "SHEDDING_MODES", "OUTCOMES", "mmc_expectations", "call_with_timeout"]

#: How a store can shed load.
SHEDDING_MODES = ("off", "queue", "deadline")
#: What any hop can answer: only "ok" is a success.
OUTCOMES = ("ok", "overloaded", "shed", "timeout", "breaker-open")

#: A hop's answer callback: called once with one of :data:`OUTCOMES`.
Reply = Callable[[str], None]


class Call:
    """One attempt of one request, as it travels down the chain; any hop that gives up marks it ``abandoned``."""

    __slots__ = ("request_id", "attempt", "sent_ms", "abandoned", "service_time")

    def __init__(self, request_id: int, attempt: int, sent_ms: float,
                 service_time: Optional[Latency] = None) -> None:
        self.request_id = request_id
        self.attempt = attempt  # 0 for the first attempt, n for the n-th retry
        self.sent_ms = sent_ms
        self.abandoned = False  # once True, nobody will use this call's answer
        # The work this call asks for when it differs from the service's usual kind (an analytic
        # query and a scan write competing for one database's workers); None: the service's own.
        self.service_time = service_time

    def __repr__(self) -> str:
        return f"Call(request={self.request_id}, attempt={self.attempt}, abandoned={self.abandoned})"


@dataclass(frozen=True)
class Slowdown:
    """Service times are multiplied by ``factor`` for requests that start in [start_ms, end_ms)."""

    start_ms: float
    end_ms: float
    factor: float

    def __post_init__(self) -> None:
        non_negative("start_ms", self.start_ms, "ms")
        number("end_ms", self.end_ms, low=self.start_ms, unit="ms", allow_inf=True)
        number("factor", self.factor, low=1.0)

    def factor_at(self, now: float) -> float:
        """The multiplier for a request starting at ``now`` (ms)."""
        return self.factor if self.start_ms <= now < self.end_ms else 1.0


def mmc_expectations(arrival_rate: float, service_rate: float, workers: int) -> dict[str, float]:
    """Erlang C for an M/M/c queue with rates per ms: utilisation, P(wait), mean queue length, mean wait (ms)."""
    lam = positive("arrival_rate", arrival_rate, "per ms")
    mu = positive("service_rate", service_rate, "per ms")
    c = count("workers", workers)
    a = lam / mu  # offered load in Erlangs
    rho = a / c
    if rho >= 1:
        raise ValueError(f"arrival_rate={lam!r} must be below workers * service_rate = {c * mu!r} "
                         "for a steady state")
    # Erlang B by its stable recurrence, then C from B.
    b = 1.0
    for k in range(1, c + 1):
        b = a * b / (k + a * b)
    p_wait = b / (1 - rho + rho * b)
    lq = p_wait * rho / (1 - rho)
    return {"utilisation": rho, "p_wait": p_wait, "queue_length": lq, "wait_ms": lq / lam}


class _Job:
    __slots__ = ("call", "reply", "arrived", "started", "service_ms")

    def __init__(self, call: Call, reply: Reply, arrived: float) -> None:
        self.call = call
        self.reply = reply
        self.arrived = arrived
        self.started = math.nan
        self.service_ms = 0.0


def call_with_timeout(sim: Simulation, service: "CapacityService", call: Call, timeout_ms: float,
                      on_outcome: Callable[[str], None]) -> None:
    """Send ``call`` to ``service`` and report exactly once: its outcome, or "timeout" after ``timeout_ms``.

    On a timeout the call is marked abandoned (work still queued for it is wasted, as the
    service's counters show) and a late answer is ignored.
    """
    state = {"open": True}

    def answered(outcome: str) -> None:
        if state["open"]:
            state["open"] = False
            timer.cancel()
            on_outcome(outcome)

    def timed_out() -> None:
        if state["open"]:
            state["open"] = False
            call.abandoned = True
            on_outcome("timeout")

    timer = sim.schedule(timeout_ms, timed_out)
    service.handle(call, sim.now + timeout_ms, answered)


class CapacityService:
    """``workers`` servers, a FIFO queue of at most ``queue_limit``, optional shedding and a slowdown window."""

    def __init__(self, name: str, sim: Simulation, *, workers: int = 4,
                 service_time: "Latency | str | float" = "exp:5", queue_limit: int = 1000,
                 shedding: str = "off", shed_queue: int = 50, slowdown: Optional[Slowdown] = None,
                 rng: Optional[random.Random] = None, estimate_weight: float = 0.05,
                 on_idle: Optional[Callable[[], None]] = None) -> None:
        self.name = name
        self.sim = sim
        self.workers = count("workers", workers)
        self.service_time = parse_latency(service_time, "service_time")
        self.queue_limit = count("queue_limit", queue_limit, low=0)
        self.shedding = choice("shedding", shedding, SHEDDING_MODES)
        self.shed_queue = count("shed_queue", shed_queue, low=0)
        if slowdown is not None and not isinstance(slowdown, Slowdown):
            raise ValueError(f"slowdown={slowdown!r} must be None or a Slowdown(start_ms, end_ms, factor)")
        self.slowdown = slowdown
        self.rng = rng if rng is not None else sim.rng(f"service/{name}")
        self.estimate_weight = number("estimate_weight", estimate_weight, low=0.0, high=1.0)
        if self.estimate_weight == 0.0:
            raise ValueError(f"estimate_weight={estimate_weight!r} must be a number > 0 and <= 1")
        if on_idle is not None and not callable(on_idle):
            raise ValueError(f"on_idle={on_idle!r} must be None or a function of no arguments")
        #: Called each time the last busy worker finishes and nobody waits (e.g. to end a drain).
        self.on_idle = on_idle
        #: Running estimate of the service time (ms), for deadline shedding; starts at the nominal mean.
        self.estimated_service_ms = self.service_time.mean()
        self._queue: deque[_Job] = deque()
        self.busy = 0
        # Time integrals, for utilisation and Little's law.
        self._last = sim.now
        self._start = sim.now
        self.queue_area = 0.0  # integral of the queue length (ms)
        self.busy_area = 0.0  # integral of busy workers (ms)
        self.arrivals = 0
        self.admitted = 0
        self.refused = {"overloaded": 0, "shed": 0}
        self.completed = 0
        self.wasted = 0  # requests served for a caller that had already given up
        self.work_ms = 0.0
        self.wasted_ms = 0.0
        self.waits: list[float] = []  # time in queue of each request that started service (ms)

    # -- accounting ----------------------------------------------------------------
    def _account(self) -> None:
        now = self.sim.now
        dt = now - self._last
        if dt:
            self.queue_area += len(self._queue) * dt
            self.busy_area += self.busy * dt
            self._last = now

    @property
    def idle(self) -> bool:
        """True when no worker is busy and nothing waits."""
        return self.busy == 0 and not self._queue

    @property
    def queue_length(self) -> int:
        """Requests waiting now (not counting those in service)."""
        return len(self._queue)

    def expected_wait_ms(self) -> float:
        """How long a request arriving now should wait before service starts, by the current estimate (ms)."""
        ahead = len(self._queue) + self.busy - self.workers + 1  # requests to finish before a worker is free
        return max(0, ahead) * self.estimated_service_ms / self.workers

    # -- the service -------------------------------------------------------------------
    def handle(self, call: Call, deadline_ms: float, reply: Reply) -> None:
        """Accept ``call`` (``reply("ok")`` when served) or refuse it at once ("overloaded", "shed")."""
        self._account()
        self.arrivals += 1
        now = self.sim.now
        full = self.busy >= self.workers  # a free worker means nothing waits: never shed then
        if self.shedding == "queue" and full and len(self._queue) >= self.shed_queue:
            self._refuse("shed", reply)
            return
        if (self.shedding == "deadline"
                and now + self.expected_wait_ms() + self.estimated_service_ms > deadline_ms):
            self._refuse("shed", reply)
            return
        if full and len(self._queue) >= self.queue_limit:
            self._refuse("overloaded", reply)
            return
        self.admitted += 1
        job = _Job(call, reply, now)
        if self.busy < self.workers:
            self._start_job(job)
        else:
            self._queue.append(job)

    def _refuse(self, outcome: str, reply: Reply) -> None:
        self.refused[outcome] += 1
        reply(outcome)

    def _start_job(self, job: _Job) -> None:
        now = self.sim.now
        self.busy += 1
        job.started = now
        self.waits.append(now - job.arrived)
        factor = self.slowdown.factor_at(now) if self.slowdown is not None else 1.0
        work = self.service_time if job.call.service_time is None else job.call.service_time
        job.service_ms = work.sample(self.rng) * factor
        self.sim.schedule(job.service_ms, self._finish, job)

    def _finish(self, job: _Job) -> None:
        self._account()
        self.busy -= 1
        self.completed += 1
        self.work_ms += job.service_ms
        w = self.estimate_weight
        self.estimated_service_ms += w * (job.service_ms - self.estimated_service_ms)
        if job.call.abandoned:
            self.wasted += 1
            self.wasted_ms += job.service_ms
        if self._queue:
            self._start_job(self._queue.popleft())
        job.reply("ok")
        if self.on_idle is not None and self.idle:
            self.on_idle()

    # -- measurements ------------------------------------------------------------------
    def stats(self) -> dict[str, float]:
        """Utilisation, time-average queue length, mean wait, counts and wasted work, up to now."""
        self._account()
        elapsed = self.sim.now - self._start
        return {
            "utilisation": self.busy_area / (self.workers * elapsed) if elapsed else math.nan,
            "mean_queue_length": self.queue_area / elapsed if elapsed else math.nan,
            "mean_wait_ms": sum(self.waits) / len(self.waits) if self.waits else math.nan,
            "arrivals": self.arrivals, "admitted": self.admitted, "completed": self.completed,
            "overloaded": self.refused["overloaded"], "shed": self.refused["shed"],
            "work_ms": self.work_ms, "wasted_ms": self.wasted_ms, "wasted_requests": self.wasted,
        }

    def __repr__(self) -> str:
        return (f"CapacityService({self.name!r}, workers={self.workers}, busy={self.busy}, "
                f"queue={len(self._queue)}/{self.queue_limit}, shedding={self.shedding})")
