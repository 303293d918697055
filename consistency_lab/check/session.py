"""Session guarantees (Terry et al., 1994), judged only from what clients observed.

Applies to register histories (``write``/``read``, successful ``cas`` counts as a
write) and key-value histories (``put``/``append``/``get``), where every written
value is unique per key, so a read tells us which write it saw.

Definitions used here (all operations with status "fail" are ignored; a read
counts only if it returned):

* **precedes**: real-time order, :func:`~consistency_lab.check._common.precedes`
  (a returned no later than b was called).  **Session order** of a client is
  real-time order restricted to that client's operations.
* **w' is older than w** (same key) when w' precedes w in real time, or w' is a
  completed write earlier in the same client's session.  Writes that overlap in time are
  unordered: the history cannot tell which one won.
* **a read r observes w** when it returned w's value; for an ``append`` key, when
  w's value is an element of the tuple returned.
* **r misses w** (same key) when r returned the initial value (``None``), or the
  value of a write older than w; for ``append``, when w's value is not in the
  tuple.  A returned value that no write wrote says nothing either way.  On a key
  that mixes ``put`` and ``append``, appends are not judged (a put wipes them).
  On an ``append`` key whose reads return strings (the ``kv`` model concatenates),
  nothing is judged: a concatenation does not reliably say which appends it holds.

Then, for reads and writes on the same key unless said otherwise:

* **read-your-writes**: after a client's write w completes, none of its later reads
  misses w.
* **monotonic reads**: if a client read r1 observed w, none of its later reads
  misses w.
* **monotonic writes**: if client c wrote w1 then w2 (session order, any keys) and a
  read r1 of any client observes w2, then neither r1 nor any later read r2 of that
  same reader on w1's key misses w1, nor (same key, non-append) observes w1 itself
  (that would mean w1 took effect after w2).
* **writes-follow-reads**: if client c read r0 observing w1 and later wrote w2
  (any keys), then as for monotonic writes: a reader that observed w2 must not
  afterwards miss w1 (nor observe w1 itself after w2 on the same key).

Limits, honestly: real-time order only approximates the store's version order, so
a store that legitimately orders two non-overlapping writes "backwards" (e.g.
last-writer-wins with skewed clocks) is reported as a violation of whichever
guarantee sees it; overlapping writes are never judged.  Terry's originals are
per-server; we cannot see servers, so the monotonic-writes and
writes-follow-reads checks also flag a reader that moved to a server lacking w1.
These checks order writes by real time, which sequential consistency does not
require, so a sequentially consistent history can fail them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Iterable

from consistency_lab.history import History, Operation

from ._accesses import Access, access, hashable
from ._common import precedes
from .builtin_models import describe_op
from .result import format_op, format_when


@dataclass
class SessionResult:
    """Whether one session guarantee holds; if not, the first violating pair and why."""

    name: str
    holds: bool
    violation: tuple[Operation, Operation] | None = None
    reason: str = ""

    def __bool__(self) -> bool:
        return self.holds


class _Facts:
    """Reads, writes and who-saw-what, derived once per history."""

    def __init__(self, ops: Iterable[Operation] | History) -> None:
        if isinstance(ops, History):
            ops = ops.operations
        kept = [op for op in ops if op.status != "fail"]
        kept.sort(key=lambda op: op.call)  # stable: same-instant calls keep given order
        accesses = [a for i, op in enumerate(kept) if (a := access(op, i))]
        appended = {a.key for a in accesses if a.is_write and a.append}
        overwritten = {a.key for a in accesses if a.is_write and not a.append}
        # On a key that mixes put and append, a put legitimately wipes earlier
        # appends, so appends there are not judged at all.
        # On an append key whose reads return strings (the kv model's concatenation),
        # a read cannot be split reliably into the appends it contains, so nothing
        # on that key is judged.
        concatenated = {
            a.key for a in accesses
            if not a.is_write and a.key in appended and isinstance(a.value, str)
        }
        self.accesses = [
            a for a in accesses
            if not (a.is_write and a.append and a.key in overwritten) and a.key not in concatenated
        ]
        self.append_keys = appended - overwritten - concatenated
        self.writes: dict[tuple[Any, Any], Access] = {}
        for a in self.accesses:
            if not a.is_write:
                continue
            try:
                twin = self.writes.get((a.key, a.value))
            except TypeError:
                raise ValueError(
                    f"written value {a.value!r} must be hashable for session checks"
                ) from None
            if twin is not None:
                raise ValueError(
                    f"value {a.value!r} is written twice to key {a.key!r} (clients "
                    f"{twin.op.client_id!r} and {a.op.client_id!r}); session checks "
                    "need unique written values per key"
                )
            self.writes[(a.key, a.value)] = a
        self.sessions: dict[Any, list[Access]] = {}
        for a in self.accesses:
            self.sessions.setdefault(a.op.client_id, []).append(a)

    def observed(self, r: Access) -> list[Access]:
        """Writes whose effect read ``r`` shows."""
        if r.value is None:
            return []
        if r.key in self.append_keys and isinstance(r.value, tuple):
            found = (self.writes.get((r.key, v)) for v in r.value if hashable(v))
            return [w for w in found if w is not None and w.append]
        if not hashable(r.value):
            return []
        w = self.writes.get((r.key, r.value))
        return [w] if w is not None else []

    def misses(self, r: Access, w: Access) -> bool:
        """Does read ``r`` (same key as ``w``) fail to reflect write ``w``?"""
        if w.append:
            return not isinstance(r.value, tuple) or w.value not in r.value
        if r.value is None:
            return True
        seen = self.observed(r)
        return len(seen) == 1 and seen[0] is not w and _older(seen[0], w)


def _older(a: Access, b: Access) -> bool:
    """Write ``a`` is known to come before write ``b``."""
    if precedes(a.op, b.op):
        return True
    # Same client, earlier in its session and completed (a pending write may
    # still land after the client's later writes).
    return a.op.client_id == b.op.client_id and not a.op.pending and a.index < b.index


def _later(a: Access, b: Access) -> bool:
    """``b`` comes after ``a`` in the same client's session."""
    return a.op.client_id == b.op.client_id and precedes(a.op, b.op)


