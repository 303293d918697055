"""History files: JSON Lines (both shapes), Jepsen EDN, and error messages."""

import io
import math

import pytest

from consistency_lab.check import (
    HistoryFormatError,
    Operation,
    check_operations,
    cas_register_model,
    kv_model,
    parse_history,
    read_history,
    write_jsonl,
)
from consistency_lab.check.edn import EdnError, Keyword, Symbol, read_edn_forms

INF = math.inf


def test_jsonl_round_trip(tmp_path):
    ops = [
        Operation(0, ("write", 1), 0.0, None, 3.0),
        Operation(1, ("read", None), 1.0, 1, 4.5),
        Operation(2, ("cas", (1, 2)), 2.0, True, 6.0),
        Operation(3, ("append", "k", 5), 2.0, None, INF, "info"),
        Operation(4, ("get", "k", None), 7.0, (5,), 8.0),
        Operation(5, ("put", "k", "s"), 9.0, None, 9.5, "fail"),
    ]
    path = tmp_path / "h.jsonl"
    write_jsonl(ops, path)
    lines = path.read_text().splitlines()
    assert len(lines) == 6
    assert '"return": null' in lines[3]
    assert read_history(path) == ops
    buf = io.StringIO()
    write_jsonl(ops, buf)
    assert parse_history(buf.getvalue()) == ops


def test_jsonl_complete_ops_defaults():
    text = (
        '{"client": 0, "input": ["write", 1], "call": 0, "output": null, "return": 3}\n'
        "\n"
        '{"client": 1, "input": ["read", null], "call": 1, "return": null}\n'
    )
    ops = parse_history(text)
    assert ops[0] == Operation(0, ("write", 1), 0.0, None, 3.0, "ok")
    assert ops[1].pending and ops[1].status == "info"


def test_jsonl_events_pairing():
    text = "\n".join([
        '{"process": 0, "type": "invoke", "f": "write", "value": 1, "time": 0}',
        '{"process": 1, "type": "invoke", "f": "read", "value": null, "time": 1}',
        '{"process": 0, "type": "ok", "f": "write", "value": 1, "time": 2}',
        '{"process": 1, "type": "ok", "f": "read", "value": 1, "time": 3}',
        '{"process": 2, "type": "invoke", "f": "put", "key": "x", "value": 4, "time": 4}',
        '{"process": 2, "type": "info", "f": "put", "key": "x", "value": 4, "time": 9}',
        '{"process": 3, "type": "invoke", "f": "cas", "value": [1, 2], "time": 5}',
        '{"process": 3, "type": "fail", "f": "cas", "value": [1, 2], "time": 6}',
        '{"process": 4, "type": "invoke", "f": "get", "value": ["x", null]}',
    ])
    ops = parse_history(text)
    assert ops == [
        Operation(0, ("write", 1), 0.0, None, 2.0),
        Operation(1, ("read", None), 1.0, 1, 3.0),
        Operation(2, ("put", "x", 4), 4.0, None, INF, "info"),
        Operation(3, ("cas", (1, 2)), 5.0, None, 6.0, "fail"),
        Operation(4, ("get", "x", None), 9.0, None, INF, "info"),  # never completed; time = line
    ]


JEPSEN = """\
; a Jepsen-style history
{:type :invoke, :f :read, :value nil, :process 0, :time 1000000, :index 0}
{:type :invoke, :f :write, :value 3, :process 1, :time 2000000, :index 1}
{:type :ok, :f :read, :value nil, :process 0, :time 3000000, :index 2}
{:type :info, :f :start-partition, :value nil, :process :nemesis, :time 3500000}
{:type :ok, :f :write, :value 3, :process 1, :time 4000000, :index 3}
{:type :invoke, :f :cas, :value [3 4], :process 0, :time 5000000}
{:type :ok, :f :cas, :value [3 4], :process 0, :time 6000000}
{:type :invoke, :f :write, :value 9, :process 2, :time 6500000}
{:type :info, :f :write, :value 9, :process 2, :time 9000000, :error #error {:cause "timeout"}}
{:type :invoke, :f :read, :value nil, :process 1, :time 7000000}
{:type :ok, :f :read, :value 4, :process 1, :time 8000000}
"""


def test_jepsen_edn(tmp_path):
    path = tmp_path / "history.edn"
    path.write_text(JEPSEN)
    ops = read_history(path)
    assert ops == [
        Operation(0, ("read", None), 1.0, None, 3.0),
        Operation(1, ("write", 3), 2.0, None, 4.0),
        Operation(0, ("cas", (3, 4)), 5.0, True, 6.0),
        Operation(2, ("write", 9), 6.5, None, INF, "info"),
        Operation(1, ("read", None), 7.0, 4, 8.0),
    ]
    assert check_operations(cas_register_model(), ops).ok


