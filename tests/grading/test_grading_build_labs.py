"""build-labs: stubs instead of solutions, nothing hidden leaks, deterministic, --check, edit protection."""

import json
import shutil

import nbformat
import pytest

from consistency_lab.cli import main
from consistency_lab.grading.build import MANIFEST_NAME, build_lab_bytes, build_labs
from consistency_lab.grading.labspec import read_spec, registry_problems
from consistency_lab.grading.notebook_build import LabFormatError, stub_solutions, student_notebook

SECRETS = ["SECRET-SOLUTION-ADD", "SECRET-SOLUTION-DEDUPE", "SECRET-SOLUTION-COUNTER", "SECRET-SOLUTION-MARKDOWN",
           "SECRET-HIDDEN-TEST", "SECRET-HIDDEN-CELL", "BEGIN SOLUTION", "END SOLUTION", "HIDDEN TESTS"]


@pytest.fixture
def sources(tmp_path, solutions_dir):
    """A private copy of the fixture solutions, free to edit."""
    dest = tmp_path / "solutions"
    shutil.copytree(solutions_dir, dest)
    return dest


def edit_solution(path, index, new_source):
    nb = json.loads(path.read_text())
    nb["cells"][index]["source"] = new_source
    path.write_text(json.dumps(nb, indent=1) + "\n")


def test_solutions_become_stubs_keeping_def_lines_and_indentation(solution_path):
    _, data = build_lab_bytes(solution_path)
    lab = nbformat.reads(data.decode(), as_version=4)
    by_id = {c.id: c for c in lab.cells}
    assert by_id["q1-solution"].source == (
        'def add(a, b):\n    """Return a + b."""\n    # YOUR CODE HERE\n    raise NotImplementedError()')
    counter = by_id["q3-solution"].source
    assert "    def incr(self, key, by=1):\n        # YOUR CODE HERE\n        raise NotImplementedError()" in counter
    assert counter.count("raise NotImplementedError()") == 3
    compile(counter, "q3", "exec")  # stubs must still be valid Python
    assert "YOUR ANSWER HERE" in by_id["q4-answer"].source
    assert "Why does deduplicating" in by_id["q4-answer"].source  # the question stays
    assert by_id["q1-check"].source == 'check("q1_add")'


def test_no_solution_or_hidden_material_reaches_students(solution_path):
    _, data = build_lab_bytes(solution_path)
    text = data.decode()
    for secret in SECRETS:
        assert secret not in text, secret
    source = solution_path.read_text()
    assert all(s in source for s in SECRETS[:6])  # the fixture really contains them


def test_metadata_ids_kept_outputs_cleared(solution_path):
    solution = nbformat.read(solution_path, as_version=4)
    solution.cells[1].outputs = [nbformat.v4.new_output("stream", text="leak SECRET-OUTPUT")]
    solution.cells[1].execution_count = 7
    lab = student_notebook(solution, lab="lab99_demo")
    assert [c.id for c in lab.cells] == [c.id for c in solution.cells if "hidden" not in c.metadata.get("tags", [])]
    assert len(lab.cells) == len(solution.cells) - 1
    for cell in lab.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None
    meta = {c.id: c.metadata.get("nbgrader") for c in lab.cells}
    assert meta["q2-check"] == {"grade": True, "grade_id": "q2_dedupe_check", "locked": True, "points": 50,
                                "schema_version": 3, "solution": False}
    assert meta["q2-solution"]["solution"] is True
    assert lab.metadata["consistency_lab"] == {"lab": "lab99_demo", "checks": "lab99_checks"}
    assert lab.metadata["kernelspec"]["name"] == "python3"
    assert solution.cells[1].execution_count == 7  # the input notebook is not modified


def test_rebuild_is_byte_identical_and_ends_with_newline(tmp_path, solutions_dir):
    assert build_labs(solutions_dir, tmp_path / "a").exit_code == 0
    assert build_labs(solutions_dir, tmp_path / "b").exit_code == 0
    a = (tmp_path / "a" / "lab99_demo.ipynb").read_bytes()
    assert a == (tmp_path / "b" / "lab99_demo.ipynb").read_bytes()
    assert a.endswith(b"}\n")
    report = build_labs(solutions_dir, tmp_path / "a")
    assert report.exit_code == 0 and report.lines == [f"{tmp_path / 'a' / 'lab99_demo.ipynb'}: up to date"]
    assert (tmp_path / "a" / "lab99_demo.ipynb").read_bytes() == a
    manifest = json.loads((tmp_path / "a" / MANIFEST_NAME).read_text())
    assert set(manifest["labs"]) == {"lab99_demo.ipynb"}


def test_check_flags_missing_and_out_of_date_labs(tmp_path, sources, capsys):
    labs = tmp_path / "labs"
    args = ["build-labs", "--solutions", str(sources), "--labs", str(labs)]
    assert main(args + ["--check"]) == 1
    assert "lab99_demo.ipynb: missing" in capsys.readouterr().err
    assert not labs.exists()  # --check writes nothing
    assert main(args) == 0
    assert main(args + ["--check"]) == 0
    edit_solution(sources / "lab99_demo.ipynb", 0, "# Lab 99, revised")
    assert main(args + ["--check"]) == 1
    err = capsys.readouterr().err
    assert "lab99_demo.ipynb: out of date" in err and "build-labs" in err


