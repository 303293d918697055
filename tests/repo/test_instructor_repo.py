"""Promises of the instructor's repo only (the student release leaves these files out)."""

from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_ci_calls_make_test_with_every_optional_tool_required():
    ci = (ROOT / ".ci" / "run").read_text()
    assert "make test" in ci
    assert "CONSISTENCY_LAB_REQUIRE_ALL=1" in ci  # no test may skip in CI


def test_every_lab_has_its_solution_source():
    labs = {p.name for p in (ROOT / "labs").glob("*.ipynb")}
    assert labs and labs == {p.name for p in (ROOT / "solutions").glob("*.ipynb")}
