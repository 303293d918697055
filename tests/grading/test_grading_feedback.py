"""Grading output: the Markdown and HTML feedback say the same thing; the LMS gradebook adds up."""

import csv
from html.parser import HTMLParser
from pathlib import Path

from consistency_lab.grading.checks import FAILED, PASSED, Outcome
from consistency_lab.grading.feedback import (feedback_html, feedback_markdown, write_feedback,
                                              write_gradebook_csv)
from consistency_lab.grading.grader import Graded


def graded(student: str, lab: str, q1: float, q2: float, hint: str = "") -> Graded:
    outcomes = [Outcome("a", "q1", "keeps order", True, PASSED),
                Outcome("b", "q2", "survives <script>alert(1)</script> & duplicates", False,
                        PASSED if q2 else FAILED, message="expected 3\ngot 4", hint=hint)]
    return Graded(student=student, lab=lab, path=Path(f"{student}.ipynb"), points={"q1_check": q1, "q2_check": q2},
                  part_max={"q1_check": 40.0, "q2_check": 60.0}, max_total=100.0, outcomes=outcomes)


class _Text(HTMLParser):
    """Collects the visible text of a page and every tag used."""

    def __init__(self) -> None:
        super().__init__()
        self.text: list[str] = []
        self.tags: set[str] = set()

    def handle_starttag(self, tag, attrs):
        self.tags.add(tag)

    def handle_data(self, data):
        self.text.append(data)


def test_html_feedback_has_the_markdown_content_escaped_and_without_scripts():
    g = graded("alice", "lab01_x", 40, 0, hint="look at `dedupe` again")
    md, page = feedback_markdown("alice", [g]), feedback_html("alice", [g])
    parser = _Text()
    parser.feed(page)
    visible = " ".join(parser.text)
    assert "script" not in parser.tags  # a check description cannot inject markup
    assert "<script>alert(1)</script>" in visible and "&lt;script&gt;" in page
    for phrase in ["Feedback for alice", "lab01_x: 40 / 100", "40 / 40", "0 / 60", "1 / 1", "0 / 1",
                   "(hidden check)", "FAILED", "expected 3", "got 4", "Hint: look at", "dedupe"]:
        assert phrase in md and phrase in visible, phrase
    assert "<code>dedupe</code>" in page and "<strong>FAILED</strong>" in page


def test_write_feedback_writes_both_formats_per_student(tmp_path):
    files = write_feedback([graded("bob", "lab01_x", 40, 60), graded("alice", "lab01_x", 0, 60)], tmp_path)
    assert [f.name for f in files] == ["alice.md", "alice.html", "bob.md", "bob.html"]
    assert "lab01_x: 100 / 100" in (tmp_path / "bob.html").read_text()


def test_gradebook_has_a_column_per_part_points_possible_and_blanks_for_missing_labs(tmp_path):
    results = [graded("alice", "lab01_x", 40, 0), graded("bob", "lab01_x", 40, 60), graded("bob", "lab02_y", 0, 60)]
    header = write_gradebook_csv(results, tmp_path / "gradebook.csv")
    rows = list(csv.reader((tmp_path / "gradebook.csv").open()))
    assert rows[0] == header == ["student", "lab01_x q1_check", "lab01_x q2_check", "lab01_x total",
                                 "lab02_y q1_check", "lab02_y q2_check", "lab02_y total"]
    assert rows[1] == ["Points Possible", "40", "60", "100", "40", "60", "100"]
    assert rows[2] == ["alice", "40", "0", "40", "", "", ""]  # no lab02 submission: blank, not zero
    assert rows[3] == ["bob", "40", "60", "100", "0", "60", "60"]


def test_a_passing_check_keeps_its_note_in_both_formats():
    g = graded("carol", "lab02_x", 40, 60)
    g.outcomes[0] = Outcome("a", "q1", "keeps order", True, PASSED,
                            message="also fails with your q0 (paging), which has a bug: see q0")
    for page in (feedback_markdown("carol", [g]), feedback_html("carol", [g])):
        assert "also fails with your q0 (paging)" in page
