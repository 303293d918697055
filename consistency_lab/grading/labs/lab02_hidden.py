"""Hidden checks of lab 02, ``lab02_reconciliation`` (only the grader imports this module).

More seeds, harsher feeds (more loss, more crashes, slower consumers), page_size 1, grace
periods, and the classic mistakes: one-sided keys ignored, blind writes, a pass that scans
everything or a cursor that never wraps, metrics measured at the wrong moment.
Function names carry the ``l02h_`` prefix so the release's leak scan can find them.
"""

from __future__ import annotations

import math
import random

from consistency_lab.grading import check_for
from consistency_lab.grading.labs._lab02_world import (CHECK_WORLD, DictStore, OracleStore, TimedStore,
                                                       count_overwrites, keys_compared_per_pass, outside_view,
                                                       pass_value, report_mismatches, run_with_job,
                                                       timeline_params, tiny_world)
from consistency_lab.grading.labs._isolation import earlier_part_note, rebased
from consistency_lab.grading.labs.lab02 import LAB
from consistency_lab.scenarios.timeline import TIMELINE
from consistency_lab.streams.log import Event

#: Harsher worlds: more loss, more crashes, a slower consumer, tiny and uneven pages, grace periods.
HARSH = [
    {"loss": 0.2, "consumer_crashes": 5, "page_size": 1, "scan_interval_ms": 60.0},
    {"loss": 0.15, "consumer_crashes": 4, "processing_ms": 12.0, "page_size": 7, "grace_ms": 300.0},
    {"loss": 0.1, "publish_latency_ms": 60.0, "page_size": 3, "scan_interval_ms": 100.0, "grace_ms": 150.0},
]


def _brute_force_drift(expected: dict, actual: dict) -> list:
    return sorted(k for k in set(expected) | set(actual) if expected.get(k) != actual.get(k))


# -- part 1 -----------------------------------------------------------------------------------

@check_for(lab=LAB, grade_id="q1_detect", points=20, public=False,
           hint="Every key of either dict counts; a missing key reads as None.")
def l02h_drift_matches_brute_force_on_random_dicts(ns):
    """find_drift is right on 200 random pairs of dicts (one-sided keys, None values, int keys)"""
    rng = random.Random(2024)
    for _ in range(200):
        keys = rng.sample(range(40), rng.randint(0, 25))
        expected = {k: rng.choice([None, 0, 1, 2, "x"]) for k in keys if rng.random() < 0.8}
        actual = {k: (expected.get(k) if rng.random() < 0.6 else rng.choice([None, 0, 1, 2, "x"]))
                  for k in keys if rng.random() < 0.8}
        want = _brute_force_drift(expected, actual)
        got = ns.find_drift(dict(expected), dict(actual))
        assert got == want, f"find_drift({expected!r}, {actual!r}) returned {got!r}; expected {want!r}"


@check_for(lab=LAB, grade_id="q1_detect", points=20, public=False,
           hint="A key missing on one side reads as None there, the same as a key whose value is None.")
def l02h_drift_reads_missing_keys_as_none(ns):
    """a key missing on one side equals a key holding None on the other"""
    got = ns.find_drift({"a": None, "b": 1}, {"b": 1})
    assert got == [], f"find_drift({{'a': None, 'b': 1}}, {{'b': 1}}) returned {got!r}; a missing key reads as " \
                      "None, so nothing drifted"
    got = ns.find_drift({}, {"z": None, "y": 0})
    assert got == ["y"], f"find_drift({{}}, {{'z': None, 'y': 0}}) returned {got!r}; expected ['y'] (0 is not None)"


@check_for(lab=LAB, grade_id="q1_detect", points=20, public=False,
           hint="Read the dicts, never change them; return a new list.")
def l02h_drift_leaves_its_inputs_alone(ns):
    """find_drift does not modify its arguments and handles empty dicts"""
    expected, actual = {"a": 1, "b": 2}, {"b": 3, "c": 4}
    ns.find_drift(expected, actual)
    assert expected == {"a": 1, "b": 2} and actual == {"b": 3, "c": 4}, \
        f"find_drift changed its arguments: they are now {expected!r} and {actual!r}"
    got = ns.find_drift({}, {})
    assert got == [], f"find_drift({{}}, {{}}) returned {got!r}; expected []"


# -- part 2 -----------------------------------------------------------------------------------

@check_for(lab=LAB, grade_id="q2_repair", points=20, public=False,
           hint="Write only when the feed's record differs from the value; then every write is a real fix.")
