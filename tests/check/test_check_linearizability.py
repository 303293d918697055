"""Hand-made histories with known linearizability verdicts."""

import math
import random
import time

import pytest

from consistency_lab.check import (
    CheckResult,
    History,
    Model,
    Operation,
    cas_register_model,
    check_operations,
    counter_model,
    kv_model,
    register_model,
    tuple_kv_model,
)

from _builders import op, r, w

INF = math.inf


REG = register_model()


# --- register ---------------------------------------------------------------------


def test_empty_history_is_linearizable():
    assert check_operations(REG, []).verdict == "ok"


def test_stale_read_after_write_completed_is_illegal():
    h = [w(0, 1, 0, 2), r(1, None, 3, 4)]
    res = check_operations(REG, h)
    assert res.verdict == "illegal"
    assert not res and not res.ok
    assert res.witness.linearized == [h[0]]
    assert res.witness.unplaceable == [h[1]]
    assert res.witness.state == 1


def test_read_of_value_never_written_is_illegal_with_empty_prefix():
    h = [r(0, 7, 0, 1)]
    res = check_operations(REG, h)
    assert res.verdict == "illegal"
    assert res.witness.linearized == []
    assert res.witness.unplaceable == [h[0]]


@pytest.mark.parametrize("seen", [None, 1])
def test_read_concurrent_with_write_may_see_either_value(seen):
    h = [w(0, 1, 0, 10), r(1, seen, 2, 5)]
    res = check_operations(REG, h)
    assert res.verdict == "ok"
    assert bool(res) is True


def test_new_old_inversion_between_readers_is_illegal():
    # Both reads overlap the write, but once client 1 has seen 1, client 2's later
    # read cannot go back to the initial value.
    h = [w(0, 1, 0, 100), r(1, 1, 10, 20), r(2, None, 30, 40)]
    assert check_operations(REG, h).verdict == "illegal"


def test_overlapping_writes_in_either_order():
    h = [w(0, 1, 0, 10), w(1, 2, 0, 10), r(2, 1, 20, 21), r(3, 1, 22, 23)]
    assert check_operations(REG, h).ok
    flip = h + [r(2, 2, 24, 25), r(3, 1, 26, 27)]
    assert check_operations(REG, flip).verdict == "illegal"


def test_register_init_value():
    model = register_model(init=5)
    assert check_operations(model, [r(0, 5, 0, 1)]).ok
    assert not check_operations(model, [r(0, None, 0, 1)]).ok


# --- tie-breaking at equal times ------------------------------------------------


def test_return_at_t_precedes_call_at_t():
    assert check_operations(REG, [w(0, 1, 0, 2), r(1, 1, 2, 3)]).ok
    assert check_operations(REG, [w(0, 1, 0, 2), r(1, None, 2, 3)]).verdict == "illegal"


def test_zero_length_ops_at_same_instant_are_concurrent():
    assert check_operations(REG, [w(0, 1, 2, 2), r(1, None, 2, 2)]).ok
    # ...but a zero-length op precedes a longer op called at the same instant.
    assert check_operations(REG, [w(0, 1, 2, 2), r(1, None, 2, 3)]).verdict == "illegal"
    assert check_operations(REG, [w(0, 1, 1, 2), r(1, None, 2, 2)]).verdict == "illegal"


# --- pending and failed operations ------------------------------------------------


def test_pending_write_that_later_becomes_visible():
    h = [op(0, ("write", 1), 0, INF, status="info"), r(1, None, 5, 6), r(1, 1, 50, 51)]
    assert check_operations(REG, h).ok


def test_pending_write_never_seen_is_fine():
    h = [op(0, ("write", 1), 0, INF, status="info"), r(1, None, 5, 6), r(2, None, 70, 80)]
    assert check_operations(REG, h).ok


def test_pending_write_cannot_take_effect_before_its_call():
    h = [r(1, 1, 0, 2), op(0, ("write", 1), 5, INF, status="info")]
    assert check_operations(REG, h).verdict == "illegal"


def test_pending_write_seen_then_unseen_is_illegal():
    h = [op(0, ("write", 1), 0, INF, status="info"), r(1, 1, 5, 6), r(1, None, 7, 8)]
    assert check_operations(REG, h).verdict == "illegal"


def test_failed_ops_are_ignored():
    h = [op(0, ("write", 1), 0, 1, status="fail"), r(1, None, 5, 6)]
    assert check_operations(REG, h).ok
    h = [op(0, ("write", 1), 0, 1, status="fail"), r(1, 1, 5, 6)]
    assert check_operations(REG, h).verdict == "illegal"


def test_pending_read_output_is_ignored():
    h = [w(0, 1, 0, 1), op(1, ("read", None), 5, INF, out=99, status="info")]
    assert check_operations(REG, h).ok


# --- CAS register -----------------------------------------------------------------


def cas(client, old, new, call, ret, ok=True, status="ok"):
    return op(client, ("cas", (old, new)), call, ret, ok if status == "ok" else None, status)


