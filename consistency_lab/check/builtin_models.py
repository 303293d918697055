"""Built-in sequential specifications: register, CAS register, key-value store, counter.

Input/output encodings (the simulator produces exactly these):

* register: ``("write", v)`` (output ignored), ``("read", None)`` -> value read
  (``None`` = initial value).
* cas-register: as register, plus ``("cas", (expected, new))`` -> ``True`` if it
  swapped, ``False`` if it did not.
* kv: ``("put", key, v)`` (output ignored), ``("get", key, None)`` -> value or
  ``None``, ``("append", key, v)`` (output ignored).  A never-written key holds
  ``None``; appending to ``None`` gives ``(v,)``, appending to a tuple adds at the end,
  appending to a plain value ``x`` gives ``(x, v)``.
* counter: ``("add", n)`` (output ignored), ``("read", None)`` -> int.
"""

from __future__ import annotations

from typing import Any, Hashable, Sequence

from consistency_lab.history import Operation

from .model_type import UNKNOWN, Model, default_describe


def _shown(value: Any) -> str:
    return "?" if value is UNKNOWN else repr(value) if isinstance(value, str) else str(value)


def _bad_input(model: str, input: Any, allowed: str) -> ValueError:
    return ValueError(f"input={input!r} is not a {model} operation; allowed: {allowed}")


# --- register ---------------------------------------------------------------------

_REGISTER_OPS = "('write', v), ('read', None)"
_CAS_OPS = "('write', v), ('read', None), ('cas', (expected, new))"


def _register_step(state: Hashable, input: Any, output: Any) -> tuple[bool, Hashable]:
    f = input[0]
    if f == "write":
        return True, input[1]
    if f == "read":
        return (output is UNKNOWN or output == state), state
    raise _bad_input("register", input, _REGISTER_OPS)


def _cas_step(state: Hashable, input: Any, output: Any) -> tuple[bool, Hashable]:
    f = input[0]
    if f == "cas":
        expected, new = input[1]
        matches = state == expected
        if output is UNKNOWN:
            return True, (new if matches else state)
        if output:
            return matches, new
        return (not matches), state
    if f in ("write", "read"):
        return _register_step(state, input, output)
    raise _bad_input("cas-register", input, _CAS_OPS)


def _register_describe(input: Any, output: Any) -> str:
    f = input[0]
    if f == "write":
        return f"write {_shown(input[1])}"
    if f == "read":
        return f"read → {_shown(output)}"
    if f == "cas":
        expected, new = input[1]
        mark = "?" if output is UNKNOWN else "✓" if output else "✗"
        return f"cas {_shown(expected)}→{_shown(new)} {mark}"
    return default_describe(input, output)


def _cas_pure(input: Any, output: Any) -> bool:
    # A cas known to have failed changed nothing; an unknown one might have swapped.
    return input[0] == "read" or (input[0] == "cas" and output is False)


def register_model(init: Hashable = None) -> Model:
    """A read/write register holding ``init`` at first."""
    return Model(
        init=lambda: init,
        step=_register_step,
        describe=_register_describe,
        name="register",
        describe_state=lambda s: f"the register holds {_shown(s)}",
        pure=lambda input, output: input[0] == "read",
    )


def cas_register_model(init: Hashable = None) -> Model:
    """A register with compare-and-set, holding ``init`` at first."""
    return Model(
        init=lambda: init,
        step=_cas_step,
        describe=_register_describe,
        name="cas-register",
        describe_state=lambda s: f"the register holds {_shown(s)}",
        pure=_cas_pure,
    )


# --- key-value store --------------------------------------------------------------

# The state is a frozenset of (key, value) pairs: hashable and independent of the
# order keys were written in, so equal stores memoise as equal.  Keys holding None
# are left out so "never written" and "holds None" are one state.
KVState = frozenset

_KV_OPS = "('put', key, v), ('get', key, None), ('append', key, v)"


def _kv_get(state: KVState, key: Any) -> Any:
    for k, v in state:
        if k == key:
            return v
    return None


def _kv_set(state: KVState, key: Any, value: Any) -> KVState:
    rest = frozenset(pair for pair in state if pair[0] != key)
    return rest if value is None else rest | {(key, value)}


