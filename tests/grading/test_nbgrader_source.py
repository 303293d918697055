"""The nbgrader source of a lab and its autograder call, without nbgrader (fast; test_nbgrader.py runs the real one)."""

from __future__ import annotations

import pytest

from consistency_lab.grading.autograde import assert_part
from consistency_lab.grading.build import write_nbgrader_source
from consistency_lab.grading.labspec import read_notebook
from consistency_lab.grading.notebook_build import (
    BEGIN_HIDDEN,
    is_check_cell,
    is_hidden_cell,
    is_solution_cell,
    nbgrader_meta,
    nbgrader_source,
    student_notebook,
)

LAB = "lab99_demo"


def _source(solution_path):
    return nbgrader_source(read_notebook(solution_path), LAB, "lab99_checks")


def test_every_check_cell_calls_assert_part_inside_hidden_tests(solution_path):
    nb = _source(solution_path)
    checks = [c for c in nb.cells if is_check_cell(c) and c.cell_type == "code"]
    assert [nbgrader_meta(c)["grade_id"] for c in checks] == ["q1_add_check", "q2_dedupe_check", "q3_counter_check"]
    for cell in checks:
        part = nbgrader_meta(cell)["grade_id"][: -len("_check")]
        regions = cell.source.split(BEGIN_HIDDEN)  # a check cell may have hidden tests of its own
        public, hidden = regions[0], regions[-1]
        assert f'check("{part}")' in public
        assert f"assert_part('{LAB}', '{part}', checks='lab99_checks')" in hidden


def test_hidden_cells_go_and_markdown_answers_are_zero_point_grade_cells(solution_path):
    solution = read_notebook(solution_path)
    nb = _source(solution_path)
    assert any(is_hidden_cell(c) for c in solution.cells) and not any(is_hidden_cell(c) for c in nb.cells)
    answers = [c for c in nb.cells if c.cell_type == "markdown" and is_solution_cell(c)]
    assert answers and all(nbgrader_meta(c)["grade"] is True and nbgrader_meta(c)["points"] == 0 for c in answers)
    # The solution itself is untouched (its markdown answer is still not a grade cell).
    assert not any(is_check_cell(c) for c in solution.cells if c.cell_type == "markdown")


def test_the_student_copy_of_the_nbgrader_source_is_the_lab(solution_path):
    # What nbgrader releases (solutions and hidden tests stripped) must be what build-labs writes.
    built = student_notebook(read_notebook(solution_path), lab=LAB)
    released = student_notebook(_source(solution_path), lab=LAB)
    assert [(c.cell_type, c.source) for c in released.cells] == [(c.cell_type, c.source) for c in built.cells]


def test_write_nbgrader_source_uses_nbgraders_layout(solutions_dir, tmp_path):
    written = write_nbgrader_source(solutions_dir, tmp_path)
    assert written == [tmp_path / "source" / LAB / f"{LAB}.ipynb"]
    assert BEGIN_HIDDEN in written[0].read_text(encoding="utf-8")


def test_build_labs_nbgrader_writes_the_same_source(solutions_dir, tmp_path, capsys):
    from consistency_lab.cli import main

    assert main(["build-labs", "--solutions", str(solutions_dir), "--nbgrader", str(tmp_path / "cli")]) == 0
    written = tmp_path / "cli" / "source" / LAB / f"{LAB}.ipynb"
    assert "wrote" in capsys.readouterr().out
    assert written.read_bytes() == write_nbgrader_source(solutions_dir, tmp_path / "api")[0].read_bytes()
    assert main(["build-labs", "--nbgrader", str(tmp_path), "--check"]) == 2
    assert "takes neither --check nor --force" in capsys.readouterr().err


def _add(a, b):
    return a + b


def test_assert_part_passes_only_when_public_and_hidden_checks_pass():
    assert_part(LAB, "q1_add", checks="lab99_checks", namespace={"add": _add})
    # Passes the public checks (small ints) but not the hidden one (beyond 64 bits).
    with pytest.raises(AssertionError, match="(?s)1 of 3 checks failed.*beyond 64 bits"):
        assert_part(LAB, "q1_add", checks="lab99_checks", namespace={"add": lambda a, b: int(float(a) + float(b))})
    with pytest.raises(AssertionError, match="3 of 3 checks failed"):
        assert_part(LAB, "q1_add", checks="lab99_checks", namespace={})


def test_assert_part_reads_the_callers_globals():
    add = _add  # noqa: F841 - a local is not the notebook's namespace
    with pytest.raises(AssertionError, match="`add` is not defined"):
        assert_part(LAB, "q1_add", checks="lab99_checks")
    globals()["add"] = _add
    try:
        assert_part(LAB, "q1_add", checks="lab99_checks")
    finally:
        del globals()["add"]


def test_an_unknown_part_is_a_value_error():
    with pytest.raises(ValueError, match="part='q9' has no checks"):
        assert_part(LAB, "q9", checks="lab99_checks", namespace={})