def l02h_repairer_writes_exactly_the_drifted_users(ns):
    """over a drifted run, repair writes each drifted user once and no correct user"""
    box = {}

    class Keeper:
        def __init__(self, social, feed):
            box["social"], box["feed"] = social, feed

        def run_pass(self, now):
            return {"scanned": 0, "found": 0, "repaired": 0}

    TIMELINE.run(3, hooks={"job_factory": lambda social, feed, ref: Keeper(social, feed)},
                 **timeline_params(loss=0.15))
    social, feed = box["social"], box["feed"]
    drifted = [u for u in social.users if feed.item(u) != social.item(u)]
    rep = ns.TimelineRepairer(social, feed)
    writes = count_overwrites(feed)
    for u in social.users:
        rep.repair(u, social.item(u))
    assert writes or not drifted or any(feed.item(u) != social.item(u) for u in drifted), \
        "repair fixed the drifted users without calling feed.overwrite; write through feed.overwrite, which also " \
        "keeps the feed's followers index in step"
    assert sorted(writes) == sorted(drifted), \
        f"{len(drifted)} users had drifted but repair wrote {len(writes)} times; " \
        f"wrote correct users: {sorted(set(writes) - set(drifted))[:5]}"
    assert all(feed.item(u) == social.item(u) for u in social.users), "after repairing every user some were wrong"
    del writes[:]
    for u in social.users:
        rep.repair(u, social.item(u))
    assert not writes, f"a second round of repairs wrote {len(writes)} times although every user was right"


@check_for(lab=LAB, grade_id="q2_repair", points=20, public=False,
           hint="Repair through the feed's own overwrite operation: changing one of its tables by hand leaves "
                "the followers index stale.")
def l02h_repair_keeps_the_followers_index(ns):
    """after a repair, a new post reaches the repaired user's timeline"""
    social, feed, _ = tiny_world(drop=frozenset({"e3"}))
    rep = ns.TimelineRepairer(social, feed)
    rep.repair("u0", social.item("u0"))
    social.post("u2", "p9", "e9", 10.0)
    feed.handle(Event("e9", "u2", "Posted", {"post": "p9"}))
    assert feed.item("u0") == social.item("u0"), \
        "u0 was repaired to follow u2, but u2's next post did not reach u0's timeline: the feed's followers " \
        "index was not updated"


@check_for(lab=LAB, grade_id="q2_repair", points=20, public=False,
           hint="The daemon decides what to repair; your repairer must read and write exactly like the reference.")
def l02h_repairer_matches_the_reference_in_harsh_runs(ns):
    """with harsh feeds over several seeds, your repairer does what the reference reconciler does"""
    for i, harsh in enumerate(HARSH):
        for seed in (11 + i, 20 + i, 29 + i):
            p = timeline_params(**harsh)
            hooks = {"reconciler_factory": lambda social, feed: ns.TimelineRepairer(social, feed)}
            mine = TIMELINE.run(seed, hooks=hooks, **p)
            ref = TIMELINE.run(seed, **p).metrics
            m = mine.metrics
            where = f"seed {seed}, {harsh}"
            assert m["divergent_users_final"] == 0, f"{where}: {m['divergent_users_final']} users still wrong"
            assert m["reconciliation_success_rate"] == 1.0, f"{where}: success rate {m['reconciliation_success_rate']}"
            assert (m["repairs"], m["false_repairs"]) == (ref["repairs"], ref["false_repairs"]), \
                f"{where}: {m['repairs']} repairs ({m['false_repairs']} false) with your repairer, " \
                f"{ref['repairs']} ({ref['false_repairs']} false) with the reference"


# -- part 3 -----------------------------------------------------------------------------------

def _store(n: int, diff: tuple = ()) -> DictStore:
    truth = {f"k{i:02d}": i for i in range(n)}
    return DictStore(truth, {k: (v - 1 if k in diff else v) for k, v in truth.items()})


@check_for(lab=LAB, grade_id="q3_paging", points=25, public=False,
           hint="Each pass handles at most a page of distinct keys, and the cursor wraps around, whatever the "
                "sizes.")
