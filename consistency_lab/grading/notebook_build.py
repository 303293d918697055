"""Turn a solution notebook into the student notebook: stubs for solutions, no hidden material.

Pure functions over ``nbformat`` notebooks; writing files and deciding *whether* to write
them is ``build.py``'s job.  Output is deterministic: the same solution always gives the
same bytes (cell ids kept, outputs and execution counts cleared, stable JSON).
"""

from __future__ import annotations

import copy
import hashlib
from typing import Optional

import nbformat
from nbformat import NotebookNode

__all__ = [
    "BEGIN_SOLUTION", "END_SOLUTION", "BEGIN_HIDDEN", "END_HIDDEN", "HIDDEN_TAG", "CODE_STUB", "ANSWER_STUB",
    "LabFormatError", "nbgrader_meta", "is_solution_cell", "is_check_cell", "is_hidden_cell",
    "stub_solutions", "remove_hidden_tests", "student_notebook", "nbgrader_source", "autograder_tests",
    "render", "sha256",
]

BEGIN_SOLUTION, END_SOLUTION = "### BEGIN SOLUTION", "### END SOLUTION"
BEGIN_HIDDEN, END_HIDDEN = "### BEGIN HIDDEN TESTS", "### END HIDDEN TESTS"
HIDDEN_TAG = "hidden"
CODE_STUB = ("# YOUR CODE HERE", "raise NotImplementedError()")
ANSWER_STUB = "YOUR ANSWER HERE"
_ALL_MARKERS = (BEGIN_SOLUTION, END_SOLUTION, BEGIN_HIDDEN, END_HIDDEN)
# Per-run timing that nbclient may record; never part of a lab.
_VOLATILE_CELL_METADATA = ("execution",)


class LabFormatError(ValueError):
    """A solution notebook that breaks the authoring rules (the message says where and how)."""


def nbgrader_meta(cell: NotebookNode) -> dict:
    """The cell's ``metadata.nbgrader`` dict (empty when absent)."""
    meta = cell.get("metadata", {}).get("nbgrader", {})
    return meta if isinstance(meta, dict) else {}


def is_solution_cell(cell: NotebookNode) -> bool:
    """True for a cell the student must fill in (``nbgrader.solution``)."""
    return bool(nbgrader_meta(cell).get("solution"))


def is_check_cell(cell: NotebookNode) -> bool:
    """True for a graded check cell (``nbgrader.grade``)."""
    return bool(nbgrader_meta(cell).get("grade"))


def is_hidden_cell(cell: NotebookNode) -> bool:
    """True for a cell tagged ``hidden`` (never shown to students)."""
    return HIDDEN_TAG in (cell.get("metadata", {}).get("tags") or [])


def _marker(line: str) -> Optional[str]:
    stripped = line.strip()
    for marker in _ALL_MARKERS:
        if stripped.startswith(marker):
            return marker
    return None


def _indent(line: str) -> str:
    return line[: len(line) - len(line.lstrip())]


def _replace_regions(source: str, begin: str, end: str, replacement: Optional[tuple[str, ...]],
                     where: str) -> str:
    """Replace each begin..end region (markers included) by ``replacement`` lines at the marker's indent."""
    out: list[str] = []
    inside_since: Optional[int] = None
    for number, line in enumerate(source.split("\n"), start=1):
        marker = _marker(line)
        if marker == begin:
            if inside_since is not None:
                raise LabFormatError(f"{where}: line {number}: {begin!r} inside another region "
                                     f"opened on line {inside_since}; regions cannot nest")
            inside_since = number
            if replacement is not None:
                out.extend(_indent(line) + r for r in replacement)
        elif marker == end:
            if inside_since is None:
                raise LabFormatError(f"{where}: line {number}: {end!r} without a matching {begin!r}")
            inside_since = None
        elif inside_since is None:
            out.append(line)
    if inside_since is not None:
        raise LabFormatError(f"{where}: {begin!r} on line {inside_since} is never closed by {end!r}")
    return "\n".join(out)


def remove_hidden_tests(source: str, where: str = "cell") -> str:
    """Drop every ``### BEGIN HIDDEN TESTS`` .. ``### END HIDDEN TESTS`` region, markers included."""
    return _replace_regions(source, BEGIN_HIDDEN, END_HIDDEN, None, where)


def stub_solutions(source: str, cell_type: str, where: str = "cell") -> str:
    """Replace solution regions by a stub; a solution cell without markers is replaced whole.

    Code regions become ``# YOUR CODE HERE`` / ``raise NotImplementedError()`` at the BEGIN
    marker's indentation, so a ``def`` line above the marker keeps a valid body; markdown
    regions become ``YOUR ANSWER HERE``.
    """
    stub = CODE_STUB if cell_type == "code" else (ANSWER_STUB,)
    if not any(_marker(line) in (BEGIN_SOLUTION, END_SOLUTION) for line in source.split("\n")):
        return "\n".join(stub)
    return _replace_regions(source, BEGIN_SOLUTION, END_SOLUTION, stub, where)


