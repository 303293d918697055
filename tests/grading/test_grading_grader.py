"""The grader: full marks for the solution, zero for the lab, and every hostile notebook contained.

One grading run of all submissions (``--jobs 2``) is shared by the tests below, and by both
pytest-xdist workers (the first to arrive runs it, the other waits for its output files).
"""

import csv
import hashlib
import io
import json
import os
import re
import shutil
import subprocess
import sys
import time
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path

import pytest
import lab99_submissions as submissions

from consistency_lab.cli import main
from consistency_lab.grading.build import build_lab_bytes
from consistency_lab.grading.grader import _kill, identify_lab, student_name
from consistency_lab.grading.labspec import read_spec

TIMEOUT = "4"  # seconds per cell and per check: the hanging cases cost this much each
PARTS = ["q1_add_check", "q2_dedupe_check", "q3_counter_check"]


def run_cli(args):
    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        code = main(args)
    return code, out.getvalue(), err.getvalue()


def make_submissions(folder: Path) -> None:
    for name, nb in submissions.hostile().items():
        submissions.write(folder, name, nb)
    good = folder / "good" / "lab99_demo.ipynb"  # named like the lab: the student is the folder
    good.parent.mkdir(parents=True)
    shutil.copy(submissions.SOLUTION, good)
    _, lab = build_lab_bytes(submissions.SOLUTION)
    (folder / "stubs.ipynb").write_bytes(lab)
    unknown = submissions.solution()
    del unknown["metadata"]["consistency_lab"]
    submissions.write(folder, "mystery", unknown)
    (folder / "garbage_lab99.ipynb").write_text("this is not a notebook")
    weird = {"cells": [], "nbformat": 99, "metadata": {"consistency_lab": {"lab": "lab99_demo"}}}
    submissions.write(folder, "weird", weird)  # JSON with cells, but no nbformat we can read


def digests(folder: Path) -> dict:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def grade_everything(base: Path, solutions: Path) -> dict:
    subs, out = base / "submissions", base / "out"
    make_submissions(subs)
    before = digests(subs)
    code, stdout, stderr = run_cli(["grade", str(subs), "--out", str(out), "--solutions", str(solutions),
                                    "--jobs", "2", "--timeout", TIMEOUT])
    return {"code": code, "stdout": stdout, "stderr": stderr, "before": before, "after": digests(subs),
            "subs": str(subs), "out": str(out)}