def test_edn_kv_value_pairs_and_line_times():
    text = (
        "[{:process 0 :type :invoke :f :put :value [:x 1]}\n"
        " {:process 0 :type :ok :f :put :value [:x 1]}\n"
        " {:process 1 :type :invoke :f :get :value [:x nil]}\n"
        " {:process 1 :type :ok :f :get :value [:x 1]}]\n"
    )
    ops = parse_history(text)  # sniffed as EDN
    assert [o.input for o in ops] == [("put", "x", 1), ("get", "x", None)]
    assert ops[1].output == 1
    assert (ops[0].call, ops[0].return_time) == (1.0, 2.0)  # line numbers as times
    assert check_operations(kv_model(), ops).ok


@pytest.mark.parametrize(
    "text, fmt, line, why",
    [
        ('{"client": 0, "input": ["write", 1], "call": 0, "return": 1}\n\n{"client": 0,,}\n', "jsonl", 3,
         "invalid JSON"),
        ('{"client": 0, "input": ["write", 1], "return": 1}\n', "jsonl", 1, "missing field 'call'"),
        ('{"client": 0, "input": ["write", 1], "call": 5, "return": 1}\n', "jsonl", 1, "return_time"),
        ('[1, 2]\n', "jsonl", 1, "expected a JSON object"),
        ('{"hello": 1}\n', "jsonl", 1, "neither"),
        ('{"process": 0, "type": "ok", "f": "read", "value": 1}\n', "jsonl", 1, "without a matching invoke"),
        ('{"process": 0, "type": "invoke", "f": "frob"}\n', "jsonl", 1, "f='frob'"),
        ('{"process": 0, "type": "begin", "f": "read"}\n', "jsonl", 1, "type='begin'"),
        ('{:process 0 :type :invoke :f :read}\n{:process 0 :type :invoke :f :read}\n', "edn", 2,
         "invoked again before its operation from line 1"),
        ('{:process 0 :type :invoke :f :read}\n{:process 0 :type :ok :f :write}\n', "edn", 2, "does not match"),
        ('{:process 0 :type :invoke :f :read}\n\n{:process 0 :type :ok\n', "edn", 3, "never closed"),
        ('{:process 0 :type :invoke :f :read :value}\n', "edn", 1, "odd number"),
        ('{:process 0 :type :invoke :f :read]\n', "edn", 1, "expected '}'"),
        ('{:process 0 :type :invoke :f :cas :value 3}\n', "edn", 1, "cas value must be"),
        ('{:process 0 :type :invoke :f :put :value 3}\n', "edn", 1, "needs a key"),
        ('{:process 0 :type :invoke :f :read :time :soon}\n', "edn", 1, "time=:soon"),
        ('\n\n"abc\n', "edn", 3, "string opened here is never closed"),
        ('{:process 0 :type :invoke :f :read :value 1.2.3}\n', "edn", 1, "malformed number"),
        ('17\n', "edn", 1, "expected a map"),
    ],
)
def test_format_errors_name_line_and_reason(text, fmt, line, why):
    with pytest.raises(HistoryFormatError) as info:
        parse_history(text, fmt=fmt, source="h")
    err = info.value
    assert err.line == line
    assert why in str(err)
    assert str(err).startswith(f"h: line {line}: ")


def test_unknown_format_name():
    with pytest.raises(ValueError, match="fmt='xml'"):
        parse_history("", fmt="xml")


# --- the EDN reader itself -----------------------------------------------------------


def test_edn_reader_values():
    forms = read_edn_forms(
        '{:a [1 -2 3N 4.5 -1e3 2M] :b (nil true false) "s\\"\\n\\u0041" \\c, #{1 2} sym #_ :gone :c #inst "x"}'
    )
    assert len(forms) == 1
    value, line = forms[0]
    assert line == 1
    assert value["a"] == (1, -2, 3, 4.5, -1000.0, 2.0)
    assert value["b"] == (None, True, False)
    assert value['s"\nA'] == "c"
    assert value[frozenset({1, 2})] == "sym" and isinstance(value[frozenset({1, 2})], Symbol)
    assert value["c"] == "x"
    assert "gone" not in value
    assert repr(Keyword("read")) == ":read" and Keyword("read") == "read"


def test_edn_reader_lines_and_comments():
    forms = read_edn_forms("; c\n:a ; trailing\n\n[1\n 2]\n")
    assert forms == [("a", 2), ((1, 2), 4)]
    assert read_edn_forms("[{:a 1}\n{:b 2}]", unwrap=True) == [({"a": 1}, 1), ({"b": 2}, 2)]


def test_edn_reader_deep_nesting_does_not_overflow():
    depth = 5000
    value = read_edn_forms("[" * depth + "]" * depth)[0][0]
    for _ in range(depth - 1):
        value = value[0]
    assert value == ()


def test_edn_reader_errors():
    with pytest.raises(EdnError, match="line 2: unmatched closing"):
        read_edn_forms("1\n)")
    with pytest.raises(EdnError, match="unknown string escape"):
        read_edn_forms('"\\q"')