def test_cas_chain_ok():
    m = cas_register_model(init=0)
    h = [cas(0, 0, 1, 0, 1), cas(1, 1, 2, 2, 3), cas(0, 2, 3, 4, 5), r(1, 3, 6, 7)]
    assert check_operations(m, h).ok


def test_cas_chain_illegal_when_two_cas_from_same_value_both_succeed():
    m = cas_register_model(init=0)
    h = [cas(0, 0, 1, 0, 10), cas(1, 0, 2, 0, 10)]
    res = check_operations(m, h)
    assert res.verdict == "illegal"
    assert len(res.witness.linearized) == 1


def test_failed_cas_is_an_observation():
    m = cas_register_model(init=0)
    # cas 0->1 reported "did not match" although nothing changed the register.
    assert check_operations(m, [cas(0, 0, 1, 0, 1, ok=False)]).verdict == "illegal"
    assert check_operations(m, [cas(0, 5, 1, 0, 1, ok=False), r(1, 0, 2, 3)]).ok


def test_pending_cas_may_or_may_not_have_swapped():
    m = cas_register_model(init=0)
    base = [cas(0, 0, 1, 0, INF, status="info")]
    assert check_operations(m, base + [r(1, 1, 5, 6)]).ok
    assert check_operations(m, base + [r(1, 0, 5, 6)]).ok
    assert check_operations(m, base + [r(1, 1, 5, 6), r(1, 0, 7, 8)]).verdict == "illegal"


# --- counter ----------------------------------------------------------------------


def test_counter():
    m = counter_model()
    add = lambda c, n, a, b: op(c, ("add", n), a, b)  # noqa: E731
    assert check_operations(m, [add(0, 2, 0, 5), add(1, 3, 0, 5), r(2, 2, 1, 6), r(2, 5, 7, 8)]).ok
    assert check_operations(m, [add(0, 2, 0, 1), r(2, 0, 2, 3)]).verdict == "illegal"
    # A read may not see a value that no combination of adds produces.
    assert check_operations(m, [add(0, 2, 0, 5), add(1, 3, 0, 5), r(2, 4, 1, 6)]).verdict == "illegal"


def test_counter_model_rejects_non_int_init():
    with pytest.raises(ValueError, match="init"):
        counter_model(init=1.5)


# --- kv, partitioned --------------------------------------------------------------


def put(c, k, v, a, b):
    return op(c, ("put", k, v), a, b)


def get(c, k, v, a, b):
    return op(c, ("get", k, None), a, b, v)


def test_kv_partitioned_one_key_illegal():
    m = kv_model()
    h = [
        put(0, "x", 1, 0, 1), get(1, "x", 1, 2, 3),
        put(0, "y", 1, 4, 5), get(1, "y", None, 6, 7),  # stale
        put(2, "z", 9, 0, 10), get(3, "z", None, 1, 2),
    ]
    res = check_operations(m, h)
    assert res.verdict == "illegal"
    verdicts = {p.label: p.verdict for p in res.partition_results}
    assert verdicts == {"key 'x'": "ok", "key 'y'": "illegal", "key 'z'": "ok"}
    assert res.witness.unplaceable == [h[3]]
    assert "key 'y'" in res.explain()


def test_kv_tuple_append_and_get():
    m = tuple_kv_model()
    app = lambda c, k, v, a, b: op(c, ("append", k, v), a, b)  # noqa: E731
    h = [app(0, "x", 1, 0, 1), app(1, "x", 2, 0, 1), get(2, "x", (2, 1), 2, 3)]
    assert check_operations(m, h).ok
    h2 = [app(0, "x", 1, 0, 1), app(1, "x", 2, 2, 3), get(2, "x", (2, 1), 4, 5)]
    assert check_operations(m, h2).verdict == "illegal"
    assert check_operations(m, [put(0, "x", 5, 0, 1), app(0, "x", 6, 2, 3), get(1, "x", (5, 6), 4, 5)]).ok


def test_partition_verdict_unknown_when_a_part_times_out_and_none_illegal():
    h = [put(0, "x", 1, 0, 1), put(0, "y", 1, 2, 3)]
    res = check_operations(kv_model(), h, timeout=1e-9)
    assert res.verdict == "unknown"
    assert all(p.verdict == "unknown" for p in res.partition_results)


def test_custom_partition_any_illegal_wins():
    # A register model partitioned by client: client 1's part is illegal on its own.
    base = register_model()
    def by_client(ops):
        groups = {}
        for o in ops:
            groups.setdefault(o.client_id, []).append(o)
        return list(groups.values())
    model = Model(base.init, base.step, partition=by_client)
    h = [w(0, 1, 0, 1), r(0, 1, 2, 3), r(1, 5, 0, 1)]
    res = check_operations(model, h)
    assert res.verdict == "illegal"
    assert [p.label for p in res.partition_results] == ["part 1", "part 2"]
    assert [p.verdict for p in res.partition_results] == ["ok", "illegal"]


# --- result object, witness, explanation ----------------------------------------


