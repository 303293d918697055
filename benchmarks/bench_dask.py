"""Dask against local processes: grading 30 submissions and a 1,000-seed sweep, as ratios in one run.

Both workloads run on this machine on local processes (``--jobs 2``; the sweep also with
``--jobs 1``) and on a Dask ``LocalCluster`` of two worker processes with one thread each, after
one untimed warm-up on each (fork servers, imports, worker start); the sweep is timed twice,
interleaved, best of two.  The ratio is the wall-clock time over local ``--jobs 2`` (above 1:
slower).  All runs must give the same results.  A two-worker cluster on one machine measures
Dask's overhead, not its reach: its gain is more machines.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
FIXTURES = ROOT / "tests" / "grading" / "fixtures"
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(FIXTURES))  # the fixture lab's checks modules

from _timing import table  # noqa: E402

from consistency_lab.cli.sweep import sweep_rows  # noqa: E402
from consistency_lab.grading.grader import Settings, grade_all  # noqa: E402

SOLUTIONS = FIXTURES / "solutions"


def timed(fn):
    """(seconds, result) of one call."""
    t0 = time.perf_counter()
    out = fn()
    return time.perf_counter() - t0, out


def main() -> int:
    """Run the benchmark and print the table."""
    import dask
    import distributed

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("-n", type=int, default=30, help="submissions to grade (default 30)")
    parser.add_argument("--seeds", type=int, default=1000, help="seeds of the sweep (default 1000)")
    parser.add_argument("--scenario", default="register", help="scenario of the sweep (default register)")
    args = parser.parse_args()
    settings = Settings(solutions_dir=SOLUTIONS, jobs=2, cell_timeout=30, max_time=120)
    seeds = list(range(1, args.seeds + 1))
    rows = []
    with tempfile.TemporaryDirectory() as tmp, dask.config.set({"distributed.worker.daemon": False}):
        subs, warm = Path(tmp) / "subs", Path(tmp) / "warm"
        subs.mkdir()
        warm.mkdir()
        for i in range(args.n):
            shutil.copy(SOLUTIONS / "lab99_demo.ipynb", subs / f"student{i:02d}.ipynb")
        for i in range(2):
            shutil.copy(SOLUTIONS / "lab99_demo.ipynb", warm / f"warmup{i}.ipynb")
        start_s, cluster = timed(lambda: distributed.LocalCluster(
            n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None, silence_logs=40))
        try:
            grade_all([warm], settings)
            grade_all([warm], settings, scheduler=cluster)
            local_s, local = timed(lambda: grade_all([subs], settings))
            dask_s, on_dask = timed(lambda: grade_all([subs], settings, scheduler=cluster))
            key = lambda results: [(g.student, g.points, g.status) for g in results]  # noqa: E731
            assert key(local) == key(on_dask), "Dask and local grading disagree"
            assert all(g.total == g.max_total for g in local)
            rows += [(f"grade {args.n} submissions", "local, --jobs 2", f"{local_s:.1f}", "1.00"),
                     (f"grade {args.n} submissions", "Dask, 2 workers", f"{dask_s:.1f}", f"{dask_s / local_s:.2f}")]

            sweep_rows(args.scenario, {}, seeds[:50], jobs=2)
            sweep_rows(args.scenario, {}, seeds[:50], scheduler=cluster)
            # Interleaved, best of two: the machine is shared, so its load drifts between runs.
            runs: dict[str, list] = {"one": [], "local": [], "dask": []}
            for _ in range(2):
                runs["local"].append(timed(lambda: sweep_rows(args.scenario, {}, seeds, jobs=2)))
                runs["dask"].append(timed(lambda: sweep_rows(args.scenario, {}, seeds, scheduler=cluster)))
                runs["one"].append(timed(lambda: sweep_rows(args.scenario, {}, seeds, jobs=1)))
            outputs = [out for timings in runs.values() for _, out in timings]
            assert all(out == outputs[0] for out in outputs), "the sweep's rows depend on where it ran"
            one_s, local_s, dask_s = (min(t for t, _ in runs[k]) for k in ("one", "local", "dask"))
            what = f"sweep {args.scenario}, {args.seeds} seeds"
            rows += [(what, "local, --jobs 1", f"{one_s:.1f}", f"{one_s / local_s:.2f}"),
                     (what, "local, --jobs 2", f"{local_s:.1f}", "1.00"),
                     (what, "Dask, 2 workers", f"{dask_s:.1f}", f"{dask_s / local_s:.2f}")]
        finally:
            cluster.close()
    print(f"Dask LocalCluster (2 worker processes, 1 thread each; started in {start_s:.1f} s) against "
          "local processes, on this machine")
    print(table(rows, ("workload", "executor", "seconds", "time / local --jobs 2")))
    return 0


if __name__ == "__main__":
    sys.exit(main())
