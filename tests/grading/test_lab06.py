"""Lab 06 (build a linearizable replica, ABD): the solution passes every check, typical mistakes lose their part.

The student's namespace is built in-process from the solution notebook's world imports and
solution cells, with one cell swapped for a mistake from ``fixtures/lab06_mistakes.py``; one
slow test grades whole notebooks (solution, fresh lab, the four mistakes issue 15 names,
another correct solution) with the real grader.
"""

import time
from pathlib import Path

import pytest
from lab06_mistakes import GRADED, MISTAKES, OTHER_CORRECT
from lab_harness import LabNotebook

from consistency_lab.grading.checks import checks_for, load_lab_checks
from consistency_lab.grading.labs._lab06_world import SCHEDULES, run_phases, run_replicas
from consistency_lab.grading.labs.lab06_hidden import _PHASED_BASE, _RefRead, _RefWrite, _RefWriteBack
from consistency_lab.grading.labspec import read_spec, registry_problems

ROOT = Path(__file__).resolve().parents[2]
LAB = "lab06_build_a_replica"
SOLUTION = ROOT / "solutions" / f"{LAB}.ipynb"
PARTS = {"q1_write": 25, "q2_read": 20, "q3_writeback": 25, "q4_survive": 30}
WORLD = "from consistency_lab.grading.labs._lab06_world import *\n"
#: The references together: what a correct replica does (the tests' yardstick for the world).
REFERENCE = type("Reference", (_RefWriteBack, _RefRead, _RefWrite, _PHASED_BASE), {})


NB = LabNotebook(LAB, prelude=WORLD)
namespace, failures = NB.namespace, NB.failures


def test_checks_agree_with_the_notebook_and_hidden_names_stay_hidden():
    spec = read_spec(SOLUTION)
    assert [(p.part_id, p.points) for p in spec.parts] == list(PARTS.items())
    assert registry_problems(spec) == []
    load_lab_checks(LAB, hidden=True)
    hidden = [c for c in checks_for(LAB, include_hidden=True) if not c.public]
    assert {c.grade_id for c in hidden} == set(PARTS) and all(c.name.startswith("l06h_") for c in hidden)
    lab = (ROOT / "labs" / SOLUTION.name).read_text(encoding="utf-8")
    assert "l06h_" not in lab and "BEGIN SOLUTION" not in lab and "(highest[0] + 1, self.name)" not in lab


def test_the_solution_passes_every_public_and_hidden_check_quickly():
    started = time.perf_counter()
    assert failures(namespace({})) == {}
    assert time.perf_counter() - started < 15, "every check of the lab should take a few seconds at most"


@pytest.mark.parametrize("mistake", list(MISTAKES))
def test_a_typical_mistake_loses_its_part_and_only_that(mistake):
    grade_id, source, lost, words = MISTAKES[mistake]
    failed = failures(namespace({grade_id: source}))
    assert set(failed) == {lost}, failed
    assert words in " ".join(failed[lost]), failed[lost]


def test_a_failing_run_names_its_seed_and_schedule_and_how_to_replay_it():
    failed = failures(namespace({"q3_writeback": MISTAKES["no write-back on reads"][1]}))
    message = next(m for m in failed["q3_writeback"] if m.startswith("no_new_old_inversion"))
    assert "seed 0, schedule 'inversion'" in message and "replay(WriteBack, 'inversion', seed=0).figure()" in message


def test_another_correct_solution_passes_every_check():
    assert failures(namespace(OTHER_CORRECT)) == {}


def test_the_fresh_lab_fails_every_part_as_not_implemented():
    stubs = NB.stub_cells()
    assert set(stubs) == set(PARTS)
    failed = failures(namespace(stubs))
    assert set(failed) == set(PARTS)
    assert all("not implemented" in m for msgs in failed.values() for m in msgs), failed


