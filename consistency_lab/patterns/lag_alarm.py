"""A lag alarm on a read model: raised when the oldest unapplied event is older than a tolerance.

The business states a tolerance as time ("analytics may be two minutes behind"), so the
alarm watches the *age of the oldest event the read model has not applied yet*, not how
many events are waiting: a thousand events queued for a fast projector may be a second
of lag, ten events queued behind a stalled one may be an hour.

The alarm does not sample.  Whenever the oldest unapplied record changes (an append to
an empty backlog, a record handled), it sets a timer for the instant that record's age
would reach the tolerance; if the record is still unapplied then, the alarm is raised
at exactly that instant.  After every handled record a raised alarm checks whether the
new oldest record is younger than the tolerance and clears.  So on a run the alarm is
raised if and only if some event waited longer than ``tolerance_ms`` to be applied, and
each raise happens at ``appended_at + tolerance_ms`` of the event that crossed it.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Optional

from ..sim import Simulation, Timer
from ..validation import positive

if TYPE_CHECKING:  # pragma: no cover
    from ..streams.consumer import ConsumerGroup
    from ..streams.log import Record

__all__ = ["LagAlarm"]


class LagAlarm:
    """Raised while the oldest record ``group`` has not committed is older than ``tolerance_ms``.

    ``intervals`` lists (raised_at, cleared_at) in ms; ``cleared_at`` is ``math.inf`` while
    the alarm is still raised.  Use it with ``commit_every=1`` (the default), so that
    "committed" and "applied" are the same moment.
    """

    def __init__(self, sim: Simulation, group: "ConsumerGroup", tolerance_ms: float) -> None:
        self.sim = sim
        self.group = group
        self.tolerance_ms = positive("tolerance_ms", tolerance_ms, "ms")
        self.intervals: list[tuple[float, float]] = []
        self._timer: Optional[Timer] = None
        self._armed_for = math.nan  # appended_at of the record the timer is set for
        group.log.subscribe(group.topic, self._on_append)
        # After a commit the oldest unapplied record may have changed: check "soon" (same virtual
        # time, once the member has finished its step) rather than in the middle of it.
        group.watch_commits(lambda: self.sim.call_soon(self._check))

    @property
    def raised(self) -> bool:
        """True while the alarm is raised."""
        return bool(self.intervals) and self.intervals[-1][1] == math.inf

    @property
    def times_raised(self) -> int:
        """How many times the alarm went off."""
        return len(self.intervals)

    def _oldest(self) -> Optional["Record"]:
        return self.group.oldest_uncommitted()

    def _on_append(self, _record: "Record") -> None:
        # A new record is the youngest: it changes the oldest one only when nothing was waiting.
        if self._timer is None and not self.raised:
            self.sim.call_soon(self._check)

    def _check(self) -> None:
        oldest = self._oldest()
        now = self.sim.now
        if self.raised:
            if oldest is None or now - oldest.appended_at < self.tolerance_ms:
                self.intervals[-1] = (self.intervals[-1][0], now)
            else:
                return
        if oldest is None:
            self._disarm()
            return
        if oldest.appended_at == self._armed_for:
            return  # the timer is already set for this record
        self._disarm()
        self._armed_for = oldest.appended_at
        self._timer = self.sim.schedule(max(0.0, oldest.appended_at + self.tolerance_ms - now), self._deadline)

    def _disarm(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
        self._timer = None
        self._armed_for = math.nan

    def _deadline(self) -> None:
        armed_for = self._armed_for
        self._timer = None
        self._armed_for = math.nan
        oldest = self._oldest()
        # Compare append times, not a recomputed age: (appended_at + tolerance) - appended_at may
        # round below the tolerance, which would re-arm a zero-delay timer forever.
        if oldest is not None and oldest.appended_at <= armed_for:
            self.intervals.append((self.sim.now, math.inf))
        else:
            self._check()

    def raised_ms(self, end_ms: float) -> float:
        """Total time (ms) the alarm was raised, counting a still-raised alarm up to ``end_ms``."""
        return sum(min(b, end_ms) - a for a, b in self.intervals)