def l02h_paging_is_bounded_and_even_for_awkward_sizes(ns):
    """page_size 1, an uneven last page, and a page larger than the key set"""
    for n, page, passes in ((7, 1, 14), (23, 5, 20), (4, 10, 3)):
        store = _store(n)
        job = ns.PagedJob(store, page)
        seen, results = keys_compared_per_pass(job, store, passes)
        biggest = max(len(s) for s in seen)
        assert biggest <= min(page, n), f"{n} keys, page_size={page}: a pass compared {biggest} keys (at most " \
                                        f"{min(page, n)} allowed)"
        for s, r in zip(seen, results):
            scanned = pass_value(r, "scanned")
            assert scanned == len(s), f"{n} keys, page_size={page}: a pass compared {len(s)} keys but " \
                                      f"reported scanned={scanned!r}"
        counts = {k: sum(k in s for s in seen) for k in store.truth}
        sweep = math.ceil(n / page)
        assert set().union(*seen[:sweep]) == set(store.truth), \
            f"{n} keys, page_size={page}: the first {sweep} passes did not cover every key"
        assert min(counts.values()) >= passes // sweep and max(counts.values()) - min(counts.values()) <= 1, \
            f"{n} keys, page_size={page}, {passes} passes: keys compared unevenly ({counts}); does the cursor " \
            "wrap around?"


@check_for(lab=LAB, grade_id="q3_paging", points=25, public=False,
           hint="Keep the cursor on each job instance, not on the class, so two jobs never share it.")
def l02h_paging_jobs_keep_their_own_cursor(ns):
    """two jobs side by side do not share a cursor, and drift at both ends of the key list is found"""
    a, b = _store(9), _store(9, diff=("k08", "k00"))
    job_a, job_b = ns.PagedJob(a, 4), ns.PagedJob(b, 4)
    pages = []
    for i in range(3):
        job_a.run_pass(float(i))
        seen, _ = keys_compared_per_pass(job_b, b, 1, start=10.0 + i)
        pages.append(seen[0])
    assert pages[:2] == [["k00", "k01", "k02", "k03"], ["k04", "k05", "k06", "k07"]] and pages[2][:1] == ["k08"], \
        f"two jobs ran side by side on different stores; job B's pages were {pages}, expected k00..k03, then " \
        "k04..k07, then k08 onwards (is the cursor shared between jobs, e.g. a class attribute?)"
    for i in range(2):
        job_b.run_pass(20.0 + i)
    assert sorted(b.repairs) == [("k00", 0), ("k08", 8)], f"after 5 passes the repairs were {b.repairs!r}"


@check_for(lab=LAB, grade_id="q3_paging", points=25, public=False,
           hint="Hold a key back only while its truth changed less than the grace period ago, and only when "
                "the reconciler can tell.")
def l02h_paging_grace_edge_cases(ns):
    """grace: young keys wait, old keys do not, and a reconciler without changed_at still works"""
    store = TimedStore({"a": 1, "b": 2, "c": 3, "d": 4}, {"a": 0, "b": 0, "c": 0, "d": 4},
                       {"a": 9_600.0, "b": 9_990.0, "c": 1_000.0})
    job = ns.PagedJob(store, 4, grace_ms=500)
    first = job.run_pass(10_000.0)
    assert sorted(store.repairs) == [("c", 3)], f"at now=10000 with grace 500 ms (a changed at 9600, b at 9990, " \
                                                f"c at 1000) the job repaired {store.repairs!r}; expected only c"
    assert pass_value(first, "repaired") == 1 and pass_value(first, "found") >= 1, \
        f"run_pass returned {first!r}; expected repaired=1 (deferred keys are not repairs)"
    job.run_pass(10_400.0)
    assert sorted(store.repairs) == [("a", 1), ("c", 3)], \
        f"at now=10400 'a' is 800 ms old and 'b' 410 ms: repairs so far {store.repairs!r}"
    job.run_pass(10_600.0)
    assert sorted(store.repairs) == [("a", 1), ("b", 2), ("c", 3)], f"at now=10600 repairs are {store.repairs!r}"
    plain = DictStore({"x": 1}, {"x": 2})
    ns.PagedJob(plain, 1, grace_ms=500).run_pass(0.0)
    assert plain.repairs == [("x", 1)], "with a reconciler that has no changed_at, there is nothing to wait for; " \
                                        f"the job made {plain.repairs!r}"


@check_for(lab=LAB, grade_id="q3_paging", points=25, public=False,
           hint="Bounded passes, wrap-around and the grace period together must heal any run within the bound.")
