"""Hidden checks of lab 03, ``lab03_crdts`` (only the grader imports this module).

Merge laws as property tests on the student's classes (hypothesis, derandomised, a modest number
of examples, no database, so every grading run draws the same cases), convergence under
duplication, reordering and partitions over several seeds, memory after many add/remove cycles
on three replicas, and RGA sessions replayed in many causal orders against a reference.
Each part is checked against reference implementations of the *other* parts (defined here), so
a bug in one part costs that part only. Function names carry the ``l03h_`` prefix so the
release's leak scan can find them.
"""

from __future__ import annotations

import copy
import random
from collections import Counter
from typing import Any, Callable

from hypothesis import HealthCheck, Verbosity, given, settings
from hypothesis import strategies as st

from consistency_lab.grading import check_for
from consistency_lab.grading.labs._lab03_world import (Delete, Insert, TinyNet, causal_order, is_delete, is_insert,
                                                       state_size)
from consistency_lab.grading.labs._off_limits import assert_own_work
from consistency_lab.grading.labs.lab03 import LAB

#: Same examples on every run and machine; no .hypothesis folder in the student's directory.
PROPERTY = settings(max_examples=40, derandomize=True, database=None, deadline=None, verbosity=Verbosity.quiet,
                    suppress_health_check=list(HealthCheck), print_blob=False,
                    report_multiple_bugs=False)
REPLICAS = ("a", "b", "c")


# -- reference implementations (for the parts a check is not about) -------------------------------

class _RefPN:
    """Reference PN-Counter: two maps of per-replica totals, merged by max."""

    def __init__(self, replica: str) -> None:
        self.replica, self.p, self.n = replica, {}, {}

    def increment(self, k: int = 1) -> None:
        self.p[self.replica] = self.p.get(self.replica, 0) + k

    def decrement(self, k: int = 1) -> None:
        self.n[self.replica] = self.n.get(self.replica, 0) + k

    def value(self) -> int:
        return sum(self.p.values()) - sum(self.n.values())

    def merge(self, other: "_RefPN") -> None:
        for mine, theirs in ((self.p, other.p), (self.n, other.n)):
            for r, c in theirs.items():
                mine[r] = max(mine.get(r, 0), c)


class _RefORSet:
    """Reference add-wins OR-Set with a version-vector clock and no tombstones."""

    def __init__(self, replica: str) -> None:
        self.replica, self.clock, self.entries = replica, {}, {}

    def add(self, x: Any) -> None:
        self.clock[self.replica] = self.clock.get(self.replica, 0) + 1
        self.entries[x] = {(self.replica, self.clock[self.replica])}

    def remove(self, x: Any) -> None:
        self.entries.pop(x, None)

    def value(self) -> frozenset:
        return frozenset(self.entries)

    def merge(self, other: "_RefORSet") -> None:
        out = {}
        for x in set(self.entries) | set(other.entries):
            mine, theirs = self.entries.get(x, set()), other.entries.get(x, set())
            keep = (mine & theirs) | {d for d in mine - theirs if d[1] > other.clock.get(d[0], 0)} \
                | {d for d in theirs - mine if d[1] > self.clock.get(d[0], 0)}
            if keep:
                out[x] = keep
        self.entries = out
        for r, c in other.clock.items():
            self.clock[r] = max(self.clock.get(r, 0), c)


