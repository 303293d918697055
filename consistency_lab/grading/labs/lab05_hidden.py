"""Hidden checks of lab 05, ``lab05_cqrs_projection`` (only the grader imports this module).

More seeds, harsher fault schedules (crashes after many different durable writes, more
partitions, more duplicates), rebuilds from a checkpoint in the middle, and alarms on random
logs and over a run with a long stall.  Every check is bounded: small worlds, a few seeds.
Function names carry the ``l05h_`` prefix so the release's leak scan can find them.

The reference implementations of the four parts live here, not in the shipped world module
(they are the answers): the hidden checks run each part with the references of the others
substituted for the student's (part isolation), and compare with the reference fold.
"""

from __future__ import annotations

import random

from consistency_lab.grading import check_for
from consistency_lab.grading.labs._lab05_world import (CheckpointStore, DurableView, Faults, compare_with, hand_log,
                                                       run_consumer_group, run_projection, scan, view_state)
from consistency_lab.grading.labs.lab05 import FOUR, LAB, MINUTE, drain


# -- references (hidden: they are the answers) --------------------------------------------------

def _fold(events):
    """The reference read model of ``events``: (scans per depot, each package's depot at its newest version)."""
    view = _RefView()
    for e in events:
        view.apply(e)
    return dict(view.scans), dict(view.location)


class _RefView:
    """A correct read model (part 1's answer)."""

    def __init__(self) -> None:
        self.scans: dict = {}
        self.location: dict = {}
        self.applied: set = set()
        self.newest: dict = {}

    def apply(self, event) -> None:
        """Apply one scan once; the newest version decides the location."""
        if event.event_id in self.applied:
            return
        self.applied.add(event.event_id)
        depot = event.payload["depot"]
        self.scans[depot] = self.scans.get(depot, 0) + 1
        if event.version > self.newest.get(event.key, 0):
            self.newest[event.key] = event.version
            self.location[event.key] = depot

    def reset(self) -> None:
        """Forget everything."""
        self.__init__()  # type: ignore[misc]


class _RefProjector:
    """A correct projector (part 2's answer): apply, then checkpoint; resume from the checkpoints."""

    def __init__(self, topic, view, checkpoints) -> None:
        self.topic, self.view, self.checkpoints = topic, view, checkpoints

    def step(self, partition: int) -> bool:
        """Apply the next record of ``partition`` and checkpoint it; False when there is none."""
        offset = self.checkpoints.load(partition)
        record = self.topic.partitions[partition].read(offset)
        if record is None:
            return False
        self.view.apply(record.event)
        self.checkpoints.save(partition, offset + 1)
        return True


def _ref_age_ms(topic, checkpoints, now: float) -> float:
    """Part 4's answer: age (ms) of the oldest record at or after its partition's checkpoint; 0 when none."""
    oldest = None
    for p, part in enumerate(topic.partitions):
        record = part.read(checkpoints.load(p))
        if record is not None and (oldest is None or record.appended_at < oldest):
            oldest = record.appended_at
    return 0.0 if oldest is None else now - oldest


def _buggy_view(events) -> _RefView:
    """A view built by last week's buggy code: every scan counted, but at Antwerp."""
    view = _RefView()
    for e in events:
        view.apply(scan(e.event_id, e.key, e.version, "Antwerp", e.produced_at))
    return view


def compare_with_fold(view, events, where: str, explain: bool = True):
    """None when ``view`` equals the reference fold of ``events``, else what differs."""
    return compare_with(view, _fold(events), where, explain)


# -- part 1 -----------------------------------------------------------------------------------

@check_for(lab=LAB, grade_id="q1_apply", points=25, public=False,
           hint="Redeliveries, duplicate uploads and late versions over many seeds: each event id once, newest wins.")
def l05h_view_over_consumer_group_seeds(ns):
    """fed by harsher consumer groups over 8 seeds (3 consumers, more duplicates and crashes), the view is right"""
    for seed in range(10, 18):
        view = ns.ScanView()
        run = run_consumer_group(view, seed, partitions=4, consumers=3, duplicate=0.5,
                                 crash_before_commit=0.2, upload_ms=120.0)
        problem = compare_with_fold(view, run.events, f"consumer group, seed {seed}")
        assert problem is None, problem


@check_for(lab=LAB, grade_id="q1_apply", points=25, public=False,
           hint="Only the event id says two deliveries are the same event; equal contents are two scans.")
def l05h_view_counts_look_alike_scans(ns):
    """two different scans with the same package, version and depot both count"""
    view = ns.ScanView()
    view.apply(scan("s1", "p1", 1, "Hull"))
    view.apply(scan("s2", "p1", 1, "Hull"))
    scans, _ = view_state(view)
    assert scans == {"Hull": 2}, f"two distinct events (ids s1, s2) that look alike left scans={scans}; expected " \
                                 "{'Hull': 2}"


@check_for(lab=LAB, grade_id="q1_apply", points=25, public=False,
           hint="Keep the state on each instance, never on the class, so two views never share it.")
