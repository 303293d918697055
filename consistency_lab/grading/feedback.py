"""Grading output: ``grades.csv``, one Markdown feedback file per student, and the closing summary."""

from __future__ import annotations

import csv
import io
import statistics
from collections import Counter
from pathlib import Path
from typing import Sequence

from .checks import PASSED
from .grader import Graded

__all__ = ["write_grades_csv", "feedback_markdown", "write_feedback", "summary", "progress_line",
           "status_kind", "fmt_points"]

_RULE = ("A part earns its points only when every one of its checks passes. Public checks are the ones "
         "`check()` runs in your notebook; hidden checks try further cases with the same code.")


def fmt_points(x: float) -> str:
    """20.0 -> '20', 12.5 -> '12.5'."""
    return f"{x:g}"


def status_kind(status: str) -> str:
    """The headline of a status ('error in cell 3: NameError; ...' -> 'error')."""
    first = status.split(";", 1)[0]
    for kind in ("internal error", "kernel died", "unknown lab", "unreadable notebook", "not graded", "timeout",
                 "error", "ok"):
        if first.startswith(kind):
            return kind
    return first.split(" ", 1)[0]


def write_grades_csv(results: Sequence[Graded], path: Path) -> list[str]:
    """Write ``grades.csv`` (student, lab, one column per check cell grade_id, total, max_total, status)."""
    columns: list[str] = []
    for g in sorted(results, key=lambda g: g.lab):
        for cell_id in g.points:
            if cell_id not in columns:
                columns.append(cell_id)
    header = ["student", "lab", *columns, "total", "max_total", "status"]
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(header)
    for g in results:
        writer.writerow([g.student, g.lab, *(fmt_points(g.points[c]) if c in g.points else "" for c in columns),
                         fmt_points(g.total), fmt_points(g.max_total), g.status])
    path.write_text(buf.getvalue(), encoding="utf-8")
    return header


def _indent_block(text: str, prefix: str) -> list[str]:
    return [prefix + line for line in text.splitlines() or [""]]


def feedback_markdown(student: str, results: Sequence[Graded]) -> str:
    """The feedback page for one student (all their labs in this run)."""
    lines = [f"# Feedback for {student}", ""]
    for g in results:
        lines += [f"## {g.lab or 'unidentified notebook'}: {fmt_points(g.total)} / {fmt_points(g.max_total)}", "",
                  f"File: `{g.path.name}`  ", f"Status: {g.status}", ""]
        if not g.points:
            lines += ["This notebook could not be graded, so it scores nothing. "
                      "Check the status above, fix the notebook, and submit it again.", ""]
        else:
            lines += [_RULE, "", "| part | points | checks passed |", "|---|---:|---:|"]
            by_part: dict[str, list] = {}
            for o in g.outcomes:
                by_part.setdefault(o.grade_id, []).append(o)
            for cell_id, points in g.points.items():
                part_id = cell_id[: -len("_check")] if cell_id.endswith("_check") else cell_id
                outs = by_part.get(part_id, [])
                max_points = _max_points(g, cell_id)
                lines.append(f"| {cell_id} | {fmt_points(points)} / {fmt_points(max_points)} | "
                             f"{sum(o.status == PASSED for o in outs)} / {len(outs)} |")
            lines.append("")
            for cell_id, points in g.points.items():
                part_id = cell_id[: -len("_check")] if cell_id.endswith("_check") else cell_id
                outs = by_part.get(part_id, [])
                verdict = "all checks passed" if outs and all(o.passed for o in outs) else "not all checks passed"
                lines += [f"### {cell_id}: {fmt_points(points)} / {fmt_points(_max_points(g, cell_id))} "
                          f"({verdict})", ""]
                for o in outs:
                    kind = "" if o.public else " (hidden check)"
                    if o.passed:
                        lines.append(f"- passed{kind}: {o.description}")
                        continue
                    lines.append(f"- **{o.status.upper()}**{kind}: {o.description}")
                    if o.message:
                        lines += _indent_block(o.message, "    > ")
                    if o.hint:
                        lines.append(f"    - Hint: {o.hint}")
                lines.append("")
        if g.notes:
            lines += ["### Notes", ""] + [f"- {n}" for n in g.notes] + [""]
    return "\n".join(lines).rstrip() + "\n"


def _max_points(g: Graded, cell_id: str) -> float:
    return g.part_max.get(cell_id, 0.0)


def write_feedback(results: Sequence[Graded], folder: Path) -> list[Path]:
    """Write ``folder/<student>.md`` for every student; return the files written."""
    folder.mkdir(parents=True, exist_ok=True)
    by_student: dict[str, list[Graded]] = {}
    for g in results:
        by_student.setdefault(g.student, []).append(g)
    written = []
    for student, graded in sorted(by_student.items()):
        path = folder / f"{student}.md"
        path.write_text(feedback_markdown(student, graded), encoding="utf-8")
        written.append(path)
    return written


def progress_line(done: int, total: int, g: Graded) -> str:
    """One line per finished submission: '[ 3/10] alice  lab01_x  80/100  ok  (4.1 s)'."""
    width = len(str(total))
    return (f"[{done:>{width}}/{total}] {g.student}  {g.lab or '?'}  {fmt_points(g.total)}/"
            f"{fmt_points(g.max_total)}  {g.status}  ({g.seconds:.1f} s)")


def summary(results: Sequence[Graded], seconds: float) -> str:
    """The closing summary: how many, the mean score, and the statuses."""
    if not results:
        return "Graded 0 submissions."
    scored = [g for g in results if g.max_total]
    fractions = [100 * g.total / g.max_total for g in scored]
    kinds = Counter(status_kind(g.status) for g in results)
    lines = [f"Graded {len(results)} submission{'s' if len(results) != 1 else ''} in {seconds:.1f} s"
             + (f": mean {statistics.fmean(fractions):.1f}% (min {min(fractions):.0f}%, max {max(fractions):.0f}%)"
                if fractions else ""),
             "Status: " + ", ".join(f"{kind} {n}" for kind, n in kinds.most_common())]
    return "\n".join(lines)
