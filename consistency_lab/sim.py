"""The simulation kernel: virtual time, seeded randomness and a trace of what happened.

Everything in the course runs on one :class:`Simulation`.  It owns three things and
nothing else:

* **time**: a :class:`simpy.Environment`; virtual milliseconds, never the wall clock;
* **randomness**: independent, named :class:`random.Random` streams derived from one
  seed, so adding draws to the network never shifts the draws of the clients;
* **the trace**: an append-only list of :class:`TraceEvent` records (sends,
  deliveries, drops, partitions, crashes...) whose digest identifies a run.

Callbacks are scheduled on plain SimPy ``Timeout`` events instead of one generator
process per message: that is several times cheaper and keeps 10^5 messages under a
second.
"""

from __future__ import annotations

import hashlib
import math
import random
from typing import Any, Callable, NamedTuple

import simpy
from simpy.core import NORMAL, URGENT

from .validation import count

__all__ = ["Simulation", "Timer", "TraceEvent", "check_seed", "EventBudgetExceeded"]


class EventBudgetExceeded(ValueError):
    """A run needed more events than its simulation's ``max_events`` allows."""


def check_seed(seed: Any) -> int:
    """Return ``seed`` if it is a non-negative int, else raise a clear ValueError."""
    return count("seed", seed, low=0)


class TraceEvent(NamedTuple):
    """One thing that happened at one virtual time.

    ``kind`` is one of: send, deliver, drop, duplicate, partition, heal, crash,
    restart, clog, unclog, note.  ``src``/``dst`` are node names ("" when not
    applicable), ``what`` the message type or a short description and ``msg_id``
    the network's id of the message (-1 when not a message).
    """

    time: float
    kind: str
    src: str
    dst: str
    what: str
    msg_id: int = -1
    detail: str = ""


class Timer:
    """A cancellable callback scheduled at a virtual time.

    A Timer is queued on the SimPy environment directly: ``Environment.step`` needs
    only ``callbacks`` and ``_ok`` from what it pops, and skipping a full
    ``simpy.Event`` per message makes scheduling about twice as cheap.
    """

    __slots__ = ("when", "_fn", "_args", "cancelled", "callbacks", "_ok")

    def __init__(self, when: float, fn: Callable[..., Any], args: tuple) -> None:
        self.when = when
        self._fn = fn
        self._args = args
        self.cancelled = False
        self.callbacks = [self._fire]
        self._ok = True

    def cancel(self) -> None:
        """Prevent the callback from running (no-op if it already ran)."""
        self.cancelled = True

    def _fire(self, _event: "Timer") -> None:
        if not self.cancelled:
            self.cancelled = True  # a timer fires at most once
            self._fn(*self._args)


