"""The built-in models' semantics: string kv (MIT 6.5840 / Porcupine), kv-tuple, and
Jepsen etcd-style CAS-register histories read from EDN."""

import argparse
import math

import pytest

from consistency_lab.check import (
    MODEL_HELP,
    MODELS,
    check_operations,
    kv_model,
    model_by_name,
    parse_history,
    tuple_kv_model,
)
from consistency_lab.cli.check import add_check_parser
from consistency_lab.check.session import SESSION_CHECKS

from _builders import op

INF = math.inf
KV = kv_model()


def put(c, k, v, a, b, status="ok"):
    return op(c, ("put", k, v), a, b, status=status)


def app(c, k, v, a, b, status="ok"):
    return op(c, ("append", k, v), a, b, status=status)


def get(c, k, v, a, b):
    return op(c, ("get", k, None), a, b, v)


# --- kv: string semantics ---------------------------------------------------------


@pytest.mark.parametrize("seen, verdict", [("", "ok"), (None, "ok"), ("x", "illegal")])
def test_kv_never_written_key_reads_as_empty_string(seen, verdict):
    assert check_operations(KV, [get(0, "k", seen, 0, 1)]).verdict == verdict


def test_kv_append_concatenates_in_linearization_order():
    seq = [app(0, "k", "a", 0, 1), app(1, "k", "b", 2, 3)]
    assert check_operations(KV, seq + [get(2, "k", "ab", 4, 5)]).ok
    assert check_operations(KV, seq + [get(2, "k", "ba", 4, 5)]).verdict == "illegal"
    # Concurrent appends may land in either order, but a later read sticks to it.
    both = [app(0, "k", "a", 0, 3), app(1, "k", "b", 0, 3)]
    assert check_operations(KV, both + [get(2, "k", "ba", 4, 5)]).ok
    assert check_operations(KV, both + [get(2, "k", "ab", 4, 5)]).ok
    flip = both + [get(2, "k", "ab", 4, 5), get(2, "k", "ba", 6, 7)]
    assert check_operations(KV, flip).verdict == "illegal"


def test_kv_put_replaces_and_append_extends_a_put():
    h = [put(0, "k", "x", 0, 1), app(0, "k", "y", 2, 3), get(1, "k", "xy", 4, 5)]
    assert check_operations(KV, h).ok
    h2 = h + [put(0, "k", "z", 6, 7), get(1, "k", "z", 8, 9)]
    assert check_operations(KV, h2).ok
    assert check_operations(KV, h + [put(0, "k", "z", 6, 7), get(1, "k", "xyz", 8, 9)]).verdict == "illegal"


def test_kv_pending_append_may_or_may_not_have_happened():
    h = [app(0, "k", "a", 0, INF, status="info")]
    assert check_operations(KV, h + [get(1, "k", "", 5, 6)]).ok
    assert check_operations(KV, h + [get(1, "k", "a", 5, 6)]).ok
    assert check_operations(KV, h + [get(1, "k", "a", 5, 6), get(1, "k", "", 7, 8)]).verdict == "illegal"


def test_kv_append_of_a_non_string_is_refused_with_a_pointer_to_kv_tuple():
    with pytest.raises(ValueError, match=r"value=1 must be a string .*allowed: str .*kv-tuple"):
        check_operations(KV, [app(0, "k", 1, 0, 1)])


def test_kv_tuple_keeps_the_tuple_semantics():
    m = tuple_kv_model()
    h = [app(0, "k", 1, 0, 1), app(0, "k", 2, 2, 3)]
    assert check_operations(m, h + [get(1, "k", (1, 2), 4, 5)]).ok
    assert check_operations(m, [get(1, "k", None, 0, 1)]).ok
    assert check_operations(m, [get(1, "k", "", 0, 1)]).verdict == "illegal"
    # The string model reads the same tuple history differently.
    assert check_operations(KV, [get(1, "k", "", 0, 1)]).ok


