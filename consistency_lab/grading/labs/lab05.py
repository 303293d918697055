"""Public checks of lab 05, ``lab05_cqrs_projection``: a read model of package scans, fed from a log.

Students run these with ``check("q1_apply")`` and friends.  The world (scans at depots, a
partitioned log, a projector that crashes right after a chosen durable write, the reference
expected read model) is :mod:`._lab05_world`, shared with the hidden checks.  Parts 2 and 3
run on a stand-in read model that only records calls (``RecordingView``), so a bug in part 1
cannot fail them; no reference solution ships with these public checks.
"""

from __future__ import annotations

from consistency_lab.grading import check_for
from consistency_lab.streams.consumer import SimulatedCrash

from ._lab05_world import (CheckpointStore, DurableView, Faults, RecordingView, compare_with, hand_log,
                           missing_and_extra, run_consumer_group, run_projection, scan, view_state)

LAB = "lab05_cqrs_projection"

# Four scans of two packages in one partition; p1's second scan reaches the log before its first.
FOUR = [(10.0, scan("s1", "p1", 2, "Cork")), (11.0, scan("s2", "p2", 1, "Basel")),
        (12.0, scan("s3", "p1", 1, "Antwerp")), (13.0, scan("s4", "p2", 2, "Dijon"))]
#: What a correct read model holds after FOUR, in any order, with any duplicates.
FOUR_VIEW = ({"Cork": 1, "Basel": 1, "Antwerp": 1, "Dijon": 1}, {"p1": "Cork", "p2": "Dijon"})


class Idle:
    """A projector that never applies anything: runs made with it only publish the log."""

    def __init__(self, topic, view, checkpoints) -> None:
        self.topic = topic

    def step(self, partition: int) -> bool:
        """Nothing to do."""
        return False


def log_of_a_run(seed: int, **settings):
    """The scans of one run (duplicates, late versions, several partitions), published and not yet applied."""
    return run_projection(Idle, RecordingView(), seed, **settings)


def not_applied_message(applied, records, where: str) -> str | None:
    """None when every record of the log was applied at least once, else which were skipped."""
    missing, _ = missing_and_extra(applied, records)
    if not missing:
        return None
    return f"{where}: {len(missing)} record(s) never applied ({', '.join(missing[:4])}" + \
        (", ..." if len(missing) > 4 else "") + ")"


def drain(make_projector, topic, view, checkpoints, limit: int = 1_000) -> int:
    """Step a projector over every partition until none has work; a crash makes a new one. Returns crashes."""
    projector, crashes = make_projector(topic, view, checkpoints), 0
    for _ in range(limit):
        try:
            if not any([projector.step(p) for p in range(len(topic.partitions))]):
                return crashes
        except SimulatedCrash:
            crashes += 1
            projector = make_projector(topic, view, checkpoints)
    raise AssertionError(f"after {limit} rounds of step() the projector still reported work; does step return "
                         "False when the partition has no record at its checkpoint?")


# -- part 1: apply ----------------------------------------------------------------------------

@check_for(lab=LAB, grade_id="q1_apply", points=25,
           hint="A scan counts once at its depot and places its package there.")
def view_counts_one_scan(ns):
    """a fresh view is empty; one scan counts once at its depot and places its package there"""
    view = ns.ScanView()
    assert view_state(view) == ({}, {}), f"a fresh ScanView holds {view_state(view)}; expected two empty dicts"
    view.apply(scan("s1", "p1", 1, "Basel"))
    got = view_state(view)
    assert got == ({"Basel": 1}, {"p1": "Basel"}), \
        f"after one scan of p1 at Basel the view holds scans={got[0]}, location={got[1]}; expected " \
        "scans={'Basel': 1}, location={'p1': 'Basel'}"


@check_for(lab=LAB, grade_id="q1_apply", points=25,
           hint="Remember the id of every event you applied; an event you have seen before changes nothing.")
def same_scan_twice_counts_once(ns):
    """the same scan delivered twice is counted once"""
    view = ns.ScanView()
    e = scan("s1", "p1", 1, "Basel")
    view.apply(e)
    view.apply(e)
    scans, _ = view_state(view)
    assert scans == {"Basel": 1}, f"the same event (same event_id) applied twice left scans={scans}; expected " \
                                  "{'Basel': 1}: a redelivery must change nothing"


