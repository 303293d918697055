"""Lab 01's checks: the solution and a different correct solution pass, typical mistakes lose the right part."""

from collections import OrderedDict
from pathlib import Path

import nbformat
import pytest

from consistency_lab.grading.checks import checks_for, load_lab_checks, run_check
from consistency_lab.scenarios.cart import cart_reducer

ROOT = Path(__file__).resolve().parents[2]
LAB = "lab01_idempotent_handlers"
PARTS = ["q1_dedupe", "q2_versioned", "q3_atomic", "q4_bounded"]


def solution_namespace() -> dict:
    """The solution notebook's definitions, executed in-process (no kernel: fast)."""
    nb = nbformat.read(ROOT / "solutions" / f"{LAB}.ipynb", as_version=4)
    ns: dict = {}
    for cell in nb.cells:
        src = cell.source
        if cell.cell_type != "code" or src.startswith("check(") or "check_all" in src:
            continue
        exec("\n".join(line for line in src.splitlines() if not line.startswith("%")), ns)
    return ns


def passed_parts(ns: dict) -> dict[str, bool]:
    """Part -> all its public and hidden checks pass."""
    load_lab_checks(LAB, hidden=True)
    return {part: all(run_check(c, ns, time_limit=60).passed for c in checks_for(LAB, part, include_hidden=True))
            for part in PARTS}


@pytest.fixture(scope="module")
def base():
    return solution_namespace()


def test_solution_passes_every_part(base):
    assert passed_parts(base) == {p: True for p in PARTS}


def test_a_different_correct_solution_passes_every_part(base):
    # Sorted buffer instead of a dict of held events; a plain dict instead of an OrderedDict.
    class OtherVersioned:
        def __init__(self):
            self.state, self.versions, self.held = {}, {}, {}

        def handle(self, event):
            self.held.setdefault(event.key, {}).setdefault(event.version, event)
            buffer = self.held[event.key]
            for v in sorted(buffer):
                if v <= self.versions.get(event.key, 0):
                    del buffer[v]
                elif v == self.versions.get(event.key, 0) + 1:
                    self._apply(buffer[v])
                    del buffer[v]
                else:
                    break
            if not buffer:
                del self.held[event.key]

        def _apply(self, event):
            self.state[event.key] = cart_reducer(self.state.get(event.key), event)
            self.versions[event.key] = event.version

    class OtherCrashSafe(OtherVersioned):
        def __init__(self):
            super().__init__()
            self.crash_point = lambda e: None
            self.durable = ["held", "versions", "state"]

        def _apply(self, event):
            staged = cart_reducer(self.state.get(event.key), event)
            self.crash_point(event)
            self.state[event.key], self.versions[event.key] = staged, event.version

    class OtherStore:
        def __init__(self, capacity, ttl_ms):
            self.capacity, self.ttl_ms, self.keys = capacity, ttl_ms, {}

        def _purge(self, now):
            for k in [k for k, t in self.keys.items() if t + self.ttl_ms <= now]:
                del self.keys[k]

        def seen(self, key, now):
            self._purge(now)
            return key in self.keys

        def add(self, key, now):
            self._purge(now)
            if key not in self.keys:
                if len(self.keys) >= self.capacity:
                    del self.keys[min(self.keys, key=self.keys.get)]
                self.keys[key] = now

        def __len__(self):
            return len(self.keys)

    ns = dict(base, VersionedHandler=OtherVersioned, CrashSafeHandler=OtherCrashSafe, BoundedKeyStore=OtherStore)
    assert passed_parts(ns) == {p: True for p in PARTS}


def test_ignoring_order_loses_only_the_versioned_parts(base):
    class DedupeOnly:  # the "ignores ordering" mistake, used for parts 2 and 3
        def __init__(self):
            self.state, self.seen, self.versions, self.held = {}, set(), {}, {}
            self.crash_point = lambda e: None

        def handle(self, event):
            if event.event_id not in self.seen:
                new = cart_reducer(self.state.get(event.key), event)
                self.crash_point(event)
                self.state[event.key] = new
                self.seen.add(event.event_id)

    got = passed_parts(dict(base, VersionedHandler=DedupeOnly, CrashSafeHandler=DedupeOnly))
    assert got == {"q1_dedupe": True, "q2_versioned": False, "q3_atomic": False, "q4_bounded": True}


def test_dedupe_not_atomic_with_the_state_change_loses_part_3(base):
    class NotAtomic(base["VersionedHandler"]):
        def __init__(self):
            super().__init__()
            self.crash_point = lambda e: None

        def _apply(self, event):
            self.state[event.key] = cart_reducer(self.state.get(event.key), event)
            self.crash_point(event)
            self.versions[event.key] = event.version

    got = passed_parts(dict(base, CrashSafeHandler=NotAtomic))
    assert got == {"q1_dedupe": True, "q2_versioned": True, "q3_atomic": False, "q4_bounded": True}


def test_unbounded_memory_loses_part_4(base):
    class Unbounded:
        def __init__(self, capacity, ttl_ms):
            self.keys = OrderedDict()

        def seen(self, key, now):
            return key in self.keys

        def add(self, key, now):
            self.keys[key] = now

        def __len__(self):
            return len(self.keys)

    got = passed_parts(dict(base, BoundedKeyStore=Unbounded))
    assert got == {"q1_dedupe": True, "q2_versioned": True, "q3_atomic": True, "q4_bounded": False}