class Simulation:
    """A seeded, deterministic discrete-event simulation in virtual milliseconds."""

    def __init__(self, seed: int = 0, *, trace: bool = True, max_events: int | None = None) -> None:
        self.seed = check_seed(seed)
        if max_events is not None and (isinstance(max_events, bool) or not isinstance(max_events, int)
                                       or max_events < 0):
            raise ValueError(f"max_events={max_events!r} must be None (no limit) or an integer >= 0")
        #: The most events :meth:`run` and :meth:`run_bounded` may process in total, and the most
        #: that may wait in the queue at once (None: no limit).
        self.max_events = max_events
        self.env = simpy.Environment()
        self._streams: dict[str, random.Random] = {}
        self.tracing = trace
        self.trace: list[TraceEvent] = []
        self._next_id = 0
        self.events_processed = 0  # by run_bounded: what the event budgets count

    # -- time -------------------------------------------------------------
    @property
    def now(self) -> float:
        """Current virtual time in milliseconds."""
        return self.env.now

    def schedule(self, delay: float, fn: Callable[..., Any], *args: Any) -> Timer:
        """Call ``fn(*args)`` after ``delay`` virtual ms; returns a cancellable Timer."""
        if not delay >= 0:  # also rejects NaN
            raise ValueError(f"delay={delay!r} must be a non-negative number of ms")
        timer = Timer(self.env.now + delay, fn, args)
        self.env.schedule(timer, NORMAL, delay)  # type: ignore[arg-type]
        return timer

    def call_soon(self, fn: Callable[..., Any], *args: Any) -> Timer:
        """Run ``fn(*args)`` at the current time, before ordinary events."""
        timer = Timer(self.env.now, fn, args)
        self.env.schedule(timer, URGENT, 0)  # type: ignore[arg-type]
        return timer

    def process(self, generator) -> simpy.Process:
        """Start a SimPy process (for workloads that read best as a generator)."""
        return self.env.process(generator)

    def run(self, until: float | None = None) -> None:
        """Run until virtual time ``until`` (ms), or until no events are left.

        With ``max_events`` set, raises :class:`EventBudgetExceeded` once the budget is spent.
        """
        if until is not None and not until >= self.env.now:
            raise ValueError(f"until={until!r} must be a time >= now={self.env.now}")
        if self.max_events is None:
            self.env.run(until=until)
        elif self.run_bounded(math.inf if until is None else until) == "events":
            raise EventBudgetExceeded(
                f"the run needed more than max_events={self.max_events} simulation events "
                f"(stopped at {self.env.now:.0f} ms of virtual time); make the workload smaller")

    def run_bounded(self, until: float, *, max_events: int | None = None,
                    stop_when: simpy.Event | None = None) -> str:
        """Run until ``stop_when`` is processed, virtual time ``until``, or the event budget is spent.

        The budget is ``max_events`` more events, and never more than what is left of
        the simulation's own ``max_events`` (which also caps how many events may wait in
        the queue).  Returns why it stopped: ``"done"``
        (``stop_when`` happened), ``"time"`` (the clock reached ``until``), ``"idle"``
        (nothing was left to happen) or ``"events"`` (the budget ran out; the clock
        stays where it was).  Scenarios run through this, so no parameter set can
        keep a run going forever.
        """
        env = self.env
        if not until >= env.now:
            raise ValueError(f"until={until!r} must be a time >= now={env.now}")
        if max_events is not None and (isinstance(max_events, bool) or not isinstance(max_events, int)
                                       or max_events < 0):
            raise ValueError(f"max_events={max_events!r} must be None or an integer >= 0")
        if self.max_events is not None:
            left = max(self.max_events - self.events_processed, 0)
            max_events = left if max_events is None else min(max_events, left)
        elif max_events is None:
            max_events = -1  # no limit: the counter never equals it
        step, peek = env.step, env.peek
        queue = env._queue  # SimPy's event heap (simpy<5): its length is what is waiting to happen
        # One handler can queue thousands of messages (a resend storm over a slow link), so
        # the budget also bounds what is waiting, not only what has run.
        queue_limit = math.inf if self.max_events is None else self.max_events
        done = 0
        try:
            while True:
                if stop_when is not None and stop_when.processed:
                    return "done"
                nxt = peek()
                if nxt > until or nxt == math.inf:
                    if until != math.inf and until > env.now:
                        env.run(until=until)  # advance the clock; nothing happens before ``until``
                    return "idle" if nxt == math.inf else "time"
                if done == max_events or len(queue) > queue_limit:
                    return "events"
                step()
                done += 1
        finally:
            self.events_processed += done

    # -- randomness --------------------------------------------------------
    def rng(self, name: str) -> random.Random:
        """The random stream called ``name``: same seed and name, same draws, in any process."""
        stream = self._streams.get(name)
        if stream is None:
            # sha256 rather than hash(): str hashes are salted per process.
            digest = hashlib.sha256(f"{self.seed}/{name}".encode()).digest()
            stream = random.Random(int.from_bytes(digest[:8], "big"))
            self._streams[name] = stream
        return stream

    def next_id(self) -> int:
        """A fresh integer id, unique within this simulation (message ids, request ids)."""
        self._next_id += 1
        return self._next_id

    # -- trace -------------------------------------------------------------
    def record(self, kind: str, src: str = "", dst: str = "", what: str = "",
               msg_id: int = -1, detail: str = "") -> None:
        """Append one event to the trace (a no-op when tracing is off)."""
        if self.tracing:
            # A NamedTuple, not a frozen dataclass: several times cheaper to build,
            # and a busy run records two events per message.
            self.trace.append(TraceEvent(self.env.now, kind, src, dst, what, msg_id, detail))

    def trace_digest(self) -> str:
        """A sha256 hex digest of the whole trace: equal digests mean identical runs."""
        h = hashlib.sha256()
        for e in self.trace:
            h.update(f"{e.time!r}|{e.kind}|{e.src}|{e.dst}|{e.what}|{e.msg_id}|{e.detail}\n".encode())
        return h.hexdigest()
