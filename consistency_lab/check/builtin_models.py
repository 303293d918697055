"""Built-in sequential specifications: register, CAS register, key-value stores, counter.

Input/output encodings (the simulator and the history readers produce these):

* register: ``("write", v)`` (output ignored), ``("read", None)`` -> value read
  (``None`` = initial value).
* cas-register: as register, plus ``("cas", (expected, new))`` -> ``True`` if it
  swapped, ``False`` if it did not (Jepsen reports a failed compare as ``:fail``,
  which the checker drops as "did not happen").
* kv: ``("put", key, v)`` (output ignored), ``("get", key, None)`` -> value,
  ``("append", key, v)`` (output ignored), with the string semantics of the MIT
  6.5840 key/value labs and Porcupine's kv model: a never-written key holds ``""``,
  ``append`` concatenates strings, ``put`` replaces.  A get that returned ``None``
  (Jepsen's ``nil`` for a missing key) reads as ``""``: in these semantics the two
  cannot be told apart.
* kv-tuple: the same inputs, but values are any hashables and ``append`` builds a
  tuple: a never-written key holds ``None``; appending to ``None`` gives ``(v,)``,
  appending to a tuple adds at the end, appending to a plain value ``x`` gives
  ``(x, v)``.
* counter: ``("add", n)`` (output ignored), ``("read", None)`` -> int.
* cas-kv: one cas-register per key (Jepsen's etcd test): ``("write", key, v)``,
  ``("read", key, None)`` -> value (``None`` = never written), ``("cas", key,
  (expected, new))`` -> ``True``/``False``; checked one key at a time.
"""

from __future__ import annotations

from typing import Any, Callable, Hashable, Sequence

from consistency_lab.history import Operation

from .model_type import UNKNOWN, Model, StepFn, default_describe


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


def _register_prune(ops: list[Operation]) -> list[Operation]:
    # A pending write (or cas) of v matters only if something can see v afterwards:
    # a completed read returning v, or a cas (completed or pending) expecting v.
    # A cas reported as not swapping sees "anything but e", so with one present
    # nothing is dropped.
    seen: set = set()
    try:
        for op in ops:
            f = op.input[0]
            if f == "read" and not op.pending:
                seen.add(op.output)
            elif f == "cas":
                if op.output is False and not op.pending:
                    return ops
                seen.add(op.input[1][0])
        return [op for op in ops if not op.pending or _new_value(op.input) in seen]
    except TypeError:  # unhashable values: keep everything
        return ops


def _new_value(input: Any) -> Any:
    return input[1][1] if input[0] == "cas" else input[1]


def register_model(init: Hashable = None) -> Model:
    """A read/write register holding ``init`` at first."""
    return Model(
        init=lambda: init,
        step=_register_step,
        describe=_register_describe,
        name="register",
        describe_state=lambda s: f"the register holds {_shown(s)}",
        pure=lambda input, output: input[0] == "read",
        prune=_register_prune,
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
        prune=_register_prune,
    )


# --- key-value stores -------------------------------------------------------------

# A store state is a frozenset of (key, value) pairs: hashable and independent of
# the order keys were written in, so equal stores memoise as equal.  Keys holding
# the "never written" value are left out, so "never written" and "holds that
# value" are one state (they are indistinguishable to every later operation).
KVState = frozenset

_KV_OPS = "('put', key, v), ('get', key, None), ('append', key, v)"


def _kv_get(state: KVState, key: Any, absent: Any) -> Any:
    for k, v in state:
        if k == key:
            return v
    return absent


def _kv_set(state: KVState, key: Any, value: Any, absent: Any) -> KVState:
    rest = frozenset(pair for pair in state if pair[0] != key)
    return rest if value == absent else rest | {(key, value)}


def _kv_step(state: KVState, input: Any, output: Any) -> tuple[bool, KVState]:
    # String semantics (MIT 6.5840, Porcupine): "" for a missing key, append concatenates.
    if len(input) != 3:
        raise _bad_input("kv", input, _KV_OPS)
    f, key, value = input
    if f == "get":
        if output is UNKNOWN:
            return True, state
        return (("" if output is None else output) == _kv_get(state, key, "")), state
    if f == "put":
        return True, _kv_set(state, key, value, "")
    if f == "append":
        old = _kv_get(state, key, "")
        if not isinstance(value, str) or not isinstance(old, str):
            culprit = value if not isinstance(value, str) else old
            raise ValueError(
                f"value={culprit!r} must be a string for append on key {key!r}; allowed: str "
                "(the kv model concatenates strings; use kv-tuple to append other values)"
            )
        return True, _kv_set(state, key, old + value, "")
    raise _bad_input("kv", input, _KV_OPS)


def _kv_tuple_step(state: KVState, input: Any, output: Any) -> tuple[bool, KVState]:
    # Tuple semantics: None for a missing key, append builds a tuple of values.
    if len(input) != 3:
        raise _bad_input("kv-tuple", input, _KV_OPS)
    f, key, value = input
    if f == "get":
        return (output is UNKNOWN or output == _kv_get(state, key, None)), state
    if f == "put":
        return True, _kv_set(state, key, value, None)
    if f == "append":
        old = _kv_get(state, key, None)
        if old is None:
            new = (value,)
        elif isinstance(old, tuple):
            new = old + (value,)
        else:  # a put stored a plain value: keep it as the first element
            new = (old, value)
        return True, _kv_set(state, key, new, None)
    raise _bad_input("kv-tuple", input, _KV_OPS)


