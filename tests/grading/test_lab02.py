"""Lab 02 (reconciliation): the solution passes every check; typical mistakes lose the intended parts.

The student's namespace is built in-process from the solution notebook (its imports cell and its
solution cells), then parts of it are swapped for buggy versions written below.
"""

import math
from pathlib import Path

import nbformat
import pytest

from consistency_lab.grading.checks import checks_for, load_lab_checks, run_check
from consistency_lab.grading.labspec import read_spec, registry_problems
from consistency_lab.grading.notebook_build import is_solution_cell

ROOT = Path(__file__).resolve().parents[2]
SOLUTION = ROOT / "solutions" / "lab02_reconciliation.ipynb"
LAB = "lab02_reconciliation"
PARTS = ["q1_detect", "q2_repair", "q3_paging", "q4_metrics", "q5_tune"]


def _solution_cells() -> dict:
    """grade_id -> source of each solution code cell, plus the imports cell as 'imports'."""
    nb = nbformat.read(str(SOLUTION), as_version=4)
    imports = next(c for c in nb.cells if c.cell_type == "code" and "def params(" in c.source)
    cells = {"imports": "\n".join(line for line in imports.source.splitlines() if not line.startswith("%"))}
    for cell in nb.cells:
        if cell.cell_type == "code" and is_solution_cell(cell):
            cells[cell.metadata["nbgrader"]["grade_id"]] = cell.source
    return cells


CELLS = _solution_cells()


def _solution_namespace() -> dict:
    ns: dict = {"__name__": "lab02_student"}
    for source in CELLS.values():
        exec(source, ns)
    return ns


@pytest.fixture(scope="module")
def solution_ns() -> dict:
    load_lab_checks(LAB, hidden=True)
    return _solution_namespace()


#: The name each part's checks are about.
PART_OF = {"find_drift": "q1_detect", "TimelineRepairer": "q2_repair", "PagedJob": "q3_paging",
           "MeteredJob": "q4_metrics", "choose_scan_interval": "q5_tune"}


def _failures(ns: dict, parts=None) -> dict:
    """grade_id -> messages of the failed checks (public and hidden) of ``parts`` (default: all)."""
    failed: dict = {}
    for chk in checks_for(LAB, include_hidden=True):
        if parts is not None and chk.grade_id not in parts:
            continue
        outcome = run_check(chk, ns, time_limit=30)
        if not outcome.passed:
            failed.setdefault(chk.grade_id, []).append(f"{chk.name}: {outcome.status}: {outcome.message}")
    return failed


def test_checks_agree_with_the_notebook_and_hidden_names_stay_hidden():
    spec = read_spec(SOLUTION)
    assert [(p.part_id, p.points) for p in spec.parts] == [
        ("q1_detect", 20), ("q2_repair", 20), ("q3_paging", 25), ("q4_metrics", 20), ("q5_tune", 15)]
    assert registry_problems(spec) == []
    hidden = [c for c in checks_for(LAB, include_hidden=True) if not c.public]
    assert {c.grade_id for c in hidden} == set(PARTS) and all(c.name.startswith("l02h_") for c in hidden)
    lab = (ROOT / "labs" / SOLUTION.name).read_text(encoding="utf-8")
    assert "l02h_" not in lab and "BEGIN SOLUTION" not in lab and "statistics.median(times)" not in lab


def test_the_solution_passes_every_public_and_hidden_check(solution_ns):
    assert _failures(solution_ns) == {}


# -- typical mistakes ---------------------------------------------------------------------------

def drift_one_side_only(expected, actual):
    """Loops over the truth's keys only: stale records in the copy go unnoticed."""
    return sorted(k for k in expected if expected[k] != actual.get(k))


def drift_unsorted(expected, actual):
    return [k for k in {**expected, **actual} if expected.get(k) != actual.get(k)][::-1]


def drift_missing_is_not_none(expected, actual):
    """Treats 'missing' and 'None' as different."""
    keys = set(expected) | set(actual)
    return sorted(k for k in keys if (k in expected) != (k in actual) or expected.get(k) != actual.get(k))


def _repairer(solution_ns, repair):
    """The solution's TimelineRepairer with another repair method."""
    return type("BuggyRepairer", (solution_ns["TimelineRepairer"],), {"repair": repair})


def blind_repair(self, user, value):
    self.feed.overwrite(user, value)


def repair_without_followers_index(self, user, value):
    follows, posts, timeline = value
    self.feed.follows[user], self.feed.posts_by[user], self.feed.timelines[user] = set(follows), set(posts), \
        set(timeline)