def l05h_views_keep_their_own_state(ns):
    """two views side by side do not share counts, locations or applied ids"""
    a, b = ns.ScanView(), ns.ScanView()
    a.apply(scan("s1", "p1", 1, "Graz"))
    b.apply(scan("s1", "p1", 1, "Graz"))
    assert view_state(a) == view_state(b) == ({"Graz": 1}, {"p1": "Graz"}), \
        f"two fresh views each applied the same scan once and hold {view_state(a)} and {view_state(b)}; is their " \
        "state shared (a class attribute or a default argument)?"


@check_for(lab=LAB, grade_id="q1_apply", points=25, public=False,
           hint="The newest version decides the location in every arrival order, with duplicates mixed in.")
def l05h_view_every_order_of_three_versions(ns):
    """every arrival order of a package's three scans, each twice, gives the same view"""
    import itertools

    scans3 = [scan(f"v{v}", "p1", v, d) for v, d in ((1, "Cork"), (2, "Essen"), (3, "Faro"))]
    for order in itertools.permutations(scans3 * 2, 6):
        view = ns.ScanView()
        for e in order:
            view.apply(e)
        got = view_state(view)
        assert got == ({"Cork": 1, "Essen": 1, "Faro": 1}, {"p1": "Faro"}), \
            f"arrival order {[e.event_id for e in order]} left {got}; expected one scan per depot and p1 at Faro"


# -- part 2 -----------------------------------------------------------------------------------

@check_for(lab=LAB, grade_id="q2_checkpoint", points=30, public=False,
           hint="Apply, then checkpoint; after every restart, resume from the saved checkpoint.")
def l05h_projector_random_crash_schedules(ns):
    """12 seeds, 5 crashes each after random durable writes: the view is right, little is applied twice"""
    for seed in range(12):
        rng = random.Random(500 + seed)
        crashes = sorted(rng.sample(range(1, 150), 5))
        run = run_projection(ns.Projector, _RefView(), seed, partitions=2 + seed % 3, crash_after_writes=crashes,
                             duplicate=0.3)
        where = f"seed {seed}, crashes after writes {crashes}"
        assert not run.stopped, f"{where}: {run.stopped}"
        problem = compare_with_fold(run.view, run.events(), where)
        assert problem is None, problem
        assert run.checkpoints.offsets == run.topic.end_offsets(), \
            f"{where}: final checkpoints {run.checkpoints.offsets}, partition ends {run.topic.end_offsets()}"
        repeated = len(run.view.calls) - len(run.topic)
        assert repeated <= len(run.faults.crashes), \
            f"{where}: {repeated} records were applied again after {len(run.faults.crashes)} crashes; a restart " \
            "resumes at the checkpoint, so at most one record per crash is applied twice"


@check_for(lab=LAB, grade_id="q2_checkpoint", points=30, public=False,
           hint="Each partition has its own checkpoint: load and save with the partition's own number.")
def l05h_projector_partitions_have_their_own_checkpoints(ns):
    """with five partitions stepped in turn, each checkpoint tracks its own partition"""
    events = [(float(i), scan(f"s{i}", f"pkg{i:03d}", 1, "Dijon")) for i in range(25)]
    _, topic = hand_log(events, partitions=5)
    view, checkpoints = DurableView(_RefView()), CheckpointStore(5)
    projector = ns.Projector(topic, view, checkpoints)
    for p in range(5):
        projector.step(p)
    want = [min(1, len(part)) for part in topic.partitions]
    assert checkpoints.offsets == want, f"after one step on each of 5 partitions the checkpoints are " \
                                        f"{checkpoints.offsets}; expected {want}"


@check_for(lab=LAB, grade_id="q2_checkpoint", points=30, public=False,
           hint="Every write may be the last before a crash: after each, the saved state must be consistent.")
def l05h_projector_crash_after_every_odd_write(ns):
    """a crash after every odd-numbered durable write still ends with the right view"""
    _, topic = hand_log(FOUR + [(20.0 + i, scan(f"t{i}", f"q{i}", 1, "Faro")) for i in range(6)])
    faults = Faults(crash_after_writes=range(1, 80, 2))
    view, checkpoints = DurableView(_RefView(), faults), CheckpointStore(1, faults)
    drain(ns.Projector, topic, view, checkpoints)
    problem = compare_with_fold(view, [r.event for r in topic.records()], "a crash after every odd write")
    assert problem is None, problem


# -- part 3 -----------------------------------------------------------------------------------

@check_for(lab=LAB, grade_id="q3_rebuild", points=20, public=False,
           hint="A rebuild replays from the first offset of every partition, whatever the checkpoints say.")
