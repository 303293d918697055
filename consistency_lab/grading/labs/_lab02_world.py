"""The world lab 02's checks run in: small stores, a four-user social network, timeline runs.

Shared by the public checks (:mod:`.lab02`) and the hidden ones:
reconcilers over two dicts that record what a job does with them, a tiny social
network with chosen events lost, timeline runs that keep the student's job, and the
comparison of a job's ``report()`` with what the scenario measured from outside.
No checks live here.
"""

from __future__ import annotations

import math
from typing import Any, Callable, Optional

from consistency_lab.scenarios.timeline import TIMELINE
from consistency_lab.scenarios.timeline_world import FeedService, SocialGraph
from consistency_lab.streams.log import Event

__all__ = ["CHECK_WORLD", "DictStore", "TimedStore", "OracleStore", "keys_compared_per_pass", "pass_value",
           "tiny_world", "count_overwrites", "timeline_params", "run_with_job", "same_number", "outside_view",
           "REPORT_KEYS", "report_mismatches"]

#: A small timeline world for checks: quick to run, with enough drift and lag to matter.
CHECK_WORLD = {"users": 20, "posts": 150, "follows": 150, "duration_ms": 3_000.0, "loss": 0.05,
               "publish_latency_ms": 30.0, "consumer_crashes": 2, "scan_interval_ms": 200.0, "page_size": 5}


class DictStore:
    """A reconciler over two dicts (truth and copy) that records what a job does with it."""

    def __init__(self, truth: dict, copy: dict) -> None:
        self.truth = dict(truth)
        self.copy = dict(copy)
        self.compared: list = []       # every key passed to actual(), in call order
        self.repairs: list = []        # every (key, value) passed to repair()

    def keys(self) -> list:
        """Every key of the truth, in insertion order."""
        return list(self.truth)

    def expected(self, key: Any) -> Any:
        """The key's value in the truth."""
        return self.truth[key]

    def actual(self, key: Any) -> Any:
        """The key's value in the copy (None when missing); the call is recorded as a comparison."""
        self.compared.append(key)
        return self.copy.get(key)

    def repair(self, key: Any, value: Any) -> None:
        """Write ``value`` into the copy, recording the repair."""
        self.repairs.append((key, value))
        self.copy[key] = value


class TimedStore(DictStore):
    """A DictStore that also says when each key's truth last changed (ms)."""

    def __init__(self, truth: dict, copy: dict, changed: dict) -> None:
        super().__init__(truth, copy)
        self.changed = dict(changed)

    def changed_at(self, key: Any) -> float:
        """When the key's truth last changed (ms; 0 when never)."""
        return self.changed.get(key, 0.0)


class OracleStore(TimedStore):
    """A TimedStore with the simulation's oracle: keys in ``lagging`` would heal by themselves."""

    def __init__(self, truth: dict, copy: dict, changed: dict, lagging: set) -> None:
        super().__init__(truth, copy, changed)
        self.lagging = set(lagging)

    def would_converge(self, key: Any) -> bool:
        """Oracle: True when the copy is already right or the key is only lagging."""
        # Like the real oracle: an item that is already right stays right.
        return self.copy.get(key) == self.truth[key] or key in self.lagging


def keys_compared_per_pass(job: Any, store: DictStore, passes: int, start: float = 1000.0,
                           step: float = 100.0) -> tuple[list[list], list[dict]]:
    """Run ``passes`` passes; return the distinct keys compared in each (in order) and the dicts returned."""
    seen, results = [], []
    for i in range(passes):
        before = len(store.compared)
        results.append(job.run_pass(start + i * step))
        seen.append(list(dict.fromkeys(store.compared[before:])))
    return seen, results


def pass_value(result: Any, name: str, who: str = "run_pass") -> Any:
    """``result[name]`` with a friendly failure when ``run_pass`` did not return a dict holding it."""
    assert isinstance(result, dict), f"{who} returned {result!r}; it must return a dict like " \
                                     "{'scanned': ..., 'found': ..., 'repaired': ...}"
    assert name in result, f"{who} returned {result!r}, which has no {name!r} entry"
    return result[name]