def repair_timeline_only(self, user, value):
    if self.feed.item(user) != value:
        current = self.feed.item(user)
        self.feed.overwrite(user, (current[0], value[1], value[2]))


def _job(solution_ns, run_pass=None, init=None, base="PagedJob"):
    attrs = {}
    if run_pass is not None:
        attrs["run_pass"] = run_pass
    if init is not None:
        attrs["__init__"] = init
    return type("Buggy" + base, (solution_ns[base],), attrs)


def scan_everything(self, now):
    """Compares every key on every pass: unbounded work."""
    found = repaired = 0
    for key in self.reconciler.keys():
        expected = self.reconciler.expected(key)
        if self.reconciler.actual(key) != expected:
            found += 1
            self.repair_one(key, expected, now)
            repaired += 1
    return {"scanned": len(self.reconciler.keys()), "found": found, "repaired": repaired}


def _paged(self, now, *, grace=True, blind=False, direct=False, owner=None, wrap=True):
    """The solution's pass, with one mistake switched on by a keyword."""
    owner = owner if owner is not None else self
    keys = list(self.reconciler.keys())
    n = len(keys)
    page = min(self.page_size, n) if wrap else len(keys[owner.cursor:owner.cursor + self.page_size])
    found = repaired = 0
    for i in range(page):
        key = keys[(owner.cursor + i) % n]
        expected = self.reconciler.expected(key)
        if not blind and self.reconciler.actual(key) == expected:
            continue
        found += 1
        changed_at = getattr(self.reconciler, "changed_at", None)
        if grace and self.grace_ms and changed_at is not None and now - changed_at(key) < self.grace_ms:
            continue
        if direct:
            self.reconciler.repair(key, expected)
        else:
            self.repair_one(key, expected, now)
        repaired += 1
    owner.cursor = (owner.cursor + page) % n if wrap else owner.cursor + self.page_size
    return {"scanned": page, "found": found, "repaired": repaired}


def never_wraps(self, now):
    """Walks off the end of the key list and stays there."""
    return _paged(self, now, wrap=False)


def no_grace(self, now):
    return _paged(self, now, grace=False)


def blind_pages(self, now):
    return _paged(self, now, blind=True)


def bypasses_repair_one(self, now):
    return _paged(self, now, direct=True)


def index_past_the_end(self, now):
    """Forgets the modulo: once the cursor nears the end, keys[cursor + i] raises IndexError."""
    keys = list(self.reconciler.keys())
    found = repaired = 0
    for i in range(min(self.page_size, len(keys))):
        key = keys[self.cursor + i]
        expected = self.reconciler.expected(key)
        if self.reconciler.actual(key) != expected:
            found += 1
            self.repair_one(key, expected, now)
            repaired += 1
    self.cursor += min(self.page_size, len(keys))
    return {"scanned": min(self.page_size, len(keys)), "found": found, "repaired": repaired}


def shared_cursor_job():
    """A PagedJob class whose cursor lives on the class: every job moves the same cursor."""

    class SharedCursor:
        cursor = 0

        def __init__(self, reconciler, page_size, grace_ms=0):
            self.reconciler, self.page_size, self.grace_ms = reconciler, page_size, grace_ms

        def run_pass(self, now):
            return _paged(self, now, owner=SharedCursor)

        def repair_one(self, key, value, now):
            self.reconciler.repair(key, value)

    return SharedCursor


def _with_paged_job(solution_ns, paged_job):
    """Swap in another PagedJob and re-run the MeteredJob cell on top of it, as a notebook would."""
    ns = {**solution_ns, "PagedJob": paged_job}
    exec(CELLS["q4_metrics"], ns)
    return {"PagedJob": paged_job, "MeteredJob": ns["MeteredJob"]}


def _metered(solution_ns, *, oracle_after=False, mean=False, seconds=False, ignore_lagging=False,
             found_is_repaired=False):
    """The solution's MeteredJob with one measuring mistake."""
    base = solution_ns["MeteredJob"]

    class Buggy(base):
        def run_pass(self, now):
            done = solution_ns["PagedJob"].run_pass(self, now)
            self.found += done["repaired"] if found_is_repaired else done["found"]
            return done

        def repair_one(self, key, value, now):
            rec = self.reconciler
            if not oracle_after:
                lagging = not ignore_lagging and hasattr(rec, "would_converge") and rec.would_converge(key)
            solution_ns["PagedJob"].repair_one(self, key, value, now)
            if oracle_after:
                lagging = hasattr(rec, "would_converge") and rec.would_converge(key)
            self.false_repairs += bool(lagging)
            if hasattr(rec, "changed_at"):
                self.repair_times.append(now - rec.changed_at(key))
            self.repaired += 1

        def report(self):
            r = base.report(self)
            if mean and self.repair_times:
                r["time_to_repair_p50_ms"] = sum(self.repair_times) / len(self.repair_times)
            if seconds:
                r["time_to_repair_p50_ms"] /= 1000
                r["time_to_repair_max_ms"] /= 1000
            return r

    return Buggy