def _kv_step(state: KVState, input: Any, output: Any) -> tuple[bool, KVState]:
    f = input[0]
    if len(input) != 3:
        raise _bad_input("kv", input, _KV_OPS)
    key = input[1]
    if f == "get":
        return (output is UNKNOWN or output == _kv_get(state, key)), state
    if f == "put":
        return True, _kv_set(state, key, input[2])
    if f == "append":
        old = _kv_get(state, key)
        if old is None:
            new = (input[2],)
        elif isinstance(old, tuple):
            new = old + (input[2],)
        else:  # a put stored a plain value: keep it as the first element
            new = (old, input[2])
        return True, _kv_set(state, key, new)
    raise _bad_input("kv", input, _KV_OPS)


def _kv_partition(ops: Sequence[Operation]) -> list[list[Operation]]:
    parts: dict[Any, list[Operation]] = {}
    for op in ops:
        if not isinstance(op.input, (tuple, list)) or len(op.input) != 3:
            raise _bad_input("kv", op.input, _KV_OPS)
        parts.setdefault(op.input[1], []).append(op)
    return list(parts.values())


def _kv_describe(input: Any, output: Any) -> str:
    f = input[0]
    if f == "put" and len(input) == 3:
        return f"put {input[1]}={_shown(input[2])}"
    if f == "get" and len(input) == 3:
        return f"get {input[1]} → {_shown(output)}"
    if f == "append" and len(input) == 3:
        return f"append {input[1]}+={_shown(input[2])}"
    return default_describe(input, output)


def _kv_state_text(state: KVState) -> str:
    if not state:
        return "the store is empty"
    items = sorted(state, key=lambda kv: repr(kv[0]))
    return "the store holds " + ", ".join(f"{k}={_shown(v)}" for k, v in items)


def kv_model() -> Model:
    """A key-value store with put/get/append, checked one key at a time."""
    return Model(
        init=frozenset,
        step=_kv_step,
        partition=_kv_partition,
        describe=_kv_describe,
        name="kv",
        describe_state=_kv_state_text,
        part_name=lambda ops: f"key {ops[0].input[1]!r}" if ops else "empty part",
        pure=lambda input, output: input[0] == "get",
    )


# --- counter ----------------------------------------------------------------------

_COUNTER_OPS = "('add', n), ('read', None)"


def _counter_step(state: int, input: Any, output: Any) -> tuple[bool, int]:
    f = input[0]
    if f == "add":
        return True, state + input[1]
    if f == "read":
        return (output is UNKNOWN or output == state), state
    raise _bad_input("counter", input, _COUNTER_OPS)


def _counter_describe(input: Any, output: Any) -> str:
    f = input[0]
    if f == "add":
        return f"add {_shown(input[1])}"
    if f == "read":
        return f"read → {_shown(output)}"
    return default_describe(input, output)


def counter_model(init: int = 0) -> Model:
    """A counter starting at ``init`` with add and read."""
    if isinstance(init, bool) or not isinstance(init, int):
        raise ValueError(f"init={init!r} must be an int")
    return Model(
        init=lambda: init,
        step=_counter_step,
        describe=_counter_describe,
        name="counter",
        describe_state=lambda s: f"the counter is {s}",
        pure=lambda input, output: input[0] == "read",
    )


def describe_op(input: Any, output: Any) -> str:
    """Describe an operation of any built-in model, judging by the shape of its input."""
    if isinstance(input, (tuple, list)) and input:
        f = input[0]
        if f in ("put", "get", "append"):
            return _kv_describe(input, output)
        if f in ("write", "read", "cas"):
            return _register_describe(input, output)
        if f == "add":
            return _counter_describe(input, output)
    return default_describe(input, output)


MODELS = {
    "register": register_model,
    "cas-register": cas_register_model,
    "kv": kv_model,
    "counter": counter_model,
}


def model_by_name(name: str) -> Model:
    """Build a built-in model from its command-line name."""
    try:
        return MODELS[name]()
    except KeyError:
        raise ValueError(
            f"model={name!r} is not a built-in model; allowed: {', '.join(MODELS)}"
        ) from None
