"""What a checker answers: a verdict, and for a violation, the evidence."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Hashable

from consistency_lab.history import Operation

from .model_type import Model
from .builtin_models import describe_op

VERDICTS = ("ok", "illegal", "unknown")

_ORDER_WORD = {"linearizable": "real time", "sequential": "each client's program order"}


@dataclass
class Witness:
    """Evidence of a violation.

    ``linearized``: the longest prefix the search could order legally, in that order
    (when a relaxed search proved the violation, the longest the exact search found
    within its step budget).
    ``unplaceable``: the operation(s) none of which can legally come next after it;
    the first is the one whose return forces the dead end.
    ``state``: the model state after ``linearized``.
    """

    linearized: list[Operation]
    unplaceable: list[Operation]
    state: Hashable = None


@dataclass
class CheckResult:
    """Outcome of a consistency check; truthy only when the verdict is "ok"."""

    verdict: str
    witness: Witness | None = None
    partition_results: list[CheckResult] | None = None
    elapsed_s: float = 0.0
    kind: str = "linearizable"
    model: Model | None = None
    n_ops: int = 0
    label: str | None = None
    reason: str = ""
    #: for "ok" results of an unpartitioned check: one legal order of the operations
    order: list[Operation] | None = field(default=None, repr=False)
    #: the operations that were checked ("fail" ones dropped), in call order
    ops: list[Operation] = field(default_factory=list, repr=False)

    def __post_init__(self) -> None:
        if self.verdict not in VERDICTS:
            raise ValueError(f"verdict={self.verdict!r} must be one of {VERDICTS}")

    @property
    def ok(self) -> bool:
        """True only when the history was shown to satisfy the property."""
        return self.verdict == "ok"

    def __bool__(self) -> bool:
        return self.ok

    def describe(self, op: Operation) -> str:
        """Text for one operation, using the model's wording when known."""
        if self.model is not None:
            return self.model.text(op)
        return describe_op(op.input, None if op.status == "info" else op.output)

    def explain(self, width: int = 88) -> str:
        """A short plain-English paragraph saying what was found, wrapped at ``width`` characters.

        Wrapped here at word boundaries because notebook output areas break long
        lines anywhere, even mid-word.
        """
        import textwrap

        return "\n".join(textwrap.fill(line, width, break_long_words=False, break_on_hyphens=False)
                         if line.strip() else line for line in self._paragraph().split("\n"))

    def _paragraph(self) -> str:
        prop = "sequentially consistent" if self.kind == "sequential" else "linearizable"
        order = _ORDER_WORD.get(self.kind, "real time")
        what = f"{self.label}: " if self.label else ""
        if self.verdict == "unknown":
            why = self.reason or "the search did not finish"
            return (
                f"{what}Unknown: {why}. This is not a verdict either way; "
                "allow more time or check a shorter history."
            )
        if self.partition_results is not None:
            return self._explain_parts(prop)
        if self.verdict == "ok":
            fit = (
                "the one operation fits" if self.n_ops == 1
                else f"all {self.n_ops} operations fit"
            )
            meaning = (
                "so every client could have been talking to a single copy"
                if self.kind == "linearizable"
                else "so the clients agree on one history of changes, though some "
                "may have seen it late"
            )
            return (
                f"{what}{prop.capitalize()}: {fit} into one sequence that respects "
                f"{order} and the {self._model_name()}'s rules, {meaning}."
            )
        return what + self._explain_witness(prop, order)

    def _model_name(self) -> str:
        return self.model.name if self.model is not None else "data type"

    def _explain_parts(self, prop: str) -> str:
        parts = self.partition_results or []
        counts = {v: sum(1 for p in parts if p.verdict == v) for v in VERDICTS}
        head = f"Checked {len(parts)} independent parts one at a time: " + ", ".join(
            f"{counts[v]} {v}" for v in VERDICTS if counts[v]
        ) + "."
        if self.verdict == "ok":
            return f"{prop.capitalize()}. {head}"
        bad = next(p for p in parts if p.verdict == self.verdict)
        verdict = "Not " + prop if self.verdict == "illegal" else "Unknown"
        return f"{verdict}. {head} First {self.verdict} part — {bad.explain()}"

    def _explain_witness(self, prop: str, order: str) -> str:
        w = self.witness
        if w is None:
            return f"Not {prop}."
        n = len(w.linearized)
        if n:
            shown = ", ".join(self.describe(op) for op in w.linearized[:6])
            more = ", …" if n > 6 else ""
            prefix = (
                f"The longest legal ordering found covers {n} of {self.n_ops} operations "
                f"({shown}{more})"
            )
        else:
            prefix = "No operation can legally come first"
        state = (
            self.model.state_text(w.state) if self.model is not None else repr(w.state)
        )
        if w.unplaceable:
            first = w.unplaceable[0]
            stuck = f"; after it {state}, and {format_op(first, self.describe(first))}"
            others = len(w.unplaceable) - 1
            stuck += (
                f" (and {others} other operation{'s' if others > 1 else ''})"
                if others
                else ""
            )
            stuck += " cannot come next without breaking the rules"
        else:
            stuck = f"; after it {state}"
        return (
            f"Not {prop}. {prefix}{stuck}. No order that respects {order} explains "
            "what the clients saw."
        )


def format_time(t: float) -> str:
    """Virtual milliseconds as a compact string."""
    return "∞" if math.isinf(t) else f"{t:g}"


def format_when(op: Operation) -> str:
    """e.g. "(5–6 ms)" or "(called at 5 ms, never returned)"."""
    if op.pending:
        return f"(called at {format_time(op.call)} ms, never returned)"
    return f"({format_time(op.call)}–{format_time(op.return_time)} ms)"


def format_op(op: Operation, text: str | None = None) -> str:
    """e.g. "client 1's read → 0 (5–6 ms)"."""
    text = text if text is not None else describe_op(op.input, op.output)
    return f"client {op.client_id}'s {text} {format_when(op)}"