def _describe(index: int, cell: NotebookNode) -> str:
    grade_id = nbgrader_meta(cell).get("grade_id")
    return f"cell {index + 1}" + (f" ({grade_id})" if grade_id else "")


def _deterministic_id(lab: str, index: int) -> str:
    return hashlib.sha256(f"{lab}:{index}".encode()).hexdigest()[:8]


def student_notebook(solution: NotebookNode, where: str = "solution", lab: str = "lab") -> NotebookNode:
    """The student version of ``solution`` (a new notebook; the argument is not modified)."""
    nb = copy.deepcopy(solution)
    cells = []
    for index, cell in enumerate(nb.cells):
        here = f"{where}: {_describe(index, cell)}"
        if is_hidden_cell(cell):
            continue
        source = cell.get("source", "")
        if isinstance(source, list):  # tolerate the on-disk list form if a caller skipped nbformat.read
            source = "".join(source)
        source = remove_hidden_tests(source, here)
        has_solution_marker = any(_marker(line) in (BEGIN_SOLUTION, END_SOLUTION) for line in source.split("\n"))
        if is_solution_cell(cell):
            source = stub_solutions(source, cell.cell_type, here)
        elif has_solution_marker:
            raise LabFormatError(f"{here} contains {BEGIN_SOLUTION!r} but is not a solution cell; "
                                 "set metadata.nbgrader.solution = true on it (or remove the markers)")
        cell.source = source
        for key in _VOLATILE_CELL_METADATA:
            cell.metadata.pop(key, None)
        if cell.cell_type == "code":
            cell.outputs = []
            cell.execution_count = None
        if nb.nbformat_minor >= 5 and not cell.get("id"):
            cell["id"] = _deterministic_id(lab, index)
        cells.append(cell)
    nb.cells = cells
    leaked = [(i, m) for i, c in enumerate(cells) for line in c.source.split("\n") if (m := _marker(line))]
    if leaked:  # unreachable unless the rules above change; a leak is the one unforgivable bug
        raise LabFormatError(f"{where}: marker {leaked[0][1]!r} survived the build; refusing to write")
    try:
        nbformat.validate(nb)
    except nbformat.ValidationError as exc:
        raise LabFormatError(f"{where}: the generated notebook is not valid nbformat: {exc.message}") from None
    return nb


def autograder_tests(lab: str, part: str, checks: str) -> str:
    """The hidden region nbgrader runs in a check cell: it fails unless every check of ``part`` passes."""
    return "\n".join([
        BEGIN_HIDDEN,
        "# nbgrader scores this cell; like `consistency-lab grade`, only when all the part's checks pass.",
        "from consistency_lab.grading.autograde import assert_part",
        f"assert_part({lab!r}, {part!r}, checks={checks!r})",
        END_HIDDEN,
    ])


def nbgrader_source(solution: NotebookNode, lab: str, checks: str) -> NotebookNode:
    """The solution as an nbgrader source notebook (``source/<lab>/<lab>.ipynb``) that scores like the grader.

    Three differences from ``solution`` (which is not modified): cells tagged ``hidden`` are
    dropped (nbgrader would release them); each check cell ends with :func:`autograder_tests`
    (nbgrader runs only the notebook, so the hidden checks must be called from it); markdown
    answers become grade cells worth 0 points (nbgrader requires a markdown solution cell to be
    a grade cell; it lists them for manual grading, and they change no score).
    """
    nb = copy.deepcopy(solution)
    cells = []
    for cell in nb.cells:
        if is_hidden_cell(cell):
            continue
        meta = nbgrader_meta(cell)
        if is_check_cell(cell) and cell.cell_type == "code":
            grade_id = str(meta.get("grade_id", ""))
            part = grade_id[: -len("_check")] if grade_id.endswith("_check") else grade_id
            cell.source = cell.source.rstrip("\n") + "\n" + autograder_tests(lab, part, checks)
        elif is_solution_cell(cell) and cell.cell_type == "markdown":
            meta.update(grade=True, points=0)
        cells.append(cell)
    nb.cells = cells
    return nb


def render(nb: NotebookNode) -> bytes:
    """The notebook as the exact bytes we write (stable JSON, newline at the end)."""
    text = nbformat.writes(nb, version=nbformat.NO_CONVERT)
    if not text.endswith("\n"):
        text += "\n"
    return text.encode("utf-8")


def sha256(data: bytes) -> str:
    """Hex SHA-256 of ``data``."""
    return hashlib.sha256(data).hexdigest()
