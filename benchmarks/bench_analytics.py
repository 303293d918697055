"""Analytic queries on a normalised SQLite write store against a projection of the same scans.

Run: ``python benchmarks/bench_analytics.py [--sizes 10000,100000,500000] [--repeats 9]``.
For each data size both SQLite files are built in a temporary directory (removed after),
every query shape runs alternately on both stores ``repeats`` times, the answers are
checked equal, and the table gives min and median times and the speed-up (median write /
median projection), measured in the same run.  The article's claim reads as "4x"; the
last column says whether this shape at this size reaches it.  Chapter 07 runs the same
comparison at small sizes.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from _timing import table  # noqa: E402

from consistency_lab.real.analytics_sqlite import run_analytics_comparison  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    """Build, time and print the comparison table."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="10000,100000,500000", help="scans per data size, comma-separated")
    ap.add_argument("--repeats", type=int, default=9, help="timed runs of each query on each store")
    args = ap.parse_args(argv)
    sizes = [int(s) for s in args.sizes.split(",") if s.strip()]
    start = time.perf_counter()
    rows = run_analytics_comparison(sizes, repeats=args.repeats, progress=lambda m: print(m, flush=True))
    out = [(f"{r.scans:,}", r.query, f"{r.write_min_ms:.3f}", f"{r.write_median_ms:.3f}", f"{r.read_min_ms:.3f}",
            f"{r.read_median_ms:.3f}", f"{r.speedup:.1f}x", "yes" if r.speedup >= 4 else "no") for r in rows]
    print(table(out, ("scans", "query", "write min ms", "write med ms", "proj min ms", "proj med ms",
                      "speed-up", ">= 4x")))
    print(f"total {time.perf_counter() - start:.1f} s (building the stores is most of it)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
