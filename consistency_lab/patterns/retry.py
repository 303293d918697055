"""Retry policies and a retry budget: when a failed call is tried again, and how soon.

A retry turns one failure into more load.  Against a service that failed because it
was *overloaded*, that load arrives exactly when it hurts most, so the policy matters:

``none``
    never retry: a failure is final.
``immediate``
    retry at once, up to ``max_retries`` times.  Under overload every timed-out or
    refused request comes back as up to ``max_retries + 1`` requests: a retry storm.
``backoff``
    exponential backoff with *full jitter* (Brooker, "Exponential Backoff And Jitter",
    AWS Architecture Blog, 2015): before retry ``n`` (1, 2, ...) wait a uniform draw in
    ``[0, min(cap_ms, base_ms * 2**(n-1))]``.  The jitter spreads retries out so that
    clients that failed together do not come back together.

A :class:`RetryBudget` caps retries as a *share* of requests (as Finagle's and gRPC's
retry budgets do): within a sliding window, retries may be at most
``ratio * first attempts + min_retries``.  However many clients fail, retries add at
most ``ratio`` to the offered load, so a storm cannot build.

Both are plain objects with the time passed in (ms) and the jitter drawn from a
caller's seeded stream, so they work in the simulator and in a lab cell alike.
"""

from __future__ import annotations

import random
from collections import deque
from dataclasses import dataclass

from ..validation import choice, count, non_negative, positive

__all__ = ["RetryPolicy", "RetryBudget", "RETRY_POLICIES"]

#: Every retry policy, by name.
RETRY_POLICIES = ("none", "immediate", "backoff")


@dataclass(frozen=True)
class RetryPolicy:
    """Which retries to send (``kind``, ``max_retries``) and how long to wait before each (ms)."""

    kind: str = "backoff"
    max_retries: int = 3
    base_ms: float = 50.0
    cap_ms: float = 2000.0

    def __post_init__(self) -> None:
        choice("kind", self.kind, RETRY_POLICIES)
        count("max_retries", self.max_retries, low=0)
        positive("base_ms", self.base_ms, "ms")
        # A cap below the base is allowed: every wait is then uniform in [0, cap_ms].
        positive("cap_ms", self.cap_ms, "ms")

    def retries_allowed(self) -> int:
        """How many retries one request may send (0 for ``none``)."""
        return 0 if self.kind == "none" else self.max_retries

    def delay(self, retry: int, rng: random.Random) -> float:
        """Wait (ms) before retry number ``retry`` (1 = the first retry); draws only for ``backoff``."""
        count("retry", retry, low=1)
        if retry > self.retries_allowed():
            raise ValueError(f"retry={retry!r} must be between 1 and max_retries={self.retries_allowed()} "
                             f"for kind={self.kind}")
        if self.kind == "immediate":
            return 0.0
        # 2**(retry-1) overflows a float for huge retry numbers; the cap is reached long before.
        ceiling = self.cap_ms if retry > 60 else min(self.cap_ms, self.base_ms * 2.0 ** (retry - 1))
        return rng.uniform(0.0, ceiling)


class RetryBudget:
    """Retries limited to ``ratio`` of first attempts (plus ``min_retries``) within a ``window_ms`` window."""

    def __init__(self, ratio: float = 0.1, *, window_ms: float = 1000.0, min_retries: int = 10) -> None:
        self.ratio = non_negative("ratio", ratio)
        self.window_ms = positive("window_ms", window_ms, "ms")
        self.min_retries = count("min_retries", min_retries, low=0)
        self._requests: deque[float] = deque()  # times of first attempts in the window
        self._retries: deque[float] = deque()  # times of retries granted in the window
        self._now = float("-inf")
        self.granted = 0
        self.refused = 0

    def _tick(self, now: float) -> None:
        non_negative("now", now, "ms")
        if now < self._now:
            raise ValueError(f"now={now!r} must not go back in time (last seen {self._now!r})")
        self._now = now
        start = now - self.window_ms
        for times in (self._requests, self._retries):
            while times and times[0] <= start:
                times.popleft()

    def record_request(self, now: float) -> None:
        """Count a first attempt (it earns ``ratio`` retries for the window)."""
        self._tick(now)
        self._requests.append(now)

    def try_retry(self, now: float) -> bool:
        """True (and the retry is counted) if the budget has room for one more retry now."""
        self._tick(now)
        if len(self._retries) < self.min_retries + self.ratio * len(self._requests):
            self._retries.append(now)
            self.granted += 1
            return True
        self.refused += 1
        return False

    def __repr__(self) -> str:
        return f"RetryBudget(ratio={self.ratio:g}, window_ms={self.window_ms:g}, min_retries={self.min_retries})"