def l02h_paging_heals_harsh_runs_within_the_bound(ns):
    """harsh timeline runs (page 1, grace, crashes) heal within the convergence bound, without blind writes"""
    for i, harsh in enumerate(HARSH):
        for seed in (31 + i, 40 + i, 49 + i):
            p = timeline_params(**harsh)
            run, _ = run_with_job(lambda ref: ns.PagedJob(ref, p["page_size"], grace_ms=p["grace_ms"]), seed,
                                  **harsh)
            m = run.metrics
            where = f"seed {seed}, {harsh}"
            assert m["divergent_users_final"] == 0, f"{where}: {m['divergent_users_final']} users still wrong"
            blind = sum(r.reason == "already equal" for r in run.repairs)
            assert blind == 0, f"{where}: {blind} repairs overwrote users who were already right"
            assert max(x.scanned for x in run.passes) <= p["page_size"], f"{where}: a pass scanned too much"
            assert m["convergence_time_s"] <= m["convergence_bound_s"] + p["scan_interval_ms"] / 1000, \
                f"{where}: converged after {m['convergence_time_s']} s; the bound is {m['convergence_bound_s']} s"
            early = [r for r in run.repairs if r.time_to_repair_ms < p["grace_ms"]]
            assert not early, f"{where}: {len(early)} users were repaired inside the {p['grace_ms']:g} ms grace period"


# -- part 4 -----------------------------------------------------------------------------------
# Part isolation: MeteredJob runs on the reference PagedJob (a paging bug costs part 3 only); the
# student's own combination is run too, and a note names paging when that is what breaks.

class _RefPagedJob:
    """Part 3's answer: the next page_size keys after a cursor, compare, defer young ones, repair."""

    def __init__(self, reconciler, page_size, grace_ms=0) -> None:
        self.reconciler, self.page_size, self.grace_ms, self.cursor = reconciler, page_size, grace_ms, 0

    def run_pass(self, now: float) -> dict:
        """One pass at ``now``."""
        rec = self.reconciler
        keys = list(rec.keys())
        n = len(keys)
        page = min(self.page_size, n)
        changed_at = getattr(rec, "changed_at", None)
        found = repaired = deferred = 0
        for i in range(page):
            key = keys[(self.cursor + i) % n]
            expected = rec.expected(key)
            if rec.actual(key) == expected:
                continue
            found += 1
            if self.grace_ms and changed_at is not None and now - changed_at(key) < self.grace_ms:
                deferred += 1
                continue
            self.repair_one(key, expected, now)
            repaired += 1
        if n:
            self.cursor = (self.cursor + page) % n
        return {"scanned": page, "found": found, "repaired": repaired, "deferred": deferred}

    def repair_one(self, key, value, now: float) -> None:
        """Repair one key."""
        self.reconciler.repair(key, value)


def _metrics_isolated(ns, body):
    """Run ``body(MeteredJob class)`` on the reference PagedJob, then on the student's own; note a paging bug."""
    body(rebased(ns.MeteredJob, "PagedJob", _RefPagedJob))
    return earlier_part_note(lambda: body(ns.MeteredJob), "q3_paging", "paging")


@check_for(lab=LAB, grade_id="q4_metrics", points=20, public=False,
           hint="Totals accumulate over passes; deferred keys are found but not repaired; p50 is the median.")
def l02h_metrics_accumulate_over_passes(ns):
    """report() adds up several passes, skips deferred keys, and takes the median repair time"""
    return _metrics_isolated(ns, _l02h_accumulate)


def _l02h_accumulate(metered_job):
    truth = {k: 1 for k in "abcdef"}
    store = OracleStore(truth, {k: 0 for k in truth}, {"a": 0.0, "b": 10.0, "c": 20.0, "d": 980.0, "e": 1_980.0,
                                                       "f": 0.0}, lagging={"b"})
    job = metered_job(store, 3, grace_ms=100)
    job.run_pass(1_000.0)   # a, b, c repaired after 1000, 990, 980 ms
    job.run_pass(2_000.0)   # d repaired after 1020 ms; e deferred; f after 2000 ms
    problem = report_mismatches(job.report(), {"found": 6, "repaired": 5, "false_repairs": 1,
                                               "time_to_repair_p50_ms": 1000.0, "time_to_repair_max_ms": 2000.0})
    assert problem is None, f"two passes of 3 keys, grace 100 ms, 'e' deferred, 'b' lagging: {problem}"
    times = {"a": 0.0, "b": 900.0, "c": 960.0, "d": 990.0}
    store = TimedStore({k: 1 for k in times}, {k: 0 for k in times}, times)
    job = metered_job(store, 4)
    job.run_pass(1_000.0)   # repair times 1000, 100, 40, 10: median 70, mean 287.5
    problem = report_mismatches(job.report(), {"time_to_repair_p50_ms": 70.0, "time_to_repair_max_ms": 1000.0})
    assert problem is None, f"repair times 1000, 100, 40 and 10 ms: {problem} (p50 is the median)"


@check_for(lab=LAB, grade_id="q4_metrics", points=20, public=False,
           hint="Ask the oracle and the change time only when the reconciler offers them.")
