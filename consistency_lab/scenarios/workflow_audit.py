"""A workflow audit: score each step of a user journey and recommend a consistency model for it.

Step One of choosing consistency is to look at journeys, not at tables.  Each
:class:`Step` of a journey is scored on three questions:

``cost``        what a temporarily wrong answer costs the business: ``none``,
                ``annoying`` (a user sees something stale and shrugs), ``money``
                (a refund, a lost sale, a penalty) or ``harm`` (health, safety, the law);
``actors``      how the people and systems in the step behave: ``independent``
                (each works on their own things) or ``together`` (they compete for,
                or must agree on, the same shared state at the same moment);
``repairable``  whether a wrong answer can be found and put right afterwards
                (refund, apology, a second message) before it does lasting damage.

:func:`audit` turns each step into a :class:`Recommendation`: a model from
:data:`MODELS`, the deciding factor, one sentence saying why, the guardrails to
build from day one and the metrics to watch.  The rules, first match wins:

1. ``harm`` -> strong, and the step needs sign-off from legal and compliance;
2. ``together`` with ``money`` -> strong (two actors racing for one thing);
3. ``money`` that is not repairable -> strong;
4. ``money`` that is repairable -> eventual + guardrail (repair where the value is used);
5. ``together`` with ``none`` or ``annoying`` -> eventual + guardrail (merge concurrent edits);
6. otherwise -> eventual.

Pure functions and data only: no simulator.  :data:`HEALTHCARE_JOURNEY` is the
article's healthcare scheduling API as a worked example.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterable, Mapping, Union

from ..validation import boolean, choice, text

__all__ = ["COSTS", "ACTORS", "MODELS", "Step", "Recommendation", "audit", "boundaries", "HEALTHCARE_JOURNEY"]

#: What a temporarily wrong answer costs, cheapest first.
COSTS = ("none", "annoying", "money", "harm")
#: How the actors of a step behave.
ACTORS = ("independent", "together")
#: The models the audit recommends, strongest first.
MODELS = ("strong", "eventual + guardrail", "eventual")

#: What every step of a model needs from day one, and what to put on its dashboard.
GUARDRAILS = {
    "strong": ("load test at peak", "circuit breaker in front of the authority"),
    "eventual + guardrail": ("idempotent handler", "reconciliation job", "a check or merge where the value is used"),
    "eventual": ("idempotent handler", "reconciliation job"),
}
METRICS = {
    "strong": ("transaction latency", "lock wait"),
    "eventual + guardrail": ("event age", "reconciliation success rate"),
    "eventual": ("event age", "reconciliation success rate"),
}


@dataclass(frozen=True)
class Step:
    """One step of a journey, scored: cost of a wrong answer, how its actors behave, whether it can be repaired."""

    name: str
    cost: str
    actors: str
    repairable: bool = True

    def __post_init__(self) -> None:
        text("name", self.name)
        choice("cost", self.cost, COSTS)
        choice("actors", self.actors, ACTORS)
        boolean("repairable", self.repairable)


@dataclass(frozen=True)
class Recommendation:
    """The audit's answer for one step: model, deciding factor, one sentence why, guardrails, metrics."""

    step: Step
    model: str
    factor: str
    why: str
    guardrails: tuple[str, ...]
    metrics: tuple[str, ...]
    sign_off: bool = False


def _as_step(item: Union[Step, Mapping[str, Any]], index: int) -> Step:
    if isinstance(item, Step):
        return item
    if isinstance(item, Mapping):
        unknown = [k for k in item if k not in ("name", "cost", "actors", "repairable")]
        if unknown:
            raise ValueError(f"steps[{index}] has unknown field {unknown[0]!r}; "
                             "allowed: name, cost, actors, repairable")
        missing = [k for k in ("name", "cost", "actors") if k not in item]
        if missing:
            raise ValueError(f"steps[{index}] must have a {missing[0]!r}; "
                             "allowed fields: name, cost, actors, repairable")
        return Step(**item)
    raise ValueError(f"steps[{index}]={item!r} must be a Step or a dict with name, cost, actors (and repairable)")


def _decide(s: Step) -> tuple[str, str, str]:
    """(model, deciding factor, why) by the module's rules, first match wins."""
    if s.cost == "harm":
        return ("strong", "harm",
                "a wrong answer here can hurt someone, so it is decided once, by one authority, before anyone "
                "acts on it")
    if s.cost == "money" and s.actors == "together":
        return ("strong", "actors together",
                "several actors race for the same thing and a wrong answer costs money, so one owner must accept or "
                "reject each command at once")
    if s.cost == "money" and not s.repairable:
        return ("strong", "not repairable",
                "a wrong answer costs money and cannot be undone later, so it has to be right the first time")
    if s.cost == "money":
        return ("eventual + guardrail", "repairable money",
                "the money at stake can be checked and put right later, so events may flow freely as long as a "
                "reconciliation catches and compensates every mistake")
    if s.actors == "together":
        return ("eventual + guardrail", "actors together",
                "people touch the same state at once but a stale view only annoys them, so let them work locally and "
                "merge their changes")
    if s.cost == "annoying":
        return ("eventual", "cost annoying",
                "a briefly stale answer only annoys and each actor works alone, so events delivered later are fine")
    return ("eventual", "cost none",
            "nobody loses anything while this step catches up, so it can run entirely on events")


def audit(steps: Iterable[Union[Step, Mapping[str, Any]]]) -> list[Recommendation]:
    """Recommend a model per step (strong, eventual + guardrail, eventual), naming the deciding factor."""
    if isinstance(steps, (str, bytes, Mapping)) or not isinstance(steps, Iterable):
        raise ValueError(f"steps={steps!r} must be a list of steps (Step or dict with name, cost, actors)")
    checked = [_as_step(item, i) for i, item in enumerate(steps)]
    if not checked:
        raise ValueError("steps=[] must hold at least one step; allowed: a list of Step or dicts")
    seen: set[str] = set()
    for s in checked:
        if s.name in seen:
            raise ValueError(f"step name={s.name!r} must be unique within a journey; allowed: distinct names")
        seen.add(s.name)
    out = []
    for s in checked:
        model, factor, why = _decide(s)
        out.append(Recommendation(s, model, factor, f"{s.name}: {model}, because {why}.", GUARDRAILS[model],
                                  METRICS[model], sign_off=s.cost == "harm"))
    return out


def boundaries(recommendations: Iterable[Recommendation]) -> dict[str, list[str]]:
    """Step names grouped by model (strongest first): candidate team and service boundaries (Step Five)."""
    groups: dict[str, list[str]] = {m: [] for m in MODELS}
    for r in recommendations:
        groups[r.model].append(r.step.name)
    return {m: names for m, names in groups.items() if names}


#: The article's healthcare scheduling API, step by step (Step Two's example, scored for Step One).
HEALTHCARE_JOURNEY = (
    Step("search open slots", cost="annoying", actors="independent"),
    Step("book appointment (ScheduleAppointment)", cost="money", actors="together", repairable=False),
    Step("send reminder (AppointmentScheduled)", cost="annoying", actors="independent"),
    Step("update medication dosage", cost="harm", actors="independent", repairable=False),
    Step("bill the insurer", cost="money", actors="independent", repairable=True),
    Step("clinic no-show statistics", cost="none", actors="independent"),
)