def _kv_prune(ops: list[Operation]) -> list[Operation]:
    # A pending put or append of v matters only if a later get can show it: every
    # get until the next put returns a string containing v (the kv model).
    shown: dict[Any, list[str]] = {}
    for op in ops:
        if op.input[0] == "get" and not op.pending:
            out = "" if op.output is None else op.output
            if not isinstance(out, str):
                return ops
            shown.setdefault(op.input[1], []).append(out)
    text = {key: "\x00".join(outs) for key, outs in shown.items()}
    return [
        op for op in ops
        if not op.pending or op.input[0] == "get" or not isinstance(op.input[2], str)
        or op.input[2] in text.get(op.input[1], "\x01")
    ]


def _kv_tuple_prune(ops: list[Operation]) -> list[Operation]:
    # A pending put or append of v matters only if a later get can show it: as the
    # value itself or as an element of the tuple returned (the kv-tuple model).
    shown: set = set()
    try:
        for op in ops:
            if op.input[0] == "get" and not op.pending:
                shown.add((op.input[1], op.output))
                if isinstance(op.output, tuple):
                    shown.update((op.input[1], v) for v in op.output)
        return [
            op for op in ops
            if not op.pending or op.input[0] == "get" or (op.input[1], op.input[2]) in shown
        ]
    except TypeError:  # unhashable values: keep everything
        return ops


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


def _kv_model(name: str, step: StepFn, prune: Callable[[list[Operation]], list[Operation]]) -> Model:
    return Model(
        init=frozenset,
        step=step,
        prune=prune,
        partition=_kv_partition,
        describe=_kv_describe,
        name=name,
        describe_state=_kv_state_text,
        part_name=lambda ops: f"key {ops[0].input[1]!r}" if ops else "empty part",
        pure=lambda input, output: input[0] == "get",
    )


def kv_model() -> Model:
    """A string key-value store (MIT 6.5840 / Porcupine semantics), checked one key at a time."""
    return _kv_model("kv", _kv_step, _kv_prune)


def tuple_kv_model() -> Model:
    """A key-value store whose append builds a tuple of values, checked one key at a time."""
    return _kv_model("kv-tuple", _kv_tuple_step, _kv_tuple_prune)


# --- a cas-register per key --------------------------------------------------------

_CAS_KV_OPS = "('write', key, v), ('read', key, None), ('cas', key, (expected, new))"


def _cas_kv_step(state: KVState, input: Any, output: Any) -> tuple[bool, KVState]:
    # One cas-register per key: the register step on that key's value (None = never written).
    if not isinstance(input, (tuple, list)) or len(input) != 3 or input[0] not in ("write", "read", "cas"):
        raise _bad_input("cas-kv", input, _CAS_KV_OPS)
    f, key, arg = input
    ok, value = _cas_step(_kv_get(state, key, None), (f, arg), output)
    return ok, _kv_set(state, key, value, None)


def _cas_kv_describe(input: Any, output: Any) -> str:
    if isinstance(input, (tuple, list)) and len(input) == 3 and input[0] in ("write", "read", "cas"):
        return f"{input[1]}: " + _register_describe((input[0], input[2]), output)
    return default_describe(input, output)


def _cas_kv_prune(ops: list[Operation]) -> list[Operation]:
    # Per key, exactly the register's rule (the checker hands each key's part on its own).
    parts: dict[Any, list[Operation]] = {}
    for op in ops:
        parts.setdefault(op.input[1], []).append(op)
    keep: set[int] = set()
    for part in parts.values():
        unkeyed = [Operation(op.client_id, (op.input[0], op.input[2]), op.call, op.output, op.return_time,
                             op.status) for op in part]
        kept = {id(u) for u in _register_prune(unkeyed)}
        keep.update(id(op) for op, u in zip(part, unkeyed) if id(u) in kept)
    return [op for op in ops if id(op) in keep]


def cas_kv_model() -> Model:
    """A compare-and-set register per key (Jepsen's etcd workload), checked one key at a time."""
    return Model(
        init=frozenset,
        step=_cas_kv_step,
        prune=_cas_kv_prune,
        partition=_kv_partition,
        describe=_cas_kv_describe,
        name="cas-kv",
        describe_state=_kv_state_text,
        part_name=lambda ops: f"key {ops[0].input[1]!r}" if ops else "empty part",
        pure=lambda input, output: input[0] == "read" or (input[0] == "cas" and output is False),
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
            return _cas_kv_describe(input, output) if len(input) == 3 else _register_describe(input, output)
        if f == "add":
            return _counter_describe(input, output)
    return default_describe(input, output)


MODELS = {
    "register": register_model,
    "cas-register": cas_register_model,
    "kv": kv_model,
    "kv-tuple": tuple_kv_model,
    "counter": counter_model,
    "cas-kv": cas_kv_model,
}

#: One line per built-in model saying what it means (shown by ``check --help``).
MODEL_HELP = {
    "register": "read/write register starting at None; a read returns the last write",
    "cas-register": "register + cas [old new] (Jepsen etcd): swaps iff it holds old; "
    ":fail = did not happen, :info = may or may not have happened",
    "kv": 'string store per key (MIT 6.5840 / Porcupine): never-written key reads as "", '
    "put replaces, append concatenates, get returns the value",
    "kv-tuple": "store per key with any values: never-written key reads as None, "
    "put replaces, append adds to a tuple",
    "counter": "integer counter starting at 0: add n, read returns the sum of the adds",
    "cas-kv": "a cas-register per key (Jepsen etcd): read/write/cas with :key, never-written key reads as nil",
}


def model_by_name(name: str) -> Model:
    """Build a built-in model from its command-line name."""
    try:
        return MODELS[name]()
    except KeyError:
        raise ValueError(
            f"model={name!r} is not a built-in model; allowed: {', '.join(MODELS)}"
        ) from None
