"""The real nbgrader on the course's labs: it releases what build-labs writes and scores like `consistency-lab grade`.

One temporary nbgrader course (``source/<lab>/`` from ``build.write_nbgrader_source``) for two
labs; ``nbgrader generate_assignment`` and ``nbgrader autograde`` run as an instructor runs
them, and the gradebook's score of every check cell must equal the grader's for the same
submitted notebooks: the solution, the fresh lab and typical mistakes.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from optional_tools import require

require(importlib.util.find_spec("nbgrader") is not None, "nbgrader", ".venv/bin/pip install nbgrader")

from consistency_lab.grading.build import build_lab_bytes, write_nbgrader_source  # noqa: E402
from consistency_lab.grading.grader import Settings, grade_all  # noqa: E402
from consistency_lab.grading.notebook_build import BEGIN_HIDDEN, BEGIN_SOLUTION  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent / "fixtures"))
import lab03_submissions  # noqa: E402
import lab05_mistakes  # noqa: E402

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
LAB01 = "lab01_idempotent_handlers"
LAB05 = "lab05_cqrs_projection"
LAB03 = "lab03_crdts"
# Two labs by default (about 90 s); ALL_LABS=1 adds every other lab's solution and fresh copy,
# and a lab 03 mistake (about 2.5 minutes more).
ALL = os.environ.get("CONSISTENCY_LAB_NBGRADER_ALL_LABS") == "1"
LABS = sorted(p.stem for p in (ROOT / "solutions").glob("lab*.ipynb")) if ALL else [LAB01, LAB05]

# Lab 01, part 4: a store that never evicts (the capacity bound is gone); only q4_bounded may lose.
_EVICTION = ("        if len(self.expires) >= self.capacity:\n"
             "            self.expires.popitem(last=False)\n")


def _lab01_unbounded() -> dict:
    nb = json.loads((ROOT / "solutions" / f"{LAB01}.ipynb").read_text(encoding="utf-8"))
    nb["cells"] = [c for c in nb["cells"] if "hidden" not in c.get("metadata", {}).get("tags", [])]
    for cell in nb["cells"]:
        if cell.get("metadata", {}).get("nbgrader", {}).get("grade_id") == "q4_bounded":
            source = "".join(cell["source"])
            assert _EVICTION in source, "the lab 01 solution changed: update this test's mistake"
            cell["source"] = source.replace(_EVICTION, "")
            return nb
    raise AssertionError("lab 01 has no q4_bounded solution cell")


def _lab05_mistake(name: str) -> dict:
    grade_id, source, _, _ = lab05_mistakes.MISTAKES[name]
    return lab05_mistakes.submission({grade_id: source})


def _nbgrader(course: Path, *args: str) -> subprocess.CompletedProcess:
    # nbgrader runs `alembic` from PATH: the venv's bin folder must come first.
    env = dict(os.environ, PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}")
    done = subprocess.run([sys.executable, "-m", "nbgrader", *args], cwd=course, env=env,
                          capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, f"nbgrader {' '.join(args)} failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    return done


def _answered(release: dict, answers: dict) -> dict:
    """The released notebook with every solution cell's source taken from ``answers`` (as a student submits it)."""
    sources = {c["metadata"]["nbgrader"]["grade_id"]: "".join(c["source"]) for c in answers["cells"]
               if c.get("metadata", {}).get("nbgrader", {}).get("solution")}
    nb = json.loads(json.dumps(release))
    for cell in nb["cells"]:
        meta = cell.get("metadata", {}).get("nbgrader", {})
        if meta.get("solution"):  # a fixture that leaves out a markdown answer keeps the stub
            cell["source"] = sources.get(meta["grade_id"], cell["source"])
    return nb


