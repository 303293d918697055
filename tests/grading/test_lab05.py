"""Lab 05 (a CQRS projection): the solution passes every check, typical mistakes lose exactly their part.

The student's namespace is built in-process from the solution notebook's solution cells, with one
cell swapped for a mistake from ``fixtures/lab05_mistakes.py``; one slow test grades whole
notebooks (solution, fresh lab, the four mistakes issue 13 names, another correct solution) with
the real grader.
"""

from pathlib import Path

import pytest
from lab05_mistakes import GRADED, MISTAKES, OTHER_CORRECT
from lab_harness import LabNotebook

from consistency_lab.grading.checks import checks_for, load_lab_checks
from consistency_lab.grading.labs._lab05_world import run_projection
from consistency_lab.grading.labs.lab05_hidden import _RefProjector, _RefView
from consistency_lab.grading.labspec import read_spec, registry_problems

ROOT = Path(__file__).resolve().parents[2]
LAB = "lab05_cqrs_projection"
SOLUTION = ROOT / "solutions" / f"{LAB}.ipynb"
PARTS = {"q1_apply": 25, "q2_checkpoint": 30, "q3_rebuild": 20, "q4_alarm": 25}


NB = LabNotebook(LAB)
namespace, failures = NB.namespace, NB.failures


def test_checks_agree_with_the_notebook_and_hidden_names_stay_hidden():
    spec = read_spec(SOLUTION)
    assert [(p.part_id, p.points) for p in spec.parts] == list(PARTS.items())
    assert registry_problems(spec) == []
    load_lab_checks(LAB, hidden=True)
    hidden = [c for c in checks_for(LAB, include_hidden=True) if not c.public]
    assert {c.grade_id for c in hidden} == set(PARTS) and all(c.name.startswith("l05h_") for c in hidden)
    lab = (ROOT / "labs" / SOLUTION.name).read_text(encoding="utf-8")
    assert "l05h_" not in lab and "BEGIN SOLUTION" not in lab and "self.applied = set()" not in lab


def test_the_solution_passes_every_public_and_hidden_check():
    assert failures(namespace({})) == {}


@pytest.mark.parametrize("mistake", list(MISTAKES))
def test_a_typical_mistake_loses_its_part_and_only_that(mistake):
    grade_id, source, lost, words = MISTAKES[mistake]
    failed = failures(namespace({grade_id: source}))
    assert set(failed) == {lost}, failed
    assert words in " ".join(failed[lost]), failed[lost]


def test_another_correct_solution_passes_every_check():
    assert failures(namespace(OTHER_CORRECT)) == {}


def test_the_fresh_lab_fails_every_part_as_not_implemented():
    stubs = NB.stub_cells()
    assert set(stubs) == set(PARTS)
    failed = failures(namespace(stubs))
    assert set(failed) == set(PARTS)
    assert all("not implemented" in m for msgs in failed.values() for m in msgs), failed


def test_a_fresh_lab_runs_to_its_first_stub_and_beyond_without_an_error():
    """Every code cell of the fresh lab runs in order; the first demo after a stub prints the friendly line."""
    printed = NB.run_fresh()
    first = next(i for i, text in enumerate(printed) if "not implemented yet" in text)
    assert "Part 1 (q1_apply) not implemented yet" in printed[first], printed[first]
    assert not any("passed. Well done" in text for text in printed), "a check passed on a fresh lab"


def test_the_world_has_the_faults_the_checks_rely_on():
    """Duplicates and late versions in the log, crashes after both kinds of writes: else the checks prove little."""
    run = run_projection(_RefProjector, _RefView(), seed=0, crash_after_writes=(3, 10, 18, 30))
    records = list(run.topic.records())
    assert len(records) > len({r.event.event_id for r in records}), "no duplicate uploads in the log"
    late = 0
    for part in run.topic.partitions:
        newest: dict = {}
        for r in part.records():
            late += r.event.version < newest.get(r.event.key, 0)
            newest[r.event.key] = max(newest.get(r.event.key, 0), r.event.version)
    assert late > 0, "no package's scans reached the log out of version order"
    kinds = {what.split("(")[0] for _, _, what in run.faults.crashes}
    assert kinds == {"apply", "save"}, run.faults.crashes
    again = run_projection(_RefProjector, _RefView(), seed=0, crash_after_writes=(3, 10, 18, 30))
    assert [r.event.event_id for r in again.topic.records()] == [r.event.event_id for r in records]


@pytest.mark.slow
def test_the_grader_scores_each_notebook_as_intended(tmp_path):
    """Solution 100, fresh lab 0, each named mistake 100 minus its part, another correct solution 100."""
    NB.grade_the_usual_notebooks(tmp_path, PARTS, MISTAKES, GRADED, OTHER_CORRECT)