def interval_without_ceil(users, page_size, drift_budget_ms, grace_ms=0):
    return (drift_budget_ms - grace_ms) / (users / page_size)


def interval_without_grace(users, page_size, drift_budget_ms, grace_ms=0):
    return drift_budget_ms / math.ceil(users / page_size)


def interval_never_refuses(users, page_size, drift_budget_ms, grace_ms=0):
    return max(drift_budget_ms - grace_ms, 1.0) / math.ceil(users / page_size)


MISTAKES = {
    # name: (what to swap into the namespace, parts that must fail, words the failure must mention)
    "detection ignores keys on one side": (lambda ns: {"find_drift": drift_one_side_only}, {"q1_detect"},
                                           "stale record"),
    "detection returns an unsorted list": (lambda ns: {"find_drift": drift_unsorted}, {"q1_detect"}, "sorted"),
    "detection tells missing from None": (lambda ns: {"find_drift": drift_missing_is_not_none}, {"q1_detect"},
                                          "reads as None"),
    "repair writes blindly": (lambda ns: {"TimelineRepairer": _repairer(ns, blind_repair)}, {"q2_repair"},
                              "already right"),
    "repair skips the followers index": (
        lambda ns: {"TimelineRepairer": _repairer(ns, repair_without_followers_index)}, {"q2_repair"},
        "followers index"),
    "repair rewrites the timeline only": (lambda ns: {"TimelineRepairer": _repairer(ns, repair_timeline_only)},
                                          {"q2_repair"}, "expected"),
    "paging scans everything every pass": (lambda ns: {"PagedJob": _job(ns, scan_everything)}, {"q3_paging"},
                                           "bounded work"),
    "paging never wraps around": (lambda ns: {"PagedJob": _job(ns, never_wraps)}, {"q3_paging"}, "wrap"),
    "paging ignores the grace period": (lambda ns: {"PagedJob": _job(ns, no_grace)}, {"q3_paging"}, "grace"),
    "paging repairs every key of the page": (lambda ns: {"PagedJob": _job(ns, blind_pages)}, {"q3_paging"},
                                             "already right"),
    "paging keeps the cursor on the class": (lambda ns: {"PagedJob": shared_cursor_job()}, {"q3_paging"},
                                             "shared"),
    # Part 3's contract: repairs go through repair_one (part 4 measures there); part 4 is judged on a
    # correct PagedJob, so this costs part 3 only.
    "paging bypasses repair_one": (lambda ns: _with_paged_job(ns, _job(ns, bypasses_repair_one)), {"q3_paging"},
                                   "self.repair_one"),
    "paging walks off the end of the keys": (lambda ns: _with_paged_job(ns, _job(ns, index_past_the_end)),
                                             {"q3_paging"}, "IndexError"),
    "metrics ask the oracle after repairing": (lambda ns: {"MeteredJob": _metered(ns, oracle_after=True)},
                                               {"q4_metrics"}, "false_repairs"),
    "metrics ignore lagging items": (lambda ns: {"MeteredJob": _metered(ns, ignore_lagging=True)}, {"q4_metrics"},
                                     "false_repairs"),
    "metrics take the mean for p50": (lambda ns: {"MeteredJob": _metered(ns, mean=True)}, {"q4_metrics"},
                                      "median"),
    "metrics report seconds": (lambda ns: {"MeteredJob": _metered(ns, seconds=True)}, {"q4_metrics"},
                               "time_to_repair"),
    "metrics count repairs as found": (lambda ns: {"MeteredJob": _metered(ns, found_is_repaired=True)},
                                       {"q4_metrics"}, "found"),
    "interval without ceil": (lambda ns: {"choose_scan_interval": interval_without_ceil}, {"q5_tune"}, "(31, 5"),
    "interval forgets the grace period": (lambda ns: {"choose_scan_interval": interval_without_grace}, {"q5_tune"},
                                          "expected"),
    "interval for an impossible budget": (lambda ns: {"choose_scan_interval": interval_never_refuses},
                                          {"q5_tune"}, "ValueError"),
}