@check_for(lab=LAB, grade_id="q1_apply", points=25,
           hint="Keep each package's newest applied version; move the package only for a higher version.")
def newest_version_wins_whatever_the_order(ns):
    """a package's location is its newest scan, even when an older scan is applied after it"""
    view = ns.ScanView()
    for _, e in FOUR:
        view.apply(e)
    scans, location = view_state(view)
    assert location.get("p1") == "Cork", \
        f"p1 was scanned at Antwerp (version 1), then at Cork (version 2), but version 2 reached the log first; " \
        f"the view says p1 is at {location.get('p1')!r}. The newest version decides, not the order of arrival"
    assert (scans, location) == FOUR_VIEW, \
        f"after four scans the view holds scans={scans}, location={location}; expected {FOUR_VIEW}"


@check_for(lab=LAB, grade_id="q1_apply", points=25,
           hint="Duplicates and late versions together: skip seen ids, count each new scan, move only forward.")
def view_fed_by_a_consumer_group_equals_the_fold(ns):
    """fed by a consumer group (redeliveries after crashes, duplicate uploads), each scan counts once, newest wins"""
    view = ns.ScanView()
    run = run_consumer_group(view, seed=0)
    problem = compare_with(view, run.expected, f"a consumer group with {run.group.redeliveries} redeliveries")
    assert problem is None, problem


# -- part 2: checkpoints ----------------------------------------------------------------------
# The projector is checked on a read model that only records its calls: these checks test the
# projector alone, whatever part 1 does.

@check_for(lab=LAB, grade_id="q2_checkpoint", points=30,
           hint="A step does one record: find where its partition stands, apply that record, then move the "
                "partition's checkpoint past it; report whether there was a record.")
def projector_applies_and_checkpoints_each_record(ns):
    """step applies the next record, checkpoints it, and returns False at the end of the partition"""
    _, topic = hand_log(FOUR)
    view, checkpoints = DurableView(RecordingView()), CheckpointStore(1)
    projector = ns.Projector(topic, view, checkpoints)
    for n in range(1, 4):
        moved = projector.step(0)
        assert moved is True, f"step {n} returned {moved!r} with records left; return True after applying one"
        assert checkpoints.load(0) == n, f"after {n} steps the checkpoint of partition 0 is {checkpoints.load(0)}; " \
                                         f"expected {n} (the offset of the next record to apply)"
    assert view.calls == ["s1", "s2", "s3"], f"three steps applied {view.calls}; expected the records at offsets " \
                                             "0, 1, 2 in order: ['s1', 's2', 's3']"
    projector.step(0)
    last = projector.step(0)
    assert last is False, f"step returned {last!r} at the end of the partition; expected False"


@check_for(lab=LAB, grade_id="q2_checkpoint", points=30,
           hint="A new Projector knows nothing: where to start is in the checkpoint store, never at the beginning.")
def a_new_projector_resumes_from_the_checkpoint(ns):
    """a projector started after a crash continues at the saved checkpoint"""
    _, topic = hand_log(FOUR)
    view, checkpoints = DurableView(RecordingView()), CheckpointStore(1)
    checkpoints.offsets[0] = 2
    ns.Projector(topic, view, checkpoints).step(0)
    assert view.calls == ["s3"], f"with a saved checkpoint of 2, a new projector's first step applied {view.calls}; " \
                                 "expected ['s3'], the record at offset 2"


@check_for(lab=LAB, grade_id="q2_checkpoint", points=30,
           hint="Apply first, then save the checkpoint: a crash in between then repeats a record (harmless, the "
                "view is idempotent) instead of skipping one.")
def a_crash_between_the_two_writes_loses_nothing(ns):
    """a crash right after the first durable write of a step loses no scan"""
    for crash in (1, 3, 5):
        _, topic = hand_log(FOUR)
        faults = Faults(crash_after_writes=[crash])
        view, checkpoints = DurableView(RecordingView(), faults), CheckpointStore(1, faults)
        drain(ns.Projector, topic, view, checkpoints)
        assert faults.crashes, f"the crash after write {crash} never happened: does step call view.apply and " \
                               "checkpoints.save?"
        problem = not_applied_message(view.calls, topic.records(), f"crash right after durable write {crash} "
                                      f"({faults.crashes[0][2]})")
        assert problem is None, problem + ": a record whose checkpoint was saved before it was applied is skipped " \
                                          "after the restart"


