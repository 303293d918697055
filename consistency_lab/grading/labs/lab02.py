"""Public checks of lab 02, ``lab02_reconciliation``: finding and repairing drift in a social timeline.

Students run these with ``check("q1_detect")`` and friends.  The world they run in (small
stores, a four-user social network, timeline runs that keep the job) is
:mod:`._lab02_world`, shared with the hidden checks.
"""

from __future__ import annotations

import math

from consistency_lab.grading import check_for
from consistency_lab.patterns.reconciliation import Reconciler
from consistency_lab.scenarios.timeline import TIMELINE

from ._isolation import earlier_part_note, rebased
from ._lab02_world import (CHECK_WORLD, DictStore, OracleStore, TimedStore, count_overwrites,
                           keys_compared_per_pass, outside_view, pass_value, report_mismatches, run_with_job,
                           timeline_params, tiny_world)

LAB = "lab02_reconciliation"


# -- part 1: detect ---------------------------------------------------------------------------

@check_for(lab=LAB, grade_id="q1_detect", points=20,
           hint="Drift is a key whose value in the copy differs from its value in the truth.")
def drift_finds_changed_values(ns):
    """find_drift reports keys whose values differ"""
    got = ns.find_drift({"ada": 1, "bo": 2, "cy": 3}, {"ada": 1, "bo": 5, "cy": 3})
    assert got == ["bo"], f"find_drift({{'ada': 1, 'bo': 2, 'cy': 3}}, {{'ada': 1, 'bo': 5, 'cy': 3}}) " \
                          f"returned {got!r}; expected ['bo']"


@check_for(lab=LAB, grade_id="q1_detect", points=20,
           hint="Look at the keys of both sides: a record the copy lacks, and a stale record the truth no "
                "longer has, are both drift.")
def drift_includes_keys_on_one_side(ns):
    """keys present on only one side count as drift"""
    expected, actual = {"ada": 1, "bo": 2}, {"ada": 1, "dee": 4}
    got = ns.find_drift(expected, actual)
    assert isinstance(got, list), f"find_drift returned a {type(got).__name__}; return a sorted list"
    assert "bo" in got, f"find_drift({expected!r}, {actual!r}) returned {got!r}: it missed 'bo', which the " \
                        "truth has and the copy lacks"
    assert "dee" in got, f"find_drift({expected!r}, {actual!r}) returned {got!r}: it missed 'dee', a stale " \
                         "record the copy has and the truth does not"
    assert got == ["bo", "dee"], f"find_drift({expected!r}, {actual!r}) returned {got!r}; expected ['bo', 'dee']"


@check_for(lab=LAB, grade_id="q1_detect", points=20,
           hint="The answer is the drifted keys in sorted order, and an empty list when nothing drifted.")
def drift_is_sorted_and_empty_when_equal(ns):
    """the result is sorted, and empty when nothing drifted"""
    same = ns.find_drift({"x": 1, "y": 2}, {"y": 2, "x": 1})
    assert same == [], f"two equal dicts gave {same!r}; expected []"
    got = ns.find_drift({"m": 1, "c": 1, "x": 1}, {"m": 2, "c": 2, "x": 2})
    assert got == ["c", "m", "x"], f"every key differs and find_drift returned {got!r}; expected the keys " \
                                   "sorted: ['c', 'm', 'x']"


# -- part 2: repair ---------------------------------------------------------------------------

@check_for(lab=LAB, grade_id="q2_repair", points=20,
           hint="The keys are the users; the expected value is the source of truth's record, the actual one "
                "is the feed's.")
def repairer_reads_both_sides(ns):
    """TimelineRepairer reads keys, expected and actual values"""
    social, feed, _ = tiny_world(drop=frozenset({"e3"}))
    rep = ns.TimelineRepairer(social, feed)
    assert isinstance(rep, Reconciler), "TimelineRepairer needs the methods keys, expected, actual and repair"
    keys = list(rep.keys())
    assert keys == social.users, f"keys() returned {keys!r}; expected every user in order: {social.users!r}"
    for u in social.users:
        assert rep.expected(u) == social.item(u), f"expected({u!r}) returned {rep.expected(u)!r}; " \
                                                   f"expected the source of truth, {social.item(u)!r}"
        assert rep.actual(u) == feed.item(u), f"actual({u!r}) returned {rep.actual(u)!r}; expected the feed's " \
                                               f"record, {feed.item(u)!r}"


