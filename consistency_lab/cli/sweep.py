"""``consistency-lab sweep``: one scenario over a grid of parameter values and seeds, into CSV or Parquet.

Every run is ``Scenario.run(seed, **params)`` on the executor (local processes, or a Dask cluster
with ``--scheduler``).  Rows are sorted by the grid (each parameter's values in ascending order)
and then by seed, so the file is the same whichever worker ran which run, and in whatever order.
"""

from __future__ import annotations

import argparse
import csv
import importlib.util
import itertools
import json
import math
import sys
import time
from pathlib import Path
from typing import Any, Sequence

from ..validation import argparse_type, count

__all__ = ["add_sweep_parser", "run_sweep", "parse_seeds", "parse_grid", "sweep_rows", "write_rows", "MAX_RUNS"]

#: The largest grid (parameter sets x seeds) one sweep accepts; larger ones are refused before any run.
MAX_RUNS = 100_000
_FIXED = ("scenario", "seed")
_TAIL = ("trace_digest", "stopped")
_jobs = argparse_type(count, "jobs", int)


def parse_seeds(text: str) -> list[int]:
    """Seeds from ``1-1000`` (inclusive), ``1,5,9`` or both (``1-3,10``); sorted, each once."""
    allowed = "allowed: a range like 1-1000, a list like 1,5,9, or both (1-3,10), seeds >= 0"
    seeds: set[int] = set()
    total = 0
    for piece in text.split(","):
        low, dash, high = piece.strip().partition("-")
        try:
            a = int(low)
            b = int(high) if dash else a
        except ValueError:
            raise ValueError(f"seeds={text!r} must be seeds; {allowed}") from None
        if a < 0 or b < a:
            raise ValueError(f"seeds={text!r} must be seeds with each range low-high, low <= high; {allowed}")
        total += b - a + 1
        if total > MAX_RUNS:  # before building a huge set: a typo like 1-10000000000 is refused at once
            raise ValueError(f"seeds={text!r} must be at most {MAX_RUNS:,} seeds; {allowed}")
        seeds.update(range(a, b + 1))
    return sorted(seeds)


def _sort_key(value: Any) -> tuple:
    return (value is None, value)


def parse_grid(scenario: Any, pairs: Sequence[str]) -> dict[str, list]:
    """``["k=1,2", "mode=a,b"]`` -> {k: [1, 2], mode: [a, b]}, each value parsed by the scenario's own Param."""
    known = {p.name: p for p in scenario.params}
    grid: dict[str, list] = {}
    for pair in pairs:
        key, eq, values = pair.partition("=")
        key = key.strip()
        if not eq or not key or not values.strip():
            raise ValueError(f"--param {pair!r} must look like KEY=V1,V2,...")
        if key not in known:
            raise ValueError(f"unknown parameter {key!r} for scenario {scenario.name!r}; "
                             f"allowed: {', '.join(known)}")
        if key in grid:
            raise ValueError(f"--param {key} is given twice; list all its values in one --param {key}=V1,V2")
        parsed = [known[key].coerce(v.strip()) for v in values.split(",")]
        grid[key] = sorted(set(parsed), key=_sort_key)
    return grid


def _combos(scenario: Any, grid: dict[str, list]) -> list[dict]:
    """Every parameter set of the grid, in grid order, each checked by the scenario (cross checks, work limit)."""
    combos = [dict(zip(grid, values)) for values in itertools.product(*grid.values())]
    for combo in combos:
        scenario.validate(combo)
    return combos


def _flat(value: Any) -> Any:
    """A cell value: numbers, text and booleans as they are; anything nested as compact JSON."""
    if isinstance(value, (dict, list, tuple)):
        return json.dumps(value, sort_keys=True, separators=(",", ":"))
    return value


def _run_one(task: tuple) -> tuple:
    """One run on whichever worker: (grid index, seed, row)."""
    from ..scenarios import get_scenario

    index, name, seed, params = task
    scenario = get_scenario(name)
    data = scenario.run(seed, **params).to_json()  # to_json: inf and nan become empty cells
    row = {"scenario": name, "seed": seed}
    row.update({k: _flat(v) for k, v in data["params"].items()})
    for key, value in data["metrics"].items():
        row[key if key not in row and key not in _TAIL else f"metric_{key}"] = _flat(value)
    row["trace_digest"] = data["trace_digest"]
    row["stopped"] = data["stopped"]
    return index, seed, row


def sweep_rows(name: str, grid: dict[str, list], seeds: Sequence[int], scheduler: Any = None, jobs: int = 1,
               quiet: bool = True) -> list[dict]:
    """Run the grid x seeds of scenario ``name`` and return one row per run, sorted by grid, then seed."""
    from ..executor import default_batch, open_executor, progress_bar
    from ..scenarios import get_scenario

    scenario = get_scenario(name)
    n_runs = math.prod(len(v) for v in grid.values()) * len(seeds)
    if n_runs > MAX_RUNS:
        raise ValueError(f"the grid has {n_runs:,} runs (parameter sets x seeds); allowed: at most {MAX_RUNS:,} "
                         "per sweep (split it into several)")
    combos = _combos(scenario, grid)
    tasks = [(i, name, seed, combo) for i, combo in enumerate(combos) for seed in seeds]
    done: list[tuple] = []
    with open_executor(scheduler, jobs) as ex:
        bar = progress_bar(len(tasks), f"sweep {name}", quiet=quiet)
        try:
            for item in ex.map(_run_one, tasks, batch=default_batch(len(tasks), ex.workers)):
                done.append(item)
                bar.update(1)
        finally:
            bar.close()
    done.sort(key=lambda item: (item[0], item[1]))
    return [row for _, _, row in done]


