"""``consistency-lab sweep``: a grid of parameters x seeds, the same rows locally and on a Dask cluster."""

import csv
import importlib.util
import time

import distributed  # a core dependency: missing means a broken install, never a skip
import pytest

from consistency_lab import simulate
from consistency_lab.cli import main
from consistency_lab.cli.sweep import MAX_RUNS, parse_seeds
from optional_tools import require


GRID = ["--seeds", "1-20", "--param", "mode=quorum,async", "--param", "r=2,1"]  # 2 params x 2 values x 20 seeds


@pytest.fixture(scope="module")
def cluster():
    """Two worker processes (one thread each), closed after the module's tests, also when they fail."""
    lc = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None,
                                  silence_logs=40)
    try:
        yield lc
    finally:
        lc.close()


@pytest.fixture(scope="module")
def local_csv(tmp_path_factory):
    out = tmp_path_factory.mktemp("sweep") / "local.csv"
    assert main(["sweep", "register", *GRID, "--jobs", "2", "--quiet", "--out", str(out)]) == 0
    return out


def read(path):
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))


def test_rows_are_sorted_by_parameters_then_seed_with_every_metric(local_csv):
    rows = read(local_csv)
    assert len(rows) == 2 * 2 * 20
    keys = [(r["mode"], int(r["r"]), int(r["seed"])) for r in rows]
    assert keys == sorted(keys) and keys[0] == ("async", 1, 1) and keys[-1] == ("quorum", 2, 20)
    header = list(rows[0])
    assert header[:2] == ["scenario", "seed"] and header[-2:] == ["trace_digest", "stopped"]
    one = simulate("register", 7, mode="quorum", r=1)
    row = next(r for r in rows if (r["mode"], r["r"], r["seed"]) == ("quorum", "1", "7"))
    assert row["trace_digest"] == one.trace_digest and row["stopped"] == one.stopped
    for metric, value in one.to_json()["metrics"].items():
        column = f"metric_{metric}" if metric in one.params else metric  # a metric named like a parameter
        assert row[column] == ("" if value is None else str(value)), metric
    assert row["operations"] == "25" and row["metric_operations"] == "100"  # the parameter, and the count


def test_dask_cluster_gives_the_local_file_row_by_row(cluster, local_csv, tmp_path, capsys):
    out = tmp_path / "dask.csv"
    assert main(["sweep", "register", *GRID, "--scheduler", cluster.scheduler_address, "--out", str(out)]) == 0
    assert f"on the Dask scheduler at {cluster.scheduler_address}" in capsys.readouterr().out
    dask_rows, local_rows = read(out), read(local_csv)
    assert len(dask_rows) == len(local_rows)
    for d, loc in zip(dask_rows, local_rows):
        assert d == loc
    assert out.read_bytes() == local_csv.read_bytes()


def test_one_local_process_gives_the_same_rows(local_csv, tmp_path):
    out = tmp_path / "one.csv"
    assert main(["sweep", "register", "--seeds", "3,7", "--param", "mode=quorum,async", "--param", "r=2,1",
                 "--quiet", "--out", str(out)]) == 0
    assert read(out) == [r for r in read(local_csv) if r["seed"] in ("3", "7")]


def test_seeds_ranges_and_lists():
    assert parse_seeds("1-3,10,2") == [1, 2, 3, 10]
    for bad in ("x", "5-1", "-3", "1-", f"0-{MAX_RUNS}"):
        with pytest.raises(ValueError, match=r"^seeds=.* must be .*; allowed: "):
            parse_seeds(bad)