def test_ok_result_carries_a_legal_real_time_order():
    h = [w(0, 1, 0, 10), r(1, None, 1, 2), w(1, 2, 3, 4), r(2, 1, 5, 20)]
    res = check_operations(REG, h)
    assert res.ok
    assert sorted(map(id, res.order)) == sorted(map(id, h))
    assert res.order.index(h[1]) < res.order.index(h[2]) < res.order.index(h[0])


def test_explain_mentions_the_stuck_operation():
    h = [w(0, 1, 0, 2), r(1, None, 3, 4)]
    text = check_operations(REG, h).explain()
    assert text.startswith("Not linearizable")
    assert "client 1's read → None (3–4 ms)" in text
    assert "register holds 1" in text
    assert "Linearizable" in check_operations(REG, h[:1]).explain()


def test_explain_is_wrapped_at_word_boundaries():
    # Notebook output areas break long lines anywhere, even mid-word; explain() wraps itself.
    h = [w(0, 1, 0, 2), r(1, None, 3, 4)]
    res = check_operations(REG, h)
    text = res.explain()
    assert "\n" in text and all(len(line) <= 88 for line in text.split("\n"))
    assert " ".join(text.split()) == " ".join(res.explain(width=10_000).split())  # no word was split
    assert all(len(line) <= 40 for line in res.explain(width=40).split("\n") if " " in line)


def test_history_object_accepted_and_elapsed_recorded():
    res = check_operations(REG, History([w(0, 1, 0, 1)]))
    assert res.ok and res.elapsed_s >= 0 and res.n_ops == 1


def test_bad_arguments():
    with pytest.raises(ValueError, match=r"timeout=-1 must be a positive number of seconds or None"):
        check_operations(REG, [], timeout=-1)
    with pytest.raises(ValueError, match="timeout=0"):
        check_operations(REG, [], timeout=0)
    with pytest.raises(TypeError, match="model"):
        check_operations("register", [])
    with pytest.raises(TypeError, match=r"ops\[0\]"):
        check_operations(REG, ["write 1"])
    with pytest.raises(ValueError, match="not a register operation"):
        check_operations(REG, [op(0, ("put", "x", 1), 0, 1)])
    with pytest.raises(ValueError, match="verdict"):
        CheckResult("maybe")


# --- timeout and speed --------------------------------------------------------------


def _atomic_register_history(n_ops, n_clients, seed, values=3):
    """Random history of a correct atomic register (each op takes effect inside its interval)."""
    rng = random.Random(seed)
    clock = [0.0] * n_clients
    planned = []
    for _ in range(n_ops):
        c = rng.randrange(n_clients)
        call = clock[c] + rng.uniform(0, 5)
        ret = call + rng.uniform(0.1, 20)
        clock[c] = ret
        point = rng.uniform(call, ret)
        kind = "write" if rng.random() < 0.5 else "read"
        planned.append((point, c, kind, rng.randrange(values), call, ret))
    state, out = None, []
    for _point, c, kind, v, call, ret in sorted(planned):
        if kind == "write":
            state = v
            out.append(w(c, v, call, ret))
        else:
            out.append(r(c, state, call, ret))
    return out


def test_timeout_gives_unknown_not_a_guess():
    h = _atomic_register_history(200, 5, seed=1)
    res = check_operations(REG, h, timeout=1e-9)
    assert res.verdict == "unknown"
    assert not res
    assert res.witness is None
    assert "timeout" in res.explain() or "time" in res.explain()


def test_200_op_5_client_register_history_is_fast():
    h = _atomic_register_history(200, 5, seed=7)
    start = time.perf_counter()
    res = check_operations(REG, h)
    assert res.ok
    assert time.perf_counter() - start < 1.0


def test_broken_200_op_history_is_found_illegal_quickly():
    h = _atomic_register_history(200, 5, seed=3, values=50)
    reads = [i for i, o in enumerate(h) if o.input[0] == "read"]
    victim = h[reads[len(reads) // 2]]
    h[reads[len(reads) // 2]] = Operation(victim.client_id, victim.input, victim.call, "garbage", victim.return_time)
    res = check_operations(REG, h, timeout=5)
    assert res.verdict == "illegal"
    assert res.witness.unplaceable


def test_hard_history_times_out_mid_search_but_memo_solves_it():
    # One read late in the history returns a value nobody wrote.  Plain Wing-Gong
    # must try exponentially many orders of the 199 operations before it; the memo
    # set and greedy reads decide it at once.
    h = _atomic_register_history(200, 5, seed=0, values=50)
    last_read = max(i for i, o in enumerate(h) if o.input[0] == "read")
    v = h[last_read]
    h[last_read] = Operation(v.client_id, v.input, v.call, "never written", v.return_time)
    start = time.perf_counter()
    slow = check_operations(REG, h, timeout=0.2, _memoise=False, _greedy=False)
    assert slow.verdict == "unknown"
    assert 0.2 <= time.perf_counter() - start < 2
    assert "timeout=0.2 s" in slow.reason
    fast = check_operations(REG, h, timeout=5)
    assert fast.verdict == "illegal"
    assert fast.witness.unplaceable[0] is h[last_read]
