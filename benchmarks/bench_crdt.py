"""CRDT speed: merge throughput against state size, and RGA against pycrdt (Yrs) on the same edits.

Run: ``python benchmarks/bench_crdt.py``.  Three parts, each as ratios measured in the same run:

1. **Merge** ``a.merge(b)`` for every type at 10 / 100 / 1,000 / 10,000 entries (the two
   states share half their entries), against the floor of touching the same entries in
   plain Python (a dict or set union of the same items in C).
2. **RGA per insert against document length**: 2,000 single-character inserts at random
   positions into a document of L characters, locally (``insert``) and on a second replica
   (``apply`` of the ops), against ``pycrdt.Text.insert`` at the same positions and
   ``Doc.apply_update`` of each insert's update on a second document.
3. **One editing session** (5,000 edits: typing at a wandering cursor, some deletes) through
   RGA and through pycrdt, locally and replicated; both must end with the same text.

pycrdt is the Rust CRDT (Yrs) behind a Python binding: each call crosses into Rust and opens a
transaction, so per-call overhead, not the algorithm, dominates small documents.  ASCII only,
because pycrdt 0.14 counts indices in UTF-8 bytes (see consistency_lab.real.pycrdt_docs).
"""

from __future__ import annotations

import random
import sys
import time
from pathlib import Path
from typing import Callable

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from _timing import table  # noqa: E402

from consistency_lab.crdt import (RGA, GCounter, GSet, LWWMap, LWWRegister, MVRegister, ORSet,  # noqa: E402
                                  PNCounter, TwoPSet)

SIZES = (10, 100, 1_000, 10_000)
INSERTS = 2_000
LENGTHS = (100, 1_000, 10_000, 50_000)
SESSION_EDITS = 5_000


def best(fn: Callable[[], object], repeat: int = 3) -> float:
    """Fastest of ``repeat`` calls, in seconds (``fn`` does its own setup outside the timed part)."""
    times = []
    for _ in range(repeat):
        times.append(fn())
    return min(times)  # type: ignore[type-var]


def timed(fn: Callable[[], object], calls: int) -> float:
    """Seconds for ``calls`` calls of ``fn``, best of three."""
    def once() -> float:
        t0 = time.perf_counter()
        for _ in range(calls):
            fn()
        return time.perf_counter() - t0
    return best(once)


