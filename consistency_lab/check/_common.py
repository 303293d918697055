"""Argument checks and deadlines shared by the checkers."""

from __future__ import annotations

import math
import time
from typing import Iterable

from consistency_lab.history import History, Operation

from .model_type import UNKNOWN, Model


def validate_timeout(timeout: float | None) -> float | None:
    """Return ``timeout`` if it is None or a positive number of seconds, else raise."""
    if timeout is None:
        return None
    if (
        isinstance(timeout, bool)
        or not isinstance(timeout, (int, float))
        or not timeout > 0
        or math.isnan(timeout)
    ):
        raise ValueError(f"timeout={timeout!r} must be a positive number of seconds or None")
    return float(timeout)


def deadline_for(timeout: float | None) -> float | None:
    """Wall-clock deadline (time.monotonic) for a timeout; the only use of wall-clock."""
    return None if timeout is None else time.monotonic() + timeout


def validate_model(model: Model) -> Model:
    """Raise TypeError unless ``model`` is a Model."""
    if not isinstance(model, Model):
        raise TypeError(
            f"model={model!r} must be a consistency_lab.check.Model "
            "(e.g. register_model())"
        )
    return model


def checkable_ops(ops: Iterable[Operation] | History) -> list[Operation]:
    """Operations to check: "fail" ones dropped, sorted by call time (ties keep the given order)."""
    if isinstance(ops, History):
        ops = ops.operations
    out = []
    for i, op in enumerate(ops):
        if not isinstance(op, Operation):
            raise TypeError(f"ops[{i}]={op!r} must be an Operation")
        if op.status != "fail":
            out.append(op)
    # Stable sort: operations called at the same instant keep their given order,
    # which is what program order falls back on, and the result is deterministic.
    out.sort(key=lambda op: op.call)
    return out


def step_output(op: Operation) -> object:
    """The output the model sees: UNKNOWN when the client never learned it."""
    return UNKNOWN if op.status == "info" else op.output


def by_client(ops: list[Operation]) -> list[list[int]]:
    """Indices of ``ops`` per client in program order (clients in first-call order)."""
    groups: dict[object, list[int]] = {}
    for i, op in enumerate(ops):
        groups.setdefault(op.client_id, []).append(i)
    return list(groups.values())


def precedes(a: Operation, b: Operation) -> bool:
    """True when ``a`` real-time-precedes ``b``: ``a`` returned no later than ``b`` was called.

    Touching intervals (``a`` returns at t, ``b`` is called at t) count as ordered,
    except two zero-length operations at the same instant, which count as
    concurrent (otherwise each would precede the other).  Pending operations
    (return = inf) precede nothing.
    """
    if a.return_time < b.call:
        return True
    return a.return_time == b.call and (a.call < a.return_time or b.call < b.return_time)