@check_for(lab=LAB, grade_id="q2_checkpoint", points=30,
           hint="One checkpoint per partition; a step touches only its own partition's checkpoint.")
def projector_survives_crashes_in_a_scan_run(ns):
    """three partitions, duplicate uploads, late versions and four crashes: every record applied, none skipped"""
    run = run_projection(ns.Projector, RecordingView(), seed=0, crash_after_writes=(3, 10, 18, 30))
    assert not run.stopped, run.stopped
    assert len(run.faults.crashes) == 4, f"{len(run.faults.crashes)} of 4 scheduled crashes happened"
    problem = not_applied_message(run.view.calls, run.topic.records(), "scan run, seed 0, 4 crashes")
    assert problem is None, problem
    ends = run.topic.end_offsets()
    assert run.checkpoints.offsets == ends, f"at the end the checkpoints are {run.checkpoints.offsets}; every " \
                                            f"partition is applied to its end, {ends}"
    repeated = len(run.view.calls) - len(run.topic)
    assert repeated <= len(run.faults.crashes), \
        f"{repeated} records were applied again after {len(run.faults.crashes)} crashes; a restart resumes at the " \
        "checkpoint, so at most one record per crash is applied twice"


# -- part 3: rebuild --------------------------------------------------------------------------
# Checked on the recording stand-in too: what a rebuild must do is empty the view, apply each
# record once and save the ends, whatever the read model computes.

def rebuild_problem(view: RecordingView, topic, where: str) -> str | None:
    """None when ``view`` was reset first and then got every record of ``topic`` exactly once."""
    if not view.log or view.log[0][0] != "reset":
        first = view.log[0][1] if view.log else "nothing"
        return f"{where}: the rebuild did not empty the view before replaying (first call: apply {first}); " \
               "a rebuild starts from an empty read model"
    missing, extra = missing_and_extra(view.applied_since_last_reset(), topic.records())
    if missing:
        return f"{where}: {len(missing)} record(s) of the log never replayed ({', '.join(missing[:4])}); replay " \
               "every partition from offset 0"
    if extra:
        return f"{where}: records applied more often than the log holds them ({', '.join(extra[:4])})"
    return None


@check_for(lab=LAB, grade_id="q3_rebuild", points=20,
           hint="Empty the read model first: replaying into the old state keeps whatever was wrong in it.")
def rebuild_starts_from_an_empty_view(ns):
    """a rebuild empties the view, then replays each record of the log once"""
    _, topic = hand_log(FOUR)
    view = RecordingView()
    ns.rebuild(topic, view, CheckpointStore(1))
    problem = rebuild_problem(view, topic, "rebuild of a four-record log")
    assert problem is None, problem


@check_for(lab=LAB, grade_id="q3_rebuild", points=20,
           hint="Replay every record of every partition from its first offset, whatever the checkpoints say.")
