"""Lab 04 (reservations and sagas): the solution passes every check, typical mistakes lose exactly their part.

The student's namespace is built in-process from the solution notebook's solution cells, with one
cell swapped for a mistake from ``fixtures/lab04_mistakes.py``; one slow test grades whole
notebooks (solution, fresh lab, the four mistakes issue 14 names, another correct solution) with
the real grader.
"""

from pathlib import Path

import pytest
from lab04_mistakes import GRADED, MISTAKES, OTHER_CORRECT
from lab_harness import LabNotebook

from consistency_lab.grading.checks import checks_for, load_lab_checks, run_check
from consistency_lab.grading.labs._lab04_world import run_recovery, run_sagas, run_sale
from consistency_lab.grading.labs.lab04_hidden import _RefInventory
from consistency_lab.grading.labspec import read_spec, registry_problems

ROOT = Path(__file__).resolve().parents[2]
LAB = "lab04_reservations_and_sagas"
SOLUTION = ROOT / "solutions" / f"{LAB}.ipynb"
PARTS = {"q1_leases": 30, "q2_checkout": 20, "q3_saga": 30, "q4_recovery": 20}


NB = LabNotebook(LAB)
namespace, failures = NB.namespace, NB.failures


def test_checks_agree_with_the_notebook_and_hidden_names_stay_hidden():
    spec = read_spec(SOLUTION)
    assert [(p.part_id, p.points) for p in spec.parts] == list(PARTS.items())
    assert registry_problems(spec) == []
    load_lab_checks(LAB, hidden=True)
    hidden = [c for c in checks_for(LAB, include_hidden=True) if not c.public]
    assert {c.grade_id for c in hidden} == set(PARTS) and all(c.name.startswith("l04h_") for c in hidden)
    lab = (ROOT / "labs" / SOLUTION.name).read_text(encoding="utf-8")
    assert "l04h_" not in lab and "BEGIN SOLUTION" not in lab and "self.next_token += 1" not in lab


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
    assert "Part 1 (q1_leases) not implemented yet" in printed[first], printed[first]
    assert not any("passed. Well done" in text for text in printed), "a check passed on a fresh lab"


def test_the_world_has_the_trouble_the_checks_rely_on():
    """Re-sold lapsed leases, stale releases, redeliveries, failed issues, half-done orders: else checks prove less."""
    run = run_sale(_RefInventory, seed=0)
    leases = [lease for _, lease in run.reserved()]
    assert len(leases) > run.seats and len({lease.seat for lease in leases}) < len(leases), "no seat held twice"
    assert any(ok is False for _, _, ok in run.releases()), "no release came after its lease had lapsed"
    assert any(c[2] == "confirm" and c[4] is False for c in run.calls), "no confirm came too late"
    saga_run = run_sagas(_CountingSaga(), seed=0)
    assert saga_run.redelivered > 0
    facts = [saga_run.participants.facts(o) for o in saga_run.orders]
    assert any(o in saga_run.participants.refused for o in saga_run.orders), "no issue failed: nothing to refund"
    assert len(facts) == 12
    rec = run_recovery(lambda f: [], seed=0)
    states = {(f.held, f.charged, f.issued, f.refused) for f in (rec.participants.facts(o) for o in rec.orders)}
    assert len(states) >= 4, states
    again = run_sale(_RefInventory, seed=0)
    assert again.calls == run.calls, "the same seed gave another sale"


class _CountingSaga:
    """A saga that runs every step forward and never compensates: enough to see which steps the world fails."""

    def place(self, order):
        from consistency_lab.grading.labs._lab04_world import Command
        return [Command(order, "reserve")]

    def on_reply(self, reply):
        from consistency_lab.grading.labs._lab04_world import FORWARD, Command
        step = FORWARD.index(reply.action) + 1 if reply.action in FORWARD else len(FORWARD)
        return [Command(reply.order, FORWARD[step])] if reply.ok and step < len(FORWARD) else []


@pytest.mark.parametrize("part, source", [
    ("q1_leases", "from consistency_lab.patterns.reservations import ReservationBook\n\n"
                  "class SeatInventory:\n    def __init__(self, seats, lease_ms, clock):\n"
                  "        self.book = ReservationBook(seats, lease_ms)\n"),
    ("q3_saga", "import consistency_lab.patterns.saga as kit\n\nclass OrderSaga(kit.SagaOrchestrator):\n    pass\n"),
])
def test_the_course_reservations_and_sagas_are_off_limits(part, source):
    load_lab_checks(LAB, hidden=True)
    chk = next(c for c in checks_for(LAB, part, include_hidden=True) if c.name.endswith("_is_your_own"))
    ns: dict = {"__name__": "student"}
    exec(source, ns)
    outcome = run_check(chk, ns, time_limit=30)
    assert not outcome.passed and "off limits" in outcome.message, outcome.message


@pytest.mark.slow
def test_the_grader_scores_each_notebook_as_intended(tmp_path):
    """Solution 100, fresh lab 0, each named mistake 100 minus its part, another correct solution 100."""
    NB.grade_the_usual_notebooks(tmp_path, PARTS, MISTAKES, GRADED, OTHER_CORRECT)


def test_the_same_seed_gives_the_same_sagas_and_recoveries():
    """The world's runs depend on the seed alone: the checks grade every student on the same runs."""
    def saga_trace(seed):
        run = run_sagas(_CountingSaga(), seed, duplicate=0.5)
        return run.delivered, run.redelivered, run.participants.done

    def recovery_trace(seed):
        run = run_recovery(lambda f: [], seed)
        return [run.participants.facts(o) for o in run.orders]

    assert saga_trace(3) == saga_trace(3) and saga_trace(3) != saga_trace(4)
    assert recovery_trace(3) == recovery_trace(3) and recovery_trace(3) != recovery_trace(4)
