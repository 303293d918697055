"""The check subcommand's exit codes and output, and the history plot."""

import argparse
import math
import subprocess
import sys
from pathlib import Path

import pytest

from consistency_lab.check import Operation, check_operations, register_model, write_jsonl
from consistency_lab.cli.check import add_check_parser, main, run_check

ROOT = Path(__file__).resolve().parents[2]


def _parser():
    parser = argparse.ArgumentParser(prog="t")
    add_check_parser(parser.add_subparsers(dest="command"))
    return parser


def _run(argv):
    args = _parser().parse_args(argv)
    return args.func(args)


GOOD = [Operation(0, ("write", 1), 0, None, 2), Operation(1, ("read", None), 1, 1, 3)]
BAD = [Operation(0, ("write", 1), 0, None, 2), Operation(1, ("read", None), 3, None, 4)]


@pytest.fixture
def files(tmp_path):
    good, bad = tmp_path / "good.jsonl", tmp_path / "bad.jsonl"
    write_jsonl(GOOD, good)
    write_jsonl(BAD, bad)
    return good, bad


def test_exit_0_when_linearizable(files, capsys):
    assert _run(["check", str(files[0])]) == 0
    out = capsys.readouterr().out
    assert out.startswith("verdict: ok")


def test_exit_1_with_witness_when_not(files, capsys):
    assert _run(["check", str(files[1]), "--model", "register"]) == 1
    out = capsys.readouterr().out
    assert "verdict: illegal" in out
    assert "longest legal order found (1 operation):" in out
    assert "1. client 0's write 1 (0–2 ms)" in out
    assert "✗ client 1's read → None (3–4 ms)" in out


def test_exit_2_on_timeout(tmp_path, capsys):
    path = tmp_path / "many.jsonl"
    write_jsonl([Operation(c, ("write", c), 0, None, 1) for c in range(20)], path)
    assert _run(["check", str(path), "--timeout", "1e-9"]) == 2
    assert "verdict: unknown" in capsys.readouterr().out


def test_exit_2_on_unreadable_input_with_one_line_on_stderr(tmp_path, capsys):
    path = tmp_path / "broken.jsonl"
    path.write_text('{"client": 0, "input": ["write", 1], "call": 0, "return": 1}\n{oops\n')
    assert _run(["check", str(path)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert "line 2" in err and "invalid JSON" in err
    assert _run(["check", str(tmp_path / "missing.jsonl")]) == 2
    assert "cannot read" in capsys.readouterr().err


def test_exit_2_when_ops_do_not_fit_the_model(files, capsys):
    assert _run(["check", str(files[0]), "--model", "kv"]) == 2
    assert "do not fit model 'kv'" in capsys.readouterr().err


def test_bad_timeout_is_a_usage_error(files):
    with pytest.raises(SystemExit) as info:
        _run(["check", str(files[0]), "--timeout", "-1"])
    assert info.value.code == 2


def test_plot_writes_a_png(files, tmp_path, capsys):
    png = tmp_path / "h.png"
    assert _run(["check", str(files[1]), "--plot", str(png)]) == 1
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "plot written" in capsys.readouterr().out


def test_main_accepts_with_or_without_subcommand_name(files, capsys):
    assert main([str(files[0])]) == 0
    assert main(["check", str(files[1])]) == 1
    capsys.readouterr()


def test_module_runs_as_script_and_core_does_not_import_matplotlib(files):
    proc = subprocess.run(
        [sys.executable, "-m", "consistency_lab.cli.check", str(files[1])],
        capture_output=True, text=True, cwd=ROOT, timeout=60,
    )
    assert proc.returncode == 1, proc.stderr
    probe = subprocess.run(
        [sys.executable, "-c", "import sys, consistency_lab.check; print('matplotlib' in sys.modules)"],
        capture_output=True, text=True, cwd=ROOT, timeout=60,
    )
    assert probe.stdout.strip() == "False", probe.stderr


def test_run_check_directly(files, capsys):
    ns = argparse.Namespace(history=str(files[0]), model="register", timeout=None, plot=None)
    assert run_check(ns) == 0
    capsys.readouterr()


# --- plot_history -----------------------------------------------------------------------


def test_plot_history_draws_witness_and_labels():
    from consistency_lab.plots import plot_history

    h = BAD + [Operation(2, ("write", 7), 1, None, math.inf, "info"),
               Operation(3, ("write", 8), 1, None, 3, "fail")]
    res = check_operations(register_model(), h)
    fig = plot_history(h, res, title="stale read")
    ax = fig.axes[0]
    assert ax.get_title() == "stale read"
    assert ax.get_xlabel() == "time (ms)" and ax.get_ylabel() == "client"
    assert [t.get_text() for t in ax.get_yticklabels()] == ["0", "1", "2", "3"]
    texts = [t.get_text() for t in ax.texts]
    assert "#1 write 1" in texts
    assert "read → None" in texts
    assert "write 8 (failed)" in texts
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert "cannot be placed next" in legend and "in longest legal prefix" in legend
    assert "pending (outcome unknown)" in legend
    colours = {p.get_facecolor()[:3] for p in ax.patches}
    from matplotlib.colors import to_rgb
    assert to_rgb("#D55E00") in colours and to_rgb("#0072B2") in colours
    # The pending write runs to the right edge.
    pending_bar = [p for p in ax.patches if p.get_hatch()]
    assert pending_bar and pending_bar[0].get_x() + pending_bar[0].get_width() > 4


def test_plot_history_on_existing_axes_without_result():
    from matplotlib.figure import Figure

    from consistency_lab.plots.history_plot import plot_history

    fig = Figure()
    ax = fig.add_subplot()
    assert plot_history(GOOD, ax=ax) is fig
    assert ax.get_title() == "history"
    assert len(ax.patches) == 2


def test_plot_history_skips_crowded_labels_but_always_names_the_unplaceable_op():
    from consistency_lab.plots import plot_history

    h = [Operation(0, ("write", 1), 0, None, 1000)]
    h += [Operation(1, ("read", None), 1001 + 2 * k, None, 1002 + 2 * k) for k in range(5)]
    res = check_operations(register_model(), h)
    assert res.witness.unplaceable[0] is h[1]
    ax = plot_history(h, res).axes[0]
    texts = {t.get_text(): t for t in ax.texts}
    assert "#1 write 1" in texts
    above = texts["read → None"]
    assert above.get_fontweight() == "bold" and above.get_va() == "bottom"
    # The four other tiny reads would overlap each other: at most one is labelled.
    assert sum(t.get_text() == "read → None" for t in ax.texts) <= 2
    assert ax.get_ylim()[1] < -0.5  # room above the top row for the note
