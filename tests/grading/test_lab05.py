"""Lab 05 (a CQRS projection): the solution passes every check, typical mistakes lose exactly their part.

The student's namespace is built in-process from the solution notebook's solution cells, with one
cell swapped for a mistake from ``fixtures/lab05_mistakes.py``; one slow test grades whole
notebooks (solution, fresh lab, the four mistakes issue 13 names, another correct solution) with
the real grader.
"""

import contextlib
import csv
import io
import json
from pathlib import Path

import nbformat
import pytest
from lab05_mistakes import GRADED, MISTAKES, OTHER_CORRECT, submission

from consistency_lab.cli import main
from consistency_lab.grading.build import build_lab_bytes
from consistency_lab.grading.checks import checks_for, failed_checks, load_lab_checks
from consistency_lab.grading.labs._lab05_world import run_projection
from consistency_lab.grading.labs.lab05_hidden import _RefProjector, _RefView
from consistency_lab.grading.labspec import read_spec, registry_problems
from consistency_lab.grading.notebook_build import is_solution_cell

ROOT = Path(__file__).resolve().parents[2]
LAB = "lab05_cqrs_projection"
SOLUTION = ROOT / "solutions" / f"{LAB}.ipynb"
PARTS = {"q1_apply": 25, "q2_checkpoint": 30, "q3_rebuild": 20, "q4_alarm": 25}


def solution_cells() -> dict:
    """grade_id -> source of each solution code cell of the solution notebook."""
    nb = nbformat.read(str(SOLUTION), as_version=4)
    return {c.metadata["nbgrader"]["grade_id"]: c.source for c in nb.cells
            if c.cell_type == "code" and is_solution_cell(c)}


def namespace(cells: dict) -> dict:
    """A student namespace: the solution's cells, with ``cells`` (grade_id -> source) in place of some."""
    ns: dict = {"__name__": "lab05_student"}
    for source in {**solution_cells(), **cells}.values():
        exec(source, ns)
    return ns


def failures(ns: dict) -> dict:
    """grade_id -> messages of every failed check (public and hidden)."""
    failed: dict = {}
    for chk, outcome in failed_checks(LAB, ns, time_limit=30):
        failed.setdefault(chk.grade_id, []).append(f"{chk.name}: {outcome.status}: {outcome.message}")
    return failed


def test_checks_agree_with_the_notebook_and_hidden_names_stay_hidden():
    spec = read_spec(SOLUTION)
    assert [(p.part_id, p.points) for p in spec.parts] == list(PARTS.items())
    assert registry_problems(spec) == []
    load_lab_checks(LAB, hidden=True)
    hidden = [c for c in checks_for(LAB, include_hidden=True) if not c.public]
    assert {c.grade_id for c in hidden} == set(PARTS) and all(c.name.startswith("l05h_") for c in hidden)
    lab = (ROOT / "labs" / SOLUTION.name).read_text(encoding="utf-8")
    assert "l05h_" not in lab and "BEGIN SOLUTION" not in lab and "self.applied = set()" not in lab


def test_the_solution_passes_every_public_and_hidden_check():
    assert failures(namespace({})) == {}


@pytest.mark.parametrize("mistake", list(MISTAKES))
def test_a_typical_mistake_loses_its_part_and_only_that(mistake):
    grade_id, source, lost, words = MISTAKES[mistake]
    failed = failures(namespace({grade_id: source}))
    assert set(failed) == {lost}, failed
    assert words in " ".join(failed[lost]), failed[lost]


def test_another_correct_solution_passes_every_check():
    assert failures(namespace(OTHER_CORRECT)) == {}


def test_the_fresh_lab_fails_every_part_as_not_implemented():
    nb = nbformat.reads(build_lab_bytes(SOLUTION)[1].decode("utf-8"), as_version=4)
    stubs = {c.metadata["nbgrader"]["grade_id"]: c.source for c in nb.cells
             if c.cell_type == "code" and is_solution_cell(c)}
    assert set(stubs) == set(PARTS)
    failed = failures(namespace(stubs))
    assert set(failed) == set(PARTS)
    assert all("not implemented" in m for msgs in failed.values() for m in msgs), failed


def test_a_fresh_lab_runs_to_its_first_stub_and_beyond_without_an_error():
    """Every code cell of the fresh lab runs in order; the first demo after a stub prints the friendly line."""
    nb = nbformat.reads(build_lab_bytes(SOLUTION)[1].decode("utf-8"), as_version=4)
    ns: dict = {"__name__": "lab05_fresh"}
    printed = []
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            exec("\n".join(line for line in cell.source.splitlines() if not line.startswith("%")), ns)
        printed.append(out.getvalue())
    first = next(i for i, text in enumerate(printed) if "not implemented yet" in text)
    assert "Part 1 (q1_apply) not implemented yet" in printed[first], printed[first]
    assert not any("passed. Well done" in text for text in printed), "a check passed on a fresh lab"


def test_the_world_has_the_faults_the_checks_rely_on():
    """Duplicates and late versions in the log, crashes after both kinds of writes: else the checks prove little."""
    run = run_projection(_RefProjector, _RefView(), seed=0, crash_after_writes=(3, 10, 18, 30))
    records = list(run.topic.records())
    assert len(records) > len({r.event.event_id for r in records}), "no duplicate uploads in the log"
    late = 0
    for part in run.topic.partitions:
        newest: dict = {}
        for r in part.records():
            late += r.event.version < newest.get(r.event.key, 0)
            newest[r.event.key] = max(newest.get(r.event.key, 0), r.event.version)
    assert late > 0, "no package's scans reached the log out of version order"
    kinds = {what.split("(")[0] for _, _, what in run.faults.crashes}
    assert kinds == {"apply", "save"}, run.faults.crashes
    again = run_projection(_RefProjector, _RefView(), seed=0, crash_after_writes=(3, 10, 18, 30))
    assert [r.event.event_id for r in again.topic.records()] == [r.event.event_id for r in records]


@pytest.mark.slow
def test_the_grader_scores_each_notebook_as_intended(tmp_path, capsys):
    """Solution 100, fresh lab 0, each named mistake 100 minus its part, another correct solution 100."""
    notebooks = {"solution": json.loads(SOLUTION.read_text(encoding="utf-8")),
                 "fresh": json.loads(build_lab_bytes(SOLUTION)[1]),
                 "other": submission(OTHER_CORRECT)}
    expected = {"solution": 100, "fresh": 0, "other": 100}
    for i, name in enumerate(GRADED):
        grade_id, source, lost, _ = MISTAKES[name]
        notebooks[f"mistake{i}"] = submission({grade_id: source})
        expected[f"mistake{i}"] = 100 - PARTS[lost]
    for who, nb in notebooks.items():
        (tmp_path / "in" / who).mkdir(parents=True)
        (tmp_path / "in" / who / SOLUTION.name).write_text(json.dumps(nb), encoding="utf-8")
    code = main(["grade", str(tmp_path / "in"), "--out", str(tmp_path / "out"), "--jobs", "2",
                 "--solutions", str(ROOT / "solutions")])
    assert code == 0, capsys.readouterr().err
    with open(tmp_path / "out" / "grades.csv", newline="") as fh:
        rows = {row["student"]: row for row in csv.DictReader(fh)}
    assert {who: int(row["total"]) for who, row in rows.items()} == expected, rows
    assert all(rows[who]["status"] == "ok" for who in ("solution", "other") + tuple(f"mistake{i}"
                                                                                  for i in range(len(GRADED))))
