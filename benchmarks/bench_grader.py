"""Grading throughput: ``--jobs 2`` against ``--jobs 1`` on the same submissions, in each sandbox mode.

Grades N copies (default 30) of the fixture lab's solution, each in its own fresh kernel, once
one at a time and once two at a time, after one untimed warm-up submission (so both runs
find the runner's fork server already started).  Reports seconds per submission and the
speed-up ratio, and checks that both runs gave the same grades.  Each sandbox mode that works
on this machine (``--sandbox``, default: bwrap where it works, then subreaper) gets its own
rows; the difference per submission between the modes is the bubblewrap sandbox's overhead.
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

from consistency_lab.grading import sandbox  # noqa: E402
from consistency_lab.grading.grader import Settings, grade_all  # noqa: E402

SOLUTIONS = FIXTURES / "solutions"


def run(folder: Path, jobs: int, mode: str) -> tuple[float, dict]:
    """Grade every notebook in ``folder`` in sandbox ``mode``; wall-clock seconds and student -> (total, status)."""
    settings = Settings(solutions_dir=SOLUTIONS, jobs=jobs, cell_timeout=30, max_time=120, sandbox=mode)
    t0 = time.perf_counter()
    results = grade_all([folder], settings)
    return time.perf_counter() - t0, {g.student: (g.total, g.status) for g in results}


def main() -> int:
    """Run the benchmark and print the table."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("-n", type=int, default=30, help="number of submissions (default 30)")
    parser.add_argument("--sandbox", choices=sandbox.MODES, action="append",
                        help="a sandbox mode to measure (repeatable; default: every mode that works here)")
    args = parser.parse_args()
    modes = args.sandbox or [m for m in sandbox.MODES if m != "bwrap" or not sandbox.bwrap_works()]
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        subs, warm = Path(tmp) / "subs", Path(tmp) / "warm"
        subs.mkdir()
        warm.mkdir()
        for i in range(args.n):
            shutil.copy(SOLUTIONS / "lab99_demo.ipynb", subs / f"student{i:02d}.ipynb")
        shutil.copy(SOLUTIONS / "lab99_demo.ipynb", warm / "warmup.ipynb")
        for mode in modes:
            run(warm, 1, mode)
            serial_s, serial = run(subs, 1, mode)
            parallel_s, parallel = run(subs, 2, mode)
            assert serial == parallel, f"--jobs 1 and --jobs 2 gave different grades ({mode})"
            assert all(total == 100 for total, _ in serial.values()), serial
            rows += [(mode, "--jobs 1", f"{serial_s:.1f}", f"{serial_s / args.n:.2f}", "1.00"),
                     (mode, "--jobs 2", f"{parallel_s:.1f}", f"{parallel_s / args.n:.2f}",
                      f"{serial_s / parallel_s:.2f}")]
    print(f"Grading {args.n} submissions of the fixture lab (fresh kernel each)")
    print(table(rows, ("sandbox", "jobs", "seconds", "s/submission", "speed-up")))
    return 0


if __name__ == "__main__":
    sys.exit(main())