@pytest.mark.parametrize("args, message", [
    (["--seeds", "1-3", "--param", "r=abc"], "r='abc' must be an integer between"),
    (["--seeds", "1-3", "--param", "mode=eventual"], "mode='eventual' must be one of sync, semi-sync, async, quorum"),
    (["--seeds", "1-3", "--param", "nope=1"], "unknown parameter 'nope' for scenario 'register'; allowed: mode"),
    (["--seeds", "1-3", "--param", "r"], "--param 'r' must look like KEY=V1,V2,..."),
    (["--seeds", "1-3", "--param", "r=1", "--param", "r=2"], "--param r is given twice"),
    (["--seeds", "1-3", "--param", "clients=2,64", "--param", "operations=1000"],
     "clients × operations = 64000 is more than"),
    (["--seeds", "a-b"], "seeds='a-b' must be seeds"),
    (["--seeds", "1-50000", "--param", "r=1,2,3"], f"the grid has 150,000 runs (parameter sets x seeds); "
                                                    f"allowed: at most {MAX_RUNS:,}"),
    (["--seeds", "1-3", "--scheduler", "8786"], "scheduler='8786' must be a Dask scheduler address"),
])
def test_bad_input_is_one_line_before_any_run(args, message, tmp_path, capsys):
    out = tmp_path / "r.csv"
    started = time.monotonic()
    assert main(["sweep", "register", *args, "--out", str(out)]) == 2
    assert time.monotonic() - started < 5  # refused up front, nothing ran
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and err.startswith("consistency-lab sweep: ") and message in err, err
    assert not out.exists()


def test_unknown_scenario_and_bad_output_names(tmp_path, capsys):
    assert main(["sweep", "nosuch", "--seeds", "1", "--out", str(tmp_path / "r.csv")]) == 2
    assert "nosuch" in capsys.readouterr().err
    assert main(["sweep", "register", "--seeds", "1", "--out", str(tmp_path / "r.xlsx")]) == 2
    assert "must end in .csv or .parquet" in capsys.readouterr().err


def test_parquet_without_an_engine_says_to_use_csv(tmp_path, capsys, monkeypatch):
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "pyarrow" else real(name, *a))
    assert main(["sweep", "register", "--seeds", "1", "--out", str(tmp_path / "r.parquet")]) == 2
    err = capsys.readouterr().err.strip()
    assert err == ("consistency-lab sweep: writing .parquet needs pyarrow (pip install pyarrow); "
                   "or write --out results.csv")


def test_parquet_has_the_csv_rows(local_csv, tmp_path):
    require(importlib.util.find_spec("pyarrow") is not None, "pyarrow (to write .parquet)", "pip install pyarrow")
    import pyarrow.parquet as pq
    out = tmp_path / "r.parquet"
    assert main(["sweep", "register", *GRID, "--jobs", "2", "--quiet", "--out", str(out)]) == 0
    table = pq.read_table(out).to_pylist()
    rows = read(local_csv)
    assert [(t["mode"], t["r"], t["seed"], t["trace_digest"]) for t in table] == \
        [(r["mode"], int(r["r"]), int(r["seed"]), r["trace_digest"]) for r in rows]


def test_an_unreachable_scheduler_is_one_line_within_bounded_time(tmp_path, capsys, monkeypatch):
    import consistency_lab.executor as executor

    monkeypatch.setattr(executor, "CONNECT_TIMEOUT_S", 2.0)  # the default is 10 s: the same code path, faster
    started = time.monotonic()
    assert main(["sweep", "register", "--seeds", "1", "--scheduler", "tcp://127.0.0.1:1",
                 "--out", str(tmp_path / "r.csv")]) == 2
    assert time.monotonic() - started < 15
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "scheduler='tcp://127.0.0.1:1': cannot connect within 2 s" in err


class _Terminal:
    """A stand-in for a terminal's stderr."""

    def __init__(self):
        self.text = ""

    def write(self, s):
        self.text += s

    def flush(self):
        pass

    def isatty(self):
        return True


def test_progress_bar_on_a_terminal_only_and_never_when_quiet(monkeypatch):
    import io

    from consistency_lab.executor import progress_bar

    monkeypatch.setenv("TERM", "xterm")
    term = _Terminal()
    bar = progress_bar(4, "sweep register", file=term)
    bar.update(4)
    bar.close()
    assert "sweep register" in term.text and "4/4" in term.text
    quiet = _Terminal()
    progress_bar(4, "x", quiet=True, file=quiet).close()
    piped = io.StringIO()  # a log file or a pipe: lines only, no carriage returns
    progress_bar(4, "x", file=piped).close()
    assert quiet.text == "" and piped.getvalue() == ""
