"""The student's check(): runs public checks on the caller's globals, explains, never raises."""

import os

import nbformat
import pytest
from nbclient import NotebookClient

import lab99_checks  # noqa: F401 - registers the fixture lab's public checks
from consistency_lab.grading import CheckRegistrationError, check, check_all, check_for, use_lab
from consistency_lab.grading import checks as registry
from consistency_lab.grading.build import build_lab_bytes


def run_in(namespace: dict, code: str):
    """Run ``code`` with ``namespace`` as its globals (as a notebook cell would) and return ``result``."""
    namespace.setdefault("check", check)
    exec(code, namespace)
    return namespace["result"]


def good_add(a, b):
    return a + b


def test_passing_part_prints_and_is_truthy(capsys):
    result = run_in({"add": good_add}, "result = check('q1_add', lab='lab99_demo')")
    out = capsys.readouterr().out
    assert "q1_add: all 2 checks passed" in out and "[pass] add(2, 3) returns 5" in out
    assert result and result.passed and result.counts == (2, 2)
    assert "zz_hidden" not in out and "beyond 64 bits" not in out  # hidden checks never run here
    assert repr(result) == "<CheckReport q1_add: passed, 2/2 checks>"
    assert result._ipython_display_() is None  # as a cell's last value it adds nothing to the report


def test_failure_shows_message_and_hint(capsys):
    result = run_in({"add": lambda a, b: a - b}, "result = check('q1_add', lab='lab99_demo')")
    out = capsys.readouterr().out
    assert not result
    assert "q1_add: 0 of 2 checks passed" in out
    assert "[FAIL] add(2, 3) returns 5" in out and "add(2, 3) returned -1; expected 5" in out
    assert "Hint: Return the sum of the two arguments with +." in out


@pytest.mark.parametrize("body, expected", [
    ("raise NotImplementedError()", "not implemented yet"),
    ("raise TypeError('bad types')", "your code raised TypeError: bad types"),
    ("raise SystemExit(1)", "your code raised SystemExit"),
    ("return add(a, b)", "RecursionError"),
])
def test_broken_student_code_is_reported_not_raised(capsys, body, expected):
    namespace: dict = {}
    exec(f"def add(a, b):\n    {body}", namespace)
    result = run_in(namespace, "result = check('q1_add', lab='lab99_demo')")
    assert not result and expected in capsys.readouterr().out


def test_missing_function_says_what_to_define(capsys):
    result = run_in({}, "result = check('q2_dedupe', lab='lab99_demo')")
    assert not result and "`dedupe` is not defined. Run the cell that defines it" in capsys.readouterr().out


def test_runaway_code_is_stopped_by_the_time_limit(capsys):
    namespace: dict = {}
    exec("def dedupe(events):\n    while True:\n        pass", namespace)
    result = run_in(namespace, "result = check('q2_dedupe', lab='lab99_demo', time_limit=0.3)")
    out = capsys.readouterr().out
    assert not result and "took longer than 0.3 s" in out and "[slow]" in out


def test_unknown_part_or_lab_explains_itself(capsys):
    assert not run_in({}, "result = check('q9_nothing', lab='lab99_demo')")
    assert "has no part called 'q9_nothing'; its parts are: q1_add, q2_dedupe, q3_counter" in capsys.readouterr().out
    assert not run_in({}, "result = check('q1', lab='lab77_missing')")
    assert "no checks are installed for lab 'lab77_missing'" in capsys.readouterr().out
    assert not run_in({}, "result = check(42)")
    assert "check('q1_dedupe')" in capsys.readouterr().out


def test_lab_is_found_from_the_part_id_or_use_lab(capsys):
    result = run_in({"add": good_add}, "result = check('q1_add')")  # q1_add belongs to one known lab only
    assert result.lab == "lab99_demo" and result
    use_lab("lab99_demo", checks="lab99_checks")
    assert run_in({"add": good_add}, "result = check('q1_add')")
    capsys.readouterr()


def test_check_all_runs_every_public_check(capsys):
    namespace: dict = {"add": good_add, "check_all": check_all}
    exec("def dedupe(events):\n    return list({e['id']: e for e in reversed(events)}.values())[::-1]", namespace)
    result = run_in(namespace, "result = check_all(lab='lab99_demo', quiet=True)")
    assert capsys.readouterr().out == ""
    assert result.counts == (3, 5)  # add 2/2, dedupe 1/2 (this dedupe keeps the last duplicate), Counter missing


def test_use_lab_with_a_missing_module_warns_instead_of_raising(capsys):
    use_lab("lab77_missing", checks="no_such_checks_module")
    assert "Could not load the checks for 'lab77_missing'" in capsys.readouterr().err


def test_registry_rules():
    def hidden_check(ns):
        """not allowed here"""

    with pytest.raises(CheckRegistrationError, match="must live in a module named"):
        check_for(lab="lab97_rules", grade_id="q1", points=10, public=False)(hidden_check)

    def public_in_hidden(ns):
        """not allowed either"""

    public_in_hidden.__module__ = "somewhere.lab97_hidden"
    with pytest.raises(CheckRegistrationError, match="public checks belong in the lab's public module"):
        check_for(lab="lab97_rules", grade_id="q1", points=10)(public_in_hidden)

    def first(ns):
        """first"""

    def second(ns):
        """second"""

    try:
        check_for(lab="lab97_rules", grade_id="q1", points=10)(first)
        with pytest.raises(CheckRegistrationError, match="every check of a part must state the part's points"):
            check_for(lab="lab97_rules", grade_id="q1", points=15)(second)
        check_for(lab="lab97_rules", grade_id="q1", points=10)(first)  # re-registering replaces, not duplicates
        assert [c.name for c in registry.checks_for("lab97_rules", "q1")] == ["test_registry_rules.<locals>.first"]
    finally:
        registry._forget_lab("lab97_rules")
    for bad in [dict(lab="Lab1", grade_id="q1", points=1), dict(lab="lab97_x", grade_id="q1_check", points=1),
                dict(lab="lab97_x", grade_id="q1", points=0)]:
        with pytest.raises(CheckRegistrationError):
            check_for(**bad)


def test_in_a_kernel_solution_passes_and_stub_lab_never_raises(tmp_path, solution_path, fixtures):
    """The fixture solution (whose hidden last cell asserts check_all()) and its lab both run cleanly."""
    _, lab_bytes = build_lab_bytes(solution_path)
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(fixtures), os.environ.get("PYTHONPATH", "")]))
    results = {}
    for name, nb in [("solution", nbformat.read(solution_path, as_version=4)),
                     ("lab", nbformat.reads(lab_bytes.decode(), as_version=4))]:
        client = NotebookClient(nb, timeout=60, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}})
        with client.setup_kernel(env=env):
            for index, cell in enumerate(nb.cells):
                client.execute_cell(cell, index)  # raises CellExecutionError on any error output
        results[name] = nb
    outputs = {c.id: c.outputs for c in results["lab"].cells if c.cell_type == "code"}
    shown = outputs["q1-check"][0]["data"]
    assert "text/html" in shown and "not implemented yet" in shown["text/plain"]
    solution_q2 = next(c for c in results["solution"].cells if c.id == "q2-check").outputs[0]["data"]["text/plain"]
    assert "all 2 checks passed" in solution_q2