@check_for(lab=LAB, grade_id="q2_repair", points=20,
           hint="Repair through the feed's own overwrite operation: it also keeps the feed's followers index in step.")
def repairer_fixes_a_drifted_user_idempotently(ns):
    """repair fixes a drifted user, and repairing twice equals repairing once"""
    social, feed, _ = tiny_world(drop=frozenset({"e3"}))
    rep = ns.TimelineRepairer(social, feed)
    assert feed.item("u0") != social.item("u0")
    rep.repair("u0", social.item("u0"))
    assert feed.item("u0") == social.item("u0"), f"after repair('u0', truth) the feed holds {feed.item('u0')!r}; " \
                                                 f"expected {social.item('u0')!r}"
    once = {u: feed.item(u) for u in social.users}
    rep.repair("u0", social.item("u0"))
    twice = {u: feed.item(u) for u in social.users}
    assert twice == once, "repairing u0 a second time changed the feed; a repair must be idempotent"


@check_for(lab=LAB, grade_id="q2_repair", points=20,
           hint="Compare first: a record that is already right must not be written.")
def repairer_leaves_correct_users_alone(ns):
    """repair does not write to a user who is already right"""
    social, feed, _ = tiny_world(drop=frozenset({"e3"}))
    rep = ns.TimelineRepairer(social, feed)
    writes = count_overwrites(feed)
    before = {u: feed.item(u) for u in social.users}
    rep.repair("u3", social.item("u3"))
    assert not writes, "repair('u3', ...) called feed.overwrite although u3's record was already right: a blind " \
                       "write is wasted work and, in a real system, can clobber a newer update"
    after = {u: feed.item(u) for u in social.users}
    assert after == before, "repair('u3', ...) changed the feed although u3 was already right"


@check_for(lab=LAB, grade_id="q2_repair", points=20,
           hint="The daemon only decides when and what to compare; your repairer must read both sides and "
                "repair like the template says.")
def repairer_heals_a_timeline_run(ns):
    """the daemon with your TimelineRepairer heals a whole timeline run"""
    p = timeline_params()
    m = TIMELINE.run(0, hooks={"reconciler_factory": lambda social, feed: ns.TimelineRepairer(social, feed)},
                     **p).metrics
    assert m["divergent_users_final"] == 0, f"{m['divergent_users_final']} users were still wrong at the end of " \
                                            "the run"
    assert m["reconciliation_success_rate"] == 1.0, \
        f"only {m['reconciliation_success_rate']:.0%} of repairs left the user right (success rate)"


# -- part 3: paging ---------------------------------------------------------------------------

def _ten_keys(diff: tuple = ()) -> DictStore:
    truth = {f"k{i}": i for i in range(10)}
    return DictStore(truth, {k: (v + 100 if k in diff else v) for k, v in truth.items()})


@check_for(lab=LAB, grade_id="q3_paging", points=25,
           hint="A pass looks at one page of keys after the cursor, never the whole key list.")
def paged_job_bounds_each_pass(ns):
    """each pass compares at most page_size keys and reports how many"""
    store = _ten_keys()
    job = ns.PagedJob(store, 4)
    seen, results = keys_compared_per_pass(job, store, 1)
    assert len(seen[0]) <= 4, f"one pass of PagedJob(store, page_size=4) over 10 keys compared {len(seen[0])} " \
                              "keys; a pass must compare at most page_size keys (bounded work per pass)"
    assert len(seen[0]) == 4, f"one pass compared {len(seen[0])} keys; with 10 keys it should compare 4 (a key " \
                              "counts as compared when the job reads reconciler.actual(key))"
    scanned = pass_value(results[0], "scanned")
    assert scanned == 4, f"run_pass reported scanned={scanned!r}; it compared 4 keys"