@pytest.fixture(scope="session")
def graded(request, tmp_path_factory):
    """The shared grading run: its exit code, output streams, submission hashes and output folder."""
    solutions = Path(submissions.SOLUTION).parent
    if not hasattr(request.config, "workerinput"):  # no xdist: just run it
        data = grade_everything(tmp_path_factory.mktemp("graded"), solutions)
    else:
        shared = tmp_path_factory.getbasetemp().parent / "grading-shared-run"
        result = shared.with_suffix(".json")
        try:
            shared.mkdir()  # atomic: exactly one worker wins
        except FileExistsError:
            deadline = time.monotonic() + 300
            while not result.exists():
                assert time.monotonic() < deadline, "the other worker's grading run did not finish"
                time.sleep(0.2)
            data = json.loads(result.read_text())
        else:
            data = grade_everything(shared, solutions)
            tmp = result.with_suffix(".tmp")
            tmp.write_text(json.dumps(data))
            os.replace(tmp, result)
    out = Path(data["out"])
    with open(out / "grades.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    data["header"] = (out / "grades.csv").read_text().splitlines()[0].split(",")
    data["rows"] = {row["student"]: row for row in rows}
    data["feedback"] = {p.stem: p.read_text() for p in (out / "feedback").glob("*.md")}
    return data


def test_exit_code_progress_and_summary(graded):
    assert graded["code"] == 0, graded["stderr"]
    assert len(re.findall(r"^\[ ?\d+/15\] ", graded["stderr"], re.M)) == 15
    assert "Graded 15 submissions" in graded["stdout"] and "mean" in graded["stdout"]
    assert re.search(r"Status: .*ok \d", graded["stdout"])


def test_the_cli_writes_an_lms_gradebook_and_html_feedback_beside_the_markdown(graded):
    out = Path(graded["out"])
    with open(out / "gradebook.csv", newline="") as fh:
        rows = list(csv.reader(fh))
    assert rows[1][0] == "Points Possible" and len(rows) == 2 + len(graded["rows"])
    assert {p.stem for p in (out / "feedback").glob("*.html")} == set(graded["feedback"])
    assert "Wrote" in graded["stdout"] and "gradebook.csv" in graded["stdout"]


def test_csv_has_one_column_per_check_cell(graded):
    assert graded["header"] == ["student", "lab", *PARTS, "total", "max_total", "status"]
    assert len(graded["rows"]) == 15


def test_solution_scores_full_marks_and_student_comes_from_folder(graded):
    row = graded["rows"]["good"]
    assert row["lab"] == "lab99_demo" and row["total"] == "100" and row["max_total"] == "100"
    assert row["status"] == "ok"


def test_generated_lab_scores_zero_on_every_part(graded):
    row = graded["rows"]["stubs"]
    assert [row[p] for p in PARTS] == ["0", "0", "0"] and row["status"] == "ok"
    assert graded["feedback"]["stubs"].count("NOT IMPLEMENTED") == 8


@pytest.mark.parametrize("student, points, status", [
    ("raises_top", (20, 50, 30), r"^error in cell 2: RuntimeError$"),
    ("loops", (20, 0, 30), r"^timeout in cell 7 \(>4 s, skipped\)$"),
    ("sys_exit", (20, 50, 30), r"^error in cell 4: SystemExit$"),
    ("os_exit", (20, 50, 30), r"^kernel died in cell 6 \(skipped\)$"),
    ("spam", (20, 50, 0), r"^ok$"),
    ("fake_checks", (0, 50, 30), r"^ok$"),
    ("deleted_checks", (20, 0, 30), r"^ok$"),
    ("check_kills", (0, 50, 30), r"^kernel died in cell 5 \(skipped\); kernel died during a check$"),
    ("check_hangs", (20, 0, 30), r"^timeout in cell 8 \(>4 s, skipped\)$"),
    ("shadow", (0, 0, 0), r"^not graded: the notebook replaced the consistency_lab package \(imported from .*work"),
])
def test_hostile_submission_gets_what_its_code_earns(graded, student, points, status):
    row = graded["rows"][student]
    assert tuple(int(row[p]) for p in PARTS) == points, row
    assert int(row["total"]) == sum(points)
    assert re.match(status, row["status"]), row["status"]


def test_unidentifiable_and_unreadable_notebooks_are_reported(graded):
    mystery = graded["rows"]["mystery"]
    assert mystery["status"].startswith("unknown lab: it has no metadata.consistency_lab.lab")
    assert mystery["total"] == "0" and mystery["lab"] == ""
    garbage = graded["rows"]["garbage_lab99"]
    assert garbage["status"].startswith("unreadable notebook") and garbage["lab"] == "lab99_demo"
    assert garbage["total"] == "0" and garbage["max_total"] == "100"
    weird = graded["rows"]["weird"]
    assert weird["status"].startswith("unreadable notebook (NBFormatError") and weird["total"] == "0"


def test_feedback_explains_each_part(graded):
    loops = graded["feedback"]["loops"]
    assert "## lab99_demo: 50 / 100" in loops and "| q2_dedupe_check | 0 / 50 | 0 / 3 |" in loops
    assert "`dedupe` is not defined" in loops and "Hint: Remember the ids you have seen" in loops
    assert "Cell 7 ran longer than 4 s" in loops
    kills = graded["feedback"]["check_kills"]
    assert "your code killed the kernel while this check was running" in kills
    assert "skipped: an earlier check of this part hung or stopped the kernel" in kills
    hangs = graded["feedback"]["check_hangs"]
    assert "took longer than 4 s" in hangs
    assert "(hidden check)" in graded["feedback"]["good"]


def test_printed_output_is_neither_trusted_nor_stored(graded):
    assert "printed 6.8 MB of output (not kept" in graded["feedback"]["spam"]
    out = Path(graded["out"])
    assert sum(p.stat().st_size for p in out.rglob("*") if p.is_file()) < 200_000
    assert "Score: 100/100" not in (out / "grades.csv").read_text()


def test_submissions_are_never_modified(graded):
    assert graded["after"] == graded["before"]


def test_parallel_and_serial_grading_agree(graded, tmp_path):
    subset = tmp_path / "subset"
    subset.mkdir()
    for name in ["stubs", "raises_top", "fake_checks", "deleted_checks"]:
        shutil.copy(Path(graded["subs"]) / f"{name}.ipynb", subset)
    code, _, err = run_cli(["grade", str(subset), "--out", str(tmp_path / "out"), "--jobs", "1",
                            "--timeout", TIMEOUT, "--solutions", str(Path(submissions.SOLUTION).parent)])
    assert code == 0, err
    with open(tmp_path / "out" / "grades.csv", newline="") as fh:
        serial = {row["student"]: row for row in csv.DictReader(fh)}
    assert serial == {name: graded["rows"][name] for name in serial}


def test_wall_clock_limit_stops_a_slow_notebook(tmp_path, solutions_dir):
    nb = submissions.student_like(submissions.solution())
    nb["cells"].insert(1, submissions.code("import time\ntime.sleep(3)", "slow1"))
    nb["cells"].insert(2, submissions.code("import time\ntime.sleep(3)", "slow2"))
    submissions.write(tmp_path / "subs", "slowpoke", nb)
    code, _, err = run_cli(["grade", str(tmp_path / "subs"), "--out", str(tmp_path / "out"), "--timeout", "5",
                            "--max-time", "4", "--solutions", str(solutions_dir)])
    assert code == 0, err
    row = next(csv.DictReader(open(tmp_path / "out" / "grades.csv")))
    assert row["status"] == "timeout (wall-clock limit 4 s)" and row["total"] == "0"
    assert "Grading stopped at the 4 s limit" in (tmp_path / "out" / "feedback" / "slowpoke.md").read_text()


def test_usage_errors_exit_2(tmp_path, solutions_dir):
    (tmp_path / "empty").mkdir()
    code, _, err = run_cli(["grade", str(tmp_path / "empty"), "--out", str(tmp_path / "o"),
                            "--solutions", str(solutions_dir)])
    assert code == 2 and "no notebooks (.ipynb) found in" in err
    code, _, err = run_cli(["grade", str(tmp_path / "nope"), "--out", str(tmp_path / "o")])
    assert code == 2 and "no such file or folder" in err
    code, _, err = run_cli(["grade", str(tmp_path / "empty"), "--out", str(tmp_path / "o"),
                            "--solutions", str(tmp_path / "empty")])
    assert code == 2 and "no lab notebooks" in err
    code, _, err = run_cli(["grade", str(tmp_path / "empty"), "--out", str(tmp_path / "o"), "--kernel", "nope"])
    assert code == 2 and "no Jupyter kernel named 'nope'" in err
    with pytest.raises(SystemExit) as info:
        run_cli(["grade", str(tmp_path), "--out", "o", "--jobs", "0"])
    assert info.value.code == 2
    for name in ["alice.ipynb", "alice/lab99_demo.ipynb"]:
        (tmp_path / "dup" / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(submissions.SOLUTION, tmp_path / "dup" / name)
    code, _, err = run_cli(["grade", str(tmp_path / "dup"), "--out", str(tmp_path / "o"),
                            "--solutions", str(solutions_dir)])
    assert code == 2 and "both count as student 'alice'" in err


def test_student_names_and_lab_identification(solution_path):
    assert student_name(Path("subs/alice.ipynb")) == "alice"
    assert student_name(Path("subs/bob/lab99_demo.ipynb")) == "bob"
    assert student_name(Path("submitted/carol/lab99/lab99_demo.ipynb")) == "carol"
    assert student_name(Path("subs/Dan O'Neil (2).ipynb")) == "Dan_O_Neil_2"
    specs = {"lab99_demo": read_spec(solution_path)}
    assert identify_lab(Path("x/alice.ipynb"), {"metadata": {"consistency_lab": {"lab": "lab99_demo"}}}, specs) \
        == ("lab99_demo", "")
    assert identify_lab(Path("x/alice_lab99.ipynb"), {}, specs) == ("lab99_demo", "")
    assert identify_lab(Path("lab99/alice.ipynb"), {}, specs)[0] == "lab99_demo"
    lab, problem = identify_lab(Path("x/alice.ipynb"), {"metadata": {"consistency_lab": {"lab": "lab55_x"}}}, specs)
    assert lab is None and "its metadata says 'lab55_x'" in problem


def test_kill_stops_the_runner_and_its_kernels(tmp_path):
    import multiprocessing

    kernel = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"], start_new_session=True)
    (tmp_path / "pids").write_text(f"{kernel.pid}\n")
    runner = multiprocessing.get_context("spawn").Process(target=time.sleep, args=(60,))
    runner.start()
    _kill(runner, tmp_path / "pids")
    assert not runner.is_alive()
    assert kernel.wait(timeout=10) != 0