def rebuild_replays_the_whole_log(ns):
    """after a run with duplicates on three partitions, a rebuild replays every record once"""
    run = log_of_a_run(seed=3)
    view = RecordingView()
    checkpoints = CheckpointStore(len(run.topic.partitions))
    checkpoints.offsets = [len(part) // 2 for part in run.topic.partitions]
    ns.rebuild(run.topic, view, checkpoints)
    problem = rebuild_problem(view, run.topic, "rebuild of a scan run with checkpoints half-way")
    assert problem is None, problem


@check_for(lab=LAB, grade_id="q3_rebuild", points=20,
           hint="After replaying a partition, save its checkpoint at the partition's end, so the live projector "
                "continues there.")
def rebuild_checkpoints_the_end_of_the_log(ns):
    """after a rebuild, every checkpoint is at its partition's end, so the live projector continues there"""
    run = log_of_a_run(seed=4)
    checkpoints = CheckpointStore(len(run.topic.partitions))
    ns.rebuild(run.topic, RecordingView(), checkpoints)
    ends = run.topic.end_offsets()
    assert checkpoints.offsets == ends, f"after the rebuild the checkpoints are {checkpoints.offsets}; expected " \
                                        f"the end of each partition, {ends}"


# -- part 4: lag alarm ------------------------------------------------------------------------

MINUTE = 60_000.0


@check_for(lab=LAB, grade_id="q4_alarm", points=25,
           hint="When every checkpoint is at its partition's end there is nothing unapplied: age 0.0, no alarm.")
def caught_up_means_no_lag(ns):
    """a projection that has applied everything has age 0 and no alarm"""
    _, topic = hand_log(FOUR)
    checkpoints = CheckpointStore(1)
    checkpoints.offsets[0] = 4
    alarm = ns.LagAlarm(2 * MINUTE)
    age = alarm.age_ms(topic, checkpoints, 10 * MINUTE)
    assert age == 0, f"every record is applied, yet age_ms returned {age!r}; expected 0.0"
    assert alarm.fires(topic, checkpoints, 10 * MINUTE) is False, "the alarm fired with nothing left to apply"


@check_for(lab=LAB, grade_id="q4_alarm", points=25,
           hint="In each partition the record at the checkpoint is the oldest unapplied one; the lag is how "
                "long the oldest of those, over all partitions, has waited.")
def age_is_that_of_the_oldest_unapplied_record(ns):
    """the age is now minus the append time of the oldest unapplied record, over all partitions"""
    # pkg004 lives in partition 0, pkg000 in partition 1: partition 0 is further behind in records,
    # partition 1 holds the oldest unapplied record.
    events = [(1_000.0, scan("a1", "pkg000", 1, "Cork")), (2_000.0, scan("a2", "pkg000", 2, "Hull")),
              (5_000.0, scan("b1", "pkg004", 1, "Graz")), (6_000.0, scan("b2", "pkg004", 2, "Faro")),
              (7_000.0, scan("b3", "pkg004", 3, "Basel"))]
    _, topic = hand_log(events, partitions=2)
    assert [len(p) for p in topic.partitions] == [3, 2]
    checkpoints = CheckpointStore(2)
    checkpoints.offsets = [0, 1]
    got = ns.LagAlarm(2 * MINUTE).age_ms(topic, checkpoints, 20_000.0)
    assert got == 18_000.0, "partition 0 has 3 unapplied records appended at 5000, 6000, 7000 ms; partition 1 has " \
                            f"1, appended at 2000 ms; at now=20000 ms age_ms returned {got!r}; expected 18000.0 " \
                            "(now minus the oldest unapplied append time, over all partitions)"


@check_for(lab=LAB, grade_id="q4_alarm", points=25,
           hint="The rule is strict: an age exactly at the tolerance is still fine; only a longer one fires.")
def exactly_at_the_tolerance_does_not_fire(ns):
    """at exactly the tolerance the alarm is quiet; one millisecond later it fires"""
    _, topic = hand_log([(1_000.0, scan("s1", "p1", 1, "Essen"))])
    checkpoints = CheckpointStore(1)
    alarm = ns.LagAlarm(2 * MINUTE)
    at = alarm.fires(topic, checkpoints, 1_000.0 + 2 * MINUTE)
    after = alarm.fires(topic, checkpoints, 1_001.0 + 2 * MINUTE)
    assert at is False, f"the oldest unapplied record is exactly 2 minutes old and fires returned {at!r}; " \
                        "expected False (the alarm fires only when the age exceeds the tolerance)"
    assert after is True, f"the oldest unapplied record is 2 min + 1 ms old and fires returned {after!r}; expected True"


@check_for(lab=LAB, grade_id="q4_alarm", points=25,
           hint="Count records and you measure the backlog's size, not its age: measure time, not records.")
def a_burst_of_young_records_is_not_a_lag(ns):
    """600 records appended a second ago do not fire a 2-minute alarm; one record 3 minutes old does"""
    burst = [(10 * MINUTE, scan(f"b{i}", f"bulk{i:04d}", 1, "Basel")) for i in range(600)]
    _, topic = hand_log(burst)
    checkpoints = CheckpointStore(1)
    alarm = ns.LagAlarm(2 * MINUTE)
    fired = alarm.fires(topic, checkpoints, 10 * MINUTE + 1_000.0)
    assert fired is False, "600 unapplied records appended 1 s ago fired the 2-minute alarm: the oldest of them " \
                           "is 1 s old, well inside the tolerance"
    _, lone = hand_log([(MINUTE, scan("s1", "p1", 1, "Graz"))])
    fired = alarm.fires(lone, CheckpointStore(1), 4 * MINUTE)
    assert fired is True, "a single unapplied record appended 3 minutes ago did not fire the 2-minute alarm"
