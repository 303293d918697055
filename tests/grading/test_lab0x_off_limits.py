"""Labs 01 and 03: the course package's ready-made answers are off limits (hidden checks).

A class that wraps, inherits from or imports ``consistency_lab.crdt`` (lab 03) or
``consistency_lab.patterns.idempotency`` (lab 01) fails that part's hidden check; the
solutions, which use the lab's own world and plain Python, pass.
"""

import pytest

from consistency_lab.grading.checks import checks_for, load_lab_checks, run_check
from consistency_lab.grading.labs._off_limits import borrowed_from

WRAPPED_PN = '''
from consistency_lab.crdt import PNCounter as _CoursePN

class PNCounter:
    def __init__(self, replica):
        self.inner = _CoursePN(replica)

    def increment(self, n=1):
        self.inner.increment(n)

    def decrement(self, n=1):
        self.inner.decrement(n)

    def value(self):
        return self.inner.value()

    def merge(self, other):
        self.inner = self.inner.merge(other.inner)
'''

IMPORTS_INSIDE = '''
class ORSet:
    def __init__(self, replica):
        import consistency_lab.crdt as c
        self.inner = c.ORSet(replica)
'''

SUBCLASS = '''
import consistency_lab.crdt

class RGA(consistency_lab.crdt.RGA):
    pass
'''

OWN = '''
import copy
from collections import OrderedDict

class GCounter:
    def __init__(self, replica):
        self.replica, self.counts = replica, OrderedDict()

    def merge(self, other):
        for r, n in copy.deepcopy(other.counts).items():
            self.counts[r] = max(self.counts.get(r, 0), n)
'''

WRAPPED_DEDUPE = '''
from consistency_lab.patterns.idempotency import DedupeHandler as _Ready
from consistency_lab.scenarios.cart import cart_reducer

class DedupeHandler:
    def __init__(self):
        self._h = _Ready(cart_reducer)
        self.state = self._h.state

    def handle(self, event):
        return self._h.handle(event)
'''

CRDTS = ("consistency_lab.crdt",)


def definitions(source: str) -> dict:
    ns: dict = {"__name__": "student"}
    exec(source, ns)
    return ns


@pytest.mark.parametrize("source, name, words", [
    (WRAPPED_PN, "PNCounter", "_CoursePN from consistency_lab.crdt"),
    (IMPORTS_INSIDE, "ORSet", "imports consistency_lab.crdt"),
    (SUBCLASS, "RGA", "inherits from consistency_lab.crdt"),
])
def test_borrowing_the_course_crdts_is_found(source, name, words):
    cls = definitions(source)[name]
    found = borrowed_from(cls, CRDTS, lambda: cls("a"))
    assert any(words in f for f in found), found


def test_an_instance_holding_a_course_crdt_is_found():
    ns = definitions("import consistency_lab.crdt as kit\n\nclass G:\n    def __init__(self, make):\n"
                     "        self.parts = [make('a')]\n")
    from consistency_lab.crdt import GCounter
    found = borrowed_from(ns["G"], CRDTS, lambda: ns["G"](GCounter))
    assert found == ["its attribute parts holds a consistency_lab.crdt.counters.GCounter"], found


def test_plain_python_and_the_standard_library_are_fine():
    assert borrowed_from(definitions(OWN)["GCounter"], CRDTS, lambda: definitions(OWN)["GCounter"]("a")) == []


def _failed(lab: str, grade_id: str, ns: dict, suffix: str) -> list[str]:
    load_lab_checks(lab, hidden=True)
    chk = next(c for c in checks_for(lab, grade_id, include_hidden=True) if c.name.endswith(suffix))
    outcome = run_check(chk, ns, time_limit=30)
    return [] if outcome.passed else [outcome.message]


def test_lab03_hidden_check_fails_a_wrapped_course_counter():
    ns = definitions(WRAPPED_PN + "\nclass GCounter:\n    def __init__(self, replica):\n        self.counts = {}\n")
    failed = _failed("lab03_crdts", "q1_counter", ns, "counters_are_your_own")
    assert failed and "off limits" in failed[0] and "PNCounter" in failed[0], failed


def test_lab01_hidden_check_fails_a_wrapped_ready_made_handler():
    failed = _failed("lab01_idempotent_handlers", "q1_dedupe", definitions(WRAPPED_DEDUPE), "dedupe_is_your_own")
    assert failed and "consistency_lab.patterns.idempotency" in failed[0], failed