class _RefRGA:
    """Reference RGA: a list of [id, char, deleted]; concurrent inserts after one element, larger id first.

    It makes its operations with ``ops`` (the student's Insert and Delete classes: the grader
    re-imports the world module, so the classes the student's code tests against are theirs).
    """

    def __init__(self, replica: str, ops: tuple = (Insert, Delete)) -> None:
        self.replica, self.counter, self.elements = replica, 0, []
        self.make_insert, self.make_delete = ops

    def text(self) -> str:
        return "".join(ch for _, ch, dead in self.elements if not dead)

    def _visible(self) -> list:
        return [e for e in self.elements if not e[2]]

    def insert(self, index: int, char: str) -> Any:
        visible = self._visible()
        op = self.make_insert((self.counter + 1, self.replica), visible[index - 1][0] if index else None, char)
        self.apply(op)
        return op

    def delete(self, index: int) -> Any:
        op = self.make_delete(self._visible()[index][0])
        self.apply(op)
        return op

    def apply(self, op: Any) -> None:
        if is_delete(op):
            next(e for e in self.elements if e[0] == op.target)[2] = True
            return
        if any(e[0] == op.id for e in self.elements):
            return
        self.counter = max(self.counter, op.id[0])
        i = 0 if op.after is None else 1 + next(k for k, e in enumerate(self.elements) if e[0] == op.after)
        while i < len(self.elements) and self.elements[i][0] > op.id:
            i += 1
        self.elements.insert(i, [op.id, op.char, False])


def _op_classes(ns: Any) -> tuple:
    """The Insert and Delete classes the student's code knows (the world module's when it has none)."""
    return ns.get("Insert", Insert), ns.get("Delete", Delete)


def _ref_gossip(replicas: list, net: TinyNet, rounds: int) -> None:
    """The reference gossip loop: everyone sends to everyone, then every delivery is merged."""
    for _ in range(rounds):
        for i, r in enumerate(replicas):
            for j in range(len(replicas)):
                if i != j:
                    net.send(i, j, r)
        for j, state in net.deliver():
            replicas[j].merge(state)


def _merged(a: Any, b: Any) -> Any:
    out = copy.deepcopy(a)
    out.merge(copy.deepcopy(b))
    return out


def _describe(steps: list) -> str:
    words = []
    for who, what, arg in steps:
        name = REPLICAS[who]
        words.append(f"{name}.merge({REPLICAS[arg]})" if what == "merge" else f"{name}.{what}({arg!r})")
    return ", ".join(words) or "(nothing)"


# -- part 1 ----------------------------------------------------------------------------------------

def _steps(verbs: list, args: Any) -> Any:
    """Up to 25 steps on three replicas: (replica, verb, argument) or (replica, "merge", other replica)."""
    local = st.tuples(st.integers(0, 2), st.sampled_from(verbs), args)
    merge = st.tuples(st.integers(0, 2), st.just("merge"), st.integers(0, 2))
    return st.lists(st.one_of(local, merge), max_size=25)


def _run_counter_steps(make: Callable[[str], Any], steps: list) -> tuple[list, int]:
    replicas = [make(r) for r in REPLICAS]
    total = 0
    for who, what, arg in steps:
        if what == "merge":
            replicas[who].merge(copy.deepcopy(replicas[arg]))
        else:
            getattr(replicas[who], what)(arg)
            total += arg if what == "increment" else -arg
    return replicas, total


def _check_laws(replicas: list, steps: list, read: Callable[[Any], Any], what: str) -> None:
    a, b, c = replicas
    ops = _describe(steps)
    ab, ba = _merged(a, b), _merged(b, a)
    assert read(ab) == read(ba), f"{what} merge is not commutative: after {ops}, a.merge(b) reads {read(ab)!r} " \
                                 f"but b.merge(a) reads {read(ba)!r}"
    left, right = _merged(ab, c), _merged(a, _merged(b, c))
    assert read(left) == read(right), f"{what} merge is not associative: after {ops}, (a + b) + c reads " \
                                      f"{read(left)!r} but a + (b + c) reads {read(right)!r}"
    aa = _merged(a, a)
    assert read(aa) == read(a), f"{what} merge is not idempotent: after {ops}, a reads {read(a)!r} but a.merge(a) " \
                                f"reads {read(aa)!r}: a state that arrives twice must count once"
    abb = _merged(ab, b)
    assert read(abb) == read(ab), f"{what} merge is not idempotent: after {ops}, a.merge(b) reads {read(ab)!r} and " \
                                  f"merging b into it a second time reads {read(abb)!r}: a state that arrives " \
                                  "twice must count once"