def test_feedback_names_the_problem(base):
    class Doubler:
        def __init__(self):
            self.state, self.seen = {}, set()

        def handle(self, event):
            self.state[event.key] = cart_reducer(self.state.get(event.key), event)

    load_lab_checks(LAB, hidden=True)
    outcomes = [run_check(c, dict(base, DedupeHandler=Doubler)) for c in checks_for(LAB, "q1_dedupe")]
    failed = [o for o in outcomes if not o.passed]
    assert failed and "expected 2" in failed[0].message


def _crash_safe_on(base, versioned):
    """Re-run the solution's CrashSafeHandler cell on top of another VersionedHandler, as a notebook would."""
    nb = nbformat.read(ROOT / "solutions" / f"{LAB}.ipynb", as_version=4)
    cell = next(c.source for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") == "q3_atomic")
    ns = dict(base, VersionedHandler=versioned)
    exec(cell, ns)
    return ns


def test_a_drain_of_one_held_event_per_delivery_loses_part_2_only(base):
    """Issue 16 §2: duplicates used to hide this drain (each redelivery drained one more); the schedules without
    duplicates and the exhaustive check of every order of five events catch it, and part 3 keeps its points."""
    class OnePerDelivery(base["VersionedHandler"]):
        def handle(self, event):
            last = self.versions.get(event.key, 0)
            if event.version > last + 1:
                self.held.setdefault(event.key, {})[event.version] = event
            elif event.version == last + 1:
                self._apply(event)
            waiting = self.held.get(event.key, {})
            nxt = self.versions.get(event.key, 0) + 1
            if nxt in waiting:  # the bug: one held event per delivery, not all that are ready
                self._apply(waiting.pop(nxt))

    ns = _crash_safe_on(base, OnePerDelivery)
    assert passed_parts(ns) == {"q1_dedupe": True, "q2_versioned": False, "q3_atomic": True, "q4_bounded": True}
    load_lab_checks(LAB, hidden=True)
    failed = {c.name: run_check(c, ns, time_limit=60) for c in checks_for(LAB, "q2_versioned", include_hidden=True)}
    assert not failed["lab01_hidden_versions_reordered_without_duplicates"].passed
    assert not failed["lab01_hidden_every_delivery_order_of_five_events"].passed
    assert "each version once" in failed["lab01_hidden_every_delivery_order_of_five_events"].message


def test_part_3_is_checked_on_a_correct_part_2_and_names_a_broken_one(base):
    class ForgetsToDrain(base["VersionedHandler"]):
        def handle(self, event):  # holds early events and never applies them
            last = self.versions.get(event.key, 0)
            if event.version > last + 1:
                self.held.setdefault(event.key, {})[event.version] = event
            elif event.version == last + 1:
                self._apply(event)

    ns = _crash_safe_on(base, ForgetsToDrain)
    assert passed_parts(ns) == {"q1_dedupe": True, "q2_versioned": False, "q3_atomic": True, "q4_bounded": True}
    load_lab_checks(LAB, hidden=True)
    notes = [o.message for o in (run_check(c, ns, time_limit=60)
                                 for c in checks_for(LAB, "q3_atomic", include_hidden=True)) if o.message]
    assert notes and all("your q2_versioned (versions), which has a bug: see q2_versioned" in n for n in notes), notes


def test_a_hold_buffer_kept_only_in_memory_loses_the_crash_part(base):
    """Issue 16 §2: a restart loses the process's memory and resumes at the committed offset, so held events
    that live only in memory are gone; the old harness redelivered to the same object and hid this."""
    class BufferInMemory(base["CrashSafeHandler"]):
        def __init__(self):
            super().__init__()
            self.durable = ("state", "versions")

    got = passed_parts(dict(base, CrashSafeHandler=BufferInMemory))
    assert got == {"q1_dedupe": True, "q2_versioned": True, "q3_atomic": False, "q4_bounded": True}
    load_lab_checks(LAB, hidden=True)
    chk = next(c for c in checks_for(LAB, "q3_atomic", include_hidden=True)
               if c.name == "lab01_hidden_restart_keeps_only_the_database")
    outcome = run_check(chk, dict(base, CrashSafeHandler=BufferInMemory), time_limit=60)
    assert not outcome.passed and "memory is lost" in outcome.message, outcome.message


def test_the_consumer_restarts_with_only_the_durable_attributes():
    from consistency_lab.grading.labs._handler_checks import consume
    from consistency_lab.patterns.delivery import RecordingCrashPoint, cart_events

    made = []

    class Probe:
        def __init__(self):
            self.state, self.versions, self.scratch, self.seen = {}, {}, [], []
            made.append(self)

        def handle(self, event):
            self.seen.append(event.event_id)
            self.scratch.append(event.event_id)
            self.crash_point(event)
            self.state[event.event_id] = True

    events = cart_events(0, carts=1, events_per_cart=4)
    handler, restarts = consume(Probe, events, RecordingCrashPoint([events[2].event_id]))
    assert restarts == 1 and len(made) == 2
    assert handler.seen == [events[2].event_id, events[3].event_id], "resumes at the crashed delivery, not at 0"
    assert set(handler.state) == {e.event_id for e in events}, "state and versions survive"
    assert handler.scratch == handler.seen, "everything else is lost"