def test_a_fresh_lab_runs_to_the_end_without_an_error():
    """Every code cell of the fresh lab runs in order; the first demo after a stub prints the friendly line."""
    printed = NB.run_fresh()
    first = next(i for i, text in enumerate(printed) if "not implemented yet" in text)
    assert "Part 1 (q1_write) not implemented yet" in printed[first], printed[first]
    assert not any("passed. Well done" in text for text in printed), "a check passed on a fresh lab"


def test_the_reference_is_linearizable_and_available_on_every_schedule():
    """The world is fair: a correct replica passes every schedule the checks use, over a few seeds."""
    for name, schedule in SCHEDULES.items():
        for seed in range(3):
            run = run_replicas(REFERENCE, name, seed)
            assert not run.stopped, (name, seed, run.stopped)
            if not schedule.init:  # seeded states have no writes in the history: their checks compare values
                assert run.check().ok, (name, seed, run.problem())
            if name in ("one-down", "one-cut-off", "five-two-down", "heavy-loss", "echo"):
                assert not run.unfinished(), (name, seed, run.unfinished())
        assert run.check().elapsed_s < 1.0, (name, run.check().elapsed_s)


def test_the_targeted_schedules_expose_their_mistake_on_every_seed():
    """inversion catches a read without write-back, twins a missing tie-break, echo a duplicate counted twice."""
    ns = namespace({"q3_writeback": MISTAKES["no write-back on reads"][1]})
    assert all(not run_replicas(ns["WriteBack"], "inversion", seed).check().ok for seed in range(5))
    ns = namespace({"q1_write": MISTAKES["timestamps without a tie-break"][1]})
    assert all(run_replicas(ns["WritePath"], "twins", seed).same_stamp_twice() for seed in range(5))
    ns = namespace({"q4_survive": MISTAKES["a duplicated reply counted twice"][1]})
    assert all(any(p.ended - p.started < 100 for p in run_phases(ns["ABDReplica"], "echo", seed)) for seed in range(5))
    ns = namespace({"q4_survive": MISTAKES["waiting for all replicas"][1]})
    assert all(p.ended is None for seed in range(3) for p in run_phases(ns["ABDReplica"], "one-down", seed))


@pytest.mark.parametrize("schedule, seed", [("duplicates", 18), ("reorder", 6), ("five-storm", 15)])
def test_client_requests_are_never_duplicated(schedule, seed):
    """Faults act between replicas only: a duplicated Write would be written twice, under two stamps, and its
    value could come back after a later write (these seeds did, before client links were made calm)."""
    run = run_replicas(REFERENCE, schedule, seed)
    assert run.check().ok, run.problem()
    stamps: dict = {}
    for _, src, _, ts, value in run.stores:
        if ts[1] == src:  # a coordinator's own new stamp: a write, not a write-back
            stamps.setdefault(value, set()).add(ts)
    assert all(len(s) == 1 for s in stamps.values()), stamps


def test_runs_are_deterministic():
    a, b = (run_replicas(REFERENCE, "five-storm", 4) for _ in range(2))
    assert a.history.operations == b.history.operations and a.stores == b.stores


@pytest.mark.slow
def test_the_grader_scores_each_notebook_as_intended(tmp_path):
    """Solution 100, fresh lab 0, each named mistake 100 minus its part, another correct solution 100."""
    NB.grade_the_usual_notebooks(tmp_path, PARTS, MISTAKES, GRADED, OTHER_CORRECT)


WRAPPED_QUORUM = '''
from consistency_lab.replication.quorum import QuorumCoordinator as _Ready

class WritePath(Replica):
    """Hands the work to the course's own quorum store."""

    def on_Write(self, msg, src):
        _Ready.on_ClientWrite(self, msg, src)

    def write_chosen(self, client, request, replies):
        pass
'''


def test_the_course_replication_code_is_off_limits():
    """A part that leans on consistency_lab.replication fails that part's hidden check, and only that one."""
    failed = failures(namespace({"q1_write": WRAPPED_QUORUM}))
    assert "q1_write" in failed and set(failed) == {"q1_write"}, failed
    assert any(m.startswith("l06h_write_path_is_own_work") and "consistency_lab.replication" in m
               for m in failed["q1_write"]), failed