@check_for(lab=LAB, grade_id="q1_counter", points=25, public=False,
           hint="Merge must be commutative, associative and idempotent: take the maximum per replica entry.")
def l03h_gcounter_merge_laws(ns):
    """G-Counter merge is commutative, associative and idempotent on random histories"""
    @PROPERTY
    @given(_steps(["increment"], st.integers(0, 5)))
    def laws(steps):
        replicas, total = _run_counter_steps(ns.GCounter, steps)
        _check_laws(replicas, steps, lambda x: x.value(), "G-Counter")
        everything = _merged(_merged(replicas[0], replicas[1]), replicas[2])
        assert everything.value() == total, f"after {_describe(steps)}, merging all three replicas reads " \
                                            f"{everything.value()!r}; {total} was added in total"

    laws()


@check_for(lab=LAB, grade_id="q1_counter", points=25, public=False,
           hint="Once everything is merged, the value is all increments minus all decrements, however the "
                "merges went.")
def l03h_pncounter_merge_laws_and_totals(ns):
    """PN-Counter merge obeys the laws and every replica converges to increments minus decrements"""
    @PROPERTY
    @given(_steps(["increment", "decrement"], st.integers(0, 5)))
    def laws(steps):
        replicas, total = _run_counter_steps(ns.PNCounter, steps)
        _check_laws(replicas, steps, lambda x: x.value(), "PN-Counter")
        everything = _merged(_merged(replicas[0], replicas[1]), replicas[2])
        assert everything.value() == total, f"after {_describe(steps)}, merging all three replicas reads " \
                                            f"{everything.value()!r}; the increments minus decrements are {total}"

    laws()


@check_for(lab=LAB, grade_id="q1_counter", points=25, public=False,
           hint="Duplicated and delayed states must not change the total: merge by max per replica.")
def l03h_pncounter_converges_over_a_faulty_network(ns):
    """PN-Counters gossiped over a duplicating, reordering, partitioned network converge to the true total"""
    for seed in range(8):
        rng = random.Random(300 + seed)
        replicas = [ns.PNCounter(r) for r in REPLICAS]
        net = TinyNet(seed=300 + seed, duplicate=0.5, delay=0.5)
        total = 0
        for phase in range(3):
            if phase == 1:
                net.cut({0}, {1, 2})
            for _ in range(6):
                who, k = rng.randrange(3), rng.randint(1, 4)
                if rng.random() < 0.5:
                    replicas[who].increment(k)
                    total += k
                else:
                    replicas[who].decrement(k)
                    total -= k
            _ref_gossip(replicas, net, 3)
            net.heal()
        _ref_gossip(replicas, net, 6)
        got = [r.value() for r in replicas]
        assert got == [total] * 3, f"seed {seed}: after gossip with duplicates, delays and a healed cut the " \
                                   f"replicas read {got}; the true total is {total}"


# -- part 2 ----------------------------------------------------------------------------------------

class _SpecSet:
    """The add-wins specification: each add has a tag; a remove cancels the tags its replica has seen."""

    def __init__(self) -> None:
        self.seen = [set(), set(), set()]       # per replica: tags of adds it knows of
        self.cancelled = [set(), set(), set()]  # per replica: tags it knows were removed
        self.tags = 0

    def add(self, who: int, x: Any) -> None:
        self.tags += 1
        self.seen[who].add((x, self.tags))

    def remove(self, who: int, x: Any) -> None:
        self.cancelled[who] |= {t for t in self.seen[who] if t[0] == x}

    def merge(self, who: int, other: int) -> None:
        self.seen[who] |= self.seen[other]
        self.cancelled[who] |= self.cancelled[other]

    def value(self, who: int) -> frozenset:
        return frozenset(x for x, t in self.seen[who] - self.cancelled[who])


