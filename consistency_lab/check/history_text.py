"""Small histories written as text, one operation a line, for the explorer and hand-made examples.

Grammar (``#`` starts a comment; blank lines are skipped)::

    c1 write x 1 @0-2          a write of 1 to key x, called at 0 ms, returned at 2 ms
    c2 read x -> 1 @3-4        a read of x that returned 1 (``nil`` for the initial value)
    c3 append log a @0-1       an append of a to the log key ``log``
    c4 read log -> [a, b] @5-6 a read of a log: the values in order (``[]``, like nil, when empty)
    c1 write x 3 @7-?          a write whose outcome the client never learned (``?`` or ``inf``)

Values are integers when they parse as one, else names.  How the lines are encoded:
with one key and no appends, as register operations (``("write", v)``, ``("read", None)``);
with several keys, as key-value ones (``("put", k, v)``, ``("get", k, None)``); with any
append, appends and reads of logs (``("append", k, v)``, ``("get", k, None)`` returning a
tuple), the ``kv-tuple`` model's encoding.
"""

from __future__ import annotations

import math
import re
from typing import Any

from consistency_lab.history import Operation

_LINE = re.compile(
    r"^(?P<client>\S+)\s+(?P<f>write|read|append)\s+(?P<key>\S+)"
    r"(?:\s+(?P<value>[^\s@\->][^@]*?))?(?:\s*->\s*(?P<out>[^@]+?))?\s*"
    r"@\s*(?P<call>\d+(?:\.\d+)?)\s*-\s*(?P<ret>\d+(?:\.\d+)?|\?|inf)\s*$"
)

#: One line per operation kind, shown in parse errors.
SYNTAX = ("'c1 write x 1 @0-2', 'c2 read x -> 1 @3-4' (nil: the initial value), "
          "'c3 append log a @0-1', 'c4 read log -> [a, b] @5-6'; an end of ? or inf: pending")


def _value(token: str) -> Any:
    token = token.strip()
    if token.lower() in ("nil", "none"):
        return None
    try:
        return int(token)
    except ValueError:
        return token


def _output(token: str) -> Any:
    token = token.strip()
    if token.startswith("[") and token.endswith("]"):
        inner = token[1:-1].strip()
        # An empty log reads as None: the kv-tuple model's never-written key.
        return tuple(_value(t) for t in inner.split(",")) if inner else None
    return _value(token)


def parse_history_text(text: str) -> list[Operation]:
    """Operations from ``text`` (see the module docstring); a bad line raises a one-line ValueError naming it."""
    if not isinstance(text, str):
        raise ValueError(f"text={text!r} must be a string of operations, one a line")
    rows = []
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        m = _LINE.match(line)
        if m is None:
            raise ValueError(f"line {number} {line!r} must look like one of: {SYNTAX}")
        f, value, out = m["f"], m["value"], m["out"]
        if f in ("write", "append") and (value is None or out is not None):
            raise ValueError(f"line {number} {line!r}: a {f} needs a value and no '->'; e.g. 'c1 {f} x 1 @0-2'")
        if f == "read" and (value is not None or out is None):
            raise ValueError(f"line {number} {line!r}: a read needs '-> value' and nothing before it; "
                             "e.g. 'c2 read x -> 1 @3-4'")
        call = float(m["call"])
        pending = m["ret"] in ("?", "inf")
        ret = math.inf if pending else float(m["ret"])
        if not pending and ret < call:
            raise ValueError(f"line {number} {line!r}: returns at {ret:g} ms, before its call at {call:g} ms")
        if pending and f == "read":
            raise ValueError(f"line {number} {line!r}: a read that never returned tells nothing; leave it out")
        rows.append((m["client"], f, m["key"], None if value is None else _value(value),
                     None if out is None else _output(out), call, ret, pending))
    if not rows:
        raise ValueError(f"text has no operations; write one a line, e.g. {SYNTAX}")
    keys = {r[2] for r in rows}
    logs = any(r[1] == "append" for r in rows)
    ops = []
    for client, f, key, value, out, call, ret, pending in rows:
        status = "info" if pending else "ok"
        if logs:
            inp: tuple = ("append", key, value) if f == "append" else ("put", key, value) if f == "write" \
                else ("get", key, None)
        elif len(keys) == 1:
            inp = ("write", value) if f == "write" else ("read", None)
        else:
            inp = ("put", key, value) if f == "write" else ("get", key, None)
        ops.append(Operation(client, inp, call, out if f == "read" else None, ret, status))
    return ops


def format_history_text(ops: list[Operation], key: str = "x") -> str:
    """The text form of register, key-value or log operations (``key`` names a register's key)."""
    lines = []
    for op in ops:
        inp = op.input
        end = "?" if op.pending else f"{op.return_time:g}"
        when = f"@{op.call:g}-{end}"
        f = inp[0]
        k = key if f in ("write", "read") else inp[1]
        if f in ("write", "put", "append"):
            word = "append" if f == "append" else "write"
            lines.append(f"{op.client_id} {word} {k} {_text(inp[-1])} {when}")
        else:
            lines.append(f"{op.client_id} read {k} -> {_text(op.output)} {when}")
    return "\n".join(lines)


def _text(value: Any) -> str:
    if value is None:
        return "nil"
    if isinstance(value, tuple):
        return "[" + ", ".join(_text(v) for v in value) + "]"
    return str(value)