def l05h_rebuild_ignores_old_checkpoints(ns):
    """with checkpoints in the middle of the log, a rebuild still replays everything"""
    run = run_projection(_RefProjector, _RefView(), seed=21, partitions=3)
    checkpoints = CheckpointStore(3)
    checkpoints.offsets = [len(part) // 2 for part in run.topic.partitions]
    view = _RefView()
    ns.rebuild(run.topic, view, checkpoints)
    problem = compare_with_fold(view, run.events(), "rebuild with checkpoints half-way", explain=False)
    assert problem is None, problem + " (replay from offset 0, not from the checkpoint)"
    assert checkpoints.offsets == run.topic.end_offsets()


@check_for(lab=LAB, grade_id="q3_rebuild", points=20, public=False,
           hint="reset, replay all, checkpoint the ends: the same steps give the same view every time.")
def l05h_rebuild_matches_incremental_over_seeds(ns):
    """over 6 seeds with crashes, rebuilding a corrupted view (twice) equals the incremental view"""
    for seed in range(30, 36):
        run = run_projection(_RefProjector, _RefView(), seed, partitions=2 + seed % 3,
                             crash_after_writes=(5, 12, 40), duplicate=0.4)
        view = _buggy_view(run.events())
        view.location["ghost"] = "Atlantis"
        for attempt in ("first", "second"):
            checkpoints = CheckpointStore(len(run.topic.partitions))
            ns.rebuild(run.topic, view, checkpoints)
            assert view_state(view) == view_state(run.view), \
                f"seed {seed}, {attempt} rebuild: " + (compare_with_fold(view, run.events(), "rebuilt view", False) or
                                                       "the rebuilt view differs from the incremental one")


@check_for(lab=LAB, grade_id="q3_rebuild", points=20, public=False,
           hint="After a rebuild the live projector continues from the saved ends and applies only new records.")
def l05h_rebuild_then_the_projector_carries_on(ns):
    """after a rebuild, records appended later are applied once by the live projector"""
    log, topic = hand_log(FOUR)
    view, checkpoints = _RefView(), CheckpointStore(1)
    ns.rebuild(topic, view, checkpoints)
    log.append("scans", scan("s5", "p1", 3, "Hull"))
    durable = DurableView(view)
    drain(_RefProjector, topic, durable, checkpoints)
    assert durable.calls == ["s5"], f"after the rebuild the projector applied {durable.calls}; expected only the " \
                                    "new record ['s5'] (were the checkpoints saved at the end of the log?)"
    assert view_state(view)[1]["p1"] == "Hull"


# -- part 4 -----------------------------------------------------------------------------------

@check_for(lab=LAB, grade_id="q4_alarm", points=25, public=False,
           hint="The age is how long the oldest unapplied record over all partitions has waited; only an age "
                "above the tolerance fires.")
def l05h_alarm_on_random_logs(ns):
    """on 40 random logs and checkpoints, age and alarm agree with the definition"""
    rng = random.Random(7)
    for trial in range(40):
        partitions = rng.randint(1, 4)
        t, events = 0.0, []
        for i in range(rng.randint(0, 30)):
            t += rng.choice([0.0, 250.0, 1_000.0, 30_000.0])
            events.append((t, scan(f"e{i}", f"pkg{rng.randrange(12):03d}", i + 1, "Cork")))
        _, topic = hand_log(events, partitions)
        checkpoints = CheckpointStore(partitions)
        checkpoints.offsets = [rng.randint(0, len(part)) for part in topic.partitions]
        tolerance = rng.choice([0.0, 1_000.0, 2 * MINUTE])
        alarm = ns.LagAlarm(tolerance)
        for now in (t, t + tolerance, t + 2 * MINUTE, t + 5 * MINUTE):
            want = _ref_age_ms(topic, checkpoints, now)
            got = alarm.age_ms(topic, checkpoints, now)
            where = f"trial {trial}: {partitions} partitions of {[len(p) for p in topic.partitions]} records, " \
                    f"checkpoints {checkpoints.offsets}, now {now:g} ms"
            assert abs(got - want) < 1e-9, f"{where}: age_ms returned {got!r}; expected {want!r}"
            fires = alarm.fires(topic, checkpoints, now)
            assert fires == (want > tolerance), f"{where}: the age is {want:g} ms, the tolerance {tolerance:g} ms, " \
                                                f"and fires returned {fires!r}"


@check_for(lab=LAB, grade_id="q4_alarm", points=25, public=False,
           hint="The alarm must follow the age in a live run: quiet through a burst, firing through a long stall.")
def l05h_alarm_through_a_burst_and_a_stall(ns):
    """over a run with a burst of uploads and a 3-minute projector outage, the alarm fires exactly when it should"""
    alarm = ns.LagAlarm(2 * MINUTE)
    run = run_projection(_RefProjector, _RefView(), seed=2, age=_ref_age_ms, packages=40, duration_ms=10 * MINUTE,
                         hop_ms=5_000.0, upload_ms=2_000.0, step_ms=50.0, burst=(2 * MINUTE, 800),
                         crash_after_writes=(1_401,), restart_ms=3 * MINUTE, alarm=alarm, sample_ms=5_000.0)
    assert not run.stopped, run.stopped
    wrong = [s for s in run.samples if s.fires != (s.age_ms > 2 * MINUTE)]
    assert not wrong, f"at {wrong[0].time / 1000:g} s the oldest unapplied record was {wrong[0].age_ms / 1000:g} s " \
                      f"old ({wrong[0].unapplied} records unapplied) and fires returned {wrong[0].fires!r}"
    assert any(s.fires for s in run.samples), "the 3-minute outage never fired the alarm"