@check_for(lab=LAB, grade_id="q2_orset", points=30, public=False,
           hint="Every replica must hold exactly the elements with an add that no remove on that replica has seen.")
def l03h_orset_matches_add_wins_and_merge_laws(ns):
    """OR-Set: every replica matches the add-wins specification after every step, and merge obeys the laws"""
    @PROPERTY
    @given(_steps(["add", "remove"], st.sampled_from(["x", "y", "z", 0, 1])))
    def laws(steps):
        replicas, spec = [ns.ORSet(r) for r in REPLICAS], _SpecSet()
        for n, (who, what, arg) in enumerate(steps):
            if what == "merge":
                replicas[who].merge(copy.deepcopy(replicas[arg]))
                spec.merge(who, arg)
            else:
                getattr(replicas[who], what)(arg)
                getattr(spec, what)(who, arg)
            got, want = replicas[who].value(), spec.value(who)
            assert set(got) == set(want), f"after {_describe(steps[:n + 1])}, {REPLICAS[who]} holds " \
                                          f"{sorted(got, key=repr)}; add-wins says {sorted(want, key=repr)}"
        _check_laws(replicas, steps, lambda s: frozenset(s.value()), "OR-Set")

    laws()


@check_for(lab=LAB, grade_id="q2_orset", points=30, public=False,
           hint="Delayed and duplicated states must neither resurrect a removed element nor lose a concurrent add.")
def l03h_orset_converges_over_a_faulty_network(ns):
    """OR-Sets gossiped with duplicates, delays and a partition converge to the add-wins result"""
    for seed in range(6):
        rng = random.Random(400 + seed)
        replicas, ref = [ns.ORSet(r) for r in REPLICAS], [_RefORSet(r) for r in REPLICAS]
        net, ref_net = TinyNet(seed=400 + seed, duplicate=0.5, delay=0.5), TinyNet(seed=400 + seed, duplicate=0.5,
                                                                                   delay=0.5)
        for phase in range(3):
            if phase == 1:
                net.cut({0, 1}, {2})
                ref_net.cut({0, 1}, {2})
            for _ in range(8):
                who, x, verb = rng.randrange(3), rng.choice("pqrs"), rng.choice(["add", "add", "remove"])
                getattr(replicas[who], verb)(x)
                getattr(ref[who], verb)(x)
            _ref_gossip(replicas, net, 3)
            _ref_gossip(ref, ref_net, 3)
            net.heal()
            ref_net.heal()
        _ref_gossip(replicas, net, 6)
        _ref_gossip(ref, ref_net, 6)
        got, want = [sorted(r.value()) for r in replicas], sorted(ref[0].value())
        assert got == [want] * 3, f"seed {seed}: after gossip with a healed partition the replicas hold {got}; " \
                                  f"add-wins gives {want} on every replica"


@check_for(lab=LAB, grade_id="q2_orset", points=30, public=False,
           hint="Drop the dots of a removed element; keep only one counter per replica in the clock.")
def l03h_orset_memory_flat_on_three_replicas(ns):
    """memory stays flat over 600 add/remove cycles spread over three replicas that merge in rings"""
    replicas = [ns.ORSet(r) for r in REPLICAS]
    first = None
    for i in range(600):
        x = ("item", i % 97, i)
        replicas[i % 3].add(x)
        replicas[(i + 1) % 3].merge(copy.deepcopy(replicas[i % 3]))
        replicas[(i + 1) % 3].remove(x)
        for j in range(3):
            replicas[j].merge(copy.deepcopy(replicas[(j + 1) % 3]))
            replicas[j].merge(copy.deepcopy(replicas[(j + 2) % 3]))
        if (i + 1) % 30 == 0:  # measured every 30 cycles, so a growing state fails early (and fast)
            size = max(state_size(r) for r in replicas)
            first = size if first is None else first
            assert size <= first + 12, f"after 30 cycles a replica holds {first} entries, after {i + 1} it holds " \
                                       f"{size}: removed elements still take memory"
    assert all(not r.value() for r in replicas), "every element was removed, yet some replica still holds some"