@pytest.mark.parametrize("mistake", list(MISTAKES))
def test_a_typical_mistake_loses_the_intended_part(solution_ns, mistake):
    swap, parts, words = MISTAKES[mistake]
    swapped = swap(solution_ns)
    # Parts whose checks use none of the swapped names run the solution's code, which passes (tested above).
    failed = _failures({**solution_ns, **swapped}, parts={PART_OF[name] for name in swapped})
    assert set(failed) == parts, failed
    messages = " ".join(m for part in parts for m in failed[part])
    assert words in messages, messages


def test_a_stub_fails_every_part_as_not_implemented(solution_ns):
    def stub(*args, **kwargs):
        raise NotImplementedError()

    class Stub:
        def __init__(self, *args, **kwargs):
            raise NotImplementedError()

    ns = {**solution_ns, "find_drift": stub, "TimelineRepairer": Stub, "PagedJob": Stub, "MeteredJob": Stub,
          "choose_scan_interval": stub}
    failed = _failures(ns)
    assert set(failed) == set(PARTS)
    assert all("not implemented" in m for msgs in failed.values() for m in msgs), failed


# -- other correct solutions must pass ------------------------------------------------------------

class ShortLastPage:
    """Pages keys[cursor:cursor + page_size]; the last page may be short, then the cursor restarts at 0."""

    def __init__(self, reconciler, page_size, grace_ms=0):
        self.reconciler, self.page_size, self.grace_ms, self.position = reconciler, page_size, grace_ms, 0

    def run_pass(self, now):
        rec = self.reconciler
        keys = rec.keys()
        page = keys[self.position:self.position + self.page_size]
        self.position = 0 if self.position + self.page_size >= len(keys) else self.position + self.page_size
        found = [k for k in page if rec.actual(k) != rec.expected(k)]
        ripe = [k for k in found if not (self.grace_ms and hasattr(rec, "changed_at")
                                         and now - rec.changed_at(k) < self.grace_ms)]
        for k in ripe:
            self.repair_one(k, rec.expected(k), now)
        return {"scanned": len(page), "found": len(found), "repaired": len(ripe)}

    def repair_one(self, key, value, now):
        self.reconciler.repair(key, value)


def drift_by_symmetric_difference(expected, actual):
    one_side = {k for k in set(expected) ^ set(actual) if expected.get(k) is not None or actual.get(k) is not None}
    both = {k for k in set(expected) & set(actual) if expected[k] != actual[k]}
    return sorted(one_side | both)


def interval_by_negative_floor_division(users, page_size, drift_budget_ms, grace_ms=0):
    if not drift_budget_ms > grace_ms:
        raise ValueError("budget too small")
    return float(drift_budget_ms - grace_ms) / -(-users // page_size)


def test_other_correct_solutions_pass(solution_ns):
    from consistency_lab.metrics import percentile

    class PercentileJob(solution_ns["MeteredJob"]):
        def report(self):
            r = super().report()
            if self.repair_times:
                r["time_to_repair_p50_ms"] = percentile(self.repair_times, 50)
            return r

    swapped = {**_with_paged_job(solution_ns, ShortLastPage), "find_drift": drift_by_symmetric_difference,
               "choose_scan_interval": interval_by_negative_floor_division}
    assert _failures({**solution_ns, **swapped}) == {}
    assert _failures({**solution_ns, "MeteredJob": PercentileJob}, parts={"q4_metrics"}) == {}


def test_a_paging_bug_costs_paging_only_and_the_metrics_feedback_names_it(solution_ns):
    """Issue 16 §2: MeteredJob on a PagedJob that walks off the end of the keys loses q3 only; q4's checks pass
    (judged on a correct PagedJob) and their notes say the student's own paging breaks the metrics."""
    ns = {**solution_ns, **_with_paged_job(solution_ns, _job(solution_ns, index_past_the_end))}
    load_lab_checks(LAB, hidden=True)
    outcomes = {part: [run_check(c, ns, time_limit=60) for c in checks_for(LAB, part, include_hidden=True)]
                for part in ("q3_paging", "q4_metrics")}
    assert not all(o.passed for o in outcomes["q3_paging"])
    assert all(o.passed for o in outcomes["q4_metrics"]), [o.message for o in outcomes["q4_metrics"]]
    notes = [o.message for o in outcomes["q4_metrics"] if o.message]
    assert notes and all("q3_paging (paging), which has a bug: see q3_paging" in n for n in notes), notes
    assert any(not o.public for o in outcomes["q4_metrics"] if o.message), "the hidden checks name it too"
    # With a correct PagedJob nothing is noted.
    clean = [run_check(c, solution_ns, time_limit=60) for c in checks_for(LAB, "q4_metrics", include_hidden=True)]
    assert all(o.passed and not o.message for o in clean), [o.message for o in clean]
