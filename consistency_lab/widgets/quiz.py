"""A self-check quiz graded in the notebook: multiple-choice questions, a "Check" button, a score.

Each :class:`Question` has its choices, the right one and an explanation that points at
the run in the chapter that shows it.  In a notebook the student picks an answer per
question (a ``RadioButtons`` with nothing selected) and presses "Check"; the score and,
under each question, right or wrong with the explanation appear.  The same from code
(headless tests, nbval): ``quiz.answer(i, choice)``, then ``quiz.score()`` and
``quiz.check()``.

    quiz = Quiz([Question("Who holds locks while the coordinator is down?", ["saga", "2PC"], "2PC",
                          "The in-doubt time in section 5 equals the downtime.")])
    quiz.answer(0, "2PC")
    quiz.score()   # Score(right=1, answered=1, total=1)
"""

from __future__ import annotations

import html
from dataclasses import dataclass
from typing import Any, Optional, Sequence

import ipywidgets as W

from ..tables import display_rich
from ..validation import text

__all__ = ["Question", "Quiz", "Score"]

_GOOD, _BAD, _NEUTRAL = "#009E73", "#D55E00", "#555"


@dataclass(frozen=True)
class Question:
    """One multiple-choice question: the prompt, the choices, the right one and why."""

    prompt: str
    choices: tuple
    answer: str
    explanation: str

    def __post_init__(self) -> None:
        text("prompt", self.prompt)
        text("explanation", self.explanation)
        choices = tuple(self.choices)
        object.__setattr__(self, "choices", choices)
        if len(choices) < 2 or len(set(choices)) != len(choices) or not all(isinstance(c, str) and c
                                                                              for c in choices):
            raise ValueError(f"choices={list(choices)!r} must be two or more distinct non-empty strings")
        if self.answer not in choices:
            raise ValueError(f"answer={self.answer!r} must be one of the choices; allowed: {', '.join(choices)}")


@dataclass(frozen=True)
class Score:
    """How many answers were right, how many questions were answered, and how many there are."""

    right: int
    answered: int
    total: int

    def __str__(self) -> str:
        return f"{self.right} of {self.total} right"


class Quiz:
    """Questions answered in widgets (or with :meth:`answer`), graded by "Check" (or :meth:`check`)."""

    def __init__(self, questions: Sequence[Question], *, title: str = "Self-check") -> None:
        self.questions = tuple(questions)
        if not self.questions or not all(isinstance(q, Question) for q in self.questions):
            raise ValueError(f"questions={list(questions)!r} must be a non-empty list of Question")
        self.title = text("title", title)
        self._answers: list[Optional[str]] = [None] * len(self.questions)
        self.checked = False
        self._build_widget()

    # -- headless API ----------------------------------------------------------------
    def _index(self, i: Any) -> int:
        if isinstance(i, bool) or not isinstance(i, int) or not 0 <= i < len(self.questions):
            raise ValueError(f"i={i!r} must be a question number; allowed: 0 to {len(self.questions) - 1}")
        return i

    def answer(self, i: int, choice: str) -> None:
        """Answer question ``i`` (0-based) with ``choice``, as selecting it in the widget does."""
        q = self.questions[self._index(i)]
        if choice not in q.choices:
            raise ValueError(f"choice={choice!r} must be one of the choices of question {i}; "
                             f"allowed: {', '.join(q.choices)}")
        self.pickers[i].value = choice  # the observer stores it, so widget and code stay one path

    @property
    def answers(self) -> tuple:
        """The current answer to each question (None where none was chosen)."""
        return tuple(self._answers)

    def score(self) -> Score:
        """Right answers, answered questions and the total, for the current answers."""
        right = sum(a == q.answer for a, q in zip(self._answers, self.questions))
        return Score(right, sum(a is not None for a in self._answers), len(self.questions))

    def feedback(self, i: int) -> str:
        """Right or wrong (or not answered) for question ``i``, with its explanation."""
        q, a = self.questions[self._index(i)], self._answers[i]
        if a is None:
            verdict = f"not answered; the answer is {q.answer}"
        elif a == q.answer:
            verdict = f"{a}: right"
        else:
            verdict = f"{a}: wrong, the answer is {q.answer}"
        return f"{verdict}. {q.explanation}"

    def check(self) -> Score:
        """Grade the current answers: shows the score and each question's feedback; returns the score."""
        self.checked = True
        s = self.score()
        self.result.value = (f"<b style='color:{_GOOD if s.right == s.total else _NEUTRAL}'>"
                             f"Score: {s.right} of {s.total}</b>"
                             + ("" if s.answered == s.total else f" ({s.total - s.answered} not answered)"))
        for i, box in enumerate(self.notes):
            a = self._answers[i]
            color = _NEUTRAL if a is None else _GOOD if a == self.questions[i].answer else _BAD
            box.value = (f"<div style='border-left:4px solid {color};padding:2px 8px'>"
                         f"{html.escape(self.feedback(i))}</div>")
        return s

    def report(self) -> str:
        """The score and every question's feedback as plain text (what a terminal shows)."""
        lines = [f"{self.title}: {self.score()}"]
        lines += [f"{i + 1}. {self.feedback(i)}" for i in range(len(self.questions))]
        return "\n".join(lines)

    def show_report(self) -> None:
        """Display :meth:`report` (HTML in a notebook, text elsewhere)."""
        display_rich(self.report(), "<br>".join(html.escape(line) for line in self.report().splitlines()))

    # -- the widget ------------------------------------------------------------------
    def _build_widget(self) -> None:
        rows: list[W.Widget] = [W.HTML(f"<h4>{html.escape(self.title)}</h4>")]
        self.pickers: list[W.RadioButtons] = []
        self.notes: list[W.HTML] = []
        for i, q in enumerate(self.questions):
            # Nothing selected at first: an answer must be a choice, not a default.
            picker = W.RadioButtons(options=list(q.choices), value=None, layout=W.Layout(width="auto"))
            picker.observe(lambda change, i=i: self._on_pick(i, change["new"]), names="value")
            note = W.HTML()
            self.pickers.append(picker)
            self.notes.append(note)
            rows += [W.HTML(f"<b>{i + 1}.</b> {html.escape(q.prompt)}"), picker, note]
        self.button = W.Button(description="Check", icon="check", button_style="primary",
                               layout=W.Layout(width="110px"))
        self.button.on_click(lambda _b: self.check())
        self.result = W.HTML("<span style='color:#555'>Answer every question, then press Check.</span>")
        self.widget = W.VBox(rows + [W.HBox([self.button, self.result])])

    def _on_pick(self, i: int, value: Optional[str]) -> None:
        self._answers[i] = value
        if self.checked:  # a changed answer after Check: grade again, so the feedback never lies
            self.check()

    def __repr__(self) -> str:
        return f"<Quiz {self.title!r}: {len(self.questions)} questions, {self.score()}>"

    def _repr_mimebundle_(self, **kwargs: Any) -> Any:
        bundle = self.widget._repr_mimebundle_(**kwargs)
        if isinstance(bundle, dict):
            # Where widgets cannot render, show the questions and choices as text.
            lines = [self.title] + [f"{i + 1}. {q.prompt} ({' / '.join(q.choices)})"
                                    for i, q in enumerate(self.questions)]
            bundle = {**bundle, "text/plain": "\n".join(lines)}
        return bundle