def _text(a: Access) -> str:
    """e.g. "client 1's read → 0 (5–6 ms)"."""
    return format_op(a.op, describe_op(a.op.input, a.op.output))


def _bare(a: Access) -> str:
    """e.g. "read → 0 (5–6 ms)", for when the client is already named."""
    return f"{describe_op(a.op.input, a.op.output)} {format_when(a.op)}"


def _missed_what(facts: _Facts, r: Access, w: Access) -> str:
    """How read ``r`` shows that it missed write ``w``."""
    if r.value is None:
        return "the initial value"
    if w.append:
        return f"{r.value!r}, without {w.value!r}"
    return f"{r.value!r}, an older value than {w.value!r}"


_Violation = tuple[Access, Access, str]


def _first(name: str, found: Iterable[_Violation]) -> SessionResult:
    """Pick the violation whose later operation finished first (deterministic)."""
    best = min(
        found,
        key=lambda v: (v[1].op.return_time, v[1].op.call, v[1].index, v[0].index),
        default=None,
    )
    if best is None:
        return SessionResult(name, True)
    earlier, later, reason = best
    return SessionResult(name, False, (earlier.op, later.op), reason)


def _checked(name: str, ops: Iterable[Operation] | History, body: Callable) -> SessionResult:
    facts = _Facts(ops)
    violations: list[_Violation] = []
    for session in facts.sessions.values():
        v = body(facts, session)
        if v is not None:
            violations.append(v)
    return _first(name, violations)


def read_your_writes(ops: Iterable[Operation] | History) -> SessionResult:
    """After a client's write completes, its later reads of that key do not miss it."""

    def body(facts: _Facts, session: list[Access]) -> _Violation | None:
        for r in session:
            if r.is_write:
                continue
            for w in session:
                if w.is_write and w.key == r.key and w.op.status == "ok" and _later(w, r):
                    if facts.misses(r, w):
                        return w, r, (
                            f"{_text(w)} was followed by its own {_bare(r)}, "
                            f"which returned {_missed_what(facts, r, w)}"
                        )
        return None

    return _checked("read-your-writes", ops, body)


