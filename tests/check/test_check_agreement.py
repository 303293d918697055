"""The real searches must agree with brute force on small random histories."""

import math

from hypothesis import event, given, settings
from hypothesis import strategies as st

from consistency_lab.check import (
    UNKNOWN,
    Operation,
    brute_force_linearizable,
    brute_force_sequential,
    cas_register_model,
    check_operations,
    check_sequential,
    counter_model,
    kv_model,
    precedes,
    register_model,
    tuple_kv_model,
)
from consistency_lab.check.session import SESSION_CHECKS

MODELS = {
    "register": register_model(),
    "cas": cas_register_model(init=0),
    "kv": kv_model(),
    "kv-tuple": tuple_kv_model(),
    "counter": counter_model(),
}


def _apply(kind, state, inp):
    """Reference semantics used to simulate a correct (atomic) object."""
    f = inp[0]
    if kind == "kv":  # strings: "" when never written, append concatenates
        key = inp[1]
        cur = state.get(key, "")
        if f == "get":
            return cur, state
        return None, {**state, key: inp[2] if f == "put" else cur + inp[2]}
    if kind == "kv-tuple":
        key = inp[1]
        cur = state.get(key)
        if f == "get":
            return cur, state
        if f == "put":
            return None, {**state, key: inp[2]}
        if cur is None:
            return None, {**state, key: (inp[2],)}
        grown = cur + (inp[2],) if isinstance(cur, tuple) else (cur, inp[2])
        return None, {**state, key: grown}
    if f == "read":
        return state, state
    if f == "write":
        return None, inp[1]
    if f == "add":
        return None, state + inp[1]
    old, new = inp[1]
    return (True, new) if state == old else (False, state)


def _input(draw, kind, unique=None):
    v = draw(st.integers(0, 2)) if unique is None else unique
    if kind == "kv":
        v = "abc"[v] if unique is None else f"<{v}>"
    if kind in ("kv", "kv-tuple"):
        key = draw(st.sampled_from("xy"))
        f = draw(st.sampled_from(["get", "put", "append"]))
        return (f, key, None if f == "get" else v)
    if kind == "counter":
        return ("add", draw(st.integers(1, 2))) if draw(st.booleans()) else ("read", None)
    f = draw(st.sampled_from(["read", "write"] + (["cas"] if kind == "cas" else [])))
    if f == "cas":
        return ("cas", (draw(st.integers(0, 2)), v))
    return (f, None) if f == "read" else (f, v)


@st.composite
def histories(draw, kind, max_ops=7, garbage=False, unique=False, pending_one_in=8):
    """A history of a correct object (each op takes effect inside its interval),
    optionally with some outputs replaced by random values, or with every
    written value unique; about one operation in ``pending_one_in`` is pending."""
    n_clients = draw(st.integers(1, 3))
    n = draw(st.integers(0, max_ops))
    clock = [0] * n_clients
    planned = []
    for k in range(n):
        c = draw(st.integers(0, n_clients - 1))
        # Small integer times make ties (touching and zero-length intervals) common.
        call = clock[c] + draw(st.integers(0, 2))
        dur = draw(st.integers(0, 3))
        pending = draw(st.integers(0, pending_one_in - 1)) == 0
        inp = _input(draw, kind, unique=10 + k if unique else None)
        failed = not pending and draw(st.integers(0, 9)) == 0
        if failed:  # certainly had no effect
            ret = call + dur
            clock[c] = ret
            point = None
        elif pending:
            clock[c] = call
            takes_effect = draw(st.booleans())
            point = call + draw(st.integers(0, 8)) / 2 if takes_effect else None
            ret = math.inf
        else:
            ret = call + dur
            clock[c] = ret
            point = call + draw(st.integers(0, 2 * dur)) / 2
        planned.append((point, call, ret, k, c, inp))
    state = {} if kind in ("kv", "kv-tuple") else 0 if kind in ("cas", "counter") else None
    outputs = {}
    effective = sorted((p for p in planned if p[0] is not None), key=lambda p: p[:4])
    for *_, k, _c, inp in effective:
        outputs[k], state = _apply(kind, state, inp)
    ops = []
    for point, call, ret, k, c, inp in planned:
        out = outputs.get(k)
        if garbage and inp[0] in ("read", "get", "cas") and draw(st.integers(0, 2)) == 0:
            if kind == "kv":
                out = draw(st.sampled_from([None, "", "a", "b", "ab", "ba", "abc", "cc"]))
            else:
                out = draw(st.sampled_from([None, 0, 1, 2, 10, 11, 12, True, False, (1,), (0, 1), (10, 11)]))
        status = "info" if math.isinf(ret) else "ok" if point is not None else "fail"
        ops.append(Operation(c, inp, call, None if status == "info" else out, ret, status))
    return ops