# -- part 3 ----------------------------------------------------------------------------------------

def _session(seed: int, ops: tuple, steps: int = 40) -> tuple[list, list[_RefRGA]]:
    """Three reference editors typing and deleting, exchanging ops now and then; returns (ops, editors)."""
    rng = random.Random(seed)
    editors = [_RefRGA(r, ops) for r in REPLICAS]
    log: list = []
    delivered = [0, 0, 0]
    for step in range(steps):
        who = rng.randrange(3)
        ed = editors[who]
        n = len(ed.text())
        if n and rng.random() < 0.3:
            op = ed.delete(rng.randrange(n))
        else:
            op = ed.insert(rng.randint(0, n), chr(ord("a") + step % 26))
        log.append(op)
        if rng.random() < 0.3:  # this editor catches up with everything so far
            for old in log[delivered[who]:]:
                ed.apply(old)
            delivered[who] = len(log)
    return log, editors


@check_for(lab=LAB, grade_id="q3_rga", points=35, public=False,
           hint="The final text must not depend on the order ops arrive in (only on the ops): larger id first.")
def l03h_rga_replays_sessions_in_any_causal_order(ns):
    """ops of random three-editor sessions, applied in many causal orders with duplicates, give the reference text"""
    for seed in range(12):
        log, _ = _session(500 + seed, _op_classes(ns))
        reference = _RefRGA("z")
        for op in log:
            reference.apply(op)
        for k in range(3):
            mine = ns.RGA(f"r{k}")
            for op in causal_order(log, seed=1000 * seed + k, duplicate=0.3):
                mine.apply(op)
            assert mine.text() == reference.text(), \
                f"session {seed}, delivery order {k}: your replica reads {mine.text()!r}, the same ops in another " \
                f"order read {reference.text()!r}"


@check_for(lab=LAB, grade_id="q3_rga", points=35, public=False,
           hint="A deleted character is hidden, not removed: later inserts may still refer to it.")
def l03h_rga_editors_converge_and_keep_characters(ns):
    """three editors using your insert and delete converge and keep every character not deleted"""
    for seed in range(10):
        rng = random.Random(600 + seed)
        editors = [ns.RGA(r) for r in REPLICAS]
        log: list = []
        caught_up = [0, 0, 0]
        for step in range(30):
            who = rng.randrange(3)
            ed = editors[who]
            n = len(ed.text())
            if n and rng.random() < 0.25:
                log.append(ed.delete(rng.randrange(n)))
            else:
                log.append(ed.insert(rng.randint(0, n), chr(ord("A") + step % 26)))
            if rng.random() < 0.25:
                for op in log[caught_up[who]:]:
                    ed.apply(op)
                caught_up[who] = len(log)
        for k, ed in enumerate(editors):
            for op in causal_order(log, seed=seed * 7 + k, duplicate=0.2):
                ed.apply(op)
        texts = [ed.text() for ed in editors]
        assert len(set(texts)) == 1, f"session {seed}: after every op reached every editor they read {texts}"
        inserted = Counter(op.char for op in log if is_insert(op))
        deleted_ids = {op.target for op in log if is_delete(op)}
        dead = Counter(op.char for op in log if is_insert(op) and op.id in deleted_ids)
        assert Counter(texts[0]) == inserted - dead, \
            f"session {seed}: the text {texts[0]!r} does not hold exactly the characters inserted and not deleted"


@check_for(lab=LAB, grade_id="q3_rga", points=35, public=False,
           hint="Deleting the same character on two replicas at once, or twice, must hide it once and nothing else.")
