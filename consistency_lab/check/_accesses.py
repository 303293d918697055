"""Who wrote what and who read what, per key: the one parser of accesses, under the session, causal,
consistent-prefix and eventual checks."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from consistency_lab.history import Operation

SUPPORTED = ("('write', v), ('read', None), ('cas', (old, new)), ('put', k, v), ('get', k, None), "
             "('append', k, v), and per key ('write', k, v), ('read', k, None), ('cas', k, (old, new))")


@dataclass(frozen=True, eq=False)
class Access:
    """One operation seen as a write (``value`` written) or a read (``value`` returned) of ``key``."""

    op: Operation
    key: Any
    is_write: bool
    value: Any
    append: bool = False
    index: int = -1  # the operation's position in the checked history (session order ties)


def access(op: Operation, index: int = -1) -> Access | None:
    """The access ``op`` makes, None when it says nothing (a refused compare-and-set, a pending read)."""
    inp = op.input
    f = inp[0] if isinstance(inp, (tuple, list)) and inp else None
    if f == "write" and len(inp) == 2:
        return Access(op, None, True, inp[1], index=index)
    if f == "read" and len(inp) == 2:
        return Access(op, None, False, op.output, index=index) if op.status == "ok" else None
    if f == "cas" and len(inp) == 2:
        # A cas that (maybe) swapped wrote its new value; a refused one says little.
        ok = op.status == "info" or op.output is True
        return Access(op, None, True, inp[1][1], index=index) if ok else None
    if f in ("write", "read", "cas") and len(inp) == 3:  # cas-kv: one register per key (the etcd runs)
        keyed = access(Operation(op.client_id, (f, inp[2]), op.call, op.output, op.return_time, op.status))
        return None if keyed is None else Access(op, inp[1], keyed.is_write, keyed.value, index=index)
    if f in ("put", "append") and len(inp) == 3:
        return Access(op, inp[1], True, inp[2], append=f == "append", index=index)
    if f == "get" and len(inp) == 3:
        return Access(op, inp[1], False, op.output, index=index) if op.status == "ok" else None
    raise ValueError(f"input={inp!r} is not supported here; allowed: {SUPPORTED}")


def hashable(value: Any) -> bool:
    """True when ``value`` can key a dict (a read of a list value cannot name its writer)."""
    try:
        hash(value)
    except TypeError:
        return False
    return True
