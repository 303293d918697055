"""needs(): a demo cell that calls an unfinished part prints one friendly line instead of a traceback."""

import pytest

import lab99_checks  # noqa: F401 - registers the fixture lab's public checks
from consistency_lab.grading.student import needs

STUB = "def add(a, b):\n    # YOUR CODE HERE\n    raise NotImplementedError()\n"


def run_cell(code: str, namespace: dict) -> dict:
    """Run ``code`` as a notebook cell would: compiled from a pseudo file name, in ``namespace``."""
    namespace.setdefault("needs", needs)
    exec(compile(code, "<cell>", "exec"), namespace)
    return namespace


def test_a_stub_skips_the_rest_of_the_cell_with_one_friendly_line(capsys):
    ns = run_cell(STUB + "with needs('q1_add', lab='lab99_demo') as guard:\n"
                  "    before = True\n    total = add(2, 3)\n    after = True\n", {})
    out = capsys.readouterr().out
    message = ("Part 1 (q1_add) not implemented yet: `add` still raises NotImplementedError, "
               "so the rest of this cell was skipped. Finish it above, then run this cell again.")
    # One message, printed wrapped at word boundaries (notebooks break long lines mid-word).
    assert " ".join(out.split()) == message and all(len(line) <= 88 for line in out.splitlines())
    assert ns["before"] and "total" not in ns and "after" not in ns
    assert ns["guard"].skipped == message


def test_a_finished_part_runs_the_whole_block_silently(capsys):
    ns = run_cell("def add(a, b):\n    return a + b\n"
                  "with needs('q1_add', lab='lab99_demo') as guard:\n    total = add(2, 3)\n", {})
    assert ns["total"] == 5 and ns["guard"].skipped == ""
    assert capsys.readouterr().out == ""


def test_the_stub_may_sit_deep_inside_a_call_and_in_a_method():
    ns = run_cell("class Counter:\n    def bump(self, key):\n        raise NotImplementedError()\n"
                  "def drive():\n    return [Counter().bump('k') for _ in range(3)]\n"
                  "with needs('q3_counter', lab='lab99_demo') as guard:\n    drive()\n", {})
    assert ns["guard"].skipped.startswith("Part 3 (q3_counter) not implemented yet: `Counter.bump`")


def test_several_parts_are_all_named():
    ns = run_cell(STUB + "with needs('q1_add', 'q2_dedupe', lab='lab99_demo') as guard:\n    add(1, 1)\n", {})
    assert ns["guard"].skipped.startswith("Part 1 (q1_add) or part 2 (q2_dedupe) not implemented yet: `add`")


def test_other_errors_keep_their_traceback():
    with pytest.raises(TypeError, match="bad types"):
        run_cell("def add(a, b):\n    raise TypeError('bad types')\n"
                 "with needs('q1_add', lab='lab99_demo'):\n    add(1, 2)\n", {})


def test_not_implemented_inside_the_course_package_is_not_hidden():
    # An abstract method of the package is a course bug, not an unfinished student part.
    from consistency_lab.widgets.base import Explorer

    with pytest.raises(NotImplementedError):
        with needs("q1_add", lab="lab99_demo"):
            Explorer.make_controls(None)


def test_part_numbers_come_from_the_part_id_when_the_lab_is_unknown():
    guard = needs("q4_bounded", lab="lab98_not_installed")
    assert guard.message("f").startswith("Part 4 (q4_bounded) not implemented yet")
    assert needs("reflection", lab="lab98_not_installed").message("f").startswith("Part reflection not")


@pytest.mark.parametrize("parts, message", [
    ((), r"needs\(\) takes the part ids"),
    (("q1 add",), r"part='q1 add' must be a part id"),
    ((3,), r"part=3 must be a part id"),
    (("q9_missing",), r"part='q9_missing' must be a part of lab99_demo; allowed: q1_add, q2_dedupe, q3_counter"),
])
def test_bad_part_ids_raise_a_clear_value_error(parts, message):
    with pytest.raises(ValueError, match=message):
        needs(*parts, lab="lab99_demo")