def _columns(rows: Sequence[dict]) -> list[str]:
    """scenario, seed, the parameters (the scenario's order), the metrics (sorted), trace_digest, stopped."""
    from ..scenarios import get_scenario

    if not rows:
        return list(_FIXED + _TAIL)
    params = [p.name for p in get_scenario(rows[0]["scenario"]).params if p.name in rows[0]]
    metrics = sorted({c for row in rows for c in row} - set(_FIXED) - set(_TAIL) - set(params))
    return list(_FIXED) + params + metrics + list(_TAIL)


def parquet_problem() -> str:
    """'' when a Parquet engine (pyarrow) is installed, else one line saying what to do instead."""
    if importlib.util.find_spec("pyarrow") is None:
        return "writing .parquet needs pyarrow (pip install pyarrow); or write --out results.csv"
    return ""


def write_rows(rows: Sequence[dict], out: Path) -> None:
    """Write ``rows`` to ``out`` (.csv, or .parquet with pyarrow); missing cells are empty."""
    columns = _columns(rows)
    if out.suffix == ".parquet":
        import pyarrow as pa
        import pyarrow.parquet as pq

        table = pa.Table.from_pylist([{c: row.get(c) for c in columns} for row in rows])
        pq.write_table(table, out)
        return
    with open(out, "w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=columns, restval="", lineterminator="\n")
        writer.writeheader()
        for row in rows:
            writer.writerow({k: ("" if v is None else v) for k, v in row.items()})


def add_sweep_parser(subparsers: argparse._SubParsersAction) -> None:
    """Add ``sweep`` to the main CLI."""
    sw = subparsers.add_parser(
        "sweep", help="run a scenario over a grid of parameters x seeds into a CSV or Parquet file",
        description="Run SCENARIO once per parameter set and seed, on local processes (--jobs) or a Dask "
                    "cluster (--scheduler), and write one row per run: scenario, seed, the parameters, every "
                    "metric (metric_NAME when a parameter has its name), trace_digest and stopped, sorted by "
                    f"parameters then seed. At most {MAX_RUNS:,} runs.")
    sw.add_argument("name", metavar="SCENARIO", help="scenario name (consistency-lab simulate --list)")
    sw.add_argument("--seeds", required=True, metavar="SEEDS", help="a range 1-1000, a list 1,5,9, or both")
    sw.add_argument("--param", action="append", default=[], metavar="KEY=V1,V2,...",
                    help="values of one parameter (repeatable); the others keep their defaults")
    sw.add_argument("--out", type=Path, required=True, metavar="FILE", help="results.csv or results.parquet")
    sw.add_argument("--jobs", type=_jobs, default=1, metavar="N", help="local processes (default 1)")
    sw.add_argument("--scheduler", default=None, metavar="ADDRESS",
                    help="run on the Dask cluster at ADDRESS (tcp://HOST:8786) instead of local processes")
    sw.add_argument("--quiet", action="store_true", help="no progress bar")
    sw.set_defaults(func=run_sweep)


def run_sweep(args: argparse.Namespace) -> int:
    """``consistency-lab sweep SCENARIO --seeds ... --param K=V1,V2 --out FILE``."""
    from ..scenarios import get_scenario

    def fail(message: str) -> int:
        print(f"consistency-lab sweep: {message}", file=sys.stderr)
        return 2

    if args.out.suffix not in (".csv", ".parquet"):
        return fail(f"out={str(args.out)!r} must end in .csv or .parquet")
    if args.out.suffix == ".parquet" and parquet_problem():
        return fail(parquet_problem())
    if not args.out.parent.is_dir():
        return fail(f"out={str(args.out)!r}: no such folder {str(args.out.parent)!r}")
    started = time.monotonic()
    try:
        scenario = get_scenario(args.name)
        seeds = parse_seeds(args.seeds)
        grid = parse_grid(scenario, args.param)
        rows = sweep_rows(scenario.name, grid, seeds, scheduler=args.scheduler or None, jobs=args.jobs,
                          quiet=args.quiet)
    except ValueError as exc:  # also ExecutorError: a bad or unreachable scheduler
        return fail(str(exc).splitlines()[0])
    write_rows(rows, args.out)
    sets = math.prod(len(v) for v in grid.values())
    where = f"the Dask scheduler at {args.scheduler}" if args.scheduler else f"{args.jobs} local process(es)"
    print(f"Wrote {len(rows)} rows ({sets} parameter set(s) x {len(seeds)} seed(s)) to {args.out} "
          f"in {time.monotonic() - started:.1f} s on {where}")
    return 0

