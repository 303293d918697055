"""The workflow audit: each rule picks its model for the stated reason, and bad journeys are refused clearly."""

import pytest

from consistency_lab.scenarios.workflow_audit import (COSTS, HEALTHCARE_JOURNEY, MODELS, Step, audit,
                                                      boundaries)


def _one(**fields):
    (rec,) = audit([{"name": "step", **fields}])
    return rec


def test_the_healthcare_journey_books_strongly_and_reminds_eventually():
    recs = {r.step.name: r for r in audit(HEALTHCARE_JOURNEY)}
    booking = recs["book appointment (ScheduleAppointment)"]
    assert booking.model == "strong" and booking.factor == "actors together"
    assert recs["send reminder (AppointmentScheduled)"].model == "eventual"
    dosage = recs["update medication dosage"]
    assert dosage.model == "strong" and dosage.sign_off and dosage.factor == "harm"
    assert recs["bill the insurer"].model == "eventual + guardrail"
    assert recs["clinic no-show statistics"].model == "eventual"
    assert not any(r.sign_off for r in recs.values() if r.step.cost != "harm")


@pytest.mark.parametrize("fields, model, factor", [
    ({"cost": "harm", "actors": "independent"}, "strong", "harm"),
    ({"cost": "harm", "actors": "together", "repairable": True}, "strong", "harm"),
    ({"cost": "money", "actors": "together"}, "strong", "actors together"),
    ({"cost": "money", "actors": "independent", "repairable": False}, "strong", "not repairable"),
    ({"cost": "money", "actors": "independent"}, "eventual + guardrail", "repairable money"),
    ({"cost": "annoying", "actors": "together"}, "eventual + guardrail", "actors together"),
    ({"cost": "none", "actors": "together"}, "eventual + guardrail", "actors together"),
    ({"cost": "annoying", "actors": "independent"}, "eventual", "cost annoying"),
    ({"cost": "none", "actors": "independent", "repairable": False}, "eventual", "cost none"),
])
def test_each_rule_names_its_deciding_factor_in_one_sentence(fields, model, factor):
    rec = _one(**fields)
    assert (rec.model, rec.factor) == (model, factor)
    assert rec.why.startswith(f"step: {model}, because ") and rec.why.count(". ") == 0 and rec.why.endswith(".")


def test_guardrails_and_dashboards_follow_the_model():
    strong, eventual = _one(cost="harm", actors="independent"), _one(cost="none", actors="independent")
    assert "circuit breaker in front of the authority" in strong.guardrails
    assert strong.metrics == ("transaction latency", "lock wait")
    assert {"idempotent handler", "reconciliation job"} <= set(eventual.guardrails)
    assert eventual.metrics == ("event age", "reconciliation success rate")


def test_raising_the_cost_never_weakens_the_model():
    for actors in ("independent", "together"):
        for repairable in (True, False):
            ranks = [MODELS.index(_one(cost=c, actors=actors, repairable=repairable).model) for c in COSTS]
            assert ranks == sorted(ranks, reverse=True), (actors, repairable, ranks)


def test_boundaries_group_steps_by_model_strongest_first():
    groups = boundaries(audit(HEALTHCARE_JOURNEY))
    assert list(groups) == ["strong", "eventual + guardrail", "eventual"]
    assert groups["strong"] == ["book appointment (ScheduleAppointment)", "update medication dosage"]


@pytest.mark.parametrize("steps, message", [
    ([], "steps=\\[\\] must hold at least one step"),
    ("book", "must be a list of steps"),
    ([{"name": "a", "cost": "expensive", "actors": "together"}], "cost='expensive' must be one of none, annoying"),
    ([{"name": "a", "cost": "none", "actors": "alone"}], "actors='alone' must be one of independent, together"),
    ([{"name": "a", "cost": "none"}], "steps\\[0\\] must have a 'actors'"),
    ([{"name": "a", "cost": "none", "actors": "together", "colour": 1}], "unknown field 'colour'"),
    ([{"name": "", "cost": "none", "actors": "together"}], "name='' must be a non-empty string"),
    ([{"name": "a", "cost": "none", "actors": "together", "repairable": "yes"}], "repairable='yes' must be True"),
    ([Step("a", "none", "together"), Step("a", "money", "together")], "must be unique"),
    ([42], "steps\\[0\\]=42 must be a Step or a dict"),
])
def test_bad_journeys_are_refused_with_one_line(steps, message):
    with pytest.raises(ValueError, match=message) as err:
        audit(steps)
    assert "\n" not in str(err.value)
