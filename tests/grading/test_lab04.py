"""Lab 04 (reservations and sagas): its world has the trouble the checks rely on, is deterministic, and
the course's own reservations and sagas are off limits.  What every lab promises (the solution passes,
each typical mistake loses its part, the fresh lab, the grader) is in ``test_lab0x_contract.py``.
"""


import pytest
from lab_harness import LabNotebook

from consistency_lab.grading.checks import checks_for, load_lab_checks, run_check
from consistency_lab.grading.labs._lab04_world import run_recovery, run_sagas, run_sale
from consistency_lab.grading.labs.lab04_hidden import _RefInventory

LAB = "lab04_reservations_and_sagas"


NB = LabNotebook(LAB)
namespace, failures = NB.namespace, NB.failures


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
