"""TIMELINE.run(..., hooks={"job_factory": ...}): a lab's whole reconciliation job, measured from the outside.

It lives under tests/grading/ because its reference job is lab 02's paging answer, and
tests/grading/ never ships in the student release.
"""

import math

import pytest

from consistency_lab.scenarios.timeline import TIMELINE

SMALL = {"users": 20, "posts": 150, "follows": 150, "duration_ms": 3_000.0, "loss": 0.05,
         "scan_interval_ms": 200.0, "page_size": 5}


class PagedReferenceJob:
    """The daemon's algorithm as a job: the next page after a cursor, compare, defer young items, repair."""

    def __init__(self, reconciler, page_size, grace_ms=0.0):
        self.rec, self.page_size, self.grace_ms, self.cursor = reconciler, page_size, grace_ms, 0

    def run_pass(self, now):
        keys = list(self.rec.keys())
        n = len(keys)
        page = min(self.page_size, n)
        found = repaired = deferred = 0
        for i in range(page):
            key = keys[(self.cursor + i) % n]
            expected = self.rec.expected(key)
            if self.rec.actual(key) == expected:
                continue
            found += 1
            if self.grace_ms and now - self.rec.changed_at(key) < self.grace_ms:
                deferred += 1
                continue
            self.rec.repair(key, expected)
            repaired += 1
        self.cursor = (self.cursor + page) % n
        return {"scanned": page, "found": found, "repaired": repaired, "deferred": deferred}


class BlindJob:
    """Overwrites every user with the truth on every pass, whether it differs or not."""

    def __init__(self, social, feed):
        self.social, self.feed = social, feed

    def run_pass(self, now):
        for u in self.social.users:
            self.feed.overwrite(u, self.social.item(u))
        return {"scanned": len(self.social.users), "found": 0, "repaired": len(self.social.users)}


class IdleJob:
    """Looks at a page of users and never repairs anything."""

    def __init__(self, page_size):
        self.page_size = page_size

    def run_pass(self, now):
        return {"scanned": self.page_size, "found": 0, "repaired": 0}


def _params(**overrides):
    return TIMELINE.validate({**SMALL, "reconciliation": "on", **overrides})


def _same(a, b):
    return a == b or (isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b))


@pytest.mark.parametrize("grace_ms", [0.0, 300.0])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_the_reference_job_matches_the_daemon_exactly(seed, grace_ms):
    p = _params(grace_ms=grace_ms)
    daemon = TIMELINE.run(seed, **p)
    job = TIMELINE.run(seed, hooks={"job_factory": lambda social, feed, ref: PagedReferenceJob(ref, p["page_size"],
                                                                                              grace_ms)}, **p)
    assert job.metrics["divergent_timelines_final"] == job.metrics["divergent_users_final"] == 0
    assert job.metrics["repairs"] == daemon.metrics["repairs"] > 0
    differing = {k for k in daemon.metrics if not _same(daemon.metrics[k], job.metrics[k])}
    assert not differing, {k: (daemon.metrics[k], job.metrics[k]) for k in differing}
    assert job.repairs == daemon.repairs
    assert [(p.time, p.scanned, p.found, p.repaired, p.false_repairs, p.deferred) for p in job.passes] == \
        [(p.time, p.scanned, p.found, p.repaired, p.false_repairs, p.deferred) for p in daemon.passes]
    # Same decisions at the same moments, same lineage notes: the very same run.
    assert job.trace_digest == daemon.trace_digest


def test_a_blind_job_makes_mostly_false_repairs():
    p = _params()
    r = TIMELINE.run(0, hooks={"job_factory": lambda social, feed, ref: BlindJob(social, feed)}, **p)
    m = r.metrics
    assert m["divergent_timelines_final"] == 0
    assert m["repairs"] == p["users"] * m["passes"]
    assert m["false_repairs"] > 0.8 * m["repairs"]
    assert sum(rec.reason == "already equal" for rec in r.repairs) > 0.8 * m["repairs"]
    assert m["reconciliation_success_rate"] == 1.0
    assert m["scanned"] == p["users"] * m["passes"] and m["scan_cost_per_pass"] == p["users"]
    daemon = TIMELINE.run(0, **p).metrics
    assert m["false_repairs"] > 10 * daemon["false_repairs"]


def test_a_job_that_never_repairs_leaves_divergence():
    p = _params()
    r = TIMELINE.run(0, hooks={"job_factory": lambda social, feed, ref: IdleJob(3)}, **p)
    m = r.metrics
    assert m["events_lost"] > 0 and m["divergent_timelines_final"] > 0
    assert m["repairs"] == m["false_repairs"] == 0 and math.isnan(m["convergence_time_s"])
    assert m["passes"] > 0 and m["scanned"] == 3 * m["passes"]
    assert math.isnan(m["reconciliation_success_rate"])  # no repairs: no success rate, not 100 %
    assert math.isnan(m["time_to_repair_p50_s"])
    off = TIMELINE.run(0, **_params(reconciliation="off")).metrics
    assert m["divergent_timelines_final"] == off["divergent_timelines_final"]


def test_writes_are_measured_even_through_a_kept_reference_and_wrong_writes_are_unverified():
    class WrongWriter:
        """Keeps feed.overwrite from construction time and writes the truth without the timeline."""

        def __init__(self, social, feed):
            self.social, self.feed, self.write = social, feed, feed.overwrite

        def run_pass(self, now):
            n = 0
            for u in self.social.users:
                follows, posts, timeline = self.social.item(u)
                if self.feed.item(u) != (follows, posts, timeline):
                    self.write(u, (follows, posts, frozenset()))
                    n += 1
            return {"scanned": len(self.social.users), "found": n, "repaired": n}

    r = TIMELINE.run(1, hooks={"job_factory": lambda social, feed, ref: WrongWriter(social, feed)}, **_params())
    assert r.metrics["repairs"] > 0 and r.metrics["reconciliation_success_rate"] < 1.0
    assert r.metrics["found"] == sum(p.found for p in r.passes) > 0


def test_odd_pass_results_count_as_zero_and_off_never_builds_the_job():
    built = []

    class Odd:
        def run_pass(self, now):
            return None if len(built) % 2 else {"scanned": "many", "found": True}

    def factory(social, feed, ref):
        built.append(1)
        return Odd()

    r = TIMELINE.run(0, hooks={"job_factory": factory}, **_params())
    assert built == [1] and r.metrics["passes"] > 0 and r.metrics["scanned"] == r.metrics["found"] == 0
    off = TIMELINE.run(0, hooks={"job_factory": factory}, **_params(reconciliation="off"))
    assert built == [1] and off.metrics["passes"] == 0


def test_bad_hook_use_is_a_clear_error():
    with pytest.raises(ValueError, match="not both"):
        TIMELINE.run(0, hooks={"reconciler_factory": lambda s, f: None, "job_factory": lambda s, f, r: None},
                     **_params())
    with pytest.raises(ValueError, match="no run_pass"):
        TIMELINE.run(0, hooks={"job_factory": lambda s, f, r: object()}, **_params())