# MIT 6.5840 / Porcupine kv log lines: key in :key, string values, no :time (line order).
LAB_KV = """\
{:process 0, :type :invoke, :f :append, :key "2", :value "x 0 0 y"}
{:process 1, :type :invoke, :f :put, :key "1", :value "x 1 0 y"}
{:process 0, :type :ok, :f :append, :key "2", :value "x 0 0 y"}
{:process 3, :type :invoke, :f :append, :key "2", :value "x 3 0 y"}
{:process 1, :type :ok, :f :put, :key "1", :value "x 1 0 y"}
{:process 3, :type :ok, :f :append, :key "2", :value "x 3 0 y"}
{:process 2, :type :invoke, :f :get, :key "0", :value nil}
{:process 2, :type :ok, :f :get, :key "0", :value ""}
{:process 3, :type :invoke, :f :get, :key "2", :value nil}
{:process 3, :type :ok, :f :get, :key "2", :value "x 0 0 yx 3 0 y"}
{:process 4, :type :invoke, :f :get, :key "1", :value nil}
{:process 4, :type :ok, :f :get, :key "1", :value "x 1 0 y"}
"""


def test_lab_kv_edn_parses_with_keys_and_string_values():
    ops = parse_history(LAB_KV)
    assert [o.input for o in ops] == [
        ("append", "2", "x 0 0 y"), ("put", "1", "x 1 0 y"), ("append", "2", "x 3 0 y"),
        ("get", "0", None), ("get", "2", None), ("get", "1", None),
    ]
    assert all(type(o.input[0]) is str for o in ops)  # plain str, not an EDN keyword
    assert [o.output for o in ops if o.input[0] == "get"] == ["", "x 0 0 yx 3 0 y", "x 1 0 y"]
    res = check_operations(KV, ops)
    assert res.ok
    assert {p.label for p in res.partition_results} == {"key '0'", "key '1'", "key '2'"}


def test_lab_kv_edn_with_appends_out_of_order_is_illegal():
    bad = LAB_KV.replace('"x 0 0 yx 3 0 y"}', '"x 3 0 yx 0 0 y"}')
    res = check_operations(KV, parse_history(bad))
    assert res.verdict == "illegal"
    assert [p.verdict for p in res.partition_results if p.label == "key '2'"] == ["illegal"]
    assert res.witness.unplaceable[0].output == "x 3 0 yx 0 0 y"


def test_edn_key_given_only_on_the_completion():
    text = (
        '{:process 0, :type :invoke, :f :get, :value nil}\n'
        '{:process 0, :type :ok, :f :get, :key "k", :value "v"}\n'
    )
    assert parse_history(text)[0].input == ("get", "k", None)


def test_session_checks_do_not_judge_concatenated_strings():
    # Client 0 reads its own append back inside a longer string: no violation claimed.
    h = [app(0, "k", "a", 0, 1), app(1, "k", "b", 0, 1), get(0, "k", "ba", 2, 3)]
    assert check_operations(KV, h).ok
    for check in SESSION_CHECKS.values():
        assert check(h).holds, check(h).reason


# --- cas-register: Jepsen etcd-style EDN ------------------------------------------


def _edn(*events):
    """EDN lines from (process, type, f, value, time in ms) tuples."""
    def fmt(v):
        if v is None:
            return "nil"
        if isinstance(v, tuple):
            return "[" + " ".join(fmt(x) for x in v) + "]"
        return str(v)
    return "".join(
        f"{{:process {p}, :type :{t}, :f :{f}, :value {fmt(v)}, :time {int(ms * 1e6)}}}\n"
        for p, t, f, v, ms in events
    )


CAS = model_by_name("cas-register")


def _verdict(*events):
    return check_operations(CAS, parse_history(_edn(*events), fmt="edn")).verdict


def test_cas_register_legal_chain():
    assert _verdict(
        (0, "invoke", "write", 1, 0), (0, "ok", "write", 1, 10),
        (1, "invoke", "cas", (1, 2), 20), (1, "ok", "cas", (1, 2), 30),
        (2, "invoke", "read", None, 40), (2, "ok", "read", 2, 50),
    ) == "ok"


def test_cas_register_initial_nil_then_write():
    assert _verdict(
        (0, "invoke", "read", None, 0), (0, "ok", "read", None, 1),
        (1, "invoke", "write", 3, 2), (1, "ok", "write", 3, 3),
        (0, "invoke", "read", None, 4), (0, "ok", "read", 3, 5),
    ) == "ok"
    assert _verdict(
        (1, "invoke", "write", 3, 2), (1, "ok", "write", 3, 3),
        (0, "invoke", "read", None, 4), (0, "ok", "read", None, 5),
    ) == "illegal"


