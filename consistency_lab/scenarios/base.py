"""What a runnable scenario is: named, typed parameters, named hooks and a seeded run function.

Every story in the course (a register on three replicas, a ticket sale, a social
timeline...) is a :class:`Scenario`.  The command line, the widgets, the labs and the
tests all go through :meth:`Scenario.run` (or ``consistency_lab.simulate``), so one
validation path gives one kind of error message everywhere:
``ValueError: w=4 must be between 1 and 3``.

A *hook* is a piece of student (or test) code a scenario agrees to run in place of
its own: a lab's event handler, reconciler or whole reconciliation job.  Each
scenario declares the hooks it accepts (:class:`Hook`); they are passed by name,
``TIMELINE.run(seed, hooks={"job_factory": make_job}, **params)``, and an unknown
name is refused with the list of the allowed ones.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping, Optional, Sequence

from ..validation import format_bound

__all__ = ["Param", "Hook", "Scenario", "RunResult", "EVENT_BUDGET", "finite_end", "stop_note"]

#: The most simulation events one scenario run may process (a few seconds of work on a
#: laptop).  Together with each scenario's virtual-time bound and work limit, it
#: makes every parameter set end: a run that hits it stops and says so in ``stopped``.
EVENT_BUDGET = 300_000


def finite_end(*times: float) -> float:
    """The latest of ``times`` that is finite (0 when none is): faults that never end add nothing."""
    return max((t for t in times if t != math.inf), default=0.0)


def stop_note(reason: str, until_ms: float, unfinished: str) -> str:
    """One line for ``RunResult.stopped``: empty when the workload finished, else why it did not."""
    if reason == "done":
        return ""
    why = {"time": f"the time bound ({format_bound(round(until_ms))} ms of virtual time) was reached",
           "events": f"the event budget ({format_bound(EVENT_BUDGET)} events) ran out",
           "idle": "nothing was left to happen"}[reason]
    return f"stopped early: {why}; unfinished: {unfinished}"


@dataclass(frozen=True)
class Param:
    """One scenario parameter: its type, default, and what values are allowed."""

    name: str
    kind: type  # int, float, str or bool
    default: Any
    help: str = ""
    choices: Optional[Sequence[Any]] = None
    low: Optional[float] = None
    high: Optional[float] = None

    def allowed(self) -> str:
        """Human description of the allowed values."""
        if self.choices is not None:
            return "one of " + ", ".join(str(c) for c in self.choices)
        if self.kind is bool:
            return "true or false"
        lo = "-inf" if self.low is None else format_bound(self.low)
        hi = "inf" if self.high is None else format_bound(self.high)
        if self.kind in (int, float):
            return f"{'an integer' if self.kind is int else 'a number'} between {lo} and {hi}"
        return "text"

    def coerce(self, value: Any) -> Any:
        """Convert ``value`` (possibly text from the command line) and validate it."""
        v = value
        try:
            if self.kind is bool:
                if isinstance(v, str):
                    low = v.strip().lower()
                    if low not in ("true", "false", "1", "0", "yes", "no", "on", "off"):
                        raise ValueError
                    v = low in ("true", "1", "yes", "on")
                elif not isinstance(v, bool):
                    raise ValueError
            elif self.kind is int:
                if isinstance(v, bool):
                    raise ValueError
                if isinstance(v, str):
                    v = int(v.strip())
                elif isinstance(v, float):
                    if not v.is_integer():
                        raise ValueError
                    v = int(v)
                elif not isinstance(v, int):
                    raise ValueError
            elif self.kind is float:
                if isinstance(v, bool):
                    raise ValueError
                v = float(v)
                if math.isnan(v):
                    raise ValueError
            elif self.kind is str:
                if not isinstance(v, str):
                    raise ValueError
        except (ValueError, TypeError):
            raise ValueError(f"{self.name}={value!r} must be {self.allowed()}") from None
        if self.choices is not None and v not in self.choices:
            raise ValueError(f"{self.name}={value!r} must be {self.allowed()}")
        if self.low is not None and v < self.low or self.high is not None and v > self.high:
            raise ValueError(f"{self.name}={value!r} must be {self.allowed()}")
        return v


@dataclass(frozen=True)
class Hook:
    """A named place where a scenario runs code it is given (a lab's handler, reconciler or job)."""

    name: str
    help: str = ""


@dataclass
class RunResult:
    """What every scenario run returns: seed, parameters, metrics and a trace digest.

    Scenario-specific results subclass this and add their own data (history, trace,
    replica states...).  ``to_json()`` gives the command line's output.
    """

    scenario: str
    seed: int
    params: dict
    metrics: dict
    trace_digest: str
    extra: dict = field(default_factory=dict)
    #: "" when the workload finished; otherwise one line saying which bound stopped it and what was left.
    stopped: str = ""

    def to_json(self) -> dict:
        """A JSON-ready dict with seed, params, metrics and trace_digest."""
        def clean(x):
            if isinstance(x, float) and (math.isinf(x) or math.isnan(x)):
                return None
            if isinstance(x, dict):
                return {k: clean(v) for k, v in x.items()}
            if isinstance(x, (list, tuple)):
                return [clean(v) for v in x]
            return x
        return clean({"scenario": self.scenario, "seed": self.seed, "params": self.params,
                      "metrics": self.metrics, "trace_digest": self.trace_digest, "stopped": self.stopped})


@dataclass(frozen=True)
class Scenario:
    """A named, documented, seeded workload.

    ``runner(seed, params, hooks)`` does the work; it is only ever called by
    :meth:`run`, with validated parameters and validated hooks (a dict holding only
    the hooks that were given).
    """

    name: str
    summary: str
    params: tuple[Param, ...]
    runner: Callable[[int, dict, dict], Any]
    cross_check: Optional[Callable[[dict], None]] = None  # checks that span parameters
    #: How much work a parameter set asks for, as (amount, what it counts): runs above
    #: ``max_work`` are refused up front, so no accepted run takes minutes.
    work: Optional[Callable[[dict], tuple[int, str]]] = None
    max_work: int = 0
    #: The hooks this scenario accepts, by name (none for most scenarios).
    hooks: tuple[Hook, ...] = ()

    def defaults(self) -> dict:
        """Every parameter at its default."""
        return {p.name: p.default for p in self.params}

    def validate(self, params: Mapping[str, Any]) -> dict:
        """Fill defaults, coerce types and check ranges; raise ValueError naming the problem."""
        known = {p.name: p for p in self.params}
        unknown = [k for k in params if k not in known]
        if unknown:
            raise ValueError(f"unknown parameter {unknown[0]!r} for scenario {self.name!r}; "
                             f"allowed: {', '.join(known)}")
        out = self.defaults()
        for k, v in params.items():
            out[k] = known[k].coerce(v)
        if self.cross_check is not None:
            self.cross_check(out)
        if self.work is not None:
            amount, what = self.work(out)
            if amount > self.max_work:
                raise ValueError(f"{what} = {format_bound(amount)} is more than one {self.name} run simulates; "
                                 f"allowed: at most {format_bound(self.max_work)}")
        return out

    def hook_names(self) -> tuple[str, ...]:
        """The names of the hooks this scenario accepts, in declaration order."""
        return tuple(h.name for h in self.hooks)

    def validate_hooks(self, hooks: Optional[Mapping[str, Any]]) -> dict:
        """Check hook names against the declared ones and that each hook is callable."""
        if hooks is None:
            return {}
        allowed = ", ".join(self.hook_names()) or "none (this scenario takes no hooks)"
        if not isinstance(hooks, Mapping):
            raise ValueError(f"hooks={hooks!r} must be a dict of hook name to function; allowed names: {allowed}")
        out = {}
        for name, fn in hooks.items():
            if name not in self.hook_names():
                raise ValueError(f"unknown hook {name!r} for scenario {self.name!r}; allowed: {allowed}")
            if not callable(fn):
                raise ValueError(f"hooks[{name!r}]={fn!r} must be callable")
            out[name] = fn
        return out

    def run(self, seed: int = 0, hooks: Optional[Mapping[str, Any]] = None, **params: Any) -> Any:
        """Validate the seed, the hooks and the parameters, then run the scenario with ``seed``."""
        from ..sim import check_seed
        check_seed(seed)
        checked = self.validate_hooks(hooks)
        return self.runner(seed, self.validate(params), checked)
