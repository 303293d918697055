"""Operation histories: what clients asked for, when, and what they were told.

A history is the raw material of every consistency check.  It records only what
an outside observer (the clients) could see, never replica internals, so the same
checkers work on histories from the simulator, from SQLite, or from a Jepsen run.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Hashable, Iterable

INF = math.inf

#: Outcomes an operation can have.  "ok": it happened and the client saw the result.
#: "fail": it certainly did not happen (refused before any effect).
#: "info": the client never learned the outcome (timeout, crash); it may or may not
#: have taken effect, so its return time is infinite.
STATUSES = ("ok", "fail", "info")


@dataclass(frozen=True)
class Operation:
    """One client operation: input, call time, output and return time (virtual ms).

    A pending (indeterminate) operation has ``return_time = inf`` and status "info".
    """

    client_id: Hashable
    input: Any
    call: float
    output: Any
    return_time: float
    status: str = "ok"

    def __post_init__(self) -> None:
        if self.status not in STATUSES:
            raise ValueError(f"status={self.status!r} must be one of {STATUSES}")
        if self.status == "info" and self.return_time != INF:
            # An unknown outcome has no return; keeping the two in step avoids
            # checkers having to guess which field to trust.
            object.__setattr__(self, "return_time", INF)
        if not self.return_time >= self.call:
            raise ValueError(
                f"return_time={self.return_time} must be >= call={self.call} "
                f"(operation of client {self.client_id!r})"
            )

    @property
    def pending(self) -> bool:
        """True when the client never learned the outcome."""
        return self.return_time == INF

    @property
    def latency(self) -> float:
        """Return time minus call time (inf for pending operations)."""
        return self.return_time - self.call


@dataclass
class History:
    """An ordered collection of operations, with helpers to record them as they happen."""

    operations: list[Operation] = field(default_factory=list)

    def add(self, op: Operation) -> None:
        """Append a finished (or abandoned) operation."""
        self.operations.append(op)

    def __iter__(self):
        return iter(self.operations)

    def __len__(self) -> int:
        return len(self.operations)

    def completed(self) -> list[Operation]:
        """Operations with status "ok"."""
        return [op for op in self.operations if op.status == "ok"]

    def checkable(self) -> list[Operation]:
        """Operations a checker should consider: everything except certain failures."""
        return [op for op in self.operations if op.status != "fail"]

    def by_client(self) -> dict[Hashable, list[Operation]]:
        """Operations grouped per client, each list in call order."""
        out: dict[Hashable, list[Operation]] = {}
        for op in sorted(self.operations, key=lambda o: (o.call, o.return_time)):
            out.setdefault(op.client_id, []).append(op)
        return out


def as_history(ops: Iterable[Operation] | History) -> History:
    """Accept either a History or any iterable of operations."""
    return ops if isinstance(ops, History) else History(list(ops))
