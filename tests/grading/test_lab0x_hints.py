"""Hints (issue 16 §2): every check of every lab has one, it describes the idea rather than the code, and a
student sees it only after that check failed."""

import re

import pytest

from consistency_lab.grading.checks import checks_for, load_lab_checks, run_check
from consistency_lab.grading.student import CheckReport

LABS = ["lab01_idempotent_handlers", "lab02_reconciliation", "lab03_crdts", "lab05_cqrs_projection",
        "lab06_build_a_replica", "lab04_reservations_and_sagas"]
# Code in a hint: a call, an index, an assignment or comparison, a modulo, an attribute call, braces.
CODE = re.compile(r"\w\(|[\[\]{}=%<>]|\)\.|\+=|\bself\.")


@pytest.mark.parametrize("lab", LABS)
def test_every_hint_describes_the_idea_not_the_code(lab):
    load_lab_checks(lab, hidden=True)
    for chk in checks_for(lab, include_hidden=True):
        assert chk.hint.strip(), f"{lab} {chk.name}: no hint"
        assert not CODE.search(chk.hint), f"{lab} {chk.name}: the hint spells out code: {chk.hint!r}"


def test_a_hint_appears_only_after_a_failed_check():
    from consistency_lab.grading.labs._lab05_world import RecordingView

    load_lab_checks("lab05_cqrs_projection")
    chk = next(c for c in checks_for("lab05_cqrs_projection", "q1_apply") if c.name == "view_counts_one_scan")

    class Right(RecordingView):
        def apply(self, event):
            self.scans[event.payload["depot"]] = 1
            self.location[event.key] = event.payload["depot"]

    class Wrong(RecordingView):
        pass  # counts nothing

    passed = run_check(chk, {"ScanView": Right})
    failed = run_check(chk, {"ScanView": Wrong})
    assert passed.passed and passed.hint == "" and failed.hint == chk.hint
    ok = CheckReport("q1_apply", "lab05_cqrs_projection", (passed,))
    bad = CheckReport("q1_apply", "lab05_cqrs_projection", (failed,))
    assert "Hint" not in ok.text() and "Hint" not in ok.html()
    assert f"Hint: {chk.hint}" in bad.text() and "Hint" in bad.html()
