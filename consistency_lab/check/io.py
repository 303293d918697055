"""Reading and writing histories: JSON Lines (two shapes) and Jepsen-style EDN.

JSON Lines, one object per line, in either shape (they may be mixed):

* a complete operation:
  ``{"client": 0, "input": ["write", 1], "call": 0.0, "output": null,
  "return": 3.0, "status": "ok"}`` (``"return": null`` = pending, status "info";
  ``status`` defaults to "ok");
* an event: ``{"process": 0, "type": "invoke"|"ok"|"fail"|"info", "f": "read",
  "value": ..., "key": optional, "time": optional}``; ``time`` is in virtual ms.

EDN (Jepsen): maps like ``{:process 0, :type :invoke, :f :read, :value nil}``,
one per line or all inside one vector; ``:time`` is in nanoseconds (converted to
ms).  For put/get/append the key is a separate ``:key`` (as in the MIT 6.5840 and
Porcupine logs: ``{:process 3, :type :ok, :f :get, :key "2", :value "x 3 0 y"}``)
or ``:value [k v]``.  A CAS is ``:f :cas, :value [old new]``.  A read, write or cas
with a ``:key`` names its key (``("read", key, None)``, ``("write", key, v)``,
``("cas", key, (old, new))``: the cas-kv model); :func:`write_edn` writes that shape.
Events without a time are timed by their line number.  Operations of the
``:nemesis`` process are skipped.

Events pair per process: an invoke and the next completion of that process.  An
``info`` completion, or an invoke never completed, gives a pending operation
(return = inf); ``fail`` gives status "fail".  Lists in values become tuples so
states stay hashable.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import IO, Any, Iterable

from consistency_lab.history import History, Operation

from .edn import EdnError, read_edn_forms

FORMATS = ("jsonl", "edn")
_FS = ("read", "write", "cas", "put", "get", "append", "add")
_TYPES = ("invoke", "ok", "fail", "info")


class HistoryFormatError(ValueError):
    """A history file that cannot be read; the message names the line and the reason."""

    def __init__(self, line: int, reason: str, source: str | None = None) -> None:
        where = f"{source}: line {line}" if source else f"line {line}"
        super().__init__(f"{where}: {reason}")
        self.line = line
        self.reason = reason
        self.source = source


def freeze(value: Any) -> Any:
    """Lists (recursively) to tuples, so values can live in hashable model states."""
    if isinstance(value, (list, tuple)):
        return tuple(freeze(v) for v in value)
    if isinstance(value, dict):
        return tuple((freeze(k), freeze(v)) for k, v in value.items())
    return value


def read_history(path: str | Path, fmt: str | None = None) -> list[Operation]:
    """Read a history file; ``fmt`` is "jsonl" or "edn" (default: by extension, else by content)."""
    path = Path(path)
    text = path.read_text(encoding="utf-8")
    if fmt is None and path.suffix.lower() == ".edn":
        fmt = "edn"
    elif fmt is None and path.suffix.lower() in (".jsonl", ".json", ".ndjson"):
        fmt = "jsonl"
    return parse_history(text, fmt=fmt, source=str(path))


def parse_history(text: str, fmt: str | None = None, source: str | None = None) -> list[Operation]:
    """Parse history text; ``fmt`` None sniffs: a first form starting ``{:`` or ``[`` is EDN."""
    if fmt is None:
        fmt = _sniff(text)
    if fmt not in FORMATS:
        raise ValueError(f"fmt={fmt!r} must be one of {FORMATS} or None")
    if fmt == "edn":
        return _parse_edn(text, source)
    return _parse_jsonl(text, source)


def _sniff(text: str) -> str:
    for raw in text.splitlines():
        s = raw.strip()
        if not s or s.startswith(";"):
            continue
        if s.startswith("{") and s[1:].lstrip().startswith('"'):
            return "jsonl"
        return "edn" if s.startswith(("{", "[", "(", "#")) else "jsonl"
    return "jsonl"


def _parse_jsonl(text: str, source: str | None) -> list[Operation]:
    pairer = _Pairer(source)
    for n, raw in enumerate(text.splitlines(), start=1):
        if not raw.strip():
            continue
        try:
            obj = json.loads(raw)
        except json.JSONDecodeError as exc:
            raise HistoryFormatError(n, f"invalid JSON ({exc.msg} at column {exc.colno})", source) from None
        if not isinstance(obj, dict):
            raise HistoryFormatError(n, f"expected a JSON object, got {type(obj).__name__}", source)
        if "input" in obj:
            pairer.add_op(_op_from_json(obj, n, source), n)
        elif "type" in obj:
            pairer.event(obj, n, time_scale=1.0)
        else:
            raise HistoryFormatError(
                n, "object has neither 'input' (an operation) nor 'type' (an event)", source
            )
    return pairer.finish()


def _op_from_json(obj: dict, n: int, source: str | None) -> Operation:
    for name in ("client", "input", "call"):
        if name not in obj:
            raise HistoryFormatError(n, f"missing field {name!r}", source)
    ret = obj.get("return")
    status = obj.get("status", "ok" if ret is not None else "info")
    if ret is None:
        if status == "ok":
            status = "info"  # no return time means the client never heard back
        ret = math.inf
    try:
        return Operation(
            client_id=freeze(obj["client"]),
            input=freeze(obj["input"]),
            call=_number(obj["call"], "call"),
            output=freeze(obj.get("output")),
            return_time=_number(ret, "return"),
            status=status,
        )
    except ValueError as exc:
        raise HistoryFormatError(n, str(exc), source) from None


def _number(value: Any, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or math.isnan(value):
        raise ValueError(f"{name}={value!r} must be a number")
    return float(value)


def _parse_edn(text: str, source: str | None) -> list[Operation]:
    try:
        # A whole history may be one vector of maps: read its items in order.
        forms = read_edn_forms(text, unwrap=True)
    except EdnError as exc:
        raise HistoryFormatError(exc.line, exc.reason, source) from None
    pairer = _Pairer(source)
    for value, n in forms:
        if not isinstance(value, dict):
            raise HistoryFormatError(n, f"expected a map like {{:process 0, :type :invoke ...}}, got {value!r}", source)
        pairer.event(value, n, time_scale=1e-6)
    return pairer.finish()


class _Pairer:
    """Pairs invoke/completion events per process into Operations, in invoke order."""

    def __init__(self, source: str | None) -> None:
        self.source = source
        self.slots: list[Operation | dict | None] = []
        self.open: dict[Any, tuple[int, dict]] = {}  # process -> (slot, invoke info)

    def fail(self, n: int, reason: str) -> HistoryFormatError:
        return HistoryFormatError(n, reason, self.source)

    def add_op(self, op: Operation, n: int) -> None:
        self.slots.append(op)

    def event(self, ev: dict, n: int, time_scale: float) -> None:
        process = ev.get("process")
        if process is None:
            raise self.fail(n, "missing 'process'")
        if process == "nemesis":
            return
        etype = ev.get("type")
        if etype not in _TYPES:
            raise self.fail(n, f"type={etype!r} must be one of {', '.join(_TYPES)}")
        f = ev.get("f")
        if f not in _FS:
            raise self.fail(n, f"f={f!r} must be one of {', '.join(_FS)}")
        f = str(f)  # an EDN Keyword becomes a plain str, so inputs look the same from any format
        raw_time = ev.get("time")
        if raw_time is None:
            t = float(n)
        elif isinstance(raw_time, bool) or not isinstance(raw_time, (int, float)):
            raise self.fail(n, f"time={raw_time!r} must be a number")
        else:
            t = raw_time * time_scale
        process = freeze(process)
        if etype == "invoke":
            if process in self.open:
                first = self.open[process][1]["line"]
                raise self.fail(
                    n, f"process {process!r} invoked again before its operation from line {first} completed"
                )
            info = {"line": n, "f": f, "value": ev.get("value"), "key": ev.get("key"), "time": t}
            self.open[process] = (len(self.slots), info)
            self.slots.append(None)
            return
        if process not in self.open:
            raise self.fail(n, f"{etype} for process {process!r} without a matching invoke")
        slot, info = self.open.pop(process)
        if f != info["f"]:
            raise self.fail(n, f"completion f={f!r} does not match invoke f={info['f']!r} on line {info['line']}")
        if info["key"] is None:
            info["key"] = ev.get("key")  # some logs name the key on the completion only
        self.slots[slot] = self._op(process, info, etype, ev.get("value"), t, n)

    def _op(self, process: Any, info: dict, etype: str, value: Any, t: float, n: int) -> Operation:
        f = info["f"]
        inv_value = freeze(info["value"])
        out_value = freeze(value)
        key = freeze(info["key"])
        if f in ("put", "get", "append") and key is None:
            if not (isinstance(inv_value, tuple) and len(inv_value) == 2):
                raise self.fail(info["line"], f"{f} needs a key: 'key' or value [key value], got {inv_value!r}")
            key, inv_value = inv_value
            if isinstance(out_value, tuple) and len(out_value) == 2:
                out_value = out_value[1]
        keyed = (key,) if key is not None else ()  # read/write/cas with a :key: one register per key
        if f == "read":
            inp, output = ("read", *keyed, None), out_value
        elif f == "write":
            inp, output = ("write", *keyed, inv_value), None
        elif f == "cas":
            if not (isinstance(inv_value, tuple) and len(inv_value) == 2):
                raise self.fail(info["line"], f"cas value must be [old new], got {inv_value!r}")
            inp, output = ("cas", *keyed, inv_value), True
        elif f == "get":
            inp, output = ("get", key, None), out_value
        elif f == "add":
            inp, output = ("add", inv_value), None
        else:  # put, append
            inp, output = (f, key, inv_value), None
        status = "ok" if etype == "ok" else etype
        ret = t if etype != "info" else math.inf
        try:
            return Operation(process, inp, info["time"], output if status == "ok" else None, ret, status)
        except ValueError as exc:
            raise self.fail(n, str(exc)) from None

    def finish(self) -> list[Operation]:
        for process, (slot, info) in self.open.items():
            inp_op = self._op(process, info, "info", None, math.inf, info["line"])
            self.slots[slot] = inp_op
        self.open.clear()
        return [op for op in self.slots if isinstance(op, Operation)]


def _jsonable(value: Any) -> Any:
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, (frozenset, set)):
        return sorted((_jsonable(v) for v in value), key=repr)
    return value


def op_to_json(op: Operation) -> dict:
    """One operation as a JSON-ready dict in the complete-operation shape."""
    return {
        "client": _jsonable(op.client_id),
        "input": _jsonable(op.input),
        "call": op.call,
        "output": _jsonable(op.output),
        "return": None if op.pending else op.return_time,
        "status": op.status,
    }


def write_jsonl(ops: Iterable[Operation] | History, path: str | Path | IO[str]) -> None:
    """Write operations as JSON Lines (complete-operation shape), one per line."""
    if isinstance(ops, History):
        ops = ops.operations
    lines = [json.dumps(op_to_json(op), ensure_ascii=False) + "\n" for op in ops]
    if hasattr(path, "write"):
        path.writelines(lines)  # type: ignore[union-attr]
        return
    Path(path).write_text("".join(lines), encoding="utf-8")


def _edn(value: Any) -> str:
    if value is None:
        return "nil"
    if value is True or value is False:
        return "true" if value else "false"
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)  # JSON string escapes are EDN's
    if isinstance(value, (tuple, list)):
        return "[" + " ".join(_edn(v) for v in value) + "]"
    raise ValueError(f"value={value!r} cannot be written as EDN; allowed: nil, booleans, numbers, strings, vectors")


def _edn_event(process: Any, etype: str, f: str, key: Any, value: Any, time_ms: float) -> str:
    key_part = "" if key is None else f", :key {_edn(key)}"
    return (f"{{:process {_edn(process)}, :type :{etype}, :f :{f}{key_part}, :value {_edn(value)}, "
            f":time {int(round(time_ms * 1e6))}}}")


def _edn_shape(op: Operation) -> tuple[str, Any, Any, Any]:
    """(f, key, invoke value, completion value) of an operation, as the reader above expects them."""
    inp = op.input
    if not isinstance(inp, (tuple, list)) or not inp or inp[0] not in _FS:
        raise ValueError(f"input={inp!r} cannot be written as EDN; allowed: inputs of the built-in models")
    f = inp[0]
    if f in ("put", "get", "append") or (f in ("read", "write", "cas") and len(inp) == 3):
        key, arg = inp[1], inp[2]
    else:
        key, arg = None, inp[1]
    if f in ("read", "get"):
        return f, key, None, op.output
    return f, key, arg, arg


def write_edn(ops: Iterable[Operation] | History, path: str | Path | IO[str]) -> None:
    """Write operations as a Jepsen EDN history: invoke and completion events in time order, ``:time`` in ns.

    An indeterminate operation completes with ``:info``; a cas reported as not swapping is
    written ``:fail`` (as Jepsen does), so :func:`read_history` reads it back as "did not happen".
    """
    if isinstance(ops, History):
        ops = ops.operations
    ops = list(ops)
    events: list[tuple[float, int, int, str]] = []
    calls: dict[Any, list[float]] = {}  # per process, its call times: a pending op gives up before the next
    for op in ops:
        calls.setdefault(op.client_id, []).append(op.call)
    end = max([op.call for op in ops] + [op.return_time for op in ops if not op.pending] + [0.0])
    for n, op in enumerate(ops):
        f, key, inv_value, done_value = _edn_shape(op)
        # At one instant: completions first (phase 0), then invokes (1), then the completion of
        # an operation that took no time at all (2), so every process's events stay paired.
        events.append((op.call, 1, n, _edn_event(op.client_id, "invoke", f, key, inv_value, op.call)))
        if op.pending:
            later = [t for t in calls[op.client_id] if t > op.call]
            # Jepsen ends an operation the client gave up on with :info; the time it is written
            # at does not matter to a reader (pending = return at infinity): before the
            # process's next invoke, or at the end.
            when = min(later) if later else end
            events.append((when, 0, n, _edn_event(op.client_id, "info", f, key, inv_value, when)))
            continue
        etype = op.status
        if f == "cas" and op.status == "ok" and op.output is False:
            etype = "fail"
        value = done_value if etype == "ok" else inv_value
        phase = 2 if op.return_time == op.call else 0
        events.append((op.return_time, phase, n, _edn_event(op.client_id, etype, f, key, value, op.return_time)))
    events.sort(key=lambda e: (e[0], e[1], e[2]))
    lines = [e[3] + "\n" for e in events]
    if hasattr(path, "write"):
        path.writelines(lines)  # type: ignore[union-attr]
        return
    Path(path).write_text("".join(lines), encoding="utf-8")