def test_cas_register_fail_means_it_did_not_happen():
    base = [(0, "invoke", "write", 1, 0), (0, "ok", "write", 1, 10),
            (1, "invoke", "cas", (1, 3), 20), (1, "fail", "cas", (1, 3), 30)]
    assert _verdict(*base, (2, "invoke", "read", None, 40), (2, "ok", "read", 1, 50)) == "ok"
    assert _verdict(*base, (2, "invoke", "read", None, 40), (2, "ok", "read", 3, 50)) == "illegal"


def test_cas_register_two_successful_cas_from_one_value_is_illegal():
    assert _verdict(
        (0, "invoke", "write", 0, 0), (0, "ok", "write", 0, 1),
        (1, "invoke", "cas", (0, 1), 2), (2, "invoke", "cas", (0, 2), 2),
        (1, "ok", "cas", (0, 1), 5), (2, "ok", "cas", (0, 2), 5),
    ) == "illegal"


def test_cas_register_successful_cas_from_a_value_never_held_is_illegal():
    assert _verdict(
        (0, "invoke", "write", 0, 0), (0, "ok", "write", 0, 1),
        (1, "invoke", "cas", (4, 1), 2), (1, "ok", "cas", (4, 1), 3),
    ) == "illegal"


INFO_WRITE = [(0, "invoke", "write", 1, 0), (0, "ok", "write", 1, 1),
              (1, "invoke", "write", 5, 2), (1, "info", "write", 5, 3)]


@pytest.mark.parametrize(
    "reads, verdict",
    [
        ([1, 1], "ok"),        # the :info write never happened
        ([5, 5], "ok"),        # it happened
        ([1, 5], "ok"),        # it happened late, long after the client gave up
        ([5, 1], "illegal"),   # it happened, then un-happened
    ],
)
def test_cas_register_info_write_may_or_may_not_have_happened(reads, verdict):
    events = list(INFO_WRITE)
    for k, v in enumerate(reads):
        t = 10 + 10 * k
        events += [(2, "invoke", "read", None, t), (2, "ok", "read", v, t + 1)]
    assert _verdict(*events) == verdict


def test_cas_register_info_cas_may_or_may_not_have_swapped():
    base = [(0, "invoke", "write", 1, 0), (0, "ok", "write", 1, 1),
            (1, "invoke", "cas", (1, 2), 2), (1, "info", "cas", (1, 2), 3)]
    read = lambda v, t: [(2, "invoke", "read", None, t), (2, "ok", "read", v, t + 1)]  # noqa: E731
    assert _verdict(*base, *read(2, 10)) == "ok"
    assert _verdict(*base, *read(1, 10)) == "ok"
    assert _verdict(*base, *read(2, 10), *read(1, 20)) == "illegal"
    # An :info cas whose compare could never match cannot explain a new value.
    bad = [(0, "invoke", "write", 1, 0), (0, "ok", "write", 1, 1),
           (1, "invoke", "cas", (7, 2), 2), (1, "info", "cas", (7, 2), 3)]
    assert _verdict(*bad, *read(2, 10)) == "illegal"


def test_cas_register_info_read_constrains_nothing():
    assert _verdict(
        (0, "invoke", "write", 1, 0), (0, "ok", "write", 1, 1),
        (1, "invoke", "read", None, 2), (1, "info", "read", None, 3),
    ) == "ok"


def test_cli_cas_register_verdicts(tmp_path):
    from consistency_lab.cli.check import main

    good, bad = tmp_path / "good.edn", tmp_path / "bad.edn"
    good.write_text(_edn(*INFO_WRITE, (2, "invoke", "read", None, 10), (2, "ok", "read", 5, 11)))
    bad.write_text(_edn(*INFO_WRITE, (2, "invoke", "read", None, 10), (2, "ok", "read", 7, 11)))
    assert main(["check", str(good), "--model", "cas-register"]) == 0
    assert main(["check", str(bad), "--model", "cas-register"]) == 1


# --- the list of models ---------------------------------------------------------------


def test_every_model_has_one_help_line_and_a_matching_name():
    assert set(MODEL_HELP) == set(MODELS)
    for name in MODELS:
        assert model_by_name(name).name == name
        assert "\n" not in MODEL_HELP[name]


def test_check_help_states_each_models_semantics():
    parser = argparse.ArgumentParser(prog="t")
    sub = parser.add_subparsers(dest="command")
    add_check_parser(sub)
    text = sub.choices["check"].format_help()
    for name, line in MODEL_HELP.items():
        assert f"  {name}" in text
        assert " ".join(line.split()) in " ".join(text.split())
    assert 'never-written key reads as ""' in text
    assert "append concatenates" in text
