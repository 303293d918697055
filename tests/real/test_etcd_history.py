"""The etcd history format: the cas-kv model (a cas-register per key) and the Jepsen EDN round trip."""

from __future__ import annotations

import io
import math

import pytest

from consistency_lab.check import Operation, cas_kv_model, check_operations, model_by_name, parse_history, write_edn


def op(client, inp, call, output, ret, status="ok"):
    return Operation(client, inp, call, output, ret, status)


FRESH = [
    op(0, ("write", "k0", 1), 0, None, 1),
    op(1, ("cas", "k0", (1, 2)), 2, True, 3),
    op(2, ("read", "k0", None), 4, 2, 5),
    op(3, ("write", "k1", 7), 0, None, 1),
    op(1, ("read", "k1", None), 6, 7, 7),
]


def test_a_fresh_history_is_linearizable_key_by_key():
    result = check_operations(cas_kv_model(), FRESH)
    assert result.verdict == "ok"
    assert [part.label for part in result.partition_results] == ["key 'k0'", "key 'k1'"]


def test_a_stale_read_after_a_completed_cas_is_illegal_with_a_witness():
    history = FRESH + [op(4, ("read", "k0", None), 10, 1, 11)]  # reads 1 after the cas to 2 finished
    result = check_operations(cas_kv_model(), history)
    assert result.verdict == "illegal"
    assert result.witness is not None
    assert "k0" in result.explain()


def test_cas_outcomes_must_match_the_value_the_key_holds():
    swapped_wrongly = [op(0, ("write", "k", 1), 0, None, 1), op(1, ("cas", "k", (5, 6)), 2, True, 3)]
    refused_wrongly = [op(0, ("write", "k", 1), 0, None, 1), op(1, ("cas", "k", (1, 6)), 2, False, 3)]
    assert check_operations(cas_kv_model(), swapped_wrongly).verdict == "illegal"
    assert check_operations(cas_kv_model(), refused_wrongly).verdict == "illegal"
    never_written = [op(0, ("read", "k", None), 0, None, 1), op(1, ("cas", "k", (None, 3)), 2, True, 3),
                     op(2, ("read", "k", None), 4, 3, 5)]
    assert check_operations(cas_kv_model(), never_written).verdict == "ok"


def test_an_indeterminate_write_may_or_may_not_have_happened():
    pending = op(0, ("write", "k", 9), 0, None, math.inf, "info")
    seen = [pending, op(1, ("read", "k", None), 5, 9, 6)]
    unseen = [pending, op(1, ("read", "k", None), 5, None, 6)]
    assert check_operations(cas_kv_model(), seen).verdict == "ok"
    assert check_operations(cas_kv_model(), unseen).verdict == "ok"


def test_the_model_refuses_inputs_of_other_models_in_one_line():
    with pytest.raises(ValueError, match=r"is not a cas-kv operation; allowed: .*'cas', key"):
        check_operations(cas_kv_model(), [op(0, ("put", "k", 1), 0, None, 1)])
    assert model_by_name("cas-kv").name == "cas-kv"


def _round_trip(ops):
    buf = io.StringIO()
    write_edn(ops, buf)
    return buf.getvalue(), parse_history(buf.getvalue(), fmt="edn")


def test_edn_round_trip_keeps_every_operation():
    ops = FRESH + [
        op(4, ("write", "k0", "x y"), 20.5, None, math.inf, "info"),
        op(5, ("cas", "k1", (5, 8)), 21, False, 22.25),
        op(6, ("write", "k1", 3), 23, None, 24, "fail"),
        op(11, ("read", "k0", None), 30, "x y", 31),
    ]
    text, back = _round_trip(ops)
    assert "{:process 0, :type :invoke, :f :write, :key \"k0\", :value 1, :time 0}" in text
    assert ":type :info" in text
    expected = []
    for o in sorted(ops, key=lambda o: o.call):
        if o.input[0] == "cas" and o.output is False:  # Jepsen writes a cas that did not swap as :fail
            o = op(o.client_id, o.input, o.call, None, o.return_time, "fail")
        if o.status == "fail":
            o = op(o.client_id, o.input, o.call, None, o.return_time, "fail")
        expected.append(o)
    assert [(o.client_id, o.input, o.output, o.status, o.pending) for o in back] == \
        [(o.client_id, o.input, o.output, o.status, o.pending) for o in expected]
    for got, want in zip(back, expected):
        assert got.call == pytest.approx(want.call) and got.return_time == pytest.approx(want.return_time)
    assert check_operations(cas_kv_model(), back).verdict == check_operations(cas_kv_model(), ops).verdict == "ok"


def test_edn_pending_operation_then_the_same_process_again_still_pairs():
    ops = [op(0, ("write", "k", 1), 0, None, math.inf, "info"), op(0, ("read", "k", None), 5, 1, 6)]
    _, back = _round_trip(ops)
    assert [(o.input, o.pending) for o in back] == [(("write", "k", 1), True), (("read", "k", None), False)]


def test_edn_writer_refuses_what_it_cannot_write():
    with pytest.raises(ValueError, match=r"input=.*cannot be written as EDN"):
        write_edn([op(0, ("frob", 1), 0, None, 1)], io.StringIO())
    with pytest.raises(ValueError, match=r"value=.*cannot be written as EDN"):
        write_edn([op(0, ("write", "k", {1: 2}), 0, None, 1)], io.StringIO())


def test_the_command_line_checks_a_saved_etcd_history_with_the_cas_kv_model(tmp_path, capsys):
    from consistency_lab.cli import main

    good, bad = tmp_path / "good.edn", tmp_path / "bad.edn"
    write_edn(FRESH, good)
    write_edn(FRESH + [op(4, ("read", "k0", None), 10, 1, 11)], bad)
    assert main(["check", str(good), "--model", "cas-kv"]) == 0
    assert main(["check", str(bad), "--model", "cas-kv"]) == 1
    capsys.readouterr()
