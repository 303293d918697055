"""``grade --scheduler``: each submission is a task on a Dask cluster, graded as the local path grades it."""

import csv
import io
import shutil
import time
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path

import distributed  # a core dependency: missing means a broken install, never a skip
import pytest
import lab99_submissions as submissions

from consistency_lab.cli import main
from consistency_lab.grading.build import build_lab_bytes
from consistency_lab.grading.grader import Settings, grade_all


TIMEOUT = "4"


def run_cli(args):
    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        code = main(args)
    return code, out.getvalue(), err.getvalue()


@pytest.fixture(scope="module")
def cluster():
    """Two worker processes (one thread each), closed after the module's tests, also when they fail."""
    import dask

    # The workers start each submission's runner as a child process: daemonic workers may not.
    with dask.config.set({"distributed.worker.daemon": False}):
        lc = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                      dashboard_address=None, silence_logs=40)
    try:
        yield lc
    finally:
        lc.close()


@pytest.fixture(scope="module")
def class_folder(tmp_path_factory) -> Path:
    """Four notebooks of lab99: the solution, the generated lab, one part wrong, one that raises."""
    folder = tmp_path_factory.mktemp("class")
    shutil.copy(submissions.SOLUTION, folder / "good.ipynb")
    _, lab = build_lab_bytes(submissions.SOLUTION)
    (folder / "stubs.ipynb").write_bytes(lab)
    hostile = submissions.hostile()
    submissions.write(folder, "fake_checks", hostile["fake_checks"])
    submissions.write(folder, "raises_top", hostile["raises_top"])
    return folder


def rows(out: Path) -> list[dict]:
    with open(out / "grades.csv", newline="") as fh:
        return list(csv.DictReader(fh))


def test_grade_on_dask_gives_the_local_grades_row_by_row(cluster, class_folder, solutions_dir, tmp_path):
    common = [str(class_folder), "--solutions", str(solutions_dir), "--timeout", TIMEOUT, "--jobs", "2"]
    code_local, _, err_local = run_cli(["grade", *common, "--out", str(tmp_path / "local")])
    code_dask, out_dask, err_dask = run_cli(["grade", *common, "--out", str(tmp_path / "dask"),
                                             "--scheduler", cluster.scheduler_address])
    assert code_local == 0 and code_dask == 0, err_dask
    assert f"grading on the Dask scheduler at {cluster.scheduler_address}" in err_dask
    local, dask_rows = rows(tmp_path / "local"), rows(tmp_path / "dask")
    assert [r["student"] for r in local] == ["fake_checks", "good", "raises_top", "stubs"]
    assert dask_rows == local  # every column: points per part, total, status
    good = next(r for r in dask_rows if r["student"] == "good")
    assert float(good["total"]) == float(good["max_total"]) > 0
    for name in ("gradebook.csv",):
        assert (tmp_path / "dask" / name).read_text() == (tmp_path / "local" / name).read_text()
    feedback = sorted(p.name for p in (tmp_path / "dask" / "feedback").iterdir())
    assert feedback == sorted(p.name for p in (tmp_path / "local" / "feedback").iterdir())
    for name in feedback:
        assert (tmp_path / "dask" / "feedback" / name).read_text() == \
            (tmp_path / "local" / "feedback" / name).read_text(), name


def test_grade_all_on_a_cluster_object_gives_the_same_outcomes(cluster, class_folder, solutions_dir):
    settings = Settings(solutions_dir=solutions_dir, cell_timeout=float(TIMEOUT), jobs=2)
    seen = []
    results = grade_all([class_folder], settings, scheduler=cluster,
                        progress=lambda done, total, g: seen.append((done, total)))
    assert sorted(seen) == [(i, 4) for i in range(1, 5)]
    by_student = {g.student: g for g in results}
    assert [g.student for g in results] == ["fake_checks", "good", "raises_top", "stubs"]
    assert by_student["good"].total == by_student["good"].max_total > 0 and by_student["good"].status == "ok"
    assert by_student["stubs"].total == 0
    assert by_student["fake_checks"].total < by_student["fake_checks"].max_total  # its fake checks earn nothing


@pytest.mark.parametrize("address, message", [
    ("localhost:8786", "must be a Dask scheduler address; allowed: tcp://HOST:PORT"),
    ("tcp://127.0.0.1:1", "cannot connect within 2 s"),
])
def test_a_bad_or_unreachable_scheduler_is_one_line_within_bounded_time(address, message, class_folder,
                                                                      solutions_dir, tmp_path, monkeypatch):
    import consistency_lab.executor as executor

    monkeypatch.setattr(executor, "CONNECT_TIMEOUT_S", 2.0)  # the default is 10 s: the same code path, faster
    started = time.monotonic()
    code, _, err = run_cli(["grade", str(class_folder), "--solutions", str(solutions_dir),
                            "--out", str(tmp_path / "out"), "--scheduler", address])
    assert time.monotonic() - started < 15
    assert code == 2
    last = err.strip().splitlines()[-1]
    assert last.startswith("grade: scheduler=") and message in last
    assert not (tmp_path / "out").exists()


def test_daemonic_workers_are_told_how_to_start(solutions_dir, tmp_path):
    """Dask's default workers are daemonic processes, which may not start the runner: one line says what to do."""
    from consistency_lab.grading.grader import GradingError

    shutil.copy(submissions.SOLUTION, tmp_path / "good.ipynb")
    lc = distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=True, dashboard_address=None,
                                  silence_logs=50)
    try:
        with pytest.raises(GradingError, match="DASK_DISTRIBUTED__WORKER__DAEMON=False"):
            grade_all([tmp_path], Settings(solutions_dir=solutions_dir), scheduler=lc)
    finally:
        lc.close()
