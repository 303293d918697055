"""The course's own labs: labs/ matches solutions/, checks agree with the notebooks, solutions get full marks."""

import csv
import shutil
from pathlib import Path

import pytest

from consistency_lab.cli import main
from consistency_lab.grading.build import build_lab_bytes, build_labs

ROOT = Path(__file__).resolve().parents[2]
SOLUTIONS = sorted((ROOT / "solutions").glob("*.ipynb"))


def test_labs_folder_is_up_to_date_and_checks_agree_with_solutions():
    report = build_labs(ROOT / "solutions", ROOT / "labs", check=True)
    assert report.exit_code == 0, "\n".join(report.errors) + "\n(run `consistency-lab build-labs`)"


@pytest.mark.slow
@pytest.mark.skipif(not SOLUTIONS, reason="no labs in solutions/ yet")
def test_solutions_score_full_marks_and_fresh_labs_score_zero(tmp_path, capsys):
    (tmp_path / "solution").mkdir()
    (tmp_path / "lab").mkdir()
    for source in SOLUTIONS:  # named like the lab, so the "student" is the folder: solution / lab
        shutil.copy(source, tmp_path / "solution" / source.name)
        (tmp_path / "lab" / source.name).write_bytes(build_lab_bytes(source)[1])
    for who in ["solution", "lab"]:
        code = main(["grade", str(tmp_path / who), "--out", str(tmp_path / f"out-{who}"), "--jobs", "2",
                     "--solutions", str(ROOT / "solutions")])
        assert code == 0, capsys.readouterr().err
        with open(tmp_path / f"out-{who}" / "grades.csv", newline="") as fh:
            for row in csv.DictReader(fh):
                if who == "solution":
                    assert row["total"] == row["max_total"] == "100" and row["status"] == "ok", row
                else:  # a lab may call a stub at the top level, so only the score is certain
                    assert row["total"] == "0", row


LABS = sorted((ROOT / "labs").glob("*.ipynb"))


@pytest.mark.parametrize("lab", LABS, ids=[p.stem for p in LABS])
def test_fresh_lab_runs_cleanly_until_the_first_stub(lab, tmp_path):
    """Everything before a student's first stub runs; the first error is that stub's NotImplementedError."""
    import nbformat
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError

    nb = nbformat.read(lab, as_version=4)
    client = NotebookClient(nb, timeout=120, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}})
    with client.setup_kernel():
        first_error = None
        for index, cell in enumerate(nb.cells):
            if cell.cell_type != "code":
                continue
            try:
                client.execute_cell(cell, index)
            except CellExecutionError as exc:
                first_error = (index, exc.ename)
                break
    assert first_error is not None, "a fresh lab should stop at a stub"
    index, name = first_error
    assert name == "NotImplementedError", f"cell {index} failed with {name} before any stub"
