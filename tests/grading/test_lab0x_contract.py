"""What every lab promises, checked on labs 04, 05 and 06 alike.

The checks match the notebook and hidden names stay hidden; the solution and a second correct
solution pass every check; each typical mistake of ``fixtures/labNN_mistakes.py`` loses exactly
its part; a fresh lab fails every part as not implemented and still runs to the end; and the real
grader scores whole notebooks as intended (slow).  Each lab's own world is tested in
``test_labNN.py``.
"""

import importlib
import time
from dataclasses import dataclass

import pytest
from lab06_mistakes import PRELUDE
from lab_harness import ROOT, LabNotebook

from consistency_lab.grading.checks import checks_for, load_lab_checks
from consistency_lab.grading.labspec import read_spec, registry_problems


@dataclass(frozen=True)
class Lab:
    """One lab as these tests see it."""

    name: str
    parts: dict  # grade_id -> points, in notebook order
    hidden_prefix: str  # every hidden check's name starts with it
    solution_line: str  # a line of the solution that must not reach the student's lab
    mistakes: str  # the fixture module of typical mistakes
    prelude: str = ""  # run first in a student namespace

    @property
    def notebook(self) -> LabNotebook:
        return LabNotebook(self.name, prelude=self.prelude)

    @property
    def fixture(self):
        return importlib.import_module(self.mistakes)


LABS = {
    "lab04": Lab("lab04_reservations_and_sagas", {"q1_leases": 30, "q2_checkout": 20, "q3_saga": 30, "q4_recovery": 20},
                 "l04h_", "self.next_token += 1", "lab04_mistakes"),
    "lab05": Lab("lab05_cqrs_projection", {"q1_apply": 25, "q2_checkpoint": 30, "q3_rebuild": 20, "q4_alarm": 25},
                 "l05h_", "self.applied = set()", "lab05_mistakes"),
    "lab06": Lab("lab06_build_a_replica", {"q1_write": 25, "q2_read": 20, "q3_writeback": 25, "q4_survive": 30},
                 "l06h_", "(highest[0] + 1, self.name)", "lab06_mistakes", prelude=PRELUDE),
}
MISTAKE_CASES = [(key, name) for key, lab in LABS.items() for name in lab.fixture.MISTAKES]


@pytest.mark.parametrize("key", LABS)
def test_checks_agree_with_the_notebook_and_hidden_names_stay_hidden(key):
    lab = LABS[key]
    spec = read_spec(lab.notebook.path)
    assert [(p.part_id, p.points) for p in spec.parts] == list(lab.parts.items())
    assert registry_problems(spec) == []
    load_lab_checks(lab.name, hidden=True)
    hidden = [c for c in checks_for(lab.name, include_hidden=True) if not c.public]
    assert {c.grade_id for c in hidden} == set(lab.parts) and all(c.name.startswith(lab.hidden_prefix)
                                                                   for c in hidden)
    student = (ROOT / "labs" / f"{lab.name}.ipynb").read_text(encoding="utf-8")
    assert lab.hidden_prefix not in student and "BEGIN SOLUTION" not in student and lab.solution_line not in student


@pytest.mark.parametrize("key", LABS)
def test_the_solution_passes_every_public_and_hidden_check_quickly(key):
    nb = LABS[key].notebook
    started = time.perf_counter()
    assert nb.failures(nb.namespace({})) == {}
    assert time.perf_counter() - started < 15, "every check of the lab should take a few seconds at most"


@pytest.mark.parametrize("key, mistake", MISTAKE_CASES)
def test_a_typical_mistake_loses_its_part_and_only_that(key, mistake):
    lab = LABS[key]
    grade_id, source, lost, words = lab.fixture.MISTAKES[mistake]
    failed = lab.notebook.failures(lab.notebook.namespace({grade_id: source}))
    assert set(failed) == {lost}, failed
    assert words in " ".join(failed[lost]), failed[lost]


@pytest.mark.parametrize("key", LABS)
def test_another_correct_solution_passes_every_check(key):
    lab = LABS[key]
    assert lab.notebook.failures(lab.notebook.namespace(lab.fixture.OTHER_CORRECT)) == {}


@pytest.mark.parametrize("key", LABS)
def test_the_fresh_lab_fails_every_part_as_not_implemented(key):
    lab = LABS[key]
    stubs = lab.notebook.stub_cells()
    assert set(stubs) == set(lab.parts)
    failed = lab.notebook.failures(lab.notebook.namespace(stubs))
    assert set(failed) == set(lab.parts)
    assert all("not implemented" in m for msgs in failed.values() for m in msgs), failed


@pytest.mark.parametrize("key", LABS)
def test_a_fresh_lab_runs_to_the_end_without_an_error(key):
    """Every code cell of the fresh lab runs in order; the first demo after a stub prints the friendly line."""
    lab = LABS[key]
    printed = lab.notebook.run_fresh()
    first = next(i for i, text in enumerate(printed) if "not implemented yet" in text)
    first_part = next(iter(lab.parts))
    assert f"Part 1 ({first_part}) not implemented yet" in printed[first], printed[first]
    assert not any("passed. Well done" in text for text in printed), "a check passed on a fresh lab"


@pytest.mark.slow
@pytest.mark.parametrize("key", LABS)
def test_the_grader_scores_each_notebook_as_intended(key, tmp_path):
    """Solution 100, fresh lab 0, each named mistake 100 minus its part, another correct solution 100."""
    lab = LABS[key]
    lab.notebook.grade_the_usual_notebooks(tmp_path, lab.parts, lab.fixture.MISTAKES, lab.fixture.GRADED,
                                           lab.fixture.OTHER_CORRECT)