@check_for(lab=LAB, grade_id="q3_paging", points=25,
           hint="The cursor moves on by one page per pass and wraps around to the first key after the last.")
def paged_job_wraps_around(ns):
    """the cursor wraps around: every key is compared again and again, evenly"""
    store = _ten_keys()
    job = ns.PagedJob(store, 4)
    seen, _ = keys_compared_per_pass(job, store, 6)
    first_sweep = set().union(*seen[:3])
    missing = sorted(set(store.truth) - first_sweep, key=lambda k: int(k[1:]))
    assert not missing, f"after 3 passes of 4 keys, {missing} had never been compared; a full sweep of 10 keys " \
                        "takes ceil(10 / 4) = 3 passes (a key counts as compared when the job reads " \
                        "reconciler.actual(key))"
    counts = {k: sum(k in s for s in seen) for k in store.truth}
    assert min(counts.values()) >= 2 and max(counts.values()) - min(counts.values()) <= 1, \
        f"after 6 passes (two full sweeps) the keys were compared this many times: {counts}; a cursor that " \
        "wraps around compares every key at least twice, evenly (pages seen: " + \
        ", ".join(str(s) for s in seen) + ")"


@check_for(lab=LAB, grade_id="q3_paging", points=25,
           hint="Repair only the keys whose copy differs from the truth, and repair them to the true value.")
def paged_job_repairs_only_what_differs(ns):
    """a pass repairs the keys that differ, with the true value, and nothing else"""
    store = _ten_keys(diff=("k2", "k7"))
    job = ns.PagedJob(store, 10)
    first = job.run_pass(1000.0)
    assert sorted(store.repairs) == [("k2", 2), ("k7", 7)], \
        f"the pass made these repairs: {store.repairs!r}; expected ('k2', 2) and ('k7', 7) only"
    for name, want in (("scanned", 10), ("found", 2), ("repaired", 2)):
        got = pass_value(first, name)
        assert got == want, f"run_pass reported {name}={got!r}; expected {want}"
    second = job.run_pass(1100.0)
    assert len(store.repairs) == 2, f"a second pass repaired {store.repairs[2:]!r}, which were already right"
    assert pass_value(second, "found") == 0 and pass_value(second, "repaired") == 0, \
        f"a second pass over correct keys returned {second!r}; expected found=0 and repaired=0"


@check_for(lab=LAB, grade_id="q3_paging", points=25,
           hint="A key whose truth changed less than the grace period ago is probably still settling: leave "
                "it for a later sweep.")
def paged_job_waits_out_the_grace_period(ns):
    """a key whose truth changed less than grace_ms ago waits for a later pass"""
    truth = {"a": 1, "b": 2, "c": 3}
    store = TimedStore(truth, {"a": 0, "b": 0, "c": 3}, {"a": 500.0, "b": 950.0})
    job = ns.PagedJob(store, 3, grace_ms=100)
    job.run_pass(1000.0)
    assert ("b", 2) not in store.repairs, "at now=1000 the job repaired 'b', whose truth changed at 950: that is " \
                                          "only 50 ms ago, inside the 100 ms grace period"
    assert store.repairs == [("a", 1)], f"at now=1000 the job made {store.repairs!r}; expected [('a', 1)]"
    job.run_pass(1100.0)
    assert ("b", 2) in store.repairs, "at now=1100 'b' changed 150 ms ago (older than the grace period) but was " \
                                      "not repaired"


@check_for(lab=LAB, grade_id="q3_paging", points=25,
           hint="The timeline scenario runs one pass of your job every scan interval; each pass must handle "
                "one page of users.")
def paged_job_heals_a_timeline_run(ns):
    """your PagedJob, run by the timeline scenario, heals every user and never writes a correct one"""
    run, _ = run_with_job(lambda ref: ns.PagedJob(ref, CHECK_WORLD["page_size"]), seed=0)
    m = run.metrics
    assert m["divergent_users_final"] == 0, f"{m['divergent_users_final']} users were still wrong at the end"
    blind = sum(r.reason == "already equal" for r in run.repairs)
    assert blind == 0, f"{blind} of {m['repairs']} repairs overwrote a user who was already right"
    assert max(p.scanned for p in run.passes) <= CHECK_WORLD["page_size"], \
        f"a pass reported scanned={max(p.scanned for p in run.passes)} with page_size={CHECK_WORLD['page_size']}"


