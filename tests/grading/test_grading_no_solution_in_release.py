"""The student release holds no lab's solution: no reference implementation, no solution code.

A release of this repository (its real ``solutions/``) is built once; every text file in it is
searched for reference classes and functions, and for runs of solution lines copied from the
``### BEGIN SOLUTION`` regions of every lab.  The course toolkit (``patterns/``, ``crdt/``, ...)
ships on purpose; the labs' hidden checks make sure students do not simply wrap it.
"""

import ast
import re
from pathlib import Path

import nbformat
import pytest

from consistency_lab.course import release
from consistency_lab.grading.notebook_build import BEGIN_SOLUTION, END_SOLUTION

ROOT = Path(__file__).resolve().parents[2]
SOLUTIONS = sorted((ROOT / "solutions").glob("lab*.ipynb"))
RUN = 3  # this many consecutive solution lines found together in a released file is a copied solution
_TRIVIAL = {"return", "return True", "return False", "return None", "pass", "else:", "break", "continue", "try:"}


def solution_lines(path: Path) -> list[list[str]]:
    """The stripped, non-trivial code lines of each solution region of the notebook at ``path``."""
    regions, current = [], None
    for cell in nbformat.read(str(path), as_version=4).cells:
        if cell.cell_type != "code":
            continue
        for line in cell.source.splitlines():
            text = line.split("#", 1)[0].strip()
            if BEGIN_SOLUTION in line:
                current = []
            elif END_SOLUTION in line:
                regions.append(current)
                current = None
            elif current is not None and len(text) >= 12 and text not in _TRIVIAL:
                current.append(text)
    return [r for r in regions if len(r) >= RUN]


def copied_runs(text: str, regions: list[list[str]]) -> list[str]:
    """Runs of ``RUN`` consecutive solution lines that also stand consecutively (ignoring blanks) in ``text``."""
    lines = [t for t in (line.split("#", 1)[0].strip() for line in text.splitlines()) if t]
    joined = "\n".join(lines)
    found = []
    for region in regions:
        for i in range(len(region) - RUN + 1):
            run = "\n".join(region[i:i + RUN])
            if run in joined:
                found.append(run)
    return found


def reference_definitions(source: str) -> list[str]:
    """Names of classes called Reference* and functions called reference_* defined in ``source``."""
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return []
    return [n.name for n in ast.walk(tree)
            if (isinstance(n, ast.ClassDef) and n.name.startswith("Reference"))
            or (isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef)) and n.name.startswith("reference_"))]


@pytest.fixture(scope="module")
def released(tmp_path_factory) -> Path:
    dest = tmp_path_factory.mktemp("student") / "release"
    release(ROOT, dest)
    return dest


def released_sources(folder: Path) -> dict[str, str]:
    """relative path -> Python source of every .py file and every code cell of every notebook."""
    out = {}
    for path in sorted(folder.rglob("*")):
        rel = path.relative_to(folder).as_posix()
        if path.suffix == ".py":
            out[rel] = path.read_text(encoding="utf-8", errors="replace")
        elif path.suffix == ".ipynb":
            nb = nbformat.read(str(path), as_version=4)
            out[rel] = "\n".join(c.source for c in nb.cells if c.cell_type == "code")
    return out


def test_the_detector_finds_a_copied_solution():
    """On the lab 05 world as it was before its references moved, the scan finds them (so it can fail)."""
    regions = solution_lines(ROOT / "solutions" / "lab05_cqrs_projection.ipynb")
    old_world = '''
class ReferenceView:
    def apply(self, event: Event) -> None:
        if event.event_id in self.applied:
            return
        self.applied.add(event.event_id)
        depot = event.payload["depot"]
        self.scans[depot] = self.scans.get(depot, 0) + 1
'''
    assert copied_runs(old_world, regions)
    assert reference_definitions(old_world) == ["ReferenceView"]
    assert not copied_runs("def unrelated():\n    return 1\n", regions)


def test_every_lab_has_solution_regions_to_look_for():
    assert len(SOLUTIONS) >= 4
    for path in SOLUTIONS:
        assert solution_lines(path), f"{path.name}: no solution region of {RUN}+ lines to search for"


def test_the_release_defines_no_reference_implementation(released):
    found = {rel: names for rel, src in released_sources(released).items() if (names := reference_definitions(src))}
    assert found == {}, f"reference implementations ship to students: {found}"
    for rel, src in released_sources(released).items():
        assert not re.search(r"\bReference(View|Projector)\b|\breference_(rebuild|age_ms)\b", src), rel


def all_regions() -> list[list[str]]:
    return [r for path in SOLUTIONS for r in solution_lines(path)]


def test_no_lab_solution_source_remains_in_the_release(released):
    regions = all_regions()
    copies = {rel: runs[0] for rel, src in released_sources(released).items()
              if (runs := copied_runs(src, regions))}
    assert copies == {}, f"solution code ships to students: {copies}"


def test_the_release_has_no_hidden_module_of_any_lab(released):
    assert not list(released.rglob("*_hidden*")), "a hidden module ships to students"
    labs = released / "consistency_lab" / "grading" / "labs"
    assert sorted(p.name for p in labs.glob("lab0*.py")) == sorted(
        p.name for p in (ROOT / "consistency_lab" / "grading" / "labs").glob("lab0*.py") if "_hidden" not in p.name)
