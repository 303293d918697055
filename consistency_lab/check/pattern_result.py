"""What the causal, consistent-prefix and eventual checks answer: holds or not, and the ops that show it."""

from __future__ import annotations

from dataclasses import dataclass, field

from consistency_lab.history import Operation


@dataclass
class PatternResult:
    """Whether one model holds; if not, the bad pattern found and the operations forming it.

    ``holds`` is None when the check does not apply to this history (``reason`` says why).
    ``witness`` lists the operations of the bad pattern, in the order ``reason`` names them.
    """

    name: str
    holds: bool | None
    pattern: str = ""
    witness: tuple[Operation, ...] = ()
    reason: str = ""
    #: the operations that were judged ("fail" ones dropped), in call order
    ops: list[Operation] = field(default_factory=list, repr=False)

    def __bool__(self) -> bool:
        return self.holds is True

    @property
    def verdict(self) -> str:
        """"ok", "illegal" or "unknown" (not applicable), as a CheckResult says it."""
        return {True: "ok", False: "illegal"}.get(self.holds, "unknown")

    def explain(self) -> str:
        """One sentence for students."""
        if self.holds is None:
            return f"{self.name}: not judged ({self.reason})."
        if self.holds:
            return f"{self.name}: holds{': ' + self.reason if self.reason else ''}."
        return f"Not {self.name} ({self.pattern}): {self.reason}."
