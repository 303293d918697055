"""Lab 03 (CRDTs): the solution scores 100, a fresh lab 0, a second correct solution 100, and each
typical mistake loses exactly the part it is in.

Fast tests build the student's namespace in-process from the solution notebook's cells (with parts
swapped for the fixture submissions in ``fixtures/lab03_submissions.py``); one slow test grades the
same submissions, the solution and the fresh lab with the real grader.
"""

import copy
import csv
import shutil
import sys
from pathlib import Path

import lab03_submissions as submissions
import nbformat
import pytest

from consistency_lab.cli import main
from consistency_lab.grading.build import build_lab_bytes
from consistency_lab.grading.checks import checks_for, failed_checks, load_lab_checks, run_check
from consistency_lab.grading.labspec import read_spec, registry_problems
from consistency_lab.grading.notebook_build import is_solution_cell

ROOT = Path(__file__).resolve().parents[2]
SOLUTION = ROOT / "solutions" / "lab03_crdts.ipynb"
LAB = "lab03_crdts"
PARTS = ["q1_counter", "q2_orset", "q3_rga", "q4_gossip"]
POINTS = {"q1_counter": 25, "q2_orset": 30, "q3_rga": 35, "q4_gossip": 10}


def _cells() -> dict:
    """grade_id -> source of each solution code cell, plus the imports cell as 'imports'."""
    nb = nbformat.read(str(SOLUTION), as_version=4)
    imports = next(c for c in nb.cells if c.cell_type == "code" and "_lab03_world import" in c.source)
    cells = {"imports": "\n".join(line for line in imports.source.splitlines() if not line.startswith("%"))}
    for cell in nb.cells:
        if cell.cell_type == "code" and is_solution_cell(cell):
            cells[cell.metadata["nbgrader"]["grade_id"]] = cell.source
    return cells


CELLS = _cells()


def namespace(swaps: dict = None) -> dict:
    """The student's namespace: the imports and solution cells, with some cells' sources swapped."""
    ns: dict = {"__name__": "lab03_student"}
    for gid, source in CELLS.items():
        exec((swaps or {}).get(gid, source), ns)
    return ns


def failures(ns: dict) -> dict:
    """grade_id -> messages of the failed checks (public and hidden)."""
    failed: dict = {}
    for chk, outcome in failed_checks(LAB, ns, time_limit=30):
        failed.setdefault(chk.grade_id, []).append(f"{chk.name}: {outcome.status}: {outcome.message}")
    return failed


_GRADED: dict = {}


def failures_of(name: str) -> dict:
    """``failures`` of a fixture submission, computed once per test session."""
    if name not in _GRADED:
        _GRADED[name] = failures(namespace(submissions.SUBMISSIONS[name]))
    return _GRADED[name]


def test_checks_agree_with_the_notebook_and_hidden_names_stay_hidden():
    spec = read_spec(SOLUTION)
    assert [(p.part_id, p.points) for p in spec.parts] == list(POINTS.items())
    assert sum(POINTS.values()) == 100 and registry_problems(spec) == []
    load_lab_checks(LAB, hidden=True)
    hidden = [c for c in checks_for(LAB, include_hidden=True) if not c.public]
    assert {c.grade_id for c in hidden} == set(PARTS) and all(c.name.startswith("l03h_") for c in hidden)
    lab = (ROOT / "labs" / SOLUTION.name).read_text(encoding="utf-8")
    assert "l03h_" not in lab and "BEGIN SOLUTION" not in lab and "unseen(mine - theirs" not in lab
    assert "lab03_hidden" not in (ROOT / "consistency_lab" / "grading" / "labs" / "_lab03_world.py").read_text()


def test_the_solution_passes_every_public_and_hidden_check():
    assert failures(namespace()) == {}


#: fixture submission -> (the parts it must fail, words the failure must mention)
MISTAKES = {
    "pn_counter_merges_net_with_max": ({"q1_counter"}, "decrement must survive the merge"),
    "g_counter_sums_on_merge": ({"q1_counter"}, "not idempotent"),
    "or_set_remove_beats_add": ({"q2_orset"}, "add-wins"),
    "or_set_tombstones_grow": ({"q2_orset"}, "memory grows with removed elements"),
    "rga_orders_by_arrival": ({"q3_rga"}, "must not depend on arrival"),
}


@pytest.mark.parametrize("mistake", list(MISTAKES))
def test_a_typical_mistake_loses_its_part_only_and_says_why(mistake):
    parts, words = MISTAKES[mistake]
    failed = failures_of(mistake)
    assert set(failed) == parts, failed
    assert words in " ".join(m for p in parts for m in failed[p]), failed


def test_tombstones_fail_only_the_memory_checks():
    failed = failures_of("or_set_tombstones_grow")
    assert [m.split(":")[0] for m in failed["q2_orset"]] == ["orset_memory_does_not_grow_with_removes",
                                                             "l03h_orset_memory_flat_on_three_replicas"]


def test_the_net_max_counter_obeys_the_laws_but_not_the_totals():
    """Merging one net number per replica by max is a lawful merge; the totals give it away."""
    failed = failures_of("pn_counter_merges_net_with_max")
    hidden = [m for m in failed["q1_counter"] if m.startswith("l03h_")]
    assert hidden and all("not commutative" not in m and "not idempotent" not in m for m in hidden), hidden
    assert any("increments minus decrements" in m for m in hidden), hidden


def test_a_second_correct_solution_gets_full_marks():
    assert failures_of("second_correct_solution") == {}