def l03h_rga_concurrent_deletes_and_inserts_next_to_deleted(ns):
    """concurrent deletes of one character, and inserts next to a deleted one, converge"""
    a = ns.RGA("a")
    ops = [a.insert(i, ch) for i, ch in enumerate("abc")]
    b = ns.RGA("b")
    for op in ops:
        b.apply(op)
    da, db = a.delete(1), b.delete(1)
    ins = b.insert(1, "X")   # next to the deleted 'b', on b's side
    for op in (db, ins, db):
        a.apply(op)
    b.apply(da)
    assert a.text() == b.text() == "aXc", f"both deleted 'b' of 'abc' and b typed 'X' in its place: a reads " \
                                          f"{a.text()!r}, b reads {b.text()!r}; expected 'aXc'"


# -- part 4 ----------------------------------------------------------------------------------------

@check_for(lab=LAB, grade_id="q4_gossip", points=10, public=False,
           hint="Gossip must keep every replica sending every round, so a healed cut is repaired within a few rounds.")
def l03h_gossip_converges_reference_types_across_seeds(ns):
    """your gossip brings reference counters and sets to the right values across seeds, cuts and heals"""
    for seed in range(6):
        rng = random.Random(700 + seed)
        counters, sets = [_RefPN(r) for r in REPLICAS], [_RefORSet(r) for r in REPLICAS]
        nets = [TinyNet(seed=700 + seed, duplicate=0.5, delay=0.6), TinyNet(seed=800 + seed, duplicate=0.5,
                                                                            delay=0.6)]
        total, ever = 0, set()
        for phase in range(2):
            for net in nets:
                net.cut({0}, {1, 2}) if phase == 0 else net.heal()
            for _ in range(5):
                who, k = rng.randrange(3), rng.randint(1, 3)
                counters[who].increment(k)
                total += k
                x = rng.choice("uvw")
                sets[who].add(x) if rng.random() < 0.6 else sets[who].remove(x)
                ever.add(x)
            ns.gossip(counters, nets[0], 4)
            ns.gossip(sets, nets[1], 4)
        ns.gossip(counters, nets[0], 4)
        ns.gossip(sets, nets[1], 4)
        assert [c.value() for c in counters] == [total] * 3, \
            f"seed {seed}: counters read {[c.value() for c in counters]} after gossip; the total is {total}"
        held = [sorted(s.value()) for s in sets]
        assert all(h == held[0] for h in held), f"seed {seed}: 8 rounds after the cut healed the sets hold {held}"


# -- the package's own CRDTs are off limits ----------------------------------------------------------
# consistency_lab.crdt ships with the course (chapter 04 uses it); wrapping it is not building a CRDT.
_COURSE_CRDTS = ("consistency_lab.crdt", "pycrdt", "consistency_lab.real")


@check_for(lab=LAB, grade_id="q1_counter", points=25, public=False,
           hint="Build the counters from plain dicts; the course package's CRDTs are off limits in this lab.")
def l03h_counters_are_your_own(ns):
    """GCounter and PNCounter do not wrap or import the course package's CRDTs"""
    assert_own_work(ns, ["GCounter", "PNCounter"], _COURSE_CRDTS, "CRDTs (consistency_lab.crdt)", lambda c: c("a"))


@check_for(lab=LAB, grade_id="q2_orset", points=30, public=False,
           hint="Build the set from dots and a clock yourself; the course package's CRDTs are off limits in this lab.")
def l03h_orset_is_your_own(ns):
    """ORSet does not wrap or import the course package's CRDTs"""
    assert_own_work(ns, ["ORSet"], _COURSE_CRDTS, "CRDTs (consistency_lab.crdt)", lambda c: c("a"))


@check_for(lab=LAB, grade_id="q3_rga", points=35, public=False,
           hint="Build RGA on its list of elements yourself; the course package's RGA is off limits in this lab.")
def l03h_rga_is_your_own(ns):
    """RGA does not wrap or import the course package's CRDTs"""
    assert_own_work(ns, ["RGA"], _COURSE_CRDTS, "CRDTs (consistency_lab.crdt)", lambda c: c("a"))