# -- 1. merge --------------------------------------------------------------------------------
def pair(kind: str, n: int):
    """Two replicas of ``kind`` with about ``n`` entries each, half of them shared."""
    half = n // 2
    if kind in ("gcounter", "pncounter"):
        cls = GCounter if kind == "gcounter" else PNCounter
        a, b = cls("a"), cls("b")
        for i in range(n):  # n replicas' entries: each replica incremented once, joined in
            r = cls(f"r{i}")
            r.increment(1 + i % 3)
            if kind == "pncounter":
                r.decrement(1)
            (a if i < half else b).merge_in(r)
            if half // 2 <= i < half + half // 2:
                (b if i < half else a).merge_in(r)
        return a, b
    if kind in ("gset", "twopset", "orset"):
        cls = {"gset": GSet, "twopset": TwoPSet, "orset": ORSet}[kind]
        a, b = cls("a"), cls("b")
        for i in range(n):
            a.add(i)
        b.merge_in(a)
        for i in range(half):
            b.add(n + i)
            if kind != "gset":
                b.remove(i)
        return a, b
    if kind == "lwwmap":
        a, b = LWWMap("a"), LWWMap("b")
        for i in range(n):
            a.set(i, i, float(i))
        b.merge_in(a)
        for i in range(half):
            b.set(i, -i, float(n + i))
        return a, b
    if kind == "lwwregister":
        a, b = LWWRegister("a"), LWWRegister("b")
        a.set("x", 1.0)
        b.set("y", 2.0)
        return a, b
    if kind == "mvregister":  # n concurrent writers, half seen by both
        a, b = MVRegister("a"), MVRegister("b")
        for i in range(n):
            r = MVRegister(f"w{i}")
            r.set(i)
            (a if i % 2 else b).merge_in(r)
            if i % 4 == 0:
                a.merge_in(r)
        return a, b
    a, b = RGA("a"), RGA("b")  # rga
    rng = random.Random(n)
    for op in a.insert_text(0, "x" * n):
        b.apply(op)
    for _ in range(max(1, n // 10)):  # concurrent edits on both sides
        a.insert(rng.randrange(len(a) + 1), "a")
        b.insert(rng.randrange(len(b) + 1), "b")
    return a, b


def merge_rows() -> list[tuple]:
    """µs per merge for every type and size, and the ratio to a plain-Python union of as many items."""
    rows = []
    kinds = ["gcounter", "pncounter", "gset", "twopset", "orset", "lwwregister", "mvregister", "lwwmap", "rga"]
    for kind in kinds:
        for n in SIZES:
            if kind == "lwwregister" and n != SIZES[0]:
                continue  # one entry whatever the workload
            if kind == "mvregister" and n > 1_000:
                continue  # the join compares every pair of concurrent values: O(n^2), 10^4 writers is not a register
            a, b = pair(kind, n)
            calls = max(3, 20_000 // max(n, 1))
            seconds = timed(lambda: a.merge(b), calls) / calls
            items_a = {i: i for i in range(a.state_size())}
            items_b = {i + a.state_size() // 2: i for i in range(b.state_size())}
            base = timed(lambda: items_a | items_b, calls) / calls
            entries = a.merge(b).state_size()
            rows.append((kind, n, entries, f"{seconds * 1e6:,.1f}", f"{1 / seconds:,.0f}",
                         f"{seconds / max(entries, 1) * 1e9:,.0f}", f"{seconds / base:,.1f}x"))
    return rows


# -- 2. RGA per insert against document length --------------------------------------------------
def pycrdt_doc(client_id: int, initial: bytes | None = None):
    """A pycrdt Doc and its Text."""
    from pycrdt import Doc, Text
    doc = Doc(client_id=client_id)
    text = doc.get("text", type=Text)
    if initial is not None:
        doc.apply_update(initial)
    return doc, text


def insert_rows() -> list[tuple]:
    """µs per insert: RGA local and remote, pycrdt local and remote, for each document length."""
    rows = []
    for length in LENGTHS:
        rng = random.Random(length)
        positions = [rng.randrange(length + i + 1) for i in range(INSERTS)]

        def rga_local() -> tuple[float, list]:
            doc = RGA("a")
            base = doc.insert_text(0, "x" * length)
            t0 = time.perf_counter()
            ops = [doc.insert(p, "b") for p in positions]
            return time.perf_counter() - t0, base + ops

        local = min(rga_local()[0] for _ in range(3))
        _, all_ops = rga_local()
        base_ops, ops = all_ops[:length], all_ops[length:]

        def rga_remote() -> float:
            doc = RGA("z")
            for op in base_ops:
                doc.apply(op)
            t0 = time.perf_counter()
            for op in ops:
                doc.apply(op)
            return time.perf_counter() - t0

        remote = best(rga_remote)

        def py_local(collect: bool = False) -> tuple[float, list]:
            doc, text = pycrdt_doc(1)
            text.insert(0, "x" * length)
            updates = []
            t0 = time.perf_counter()
            for p in positions:
                if collect:
                    before = doc.get_state()
                    text.insert(p, "b")
                    updates.append(doc.get_update(before))
                else:
                    text.insert(p, "b")
            return time.perf_counter() - t0, [doc.get_update()] + updates

        py = min(py_local()[0] for _ in range(3))
        py_with_update = min(py_local(True)[0] for _ in range(3))
        _, updates = py_local(True)
        from pycrdt import Doc, Text  # noqa: F401 - the start state for the remote side
        start_doc, start_text = pycrdt_doc(1)
        start_text.insert(0, "x" * length)
        start = start_doc.get_update()

        def py_remote() -> float:
            doc, _ = pycrdt_doc(2, start)
            t0 = time.perf_counter()
            for u in updates[1:]:
                doc.apply_update(u)
            return time.perf_counter() - t0

        py_rem = best(py_remote)
        us = lambda s: f"{s / INSERTS * 1e6:,.1f}"
        rows.append((length, us(local), us(py), f"{local / py:.2f}", us(py_with_update), us(remote), us(py_rem),
                     f"{remote / py_rem:.2f}"))
    return rows


# -- 3. one editing session ---------------------------------------------------------------------
def session(seed: int = 1) -> list[tuple[str, int, str]]:
    """A typing session: ("ins", index, char) at a wandering cursor, ("del", index, "") now and then."""
    rng = random.Random(seed)
    edits, length, cursor = [], 0, 0
    for _ in range(SESSION_EDITS):
        if rng.random() < 0.05:
            cursor = rng.randrange(length + 1)  # the user clicks somewhere else
        if length and rng.random() < 0.2:
            cursor = max(cursor - 1, 0) if cursor else 0
            if cursor < length:
                edits.append(("del", cursor, ""))
                length -= 1
                continue
        edits.append(("ins", cursor, rng.choice("abcdefghij ")))
        cursor += 1
        length += 1
    return edits


def session_rows() -> list[tuple]:
    """The session through RGA and pycrdt: local, and replicated to a second replica."""
    edits = session()

    def rga_run() -> tuple[float, float, str]:
        a, b = RGA("a"), RGA("b")
        t0 = time.perf_counter()
        ops = [a.insert(i, c) if kind == "ins" else a.delete(i) for kind, i, c in edits]
        local = time.perf_counter() - t0
        t0 = time.perf_counter()
        for op in ops:
            b.apply(op)
        return local, time.perf_counter() - t0, b.text()

    def py_run() -> tuple[float, float, str]:
        a, ta = pycrdt_doc(1)
        b, tb = pycrdt_doc(2)
        updates = []
        t0 = time.perf_counter()
        for kind, i, c in edits:
            before = a.get_state()
            if kind == "ins":
                ta.insert(i, c)
            else:
                del ta[i:i + 1]
            updates.append(a.get_update(before))
        local = time.perf_counter() - t0
        t0 = time.perf_counter()
        for u in updates:
            b.apply_update(u)
        return local, time.perf_counter() - t0, str(tb)

    rga = min((rga_run() for _ in range(3)), key=lambda r: r[0])
    py = min((py_run() for _ in range(3)), key=lambda r: r[0])
    assert rga[2] == py[2], "one writer: both must end with the same text"
    per = lambda s: f"{s / len(edits) * 1e6:,.1f}"
    return [("local edit (pycrdt: + get_update)", per(rga[0]), per(py[0]), f"{rga[0] / py[0]:.2f}"),
            ("apply on a second replica", per(rga[1]), per(py[1]), f"{rga[1] / py[1]:.2f}"),
            ("final length", len(rga[2]), len(py[2]), "")]


def main() -> None:
    """Print the three tables."""
    print("1. merge a.merge(b): both states share half their entries; baseline: dict union of as many items")
    print(table(merge_rows(), ("type", "size", "entries after", "us/merge", "merges/s", "ns/entry",
                               "vs dict union")))
    print(f"\n2. one-character inserts at random positions ({INSERTS} per length), us per insert")
    print(table(insert_rows(), ("doc length", "RGA local", "pycrdt local", "ratio", "pycrdt+update",
                                "RGA apply", "pycrdt apply_update", "ratio")))
    print(f"\n3. one editing session ({SESSION_EDITS} edits, wandering cursor, 20% deletes), us per edit")
    print(table(session_rows(), ("", "RGA", "pycrdt", "RGA/pycrdt")))


if __name__ == "__main__":
    main()
