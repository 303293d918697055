"""Lab 05 (a CQRS projection): its world has the faults the checks rely on.  What every lab promises
(the solution passes, each typical mistake loses its part, the fresh lab, the grader) is in
``test_lab0x_contract.py``.
"""


from lab_harness import LabNotebook

from consistency_lab.grading.labs._lab05_world import run_projection
from consistency_lab.grading.labs.lab05_hidden import _RefProjector, _RefView

LAB = "lab05_cqrs_projection"


NB = LabNotebook(LAB)
namespace, failures = NB.namespace, NB.failures


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