def l02h_metrics_without_the_oracle(ns):
    """with a reconciler that has neither oracle nor changed_at, counts still work and times are NaN"""
    return _metrics_isolated(ns, _l02h_without_oracle)


def _l02h_without_oracle(metered_job):
    store = DictStore({"a": 1, "b": 2}, {"a": 0, "b": 2})
    job = metered_job(store, 2)
    job.run_pass(50.0)
    problem = report_mismatches(job.report(), {"found": 1, "repaired": 1, "false_repairs": 0,
                                               "time_to_repair_p50_ms": math.nan,
                                               "time_to_repair_max_ms": math.nan})
    assert problem is None, f"one needed repair, no oracle, no changed_at: {problem}"


@check_for(lab=LAB, grade_id="q4_metrics", points=20, public=False,
           hint="Ask the oracle before you repair: afterwards the item is right and 'would converge' trivially.")
def l02h_metrics_agree_with_the_outside_in_harsh_runs(ns):
    """across seeds and harsh settings, report() matches the scenario's outside measurement"""
    return _metrics_isolated(ns, _l02h_outside_in_harsh_runs)


def _l02h_outside_in_harsh_runs(metered_job):
    for i, harsh in enumerate(HARSH):
        for seed in (51 + i, 60 + i, 69 + i):
            p = timeline_params(**harsh)
            run, job = run_with_job(lambda ref: metered_job(ref, p["page_size"], grace_ms=p["grace_ms"]), seed,
                                    **harsh)
            problem = report_mismatches(job.report(), outside_view(run))
            assert problem is None, f"seed {seed}, {harsh}: {problem}"
    run, job = run_with_job(lambda ref: metered_job(ref, 5), 7, publish_latency_ms=80.0, scan_interval_ms=100.0)
    assert run.metrics["false_repairs"] > 0, "internal: this run should have lagging repairs"
    problem = report_mismatches(job.report(), outside_view(run))
    assert problem is None, f"a run where many repairs are only lagging: {problem}"


# -- part 5 -----------------------------------------------------------------------------------

@check_for(lab=LAB, grade_id="q5_tune", points=15, public=False,
           hint="The interval is what is left of the budget after the grace period, shared by a sweep's "
                "passes; an impossible budget is an error.")
def l02h_interval_formula_on_many_cases(ns):
    """the interval is the largest that fits, for many sizes, and impossible budgets raise ValueError"""
    for users, page, budget, grace in ((10, 3, 1000, 0), (100, 1, 5000, 0), (7, 10, 900, 100), (1000, 64, 60_000,
                                                                                                  5_000),
                                       (12, 4, 1201, 1)):
        want = (budget - grace) / math.ceil(users / page)
        got = ns.choose_scan_interval(users, page, budget, grace)
        assert isinstance(got, (int, float)) and math.isclose(got, want, rel_tol=1e-9), \
            f"choose_scan_interval({users}, {page}, {budget}, {grace}) returned {got!r}; expected {want:g}"
        bound = grace + math.ceil(users / page) * got
        assert bound <= budget * (1 + 1e-12), f"the bound {bound} exceeds the budget {budget}"
    for budget, grace in ((500, 500), (400, 1000)):
        try:
            got = ns.choose_scan_interval(30, 5, budget, grace)
        except ValueError:
            continue
        raise AssertionError(f"choose_scan_interval(30, 5, {budget}, grace_ms={grace}) returned {got!r}; no "
                             "positive interval fits, so it must raise ValueError")


@check_for(lab=LAB, grade_id="q5_tune", points=15, public=False,
           hint="The bound holds for any run; check it with harsher feeds too.")
def l02h_interval_runs_converge_within_budget(ns):
    """harsh runs with the chosen interval converge within their budgets"""
    cases = [(1, 3000.0, 0.0, {"loss": 0.2, "consumer_crashes": 5}),
             (7, 1200.0, 100.0, {"loss": 0.15, "processing_ms": 12.0}),
             (3, 2500.0, 500.0, {"loss": 0.1, "consumer_crashes": 4})]
    for page, budget, grace, harsh in cases:
        interval = ns.choose_scan_interval(CHECK_WORLD["users"], page, budget, grace)
        for seed in (71, 72, 73):
            m = TIMELINE.run(seed, **{**CHECK_WORLD, **harsh, "page_size": page, "scan_interval_ms": interval,
                                      "grace_ms": grace}).metrics
            assert m["convergence_time_s"] * 1000 <= budget, \
                f"seed {seed}, page_size={page}, budget {budget:g} ms, grace {grace:g} ms: interval {interval!r} " \
                f"converged after {m['convergence_time_s'] * 1000:g} ms"