def test_checks_accept_operations_of_a_second_import_of_the_world_module(monkeypatch):
    """The grader re-imports consistency_lab.grading before its checks run, so the student's Insert and Delete
    are other classes than the checks' own: the checks must not tell operations apart by class identity."""
    import importlib.util

    world = ROOT / "consistency_lab" / "grading" / "labs" / "_lab03_world.py"
    spec = importlib.util.spec_from_file_location("lab03_world_second_import", world)
    second = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, spec.name, second)  # dataclasses look their module up there
    spec.loader.exec_module(second)
    ns: dict = {"__name__": "lab03_student"}
    exec(CELLS["imports"], ns)
    ns.update(Insert=second.Insert, Delete=second.Delete)
    for gid in PARTS:
        exec(CELLS[gid], ns)
    assert failures(ns) == {}


def test_a_stub_fails_every_part_as_not_implemented():
    lab = nbformat.reads(build_lab_bytes(SOLUTION)[1].decode(), as_version=4)
    stubs = {c.metadata["nbgrader"]["grade_id"]: c.source for c in lab.cells
             if c.cell_type == "code" and is_solution_cell(c)}
    failed = failures(namespace(stubs))
    assert set(failed) == set(PARTS)
    assert all("not implemented" in m for msgs in failed.values() for m in msgs), failed


def test_property_checks_are_deterministic():
    ns = namespace(submissions.SUBMISSIONS["g_counter_sums_on_merge"])
    load_lab_checks(LAB, hidden=True)
    laws = [c for c in checks_for(LAB, "q1_counter", include_hidden=True) if c.name == "l03h_gcounter_merge_laws"]
    first, second = (run_check(laws[0], ns).message for _ in range(2))
    assert first == second and "not idempotent" in first


@pytest.mark.slow
def test_the_grader_scores_each_submission_as_intended(tmp_path, capsys):
    solutions, subs = tmp_path / "solutions", tmp_path / "submissions"
    solutions.mkdir()
    shutil.copy(SOLUTION, solutions / SOLUTION.name)  # only this lab: others' labs are not under test here
    (subs / "solution").mkdir(parents=True)
    shutil.copy(SOLUTION, subs / "solution" / SOLUTION.name)
    (subs / "fresh_lab").mkdir()
    (subs / "fresh_lab" / SOLUTION.name).write_bytes(build_lab_bytes(SOLUTION)[1])
    for name in submissions.SUBMISSIONS:
        submissions.write(subs, name, submissions.submission(name))
    code = main(["grade", str(subs), "--out", str(tmp_path / "out"), "--jobs", "2", "--timeout", "60",
                 "--solutions", str(solutions)])
    assert code == 0, capsys.readouterr().err
    with open(tmp_path / "out" / "grades.csv", newline="") as fh:
        rows = {row["student"]: row for row in csv.DictReader(fh)}
    expected = {"solution": set(), "fresh_lab": set(PARTS), "second_correct_solution": set()}
    expected.update({name: parts for name, (parts, _) in MISTAKES.items()})
    got = {who: {p for p in PARTS if int(rows[who][f"{p}_check"]) == 0} for who in rows}
    assert got == expected, {who: (rows[who]["total"], rows[who]["status"]) for who in rows}
    for who, lost in expected.items():
        row = rows[who]
        assert row["status"] == "ok", (who, row["status"])  # a fresh lab runs cleanly too: stubs only raise when called
        assert int(row["total"]) == 100 - sum(POINTS[p] for p in lost), (who, row)
        assert all(int(row[f"{p}_check"]) == POINTS[p] for p in PARTS if p not in lost), (who, row)


def test_the_lab_agrees_with_the_course_crdt_package():
    """The hidden checks' references, the solution and consistency_lab.crdt (chapter 04's types) agree:
    the same RGA ops build the same text, the same set and counter histories give the same values."""
    import random

    from consistency_lab.crdt import ORSet as CourseORSet
    from consistency_lab.crdt import PNCounter as CoursePN
    from consistency_lab.crdt import RGA as CourseRGA
    from consistency_lab.crdt.rga import RGADelete, RGAInsert
    from consistency_lab.grading.labs import lab03_hidden as hidden
    from consistency_lab.grading.labs._lab03_world import causal_order

    ns = namespace()
    for seed in range(5):
        log, _ = hidden._session(900 + seed, (RGAInsert, RGADelete))
        as_lab = [ns["Insert"](op.id, op.after, op.char) if hasattr(op, "char") else ns["Delete"](op.target)
                  for op in log]  # the solution knows the lab's own operation classes
        texts = set()
        for k, (rga, ops) in enumerate([(CourseRGA("z"), log), (hidden._RefRGA("z"), log), (ns["RGA"]("z"), as_lab)]):
            for op in causal_order(ops, seed=10 * seed + k, duplicate=0.2):
                rga.apply(op)
            texts.add(rga.text())
        assert len(texts) == 1, (seed, texts)
    rng = random.Random(7)
    for make_course, makes_lab, verbs in [(CourseORSet, (hidden._RefORSet, ns["ORSet"]), ("add", "remove")),
                                          (CoursePN, (hidden._RefPN, ns["PNCounter"]), ("increment", "decrement"))]:
        course = [make_course(r) for r in "abc"]
        labs = [[make(r) for r in "abc"] for make in makes_lab]
        for _ in range(300):
            i, j = rng.randrange(3), rng.randrange(3)
            if rng.random() < 0.3:
                course[i] = course[i].merge(course[j])
                for replicas in labs:
                    replicas[i].merge(copy.deepcopy(replicas[j]))
            else:
                verb, arg = rng.choice(verbs), rng.choice("xyz") if verbs[0] == "add" else rng.randint(1, 3)
                getattr(course[i], verb)(arg)
                for replicas in labs:
                    getattr(replicas[i], verb)(arg)
            assert all(course[i].value() == replicas[i].value() for replicas in labs), (make_course, i)