@check_for(lab=LAB, grade_id="q3_paging", points=25,
           hint="Every repair of a pass goes through the job's own repair_one (given), so that part 4 can measure "
                "it by extending that one method.")
def paged_job_repairs_through_repair_one(ns):
    """every repair of a pass goes through self.repair_one"""
    calls = []

    class Watched(ns.PagedJob):
        def repair_one(self, key, value, now):
            calls.append(key)
            super().repair_one(key, value, now)

    store = _ten_keys(diff=("k1", "k3"))
    Watched(store, 10).run_pass(1000.0)
    assert sorted(k for k, _ in store.repairs) == ["k1", "k3"], f"the pass made these repairs: {store.repairs!r}"
    assert sorted(calls) == ["k1", "k3"], f"the pass repaired k1 and k3 but self.repair_one was called for " \
                                          f"{sorted(calls)!r}: repair through self.repair_one(key, value, now), " \
                                          "never the reconciler directly"


# -- part 4: metrics --------------------------------------------------------------------------
# MeteredJob subclasses the student's PagedJob.  These checks run it on a stand-in PagedJob whose
# passes are scripted by the check (it repairs the keys it is told to, through repair_one), so a
# paging bug costs part 3 only; the feedback says when the student's own PagedJob breaks part 4.

def scripted_paged_job(passes: list) -> type:
    """A stand-in PagedJob: pass i repairs the keys ``passes[i][0]`` through repair_one and defers ``passes[i][1]``."""

    class ScriptedPagedJob:
        """Not a paging job: each pass does exactly what the check scripted."""

        def __init__(self, reconciler, page_size, grace_ms=0) -> None:
            self.reconciler, self.page_size, self.grace_ms = reconciler, page_size, grace_ms
            self.script = list(passes)

        def run_pass(self, now: float) -> dict:
            """The next scripted pass."""
            keys, deferred = self.script.pop(0)
            for key in keys:
                self.repair_one(key, self.reconciler.expected(key), now)
            return {"scanned": self.page_size, "found": len(keys) + deferred, "repaired": len(keys),
                    "deferred": deferred}

        def repair_one(self, key, value, now: float) -> None:
            """Repair one key."""
            self.reconciler.repair(key, value)

    return ScriptedPagedJob


def metered_alone(ns, passes: list) -> type:
    """The student's MeteredJob on top of a scripted stand-in instead of their PagedJob."""
    return rebased(ns.MeteredJob, "PagedJob", scripted_paged_job(passes))


def _paging_passes_its_public_checks(ns) -> bool:
    for check in (paged_job_bounds_each_pass, paged_job_wraps_around, paged_job_repairs_only_what_differs,
                  paged_job_waits_out_the_grace_period, paged_job_repairs_through_repair_one):
        try:
            check(ns)
        except Exception:  # noqa: BLE001 - any failure of the student's paging
            return False
    return True


def one_pass_store() -> OracleStore:
    """Five keys: b, c and d differ; c would heal by itself; truths changed at 100, 300 and 390 ms."""
    truth = {"a": 1, "b": 2, "c": 3, "d": 4, "e": 5}
    return OracleStore(truth, {"a": 1, "b": 0, "c": 0, "d": 0, "e": 5},
                       {"a": 0.0, "b": 100.0, "c": 300.0, "d": 390.0, "e": 0.0}, lagging={"c"})


@check_for(lab=LAB, grade_id="q4_metrics", points=20,
           hint="Measure each repair before it happens (afterwards the item is right); the time to repair "
                "runs from the truth's change; p50 is the median.")
def metered_job_counts_one_pass(ns):
    """report() after one pass: found, repaired, false repairs, time to repair"""
    _one_pass(metered_alone(ns, [(["b", "c", "d"], 0)]))
    return earlier_part_note(lambda: _one_pass(ns.MeteredJob), "q3_paging", "paging")


