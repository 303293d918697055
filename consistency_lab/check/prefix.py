"""Consistent prefix (Terry, "Replicated data consistency explained through baseball", 2013).

The promise: there is one order of all writes, and every read sees the state after
some prefix of it (readers may lag behind, and by different amounts, but never see
writes out of that order or with a gap).  What a read reveals decides how much the
promise can be checked:

* **a log key** (any ``("append", k, v)`` on it): a read returns the values appended
  so far, in order (a tuple; ``None`` when empty).  Each such read must be a prefix of
  one order of the key's appends: every value in it was appended, none twice, and of
  any two reads one is a prefix of the other.  Reads of different keys name disjoint
  writes, so one order per key combines into one global order.
* **a register key** (``write``/``put``, successful ``cas``): a read returns only the
  last write of its prefix, so any order of the writes works as long as each read
  returns the initial value (``None``) or a value some write wrote.  On registers the
  promise only rules out values from nowhere: it has teeth on logs (and on reads of
  several keys at once, which these histories do not have).

A key with both appends and puts is not judged (a put wipes the log).  Unlike the
session guarantees, nothing here uses real time or sessions: a reader may see a
shorter prefix after a longer one (that is what monotonic reads forbids).
"""

from __future__ import annotations

from typing import Any, Iterable

from consistency_lab.history import History, Operation

from ._accesses import Access, access, hashable
from ._common import checkable_ops
from .builtin_models import describe_op
from .pattern_result import PatternResult
from .result import format_op


def _text(op: Operation) -> str:
    return format_op(op, describe_op(op.input, op.output))


def _prefix(short: tuple, long: tuple) -> bool:
    return len(short) <= len(long) and long[: len(short)] == short


def check_consistent_prefix(ops: Iterable[Operation] | History) -> PatternResult:
    """Does every read see a prefix of one order of the writes (module docstring)?  Witness: the reads."""
    ops = checkable_ops(ops)
    accesses = [a for op in ops if (a := access(op)) is not None]
    name = "consistent prefix"
    by_key: dict[Any, list[Access]] = {}
    for a in accesses:
        by_key.setdefault(a.key, []).append(a)
    logs = 0
    for key, group in by_key.items():
        writes = [a for a in group if a.is_write]
        appends = [a for a in writes if a.append]
        if appends and len(appends) != len(writes):
            return PatternResult(name, None, reason=f"key {key!r} mixes put and append, and a put wipes the log",
                                 ops=ops)
        written: set = set()
        for a in writes:
            try:
                if a.value in written:
                    raise ValueError(f"value {a.value!r} is written twice to key {key!r}; consistent prefix "
                                     "needs unique written values per key")
                written.add(a.value)
            except TypeError:
                raise ValueError(f"written value {a.value!r} must be hashable") from None
        reads = [a for a in group if not a.is_write]
        if not appends:
            for r in reads:
                if r.value is not None and (not hashable(r.value) or r.value not in written):
                    return PatternResult(name, False, "UnknownValue", (r.op,),
                                         f"{_text(r.op)} returned a value that no write wrote", ops)
            continue
        logs += 1
        seen: list[tuple[Access, tuple]] = []
        for r in reads:
            got = () if r.value is None else r.value
            if not isinstance(got, tuple):
                return PatternResult(name, None, reason=f"{_text(r.op)} on log key {key!r} did not return a "
                                     "tuple of values", ops=ops)
            bad = next((v for v in got if not hashable(v) or v not in written), None)
            if bad is not None or len(set(got)) != len(got):
                what = f"{bad!r}, which nobody appended" if bad is not None else "a value twice"
                return PatternResult(name, False, "UnknownValue", (r.op,), f"{_text(r.op)} holds {what}", ops)
            seen.append((r, got))
        if not seen:
            continue
        longest = max(seen, key=lambda s: len(s[1]))  # the first of the longest: deterministic
        for r, got in seen:
            if not _prefix(got, longest[1]):
                return PatternResult(
                    name, False, "DivergentReads", (r.op, longest[0].op),
                    f"{_text(r.op)} and {_text(longest[0].op)} saw key {key!r}'s appends in orders that "
                    "no single order explains (neither is a prefix of the other)", ops)
    how = (f"the reads of {logs} log{'s' if logs != 1 else ''} are prefixes of one order" if logs
           else "every read returned a written value (on registers that is all it asks)")
    return PatternResult(name, True, reason=how, ops=ops)