def monotonic_reads(ops: Iterable[Operation] | History) -> SessionResult:
    """Once a client's read observed a write, its later reads of that key do not miss it."""

    def body(facts: _Facts, session: list[Access]) -> _Violation | None:
        seen: dict[Any, list[tuple[Access, Access]]] = {}  # key -> (read, write)
        for r in session:
            if r.is_write:
                continue
            for r1, w in seen.get(r.key, []):
                if _later(r1, r) and facts.misses(r, w):
                    return r1, r, (
                        f"{_text(r1)} saw {w.value!r}, but its later {_bare(r)} "
                        f"returned {_missed_what(facts, r, w)}"
                    )
            known = {id(w) for _, w in seen.get(r.key, [])}
            for w in facts.observed(r):
                if id(w) not in known:
                    seen.setdefault(r.key, []).append((r, w))
        return None

    return _checked("monotonic reads", ops, body)


def _dependency_check(
    name: str,
    ops: Iterable[Operation] | History,
    deps: Callable[[_Facts], dict[int, list[Access]]],
    why: str,
) -> SessionResult:
    """Shared by monotonic writes and writes-follow-reads.

    ``deps(facts)`` maps id(w2) -> writes w1 that must be visible wherever w2 is.
    """
    facts = _Facts(ops)
    needs = deps(facts)
    violations: list[_Violation] = []
    for session in facts.sessions.values():
        # key -> list of (w1, r1 that made it required, w2)
        required: dict[Any, list[tuple[Access, Access, Access]]] = {}
        known: set[int] = set()
        found = None
        for r in session:
            if r.is_write:
                continue
            for w2 in facts.observed(r):
                for w1 in needs.get(id(w2), []):
                    if id(w1) not in known:
                        known.add(id(w1))
                        required.setdefault(w1.key, []).append((w1, r, w2))
            for w1, r1, w2 in required.get(r.key, []):
                if r is not r1 and not _later(r1, r):
                    continue
                reordered = (
                    not w1.append and w1.key == w2.key and w1 in facts.observed(r)
                    and r is not r1
                )
                if reordered or facts.misses(r, w1):
                    writer = w2.op.client_id
                    if r is r1:
                        tail = f"but that same read does not include {w1.value!r}"
                    elif reordered:
                        tail = f"but its later {_bare(r)} saw {w1.value!r} again"
                    else:
                        tail = f"but its later {_bare(r)} returned {_missed_what(facts, r, w1)}"
                    first = _bare(w1) if w1.op.client_id == writer else _text(w1)
                    found = (r1 if r is not r1 else w1), r, (
                        f"{_text(r1)} saw {_text(w2)}, which client {writer} wrote "
                        f"{why} {first}; {tail}"
                    )
                    break
            if found:
                break
        if found:
            violations.append(found)
    return _first(name, violations)


def monotonic_writes(ops: Iterable[Operation] | History) -> SessionResult:
    """A reader that observed a client's write w2 never afterwards misses that client's earlier write w1."""

    def deps(facts: _Facts) -> dict[int, list[Access]]:
        out: dict[int, list[Access]] = {}
        for session in facts.sessions.values():
            writes = [a for a in session if a.is_write]
            for w2 in writes:
                out[id(w2)] = [w1 for w1 in writes if _later(w1, w2)]
        return out

    return _dependency_check("monotonic writes", ops, deps, "after its")


def writes_follow_reads(ops: Iterable[Operation] | History) -> SessionResult:
    """A reader that observed w2 never afterwards misses a write w1 its writer had read before writing w2."""

    def deps(facts: _Facts) -> dict[int, list[Access]]:
        out: dict[int, list[Access]] = {}
        for session in facts.sessions.values():
            for w2 in session:
                if not w2.is_write:
                    continue
                needed: list[Access] = []
                for r0 in session:
                    if not r0.is_write and _later(r0, w2):
                        needed.extend(w for w in facts.observed(r0) if w not in needed)
                out[id(w2)] = needed
        return out

    return _dependency_check("writes-follow-reads", ops, deps, "after reading")


SESSION_CHECKS: dict[str, Callable[[Iterable[Operation] | History], SessionResult]] = {
    "read-your-writes": read_your_writes,
    "monotonic reads": monotonic_reads,
    "monotonic writes": monotonic_writes,
    "writes-follow-reads": writes_follow_reads,
}
