"""A circuit breaker driven by virtual time: fail fast while a dependency is drowning.

When a service is overloaded, every extra request makes things worse: it waits in a
queue, times out, and is retried.  A breaker in front of the caller counts failures
(timeouts, "overloaded" answers) and, after ``failure_threshold`` in a row, **opens**:
calls are refused at once, without touching the service, for ``open_ms``.  Then it
goes **half-open** and lets ``half_open_max_calls`` trial calls through; a success
closes it, a failure opens it again for another ``open_ms``.

The breaker has no clock of its own: every method takes ``now`` (ms), so the same
object works in the simulator (``sim.now``) and in a plain lab cell.  ``now`` must
never go backwards.

Usage::

    if breaker.allow(now):
        ...call...; then breaker.record_success(now) or breaker.record_failure(now)
    else:
        ...fail fast...
"""

from __future__ import annotations

import math

from ..validation import count, positive

__all__ = ["CircuitBreaker", "CLOSED", "OPEN", "HALF_OPEN", "BREAKER_STATES"]

CLOSED = "closed"
OPEN = "open"
HALF_OPEN = "half-open"
#: Every state a breaker can be in.
BREAKER_STATES = (CLOSED, OPEN, HALF_OPEN)


class CircuitBreaker:
    """Closed / open / half-open breaker with a consecutive-failure threshold and an open duration (ms)."""

    def __init__(self, failure_threshold: int = 5, open_ms: float = 500.0, *,
                 half_open_max_calls: int = 1, name: str = "breaker") -> None:
        self.failure_threshold = count("failure_threshold", failure_threshold)
        self.open_ms = positive("open_ms", open_ms, "ms")
        self.half_open_max_calls = count("half_open_max_calls", half_open_max_calls)
        self.name = name
        self._state = CLOSED
        self._failures = 0  # consecutive failures while closed
        self._opened_at = -math.inf
        self._trials = 0  # trial calls let through in the current half-open period
        self._trial_started = -math.inf
        self._now = -math.inf
        #: (time, from_state, to_state) for every change, for plots.
        self.transitions: list[tuple[float, str, str]] = []
        self.times_opened = 0
        self.rejected = 0
        self.allowed = 0
        self.successes = 0
        self.failures = 0

    # -- time ------------------------------------------------------------------
    def _tick(self, now: float) -> None:
        if not isinstance(now, (int, float)) or isinstance(now, bool) or math.isnan(now):
            raise ValueError(f"now={now!r} must be a time in ms")
        if now < self._now:
            raise ValueError(f"now={now!r} must not go back in time (last seen {self._now!r})")
        self._now = now
        if self._state == OPEN and now >= self._opened_at + self.open_ms:
            self._move(HALF_OPEN)
            self._trials = 0

    def _move(self, to: str) -> None:
        self.transitions.append((self._now, self._state, to))
        self._state = to

    def _trip(self) -> None:
        self._move(OPEN)
        self._opened_at = self._now
        self.times_opened += 1
        self._failures = 0
        self._trials = 0

    # -- the protocol ------------------------------------------------------------
    def state(self, now: float) -> str:
        """The state at time ``now``: 'closed', 'open' or 'half-open'."""
        self._tick(now)
        return self._state

    def allow(self, now: float) -> bool:
        """True if a call may go ahead now; False means fail fast (and is counted in ``rejected``)."""
        self._tick(now)
        if self._state == HALF_OPEN:
            # A trial whose outcome never came back (lost, caller crashed) must not
            # wedge the breaker: after another open_ms a new trial is allowed.
            if self._trials >= self.half_open_max_calls and now >= self._trial_started + self.open_ms:
                self._trials = 0
            if self._trials < self.half_open_max_calls:
                self._trials += 1
                self._trial_started = now
                self.allowed += 1
                return True
            self.rejected += 1
            return False
        if self._state == OPEN:
            self.rejected += 1
            return False
        self.allowed += 1
        return True

    def record_success(self, now: float) -> None:
        """Report a call that the dependency answered in time."""
        self._tick(now)
        self.successes += 1
        if self._state == HALF_OPEN:
            self._move(CLOSED)
            self._trials = 0
        # While open, a late answer to a call sent before the trip says little about
        # the service now, so it neither closes the breaker nor resets the count.
        if self._state == CLOSED:
            self._failures = 0

    def record_failure(self, now: float) -> None:
        """Report a call that timed out or was refused for overload."""
        self._tick(now)
        self.failures += 1
        if self._state == HALF_OPEN:
            self._trip()
        elif self._state == CLOSED:
            self._failures += 1
            if self._failures >= self.failure_threshold:
                self._trip()

    def reset(self, now: float) -> None:
        """Forget the failure history and close (e.g. the caller restarted); counters are kept."""
        self._tick(now)
        if self._state != CLOSED:
            self._move(CLOSED)
        self._failures = 0
        self._trials = 0

    def stats(self) -> dict[str, int]:
        """Counters: times opened, calls allowed and rejected, successes and failures reported."""
        return {"times_opened": self.times_opened, "allowed": self.allowed, "rejected": self.rejected,
                "successes": self.successes, "failures": self.failures}

    def __repr__(self) -> str:
        return (f"CircuitBreaker({self.name!r}, state={self._state}, threshold={self.failure_threshold}, "
                f"open_ms={self.open_ms:g})")
