"""Grading output: ``grades.csv``, an LMS gradebook, a feedback page per student (Markdown and HTML), the summary."""

from __future__ import annotations

import csv
import html
import io
import re
import statistics
from collections import Counter
from pathlib import Path
from typing import Sequence

from .checks import PASSED
from .grader import Graded

__all__ = ["write_grades_csv", "write_gradebook_csv", "feedback_markdown", "feedback_html", "write_feedback",
           "summary", "progress_line", "status_kind", "fmt_points"]

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


# A feedback page is built once as blocks, then rendered twice (Markdown and HTML), so the two
# formats can never say different things.  Inline text may use `code` and **bold** only.
Block = tuple  # ("h1"|"h2"|"h3"|"p", text) | ("table", header, rows, right_aligned) | ("ul", items)
# An item of a "ul" block: (text, quote_lines, hint) where quote and hint may be empty.


def _feedback_blocks(student: str, results: Sequence[Graded]) -> list[Block]:
    """The content of one student's feedback page (all their labs in this run), as blocks."""
    blocks: list[Block] = [("h1", f"Feedback for {student}")]
    for g in results:
        blocks += [("h2", f"{g.lab or 'unidentified notebook'}: {fmt_points(g.total)} / {fmt_points(g.max_total)}"),
                   ("p", f"File: `{g.path.name}`"), ("p", f"Status: {g.status}")]
        if not g.points:
            blocks.append(("p", "This notebook could not be graded, so it scores nothing. "
                                "Check the status above, fix the notebook, and submit it again."))
        else:
            by_part: dict[str, list] = {}
            for o in g.outcomes:
                by_part.setdefault(o.grade_id, []).append(o)
            rows = []
            for cell_id, points in g.points.items():
                outs = by_part.get(_part_id(cell_id), [])
                rows.append([cell_id, f"{fmt_points(points)} / {fmt_points(_max_points(g, cell_id))}",
                             f"{sum(o.status == PASSED for o in outs)} / {len(outs)}"])
            blocks += [("p", _RULE), ("table", ["part", "points", "checks passed"], rows, (False, True, True))]
            for cell_id, points in g.points.items():
                outs = by_part.get(_part_id(cell_id), [])
                verdict = "all checks passed" if outs and all(o.passed for o in outs) else "not all checks passed"
                blocks.append(("h3", f"{cell_id}: {fmt_points(points)} / {fmt_points(_max_points(g, cell_id))} "
                                     f"({verdict})"))
                items = []
                for o in outs:
                    kind = "" if o.public else " (hidden check)"
                    if o.passed:  # a passing check may still carry a note (an earlier part's bug, say)
                        items.append((f"passed{kind}: {o.description}",
                                      o.message.splitlines() if o.message else [], ""))
                    else:
                        items.append((f"**{o.status.upper()}**{kind}: {o.description}",
                                      o.message.splitlines() if o.message else [], o.hint or ""))
                if items:
                    blocks.append(("ul", items))
        if g.notes:
            blocks += [("h3", "Notes"), ("ul", [(n, [], "") for n in g.notes])]
    return blocks


def _part_id(cell_id: str) -> str:
    return cell_id[: -len("_check")] if cell_id.endswith("_check") else cell_id


def _markdown(blocks: Sequence[Block]) -> str:
    lines: list[str] = []
    for block in blocks:
        kind = block[0]
        if kind in ("h1", "h2", "h3"):
            lines += ["#" * int(kind[1]) + " " + block[1], ""]
        elif kind == "p":
            lines += [block[1], ""]
        elif kind == "table":
            _, header, rows, right = block
            lines.append("| " + " | ".join(header) + " |")
            lines.append("|" + "|".join("---:" if r else "---" for r in right) + "|")
            lines += ["| " + " | ".join(row) + " |" for row in rows]
            lines.append("")
        elif kind == "ul":
            for text, quote, hint in block[1]:
                lines.append(f"- {text}")
                lines += [f"    > {q}" for q in quote]
                if hint:
                    lines.append(f"    - Hint: {hint}")
            lines.append("")
    return "\n".join(lines).rstrip() + "\n"


def _inline_html(text: str) -> str:
    """Escape ``text`` and turn its `code` and **bold** spans into tags."""
    out = html.escape(text, quote=False)
    out = re.sub(r"`([^`]+)`", r"<code>\1</code>", out)
    return re.sub(r"\*\*([^*]+)\*\*", r"<strong>\1</strong>", out)