def tiny_world(drop: frozenset = frozenset()) -> tuple[SocialGraph, FeedService, list[Event]]:
    """Four users; the feed handles every event except the ids in ``drop`` (lost events)."""
    users = ["u0", "u1", "u2", "u3"]
    social, feed = SocialGraph(users), FeedService(users)
    actions = [("e1", "u0", "Followed", {"followee": "u1"}), ("e2", "u1", "Posted", {"post": "p1"}),
               ("e3", "u0", "Followed", {"followee": "u2"}), ("e4", "u2", "Posted", {"post": "p2"}),
               ("e5", "u3", "Followed", {"followee": "u1"}), ("e6", "u1", "Posted", {"post": "p3"})]
    events = []
    for t, (eid, who, kind, payload) in enumerate(actions, start=1):
        if kind == "Followed":
            social.follow(who, payload["followee"], eid, float(t))
        else:
            social.post(who, payload["post"], eid, float(t))
        event = Event(eid, who, kind, payload)
        events.append(event)
        if eid not in drop:
            feed.handle(event)
    return social, feed, events


def count_overwrites(feed: FeedService) -> list:
    """Replace ``feed.overwrite`` by a wrapper that records each call; returns the record list."""
    calls: list = []
    original = feed.overwrite

    def overwrite(user: str, item: Any) -> None:
        calls.append(user)
        original(user, item)

    feed.overwrite = overwrite  # type: ignore[method-assign]
    return calls


def timeline_params(**overrides: Any) -> dict:
    """Validated timeline parameters: CHECK_WORLD plus overrides."""
    return TIMELINE.validate({**CHECK_WORLD, **overrides})


def run_with_job(make_job: Callable[[Any], Any], seed: int, **overrides: Any) -> tuple[Any, Any]:
    """Run the timeline with the job ``make_job(reference)`` (page and grace from the params); return (run, job)."""
    p = timeline_params(**overrides)
    box: dict = {}

    def factory(social: SocialGraph, feed: FeedService, reference: Any) -> Any:
        box["job"] = make_job(reference)
        return box["job"]

    return TIMELINE.run(seed, hooks={"job_factory": factory}, **p), box.get("job")


def same_number(a: Any, b: Any) -> bool:
    """Equal numbers, NaN equal to NaN, floats within a millionth of a millisecond."""
    if isinstance(a, (int, float)) and isinstance(b, (int, float)) and not isinstance(a, bool):
        if math.isnan(a) or math.isnan(b):
            return math.isnan(a) and math.isnan(b)
        return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-6)
    return False


def outside_view(run: Any) -> dict:
    """What the scenario measured by watching the feed's writes, in the units of ``report()``."""
    m = run.metrics
    return {"found": m["found"], "repaired": m["repairs"], "false_repairs": m["false_repairs"],
            "time_to_repair_p50_ms": m["time_to_repair_p50_s"] * 1000.0,
            "time_to_repair_max_ms": m["time_to_repair_max_s"] * 1000.0}


REPORT_KEYS = ("found", "repaired", "false_repairs", "time_to_repair_p50_ms", "time_to_repair_max_ms")


def report_mismatches(report: Any, expected: dict) -> Optional[str]:
    """None when ``report`` has every key of ``expected`` with the same value, else a readable difference."""
    if not isinstance(report, dict):
        return f"report() returned {report!r}; it must return a dict with the keys {', '.join(REPORT_KEYS)}"
    missing = [k for k in expected if k not in report]
    if missing:
        return f"report() has no {missing[0]!r} entry (it returned {report!r})"
    wrong = [f"{k}: yours {report[k]!r}, expected {expected[k]!r}" for k in expected
             if not same_number(report[k], expected[k])]
    if any(w.startswith("time_to_repair_p50_ms") for w in wrong):
        wrong.append("(p50 is the median of the repair times, in ms)")
    return "; ".join(wrong) or None
