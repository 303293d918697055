"""The workflow audit form, headless: rows of dropdowns drive the audit and its table."""

import pytest

from consistency_lab.scenarios.workflow_audit import HEALTHCARE_JOURNEY, audit
from consistency_lab.widgets.workflow_audit import AuditForm


def test_the_form_starts_with_the_journey_and_shows_its_recommendations():
    form = AuditForm()
    assert [r["name"].value for r in form.rows] == [s.name for s in HEALTHCARE_JOURNEY]
    assert form.recommendations == audit(HEALTHCARE_JOURNEY) and form.error is None
    assert "book appointment (ScheduleAppointment)" in form.table.value
    assert "legal and compliance sign-off" in form.table.value  # the dosage step
    assert form.widget is form.widget and form.add_button in form.widget.children


def test_changing_a_dropdown_re_audits_the_step():
    form = AuditForm()
    form.rows[2]["cost"].value = "harm"  # a reminder that could hurt someone
    rec = form.recommendations[2]
    assert rec.model == "strong" and rec.factor == "harm" and rec.why in form.table.value
    form.rows[4]["repairable"].value = False  # billing that cannot be put right later
    assert form.recommendations[4].model == "strong" and form.recommendations[4].factor == "not repairable"
    form.rows[5]["actors"].value = "together"
    assert form.recommendations[5].model == "eventual + guardrail"


def test_a_student_journey_from_an_empty_start_with_added_rows():
    form = AuditForm([{"name": "browse catalogue", "cost": "none", "actors": "independent"}])
    form.add_step("pay for the order", cost="money", actors="independent", repairable=False)
    form.add_button.click()
    assert [r.step.name for r in form.recommendations] == ["browse catalogue", "pay for the order", "step 3"]
    assert form.recommendations[1].model == "strong" and form.recommendations[2].model == "eventual"


def test_bad_rows_show_a_message_instead_of_raising_and_recover():
    form = AuditForm()
    table = form.table.value
    form.rows[1]["name"].value = form.rows[0]["name"].value
    assert "must be unique" in form.error and "Cannot audit this" in form.message.value
    assert form.table.value == table  # the last good table stays
    form.rows[1]["name"].value = ""
    assert "non-empty" in form.error
    form.rows[1]["name"].value = "book"
    assert form.error is None and form.message.value == ""


def test_a_bad_starting_journey_is_refused_with_the_audit_message():
    with pytest.raises(ValueError, match="steps=\\[\\] must hold at least one step"):
        AuditForm([])