_HTML_STYLE = ("body{font-family:system-ui,sans-serif;max-width:52rem;margin:2rem auto;padding:0 1rem;"
               "line-height:1.45}table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:.25rem .6rem}"
               ".num{text-align:right}blockquote{margin:.2rem 0 .2rem 1rem;color:#555;white-space:pre-wrap}"
               "code{background:#f3f3f3;padding:0 .2rem}")


_NUM_CELL = '<td class="num">'


def _html(blocks: Sequence[Block], title: str) -> str:
    parts = [f"<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>{html.escape(title)}</title>"
             f"<style>{_HTML_STYLE}</style></head><body>"]
    for block in blocks:
        kind = block[0]
        if kind in ("h1", "h2", "h3", "p"):
            parts.append(f"<{kind}>{_inline_html(block[1])}</{kind}>")
        elif kind == "table":
            _, header, rows, right = block
            parts.append("<table><tr>" + "".join(f"<th>{html.escape(h)}</th>" for h in header) + "</tr>")
            for row in rows:
                cells = ((_NUM_CELL if r else "<td>") + html.escape(c) + "</td>" for c, r in zip(row, right))
                parts.append("<tr>" + "".join(cells) + "</tr>")
            parts.append("</table>")
        elif kind == "ul":
            parts.append("<ul>")
            for text, quote, hint in block[1]:
                inner = _inline_html(text)
                if quote:
                    inner += "<blockquote>" + html.escape("\n".join(quote), quote=False) + "</blockquote>"
                if hint:
                    inner += f"<div>Hint: {_inline_html(hint)}</div>"
                parts.append(f"<li>{inner}</li>")
            parts.append("</ul>")
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"


def feedback_markdown(student: str, results: Sequence[Graded]) -> str:
    """The feedback page for one student (all their labs in this run), in Markdown."""
    return _markdown(_feedback_blocks(student, results))


def feedback_html(student: str, results: Sequence[Graded]) -> str:
    """The same feedback page as a self-contained HTML document (escaped, no scripts)."""
    return _html(_feedback_blocks(student, results), f"Feedback for {student}")


def _max_points(g: Graded, cell_id: str) -> float:
    return g.part_max.get(cell_id, 0.0)


def write_feedback(results: Sequence[Graded], folder: Path) -> list[Path]:
    """Write ``folder/<student>.md`` and ``folder/<student>.html`` for every student; return the files written."""
    folder.mkdir(parents=True, exist_ok=True)
    by_student: dict[str, list[Graded]] = {}
    for g in results:
        by_student.setdefault(g.student, []).append(g)
    written = []
    for student, graded in sorted(by_student.items()):
        for suffix, render in ((".md", feedback_markdown), (".html", feedback_html)):
            path = folder / f"{student}{suffix}"
            path.write_text(render(student, graded), encoding="utf-8")
            written.append(path)
    return written


def write_gradebook_csv(results: Sequence[Graded], path: Path) -> list[str]:
    """Write a gradebook a learning-management system imports: a row per student, a column per lab part.

    Columns are ``<lab> <part>`` then ``<lab> total`` for each lab; the first data row, named
    ``Points Possible`` (the row Canvas reads, and other systems skip), holds each column's
    maximum.  A student with no submission for a lab gets empty cells there, not zeros.
    """
    labs: dict[str, dict[str, float]] = {}
    for g in sorted(results, key=lambda g: g.lab):
        parts = labs.setdefault(g.lab or "unidentified", {})
        for cell_id in g.points:
            parts[cell_id] = max(parts.get(cell_id, 0.0), _max_points(g, cell_id))
    header = ["student"]
    possible = ["Points Possible"]
    for lab, parts in labs.items():
        header += [f"{lab} {cell_id}" for cell_id in parts] + [f"{lab} total"]
        possible += [fmt_points(m) for m in parts.values()] + [fmt_points(sum(parts.values()))]
    by_student: dict[str, dict[str, Graded]] = {}
    for g in results:
        by_student.setdefault(g.student, {})[g.lab or "unidentified"] = g
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(header)
    writer.writerow(possible)
    for student, graded in sorted(by_student.items()):
        row = [student]
        for lab, parts in labs.items():
            g = graded.get(lab)
            row += [fmt_points(g.points.get(c, 0.0)) if g else "" for c in parts]
            row.append(fmt_points(g.total) if g else "")
        writer.writerow(row)
    path.write_text(buf.getvalue(), encoding="utf-8")
    return header


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