def test_regenerates_an_unedited_lab_when_its_solution_changes(tmp_path, sources):
    labs = tmp_path / "labs"
    build_labs(sources, labs)
    edit_solution(sources / "lab99_demo.ipynb", 0, "# Lab 99, revised")
    report = build_labs(sources, labs)
    assert report.exit_code == 0 and "written" in report.lines[0]
    assert "# Lab 99, revised" in (labs / "lab99_demo.ipynb").read_text()


def test_refuses_to_overwrite_an_edited_lab_without_force(tmp_path, sources, capsys):
    labs = tmp_path / "labs"
    args = ["build-labs", "--solutions", str(sources), "--labs", str(labs)]
    assert main(args) == 0
    lab = labs / "lab99_demo.ipynb"
    nb = json.loads(lab.read_text())
    nb["cells"][3]["source"] = "def add(a, b):\n    return a + b  # my work"
    lab.write_text(json.dumps(nb))
    edited = lab.read_bytes()
    edit_solution(sources / "lab99_demo.ipynb", 0, "# Lab 99, revised")  # so a rebuild would differ
    assert main(args) == 1
    err = capsys.readouterr().err
    assert str(lab) in err and "--force" in err and "edited" in err
    assert lab.read_bytes() == edited
    assert main(args + ["--force"]) == 0
    assert "my work" not in lab.read_text() and "# Lab 99, revised" in lab.read_text()


def test_a_lab_without_a_manifest_entry_counts_as_edited(tmp_path, solutions_dir):
    labs = tmp_path / "labs"
    labs.mkdir()
    (labs / "lab99_demo.ipynb").write_text("{}")
    report = build_labs(solutions_dir, labs)
    assert report.exit_code == 1 and "refusing to overwrite" in report.errors[0]
    assert (labs / "lab99_demo.ipynb").read_text() == "{}"


def test_stray_lab_without_source_is_reported(tmp_path, solutions_dir):
    labs = tmp_path / "labs"
    build_labs(solutions_dir, labs)
    (labs / "lab42_orphan.ipynb").write_text("{}")
    report = build_labs(solutions_dir, labs, check=True)
    assert report.exit_code == 1 and "lab42_orphan.ipynb: no source" in report.errors[0]


def test_fixture_points_match_the_registry(solution_path):
    spec = read_spec(solution_path)
    assert [(p.part_id, p.cell_id, p.points) for p in spec.parts] == [
        ("q1_add", "q1_add_check", 20), ("q2_dedupe", "q2_dedupe_check", 50), ("q3_counter", "q3_counter_check", 30)]
    assert spec.total == 100 and spec.checks_module == "lab99_checks"
    assert registry_problems(spec) == []


@pytest.mark.parametrize("index, source, points, expected", [
    (4, 'check("q1_add")', 25, "worth 25 points in its check cell but 20"),
    (4, 'print("no call")', None, "must call check('q1_add')"),
    (3, "def add(a, b):\n    ### BEGIN SOLUTION\n    return a + b", None, "never closed"),
    (2, "### BEGIN SOLUTION\nanswer\n### END SOLUTION", None, "is not a solution cell"),
])
def test_authoring_mistakes_are_named(sources, index, source, points, expected):
    path = sources / "lab99_demo.ipynb"
    nb = json.loads(path.read_text())
    nb["cells"][index]["source"] = source
    if points is not None:  # move 5 points so the lab still totals 100
        nb["cells"][index]["metadata"]["nbgrader"]["points"] = points
        nb["cells"][7]["metadata"]["nbgrader"]["points"] = 45
    path.write_text(json.dumps(nb))
    with pytest.raises(LabFormatError) as info:
        build_lab_bytes(path)
    assert expected in str(info.value) and "lab99_demo.ipynb" in str(info.value)


def test_total_must_be_100_and_lab_id_must_match(sources):
    path = sources / "lab99_demo.ipynb"
    nb = json.loads(path.read_text())
    nb["cells"][10]["metadata"]["nbgrader"]["points"] = 10
    nb["metadata"]["consistency_lab"]["lab"] = "lab98_other"
    path.write_text(json.dumps(nb))
    with pytest.raises(LabFormatError) as info:
        read_spec(path)
    assert "add up to 80" in str(info.value) and "differs from the file name" in str(info.value)


def test_stub_without_markers_replaces_the_whole_cell():
    assert stub_solutions("x = 1\ny = 2", "code") == "# YOUR CODE HERE\nraise NotImplementedError()"
    assert stub_solutions("an answer", "markdown") == "YOUR ANSWER HERE"
    src = "def f():\n    a = 1\n    ### BEGIN SOLUTION\n    return a\n    ### END SOLUTION\n\nprint(f)"
    assert stub_solutions(src, "code") == (
        "def f():\n    a = 1\n    # YOUR CODE HERE\n    raise NotImplementedError()\n\nprint(f)")
