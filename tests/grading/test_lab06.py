"""Lab 06 (build a linearizable replica, ABD): the world is fair, its targeted schedules expose their
mistakes, failures say how to replay them, runs are deterministic, the course's replication code is off
limits.  What every lab promises (the solution passes, each typical mistake loses its part, the fresh
lab, the grader) is in ``test_lab0x_contract.py``.
"""


import pytest
from lab06_mistakes import MISTAKES, PRELUDE
from lab_harness import LabNotebook

from consistency_lab.grading.labs._lab06_world import SCHEDULES, run_phases, run_replicas
from consistency_lab.grading.labs.lab06_hidden import _PHASED_BASE, _RefRead, _RefWrite, _RefWriteBack

LAB = "lab06_build_a_replica"
#: The references together: what a correct replica does (the tests' yardstick for the world).
REFERENCE = type("Reference", (_RefWriteBack, _RefRead, _RefWrite, _PHASED_BASE), {})


NB = LabNotebook(LAB, prelude=PRELUDE)
namespace, failures = NB.namespace, NB.failures


def test_a_failing_run_names_its_seed_and_schedule_and_how_to_replay_it():
    failed = failures(namespace({"q3_writeback": MISTAKES["no write-back on reads"][1]}))
    message = next(m for m in failed["q3_writeback"] if m.startswith("no_new_old_inversion"))
    assert "seed 0, schedule 'inversion'" in message and "replay(WriteBack, 'inversion', seed=0).figure()" in message


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