def _one_pass(metered_job) -> None:
    store = one_pass_store()
    job = metered_job(store, 5)
    job.run_pass(400.0)
    report = job.report()
    assert not (store.repairs and isinstance(report, dict) and report.get("repaired") == 0), \
        "the pass repaired keys but report() counted no repairs: does PagedJob.run_pass repair through " \
        "self.repair_one(key, value, now)? MeteredJob can only measure repairs that go through it"
    problem = report_mismatches(report, {"found": 3, "repaired": 3, "false_repairs": 1,
                                               "time_to_repair_p50_ms": 100.0, "time_to_repair_max_ms": 300.0})
    assert problem is None, "keys b, c, d differ at now=400 (truth changed at 100, 300, 390; c would heal by " \
                            f"itself): {problem}"


@check_for(lab=LAB, grade_id="q4_metrics", points=20,
           hint="Before any pass every count is zero, and with no repairs there is no time to report: NaN.")
def metered_job_starts_empty(ns):
    """report() before any pass: zeros, and NaN times"""
    job = metered_alone(ns, [])(one_pass_store(), 5)
    problem = report_mismatches(job.report(), {"found": 0, "repaired": 0, "false_repairs": 0,
                                               "time_to_repair_p50_ms": math.nan,
                                               "time_to_repair_max_ms": math.nan})
    assert problem is None, f"before any pass: {problem}"


@check_for(lab=LAB, grade_id="q4_metrics", points=20,
           hint="Your numbers must match what the scenario saw from outside; the reference reconciler has "
                "changed_at and would_converge.")
def metered_job_agrees_with_the_outside_view(ns):
    """the job's report() agrees with the scenario's outside measurement"""
    try:
        run, job = run_with_job(lambda ref: ns.MeteredJob(ref, CHECK_WORLD["page_size"]), seed=1)
        problem = report_mismatches(job.report(), outside_view(run))
        assert problem is None, f"timeline run, seed 1: {problem}"
    except Exception as exc:
        if _paging_passes_its_public_checks(ns):
            raise
        # A run needs a real paging job; the grader judges this part with a correct one instead.
        return f"not judged here: this run uses your q3_paging (paging), which has a bug: see q3_paging " \
               f"({type(exc).__name__}: {str(exc).splitlines()[0][:120] if str(exc) else ''})"
    return None


# -- part 5: tune -----------------------------------------------------------------------------

@check_for(lab=LAB, grade_id="q5_tune", points=15,
           hint="A full sweep takes as many passes as there are pages; the convergence bound is the grace "
                "period plus a sweep's passes times the interval.")
def scan_interval_examples(ns):
    """choose_scan_interval on three worked examples"""
    for args, want in (((30, 5, 3000), 500.0), ((31, 5, 3500), 500.0), ((30, 5, 3600, 600), 500.0)):
        got = ns.choose_scan_interval(*args)
        assert isinstance(got, (int, float)) and math.isclose(got, want), \
            f"choose_scan_interval{args} returned {got!r}; expected {want}"


@check_for(lab=LAB, grade_id="q5_tune", points=15,
           hint="Pick the interval from the bound; the simulation should then converge within the budget.")
def scan_interval_run_stays_within_budget(ns):
    """a run with the chosen interval converges within the drift budget"""
    budget, grace = 2000.0, 200.0
    interval = ns.choose_scan_interval(CHECK_WORLD["users"], CHECK_WORLD["page_size"], budget, grace)
    m = TIMELINE.run(0, **{**CHECK_WORLD, "scan_interval_ms": interval, "grace_ms": grace}).metrics
    assert m["convergence_bound_s"] * 1000 <= budget + 1e-6, \
        f"with interval {interval!r} ms the convergence bound is {m['convergence_bound_s'] * 1000:g} ms, over the " \
        f"{budget:g} ms budget"
    assert m["convergence_time_s"] * 1000 <= budget, \
        f"with interval {interval!r} ms the run took {m['convergence_time_s'] * 1000:g} ms to converge; the " \
        f"budget is {budget:g} ms"