def _assert_witness_consistent(model, ops, res):
    w = res.witness
    state = model.init()
    for o in w.linearized:
        legal, state = model.step(state, o.input, UNKNOWN if o.status == "info" else o.output)
        assert legal
    for i, a in enumerate(w.linearized):
        for b in w.linearized[i + 1:]:
            assert not precedes(b, a)
    assert w.unplaceable
    assert all(o.status != "fail" for o in w.linearized + w.unplaceable)


def _assert_order_legal(model, ops, order):
    done = [o for o in ops if o.status == "ok"]
    assert {id(o) for o in done} <= {id(o) for o in order}
    state = model.init()
    for i, o in enumerate(order):
        legal, state = model.step(state, o.input, UNKNOWN if o.status == "info" else o.output)
        assert legal
        assert not any(precedes(later, o) for later in order[i + 1:])


def _agree(kind, ops):
    model = MODELS[kind]
    expected = brute_force_linearizable(model, ops)
    res = check_operations(model, ops)
    event(f"{kind}: {res.verdict}, {len(ops)} ops")
    assert res.ok == expected, res.explain()
    # Every variant of the search (memo set and greedy reads on/off) must agree.
    for memoise in (True, False):
        for greedy in (True, False):
            assert check_operations(model, ops, _memoise=memoise, _greedy=greedy).ok == expected
    # With no step budget the relaxed search (pending ops reusable) decides "illegal".
    relaxed_first = check_operations(model, ops, _budget=0)
    assert relaxed_first.ok == expected
    if relaxed_first.verdict == "illegal" and model.partition is None:
        _assert_witness_consistent(model, ops, relaxed_first)
    if res.verdict == "illegal":
        if model.partition is None:
            _assert_witness_consistent(model, ops, res)
    elif model.partition is None:
        _assert_order_legal(model, ops, res.order)
    return expected


@settings(max_examples=300)
@given(st.sampled_from(sorted(MODELS)).flatmap(lambda k: st.tuples(st.just(k), histories(k))))
def test_correct_objects_give_linearizable_histories(kind_ops):
    kind, ops = kind_ops
    assert _agree(kind, ops) is True
    assert check_sequential(MODELS[kind], ops).ok  # linearizable implies sequential


@settings(max_examples=300)
@given(
    st.sampled_from(["register", "kv", "kv-tuple"]).flatmap(
        lambda k: st.tuples(st.just(k), histories(k, garbage=True, unique=True))
    )
)
def test_linearizable_histories_keep_all_session_guarantees(kind_ops):
    kind, ops = kind_ops
    if check_operations(MODELS[kind], ops).ok:
        for check in SESSION_CHECKS.values():
            assert check(ops).holds, check(ops).reason


@settings(max_examples=500)
@given(
    st.sampled_from(sorted(MODELS)).flatmap(
        lambda k: st.tuples(st.just(k), histories(k, garbage=True))
    )
)
def test_agrees_with_brute_force_on_garbage(kind_ops):
    kind, ops = kind_ops
    _agree(kind, ops)


@settings(max_examples=300)
@given(
    st.sampled_from(["register", "cas", "kv", "kv-tuple"]).flatmap(
        lambda k: st.tuples(st.just(k), histories(k, max_ops=6, garbage=True))
    )
)
def test_sequential_agrees_with_brute_force(kind_ops):
    kind, ops = kind_ops
    model = MODELS[kind]
    expected = brute_force_sequential(model, ops)
    res = check_sequential(model, ops)
    event(f"sequential {res.verdict}")
    assert res.ok == expected
    if expected:
        # Linearizable implies sequentially consistent, never the other way round.
        pass
    elif check_operations(model, ops).ok:
        raise AssertionError("linearizable but not sequentially consistent")


@settings(max_examples=500)
@given(
    st.sampled_from(["register", "cas", "kv", "kv-tuple"]).flatmap(
        lambda k: st.tuples(st.just(k), histories(k, max_ops=8, garbage=True, pending_one_in=2))
    )
)
def test_agrees_with_brute_force_when_half_the_operations_are_pending(kind_ops):
    # Pending operations are where the search prunes hardest (dominated pending sets,
    # twins, the dependency rule, Model.prune), so check those rules against brute force.
    kind, ops = kind_ops
    _agree(kind, ops)
