"""What a checker needs to know about a data type: its start state and its rules."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Hashable, Sequence

from consistency_lab.history import Operation


class _Unknown:
    """Type of the UNKNOWN sentinel (a single shared instance)."""

    _instance: _Unknown | None = None

    def __new__(cls) -> _Unknown:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "UNKNOWN"

    def __reduce__(self) -> str:
        return "UNKNOWN"


#: Output handed to ``Model.step`` for an operation whose client never learned the
#: result (status "info").  A model must accept any outcome for it and return the
#: state after the operation took effect.
UNKNOWN = _Unknown()

StepFn = Callable[[Hashable, Any, Any], "tuple[bool, Hashable]"]


@dataclass(frozen=True)
class Model:
    """A sequential specification: ``init() -> state``, ``step(state, input, output)``.

    ``step`` returns ``(ok, new_state)``: ``ok`` says whether ``output`` is a legal
    answer to ``input`` in ``state``.  States must be hashable because the checker
    memoises (set of linearised operations, state) pairs.  ``step`` receives
    :data:`UNKNOWN` as the output of an operation whose outcome is unknown.

    ``partition(ops)`` (optional) splits a history into independent sub-histories,
    e.g. one per key; each is checked on its own (P-compositionality).
    ``describe(input, output)`` (optional) gives a short text for an operation
    (its output is :data:`UNKNOWN` for a pending operation).
    ``pure(input, output)`` (optional) says an operation never changes the state
    when it is legal (a read, a failed compare-and-set); the checker then places
    it as soon as it is legal, which prunes the search a lot and is always safe.
    ``prune(ops)`` (optional) returns ``ops`` without pending operations that cannot
    change the verdict, such as a write whose value no completed read returned:
    such an operation, placed anywhere, is overwritten before anything looks at it,
    so leaving it out of a legal order keeps that order legal.  It must keep every
    completed operation, in order.  It saves the search from trying placements of
    operations that cannot matter, which is where indeterminate writes cost most.
    ``name``, ``describe_state`` and ``part_name`` only improve explanations.
    """

    init: Callable[[], Hashable]
    step: StepFn
    partition: Callable[[Sequence[Operation]], "list[list[Operation]]"] | None = None
    describe: Callable[[Any, Any], str] | None = None
    name: str = "model"
    describe_state: Callable[[Hashable], str] | None = None
    part_name: Callable[[Sequence[Operation]], str] | None = None
    pure: Callable[[Any, Any], bool] | None = None
    prune: Callable[[list[Operation]], "list[Operation]"] | None = None

    def text(self, op: Operation) -> str:
        """Short human text for ``op`` (uses ``describe`` when the model has one)."""
        output = UNKNOWN if op.status == "info" else op.output
        if self.describe is not None:
            return self.describe(op.input, output)
        return default_describe(op.input, output)

    def state_text(self, state: Hashable) -> str:
        """Short human text for a model state."""
        if self.describe_state is not None:
            return self.describe_state(state)
        return repr(state)


def default_describe(input: Any, output: Any) -> str:
    """Fallback description: the input, and the output when there is one."""
    if isinstance(input, (tuple, list)):
        head = " ".join(str(part) for part in input if part is not None)
    else:
        head = str(input)
    if output is None:
        return head
    return f"{head} → {'?' if output is UNKNOWN else output}"
