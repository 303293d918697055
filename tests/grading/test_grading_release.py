"""release: the student copy has chapters, labs and the package, but no solutions and no hidden checks."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from consistency_lab.cli import main
from consistency_lab.course import ReleaseError, release
from consistency_lab.grading.build import build_lab_bytes

ROOT = Path(__file__).resolve().parents[2]
HIDDEN_NAMES = ["zz_hidden_add_huge_ints", "zz_hidden_dedupe_keeps_order", "zz_hidden_counters_are_independent",
                "lab99_checks_hidden"]


def all_text(folder: Path) -> str:
    return "\n".join(p.read_text(errors="replace") for p in folder.rglob("*") if p.is_file())


def fake_course(root: Path) -> Path:
    """A minimal course folder whose package holds a public and a hidden checks module."""
    labs = root / "consistency_lab" / "grading" / "labs"
    labs.mkdir(parents=True)
    for pkg in [root / "consistency_lab", root / "consistency_lab" / "grading", labs]:
        (pkg / "__init__.py").write_text('"""package"""\n')
    (labs / "lab98.py").write_text("def check_visible(ns):\n    pass\n")
    (labs / "lab98_hidden.py").write_text(
        "from consistency_lab.grading import check_for\n\n\n"
        "@check_for(lab='lab98_fake', grade_id='q1', points=100, public=False)\n"
        "def secret_hidden_check_lab98(ns):\n    pass\n")
    (root / "chapters").mkdir()
    (root / "chapters" / "00_index.ipynb").write_text("{}")
    (root / "tests" / "grading").mkdir(parents=True)
    (root / "tests" / "grading" / "test_x.py").write_text("# grader tests\n")
    (root / "tests" / "test_sim.py").write_text("def test_ok():\n    pass\n")
    (root / "README.md").write_text("# course\n\n## The course\n\n| notebook | time |\n|---|---|\n"
                                    "| `chapters/00_index.ipynb` | 5 min |\n\n## For instructors\n\nsolutions/ ...\n")
    (root / "etc" / "release").mkdir(parents=True)
    (root / "etc" / "release" / "README.md").write_text(
        "# student copy\n\n## The course\n\n"
        "<!-- release: the course table is copied here from the instructor README -->\n")
    (root / "Makefile").write_text("lab:\n\ttrue\n")
    return root


def test_release_of_this_repo_has_no_solutions_and_no_hidden_checks(tmp_path, solutions_dir):
    dest = tmp_path / "release"
    report = release(ROOT, dest, solutions_dir=solutions_dir)
    for name in ["chapters", "labs", "consistency_lab", "README.md", "pyproject.toml", "environment.yml",
                 "requirements.txt", "Makefile"]:
        assert (dest / name).exists(), name
    assert (dest / "consistency_lab" / "grading" / "checks.py").exists()  # students need check()
    assert not (dest / "solutions").exists() and not (dest / "tests" / "grading").exists()
    assert not (dest / "benchmarks" / "bench_grader.py").exists()
    assert not (dest / "benchmarks" / "bench_dask.py").exists()
    # Nothing shipped may need the grader's fixtures, which stay behind.
    assert not [p for p in dest.rglob("*.py") if "tests/grading/fixtures" in p.read_text(errors="replace")
                or '"tests" / "grading"' in p.read_text(errors="replace")]
    assert not list(dest.rglob("*_hidden.py")) and not list(dest.rglob("__pycache__"))
    text = all_text(dest)
    for secret in HIDDEN_NAMES + ["SECRET-", "### BEGIN SOLUTION", "### BEGIN HIDDEN TESTS"]:
        if secret.startswith("###"):
            assert all(secret not in p.read_text() for p in dest.rglob("*.ipynb")), secret
        else:
            assert secret not in text, secret
    assert report.labs == ["labs/lab99_demo.ipynb"]
    assert (dest / "labs" / "lab99_demo.ipynb").read_bytes() == build_lab_bytes(solutions_dir / "lab99_demo.ipynb")[1]
    assert not (dest / "labs" / ".build-manifest.json").exists()


def test_hidden_modules_are_stripped_from_the_package(tmp_path):
    root = fake_course(tmp_path / "course")
    dest = tmp_path / "out"
    release(root, dest)
    assert (dest / "consistency_lab" / "grading" / "labs" / "lab98.py").exists()
    assert not (dest / "consistency_lab" / "grading" / "labs" / "lab98_hidden.py").exists()
    assert (dest / "tests" / "test_sim.py").exists() and not (dest / "tests" / "grading").exists()
    assert "secret_hidden_check_lab98" not in all_text(dest)


def test_a_leak_stops_the_release_before_anything_is_written(tmp_path):
    root = fake_course(tmp_path / "course")
    (root / "chapters" / "notes.md").write_text("see secret_hidden_check_lab98 for the answer\n")
    dest = tmp_path / "out"
    with pytest.raises(ReleaseError) as info:
        release(root, dest)
    assert "chapters/notes.md: mentions hidden name 'secret_hidden_check_lab98'" in str(info.value)
    assert not dest.exists()


def test_refuses_non_empty_destination_unless_forced(tmp_path, capsys):
    root = fake_course(tmp_path / "course")
    dest = tmp_path / "out"
    dest.mkdir()
    (dest / "keep.txt").write_text("mine")
    (dest / "chapters").mkdir()
    (dest / "chapters" / "stale.ipynb").write_text("{}")
    assert main(["release", str(dest), "--root", str(root)]) == 1
    err = capsys.readouterr().err
    assert "is not empty" in err and "--force" in err
    assert main(["release", str(dest), "--root", str(root), "--force"]) == 0
    assert (dest / "keep.txt").read_text() == "mine"  # not ours: left alone
    assert not (dest / "chapters" / "stale.ipynb").exists()  # ours: replaced whole
    assert (dest / "chapters" / "00_index.ipynb").exists()


def test_release_cannot_overwrite_the_course_itself(tmp_path):
    root = fake_course(tmp_path / "course")
    for dest in [root, root / "chapters" / "x", root / "consistency_lab"]:
        with pytest.raises(ReleaseError, match="cannot go inside the course's own folders"):
            release(root, dest, force=True)
    with pytest.raises(ReleaseError, match="is not the course folder"):
        release(tmp_path / "elsewhere", tmp_path / "out")


def test_the_release_readme_is_for_students(tmp_path, solutions_dir):
    dest = tmp_path / "release"
    release(ROOT, dest, solutions_dir=solutions_dir)
    readme = (dest / "README.md").read_text()
    assert "make lab" in readme and "make test" in readme and "check(" in readme
    assert "chapters/01_two_mindsets.ipynb" in readme  # the course table, copied from the instructor README
    for instructor_only in ["solutions/", "build-labs", "consistency-lab grade", "consistency-lab release", ".ci/run"]:
        assert instructor_only not in readme, instructor_only
    assert (dest / "etc" / "jupyter" / "register_kernel.py").exists()  # make lab needs it
    assert not (dest / "etc" / "release").exists()
    assert not (dest / "tests" / "repo" / "test_instructor_repo.py").exists()


def test_a_course_without_a_student_readme_cannot_be_released(tmp_path):
    root = fake_course(tmp_path / "course")
    (root / "etc" / "release" / "README.md").unlink()
    with pytest.raises(ReleaseError, match="needs a README written for students"):
        release(root, tmp_path / "out")


@pytest.mark.release
def test_the_release_passes_its_own_test_suite(tmp_path):
    """Build a release of this repo and run its unit tests and chapters, as a student's make test does."""
    dest = tmp_path / "course-for-students"
    release(ROOT, dest)
    # The release's make would build its own .venv (minutes of pip); it may use ours instead, since
    # the dependency list is the same file.  PYTHONPATH puts the release's package first.
    (dest / ".venv").symlink_to(ROOT / ".venv")
    # make reinstalls when pyproject.toml is newer than .venv's stamp: never from the release into
    # our .venv (that would point our editable install at a temporary folder).
    stamp = ROOT / ".venv" / ".installed"
    if stamp.exists():
        os.utime(dest / "pyproject.toml", (stamp.stat().st_mtime - 1, stamp.stat().st_mtime - 1))
    env = {**os.environ, "PYTHONPATH": str(dest), "MPLBACKEND": "Agg"}
    env.pop("PYTEST_XDIST_WORKER", None)
    run = lambda *args, timeout: subprocess.run(  # noqa: E731 - three calls, one shape
        [sys.executable, *args], cwd=dest, env=env, capture_output=True, text=True, timeout=timeout)
    where = run("-c", "import consistency_lab; print(consistency_lab.__file__)", timeout=60)
    assert where.stdout.strip().startswith(str(dest)), where.stdout + where.stderr
    units = run("-m", "pytest", "tests", "-q", "-x", "-n", "2", "-p", "no:cacheprovider", "--ignore=tests/browser",
                timeout=900)
    assert units.returncode == 0, units.stdout[-3000:] + units.stderr[-2000:]
    chapters = sorted(str(p.relative_to(dest)) for p in (dest / "chapters").glob("*.ipynb"))
    notebooks = run("-m", "pytest", "-q", "-x", "-n", "2", "--dist", "loadfile", "-p", "no:cacheprovider",
                    "--nbval-lax", "--nbval-current-env", *chapters, timeout=900)
    assert notebooks.returncode == 0, notebooks.stdout[-3000:] + notebooks.stderr[-2000:]
