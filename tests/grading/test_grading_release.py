"""release: the student copy has chapters, labs and the package, but no solutions and no hidden checks."""

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
    (root / "README.md").write_text("# course\n")
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
