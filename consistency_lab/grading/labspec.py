"""A lab as the grader sees it, read from its solution notebook, and the authoring rules it must meet.

The solution notebook is the single source: its check cells say which parts exist and what
they are worth; its metadata names the lab and (optionally) the checks module.  The check
registry must agree with it (``registry_problems``); build-labs and grade refuse labs that don't.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import nbformat
from nbformat import NotebookNode

from . import checks as _checks
from .notebook_build import LabFormatError, is_check_cell, is_solution_cell, nbgrader_meta

__all__ = ["Part", "LabSpec", "LAB_FILE_RE", "TOTAL_POINTS", "read_notebook", "spec_from_notebook",
           "read_spec", "load_specs", "registry_problems", "lab_number"]

LAB_FILE_RE = re.compile(r"^(lab\d\d_[a-z0-9_]+)\.ipynb$")
TOTAL_POINTS = 100
_CHECK_CALL_RE = re.compile(r"""\bcheck\(\s*(['"])([A-Za-z][A-Za-z0-9_]*)\1""")
_LAB_NUMBER_RE = re.compile(r"lab(\d\d)")


@dataclass(frozen=True)
class Part:
    """One graded part: the id students pass to ``check()``, its check cell's grade_id, its points."""

    part_id: str
    cell_id: str
    points: float


@dataclass(frozen=True)
class LabSpec:
    """A lab's identity, checks module and graded parts, in notebook order."""

    lab: str
    source: Path
    checks_module: str
    parts: tuple[Part, ...]

    @property
    def total(self) -> float:
        """Sum of the parts' points."""
        return sum(p.points for p in self.parts)


def lab_number(text: str) -> Optional[str]:
    """'lab01' for any text containing 'lab01' (a file or folder name), else None."""
    m = _LAB_NUMBER_RE.search(text.lower())
    return f"lab{m.group(1)}" if m else None


def read_notebook(path: Path) -> NotebookNode:
    """Read a notebook as nbformat v4, with a clear error for unreadable files."""
    try:
        return nbformat.read(str(path), as_version=4)
    except Exception as exc:  # noqa: BLE001 - nbformat raises many types for malformed files
        raise LabFormatError(f"{path}: not a readable notebook ({type(exc).__name__}: {exc})") from None


def spec_from_notebook(nb: NotebookNode, path: Path) -> LabSpec:
    """Check ``nb`` against the authoring rules and return its spec; LabFormatError lists every problem."""
    problems: list[str] = []
    m = LAB_FILE_RE.match(path.name)
    if not m:
        problems.append(f"file name {path.name!r} must look like labNN_slug.ipynb (e.g. lab01_idempotent_handlers)")
    meta = nb.metadata.get("consistency_lab") or {}
    lab = meta.get("lab")
    if not lab:
        problems.append("metadata.consistency_lab.lab is missing; set it to the file name without .ipynb")
    elif m and lab != m.group(1):
        problems.append(f"metadata.consistency_lab.lab = {lab!r} differs from the file name {m.group(1)!r}")
    lab = lab or (m.group(1) if m else path.stem)
    checks_module = meta.get("checks") or _checks.default_checks_module(lab)
    if not isinstance(checks_module, str) or checks_module.endswith(_checks.HIDDEN_SUFFIX):
        problems.append(f"metadata.consistency_lab.checks = {checks_module!r} must name the lab's public "
                        "checks module (the '_hidden' sibling is found from it)")
    kernel = nb.metadata.get("kernelspec", {}).get("name")
    if kernel != "python3":
        problems.append(f"kernelspec name is {kernel!r}; labs must use 'python3'")

    seen: dict[str, int] = {}
    parts: list[Part] = []
    for index, cell in enumerate(nb.cells):
        meta_nb = nbgrader_meta(cell)
        if not meta_nb:
            continue
        where = f"cell {index + 1}"
        grade_id = meta_nb.get("grade_id")
        if not isinstance(grade_id, str) or not grade_id:
            problems.append(f"{where}: metadata.nbgrader has no grade_id")
            continue
        where = f"cell {index + 1} ({grade_id})"
        if grade_id in seen:
            problems.append(f"{where}: grade_id also used by cell {seen[grade_id]}; grade_ids must be unique")
        seen[grade_id] = index + 1
        if is_solution_cell(cell) and is_check_cell(cell):
            problems.append(f"{where}: a cell is either a solution (solution: true) or a check (grade: true), "
                            "not both; manually graded answers are not supported")
        elif is_solution_cell(cell):
            if meta_nb.get("points", 0):
                problems.append(f"{where}: solution cells carry no points (found {meta_nb.get('points')}); "
                                "put the points on the part's check cell")
        elif is_check_cell(cell):
            if cell.cell_type != "code":
                problems.append(f"{where}: check cells must be code cells")
                continue
            points = meta_nb.get("points")
            if isinstance(points, bool) or not isinstance(points, (int, float)) or not points > 0:
                problems.append(f"{where}: check cells need positive points (found {points!r})")
                continue
            if not meta_nb.get("locked"):
                problems.append(f"{where}: check cells must be locked (locked: true)")
            if not grade_id.endswith("_check"):
                problems.append(f"{where}: a check cell's grade_id must be '<part>_check' (e.g. 'q1_dedupe_check')")
                continue
            part_id = grade_id[: -len("_check")]
            calls = {m.group(2) for m in _CHECK_CALL_RE.finditer(cell.source)}
            if part_id not in calls:
                problems.append(f"{where}: the cell must call check({part_id!r}) so students can run the "
                                f"part's public checks (found {sorted(calls) or 'no check() call'})")
            parts.append(Part(part_id=part_id, cell_id=grade_id, points=float(points)))
    if not parts:
        problems.append("no check cells (metadata.nbgrader.grade = true) were found")
    total = sum(p.points for p in parts)
    if parts and total != TOTAL_POINTS:
        problems.append(f"the check cells' points add up to {total:g}; a lab totals {TOTAL_POINTS}")
    if problems:
        raise LabFormatError(f"{path}:\n  - " + "\n  - ".join(problems))
    return LabSpec(lab=lab, source=path, checks_module=checks_module, parts=tuple(parts))


def read_spec(path: Path) -> LabSpec:
    """The spec of one solution notebook."""
    return spec_from_notebook(read_notebook(path), path)


def load_specs(solutions_dir: Path) -> dict[str, LabSpec]:
    """Specs of every ``lab*.ipynb`` in ``solutions_dir``, keyed by lab id; LabFormatError on any problem."""
    specs: dict[str, LabSpec] = {}
    errors: list[str] = []
    for path in sorted(solutions_dir.glob("*.ipynb")):
        try:
            spec = read_spec(path)
        except LabFormatError as exc:
            errors.append(str(exc))
            continue
        specs[spec.lab] = spec
    if errors:
        raise LabFormatError("\n".join(errors))
    return specs


def registry_problems(spec: LabSpec) -> list[str]:
    """Disagreements between a lab's check cells and its registered checks (empty when they agree)."""
    try:
        _checks.load_lab_checks(spec.lab, spec.checks_module, hidden=True)
    except Exception as exc:  # noqa: BLE001 - any import failure is reported the same way
        return [f"{spec.lab}: cannot import checks module {spec.checks_module!r} "
                f"(or its _hidden sibling): {type(exc).__name__}: {exc}"]
    problems = []
    registered = _checks.part_points(spec.lab)
    for part in spec.parts:
        if part.part_id not in registered:
            problems.append(f"{spec.lab}: check cell {part.cell_id} has no checks registered for part "
                            f"{part.part_id!r} in {spec.checks_module}")
            continue
        if registered[part.part_id] != part.points:
            problems.append(f"{spec.lab}: part {part.part_id} is worth {part.points:g} points in its check cell "
                            f"but {registered[part.part_id]:g} in @check_for")
        if not _checks.checks_for(spec.lab, part.part_id):
            problems.append(f"{spec.lab}: part {part.part_id} has only hidden checks; add at least one public "
                            "check so students get feedback from check()")
    cell_parts = {p.part_id for p in spec.parts}
    for part_id in registered:
        if part_id not in cell_parts:
            problems.append(f"{spec.lab}: checks are registered for part {part_id!r} but the solution has no "
                            f"check cell {part_id}_check")
    return problems
