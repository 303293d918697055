"""The ``build-labs``, ``release`` and ``grade`` subcommands of ``consistency-lab``.

Only argparse is imported here; each command imports its machinery when it runs, so the
CLI stays quick to start.  Exit codes: 0 success, 1 the work found problems (out-of-date or
edited labs, a leak, an internal grading failure), 2 usage errors.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from ..validation import argparse_type, choice, count, number

__all__ = ["add_grading_parsers", "run_build_labs", "run_release", "run_grade"]

# argparse type= functions: one-line errors such as "argument --jobs: jobs=0 must be an integer >= 1", exit code 2.
_jobs = argparse_type(count, "jobs", int)
_timeout = argparse_type(number, "timeout", float, low=1, unit="seconds")
_max_time = argparse_type(number, "max-time", float, low=1, unit="seconds")
_cpu_seconds = argparse_type(number, "cpu-seconds", float, low=1, unit="seconds")
# The modes of grading/sandbox.py (spelled out so the CLI does not import the grader to start).
_sandbox = argparse_type(choice, "sandbox", str, ("auto", "bwrap", "subreaper"))


def _memory_size(name: str, value: object) -> int:
    from ..grading.sandbox import memory_bytes

    return memory_bytes(name, value)


_memory = argparse_type(_memory_size, "memory", str)


def add_grading_parsers(subparsers: argparse._SubParsersAction) -> None:
    """Add ``build-labs``, ``release`` and ``grade`` to the main CLI."""
    build = subparsers.add_parser(
        "build-labs", help="write labs/ from solutions/ (stubs instead of solutions, no hidden material)",
        description="Write labs/labNN_slug.ipynb from each solutions/labNN_slug.ipynb. Refuses to overwrite a "
                    "lab that was edited since it was generated (unless --force). With --check, write nothing "
                    "and exit 1 when any lab is missing or out of date.")
    build.add_argument("--check", action="store_true", help="only compare; exit 1 if labs/ is out of date")
    build.add_argument("--force", action="store_true", help="overwrite labs even if they were edited")
    build.add_argument("--solutions", type=Path, default=Path("solutions"), metavar="DIR",
                       help="lab sources (default: solutions)")
    build.add_argument("--labs", type=Path, default=Path("labs"), metavar="DIR",
                       help="where student notebooks go (default: labs)")
    build.add_argument("--nbgrader", type=Path, metavar="COURSE",
                       help="instead, write nbgrader's COURSE/source/<lab>/<lab>.ipynb (the labs as an nbgrader "
                            "course)")
    build.set_defaults(func=run_build_labs)

    rel = subparsers.add_parser(
        "release", help="write the student copy of the course (no solutions, no hidden checks)",
        description="Write chapters/, labs/ (rebuilt from solutions/), the consistency_lab package without "
                    "hidden checks, tests/ without the grader tests, and the top-level files to DIR.")
    rel.add_argument("dest", type=Path, metavar="DIR", help="destination folder (new or empty)")
    rel.add_argument("--force", action="store_true", help="write into a non-empty DIR, replacing our files there")
    rel.add_argument("--root", type=Path, default=Path("."), metavar="DIR",
                     help="the course repository (default: current folder)")
    rel.set_defaults(func=run_release)

    grade = subparsers.add_parser(
        "grade", help="grade submitted lab notebooks into grades.csv, gradebook.csv and feedback/",
        description="Run each submission in a fresh kernel (a copy; the file is never modified), then the "
                    "lab's public and hidden checks. The student is the file name, or the parent folder's "
                    "name when the file is named like the lab (lab01_...). Exit 0 when every submission got "
                    "a grade, 1 when the grader itself failed on one, 2 on usage errors.")
    grade.add_argument("paths", type=Path, nargs="+", metavar="PATH", help="a notebook or a folder of them")
    grade.add_argument("--out", type=Path, required=True, metavar="DIR",
                       help="where grades.csv, gradebook.csv and feedback/ go")
    grade.add_argument("--jobs", type=_jobs, default=1, metavar="N", help="submissions at a time (default 1)")
    grade.add_argument("--timeout", type=_timeout, default=60.0, metavar="S",
                       help="limit per cell and per check, in seconds (default 60)")
    grade.add_argument("--max-time", type=_max_time, default=300.0, metavar="S",
                       help="wall-clock limit per submission, in seconds (default 300)")
    grade.add_argument("--solutions", type=Path, default=Path("solutions"), metavar="DIR",
                       help="lab sources, for parts and points (default: solutions)")
    grade.add_argument("--kernel", default="python3", metavar="NAME", help="kernel to run (default: python3)")
    grade.add_argument("--sandbox", type=_sandbox, default="auto", metavar="MODE",
                       help="auto (bwrap where it works), bwrap (bubblewrap: own PID namespace, read-only course, "
                            "no network) or subreaper (every process a kernel starts is killed with it)")
    grade.add_argument("--memory", type=_memory, default=4 * 1024 ** 3, metavar="SIZE",
                       help="address-space limit per kernel (RLIMIT_AS), like 512M or 2G (default 4G)")
    grade.add_argument("--cpu-seconds", type=_cpu_seconds, default=None, metavar="S",
                       help="CPU-time limit per kernel (RLIMIT_CPU), in seconds (default: none)")
    grade.add_argument("--scheduler", default=None, metavar="ADDRESS",
                       help="grade each submission as a task on the Dask cluster at ADDRESS (tcp://HOST:8786); "
                            "default: local processes (--jobs)")
    grade.add_argument("--quiet", action="store_true", help="no progress bar and no line per submission")
    grade.set_defaults(func=run_grade)


def run_build_labs(args: argparse.Namespace) -> int:
    """``consistency-lab build-labs``."""
    from ..grading.build import build_labs, write_nbgrader_source
    from ..grading.notebook_build import LabFormatError

    if args.nbgrader is not None:
        if args.check or args.force:
            print("build-labs: --nbgrader writes nbgrader's source/ and takes neither --check nor --force",
                  file=sys.stderr)
            return 2
        try:
            written = write_nbgrader_source(args.solutions, args.nbgrader)
        except LabFormatError as exc:
            print(f"build-labs: {exc}", file=sys.stderr)
            return 1
        for path in written:
            print(f"wrote {path}")
        if not written:
            print(f"no lab sources in {args.solutions}; nothing to write")
        return 0
    report = build_labs(args.solutions, args.labs, check=args.check, force=args.force)
    for line in report.lines:
        print(line)
    for line in report.errors:
        print(f"build-labs: {line}", file=sys.stderr)
    if not report.lines and not report.errors:
        print(f"no lab sources in {args.solutions}; nothing to build")
    return report.exit_code


def run_release(args: argparse.Namespace) -> int:
    """``consistency-lab release DIR``."""
    from ..course import ReleaseError, release

    try:
        report = release(args.root, args.dest, force=args.force)
    except ReleaseError as exc:
        print(f"release: {exc}", file=sys.stderr)
        return 1
    print(f"wrote the student release to {report.dest}: {', '.join(report.entries)}")
    for lab in report.labs:
        print(f"  {lab}")
    return 0


def run_grade(args: argparse.Namespace) -> int:
    """``consistency-lab grade PATH... --out DIR``."""
    from ..grading.grader import GradingError, Settings, grade_all, sandbox_mode
    from ..grading.feedback import progress_line, summary, write_feedback, write_gradebook_csv, write_grades_csv
    from ..executor import progress_bar
    from ..grading.sandbox import describe

    settings = Settings(solutions_dir=args.solutions, jobs=args.jobs, cell_timeout=args.timeout,
                        max_time=args.max_time, kernel_name=args.kernel, sandbox=args.sandbox,
                        memory=args.memory, cpu_seconds=args.cpu_seconds)
    missing = [p for p in args.paths if not p.exists()]
    if missing:
        print(f"grade: {missing[0]}: no such file or folder", file=sys.stderr)
        return 2
    try:
        print(describe(sandbox_mode(settings)), file=sys.stderr, flush=True)
    except GradingError as exc:
        print(f"grade: {exc}", file=sys.stderr)
        return 2
    started = time.monotonic()
    bars: list = []  # the bar starts with the first result: only the grader knows how many there are

    def progress(done: int, total: int, graded) -> None:
        if args.quiet:
            return
        if not bars:
            bars.append(progress_bar(total, "grading"))
        bar = bars[0]
        if bar.disable:
            print(progress_line(done, total, graded), file=sys.stderr, flush=True)
        else:
            bar.write(progress_line(done, total, graded), file=sys.stderr)
            bar.update(1)

    if args.scheduler and not args.quiet:
        print(f"grading on the Dask scheduler at {args.scheduler}", file=sys.stderr, flush=True)
    try:
        results = grade_all(args.paths, settings, progress=progress, scheduler=args.scheduler or None)
    except GradingError as exc:
        print(f"grade: {exc}", file=sys.stderr)
        return 2
    finally:
        for bar in bars:
            bar.close()
    args.out.mkdir(parents=True, exist_ok=True)
    write_grades_csv(results, args.out / "grades.csv")
    write_gradebook_csv(results, args.out / "gradebook.csv")
    files = write_feedback(results, args.out / "feedback")
    print(summary(results, time.monotonic() - started))
    print(f"Wrote {args.out / 'grades.csv'}, {args.out / 'gradebook.csv'} (for a learning-management system) "
          f"and {len(files)} feedback file(s) (Markdown and HTML) in {args.out / 'feedback'}")
    return 1 if any(g.internal_error for g in results) else 0