@pytest.fixture(scope="module")
def course(tmp_path_factory) -> Path:
    """An nbgrader course with lab 01 and lab 05 generated, submitted and autograded."""
    course = tmp_path_factory.mktemp("nbgrader-course")
    (course / "nbgrader_config.py").write_text(
        "c = get_config()\n"
        "c.CourseDirectory.course_id = 'consistency-lab'\n"
        # A part's hidden checks run many seeds; the grader allows each check 60 s.
        "c.Execute.timeout = 600\n", encoding="utf-8")
    solutions = course / "solutions"
    solutions.mkdir()
    for lab in LABS:
        (solutions / f"{lab}.ipynb").write_bytes((ROOT / "solutions" / f"{lab}.ipynb").read_bytes())
    write_nbgrader_source(solutions, course)
    for lab in LABS:
        _nbgrader(course, "generate_assignment", lab, "--force")
    release = {lab: json.loads((course / "release" / lab / f"{lab}.ipynb").read_text(encoding="utf-8"))
               for lab in LABS}
    # Student notebooks start from nbgrader's release (its metadata and checksums), answers filled in.
    answers = {
        ("solution", LAB01): json.loads((ROOT / "solutions" / f"{LAB01}.ipynb").read_text(encoding="utf-8")),
        ("fresh", LAB01): release[LAB01],
        ("unbounded", LAB01): _lab01_unbounded(),
        ("solution", LAB05): lab05_mistakes.solution(),
        ("fresh", LAB05): release[LAB05],
        ("no_idempotency", LAB05): _lab05_mistake("apply without idempotency"),
    }
    for lab in set(LABS) - {LAB01, LAB05}:
        answers[("solution", lab)] = json.loads((ROOT / "solutions" / f"{lab}.ipynb").read_text(encoding="utf-8"))
        answers[("fresh", lab)] = release[lab]
    if LAB03 in LABS:
        answers[("g_counter", LAB03)] = lab03_submissions.submission("g_counter_sums_on_merge")
    submissions = {(student, lab): _answered(release[lab], nb) for (student, lab), nb in answers.items()}
    for (student, lab), nb in submissions.items():
        target = course / "submitted" / student / lab / f"{lab}.ipynb"
        target.parent.mkdir(parents=True)
        target.write_text(json.dumps(nb, indent=1), encoding="utf-8")
    for lab in LABS:
        _nbgrader(course, "autograde", lab, "--create", "--force")
    return course


@pytest.fixture(scope="module")
def nbgrader_scores(course) -> dict:
    """(student, lab) -> check cell grade_id -> (score, max score), read with nbgrader's gradebook API."""
    from nbgrader.api import Gradebook

    scores: dict = {}
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gb:
        for lab in LABS:
            for sub in gb.assignment_submissions(lab):
                notebook = gb.find_submission_notebook(lab, lab, sub.student.id)
                scores[(sub.student.id, lab)] = {g.name: (g.score, g.max_score) for g in notebook.grades
                                                 if g.name.endswith("_check")}
    return scores


@pytest.fixture(scope="module")
def grader_scores(course) -> dict:
    """(student, lab) -> check cell grade_id -> points, from `consistency-lab grade` on the submitted notebooks."""
    results = grade_all([course / "submitted"], Settings(solutions_dir=course / "solutions", jobs=2))
    return {(g.student, g.lab): dict(g.points) for g in results}


def test_generate_assignment_releases_what_build_labs_writes(course):
    for lab in LABS:
        released = nbformat.read(course / "release" / lab / f"{lab}.ipynb", as_version=4)
        _, data = build_lab_bytes(ROOT / "solutions" / f"{lab}.ipynb")
        built = nbformat.reads(data.decode("utf-8"), as_version=4)
        assert [(c.cell_type, c.source) for c in released.cells] == [(c.cell_type, c.source) for c in built.cells]
        text = "\n".join(c.source for c in released.cells)
        assert BEGIN_SOLUTION not in text and BEGIN_HIDDEN not in text and "assert_part" not in text
        assert all(not c.get("outputs") for c in released.cells if c.cell_type == "code")


def test_nbgrader_and_the_grader_agree_part_by_part(nbgrader_scores, grader_scores):
    assert set(nbgrader_scores) == set(grader_scores)
    for key, graded in grader_scores.items():
        got = {cell: score for cell, (score, _) in nbgrader_scores[key].items()}
        assert got == graded, f"{key}: nbgrader {got} but consistency-lab grade {graded}"


def test_the_scores_compared_are_not_all_alike(grader_scores, nbgrader_scores):
    # Agreement means something only if the submissions score differently, as each one should.
    totals = {key: sum(points.values()) for key, points in grader_scores.items()}
    assert totals[("solution", LAB01)] == totals[("solution", LAB05)] == 100
    assert totals[("fresh", LAB01)] == totals[("fresh", LAB05)] == 0
    assert [c for c, p in grader_scores[("unbounded", LAB01)].items() if p == 0] == ["q4_bounded_check"]
    assert [c for c, p in grader_scores[("no_idempotency", LAB05)].items() if p == 0] == ["q1_apply_check"]
    for lab in set(LABS) - {LAB01, LAB05}:
        assert totals[("solution", lab)] == 100 and totals[("fresh", lab)] == 0
    if LAB03 in LABS:
        assert [c for c, p in grader_scores[("g_counter", LAB03)].items() if p == 0] == ["q1_counter_check"]
    assert all(max_score > 0 for parts in nbgrader_scores.values() for _, max_score in parts.values())
