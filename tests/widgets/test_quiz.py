"""The self-check quiz, headless: answers from code and from the widgets grade the same way."""

import pytest

from consistency_lab.widgets import Question, Quiz


def quiz():
    return Quiz([Question("Who holds locks while the coordinator is down?", ["saga", "2PC"], "2PC",
                          "Section 5: the in-doubt time equals the downtime."),
                 Question("Who shows half-done orders?", ["saga", "2PC", "neither"], "saga",
                          "Section 5: partial reads.")], title="Chapter 11")


def test_answers_from_code_are_scored_and_explained():
    q = quiz()
    assert q.score().right == 0 and q.score().answered == 0 and q.score().total == 2
    q.answer(0, "2PC")
    q.answer(1, "2PC")
    s = q.score()
    assert (s.right, s.answered, s.total) == (1, 2, 2) and str(s) == "1 of 2 right"
    assert q.feedback(0) == "2PC: right. Section 5: the in-doubt time equals the downtime."
    assert q.feedback(1).startswith("2PC: wrong, the answer is saga.")
    assert q.report().splitlines()[0] == "Chapter 11: 1 of 2 right"


def test_check_shows_the_score_and_feedback_and_regrades_a_changed_answer():
    q = quiz()
    q.answer(0, "saga")
    assert q.notes[0].value == ""  # nothing is revealed before Check
    q.button.click()
    assert "Score: 0 of 2" in q.result.value and "1 not answered" in q.result.value
    assert "wrong, the answer is 2PC" in q.notes[0].value and "not answered" in q.notes[1].value
    q.pickers[0].value = "2PC"  # the student changes an answer in the widget after Check
    q.pickers[1].value = "saga"
    assert q.answers == ("2PC", "saga") and "Score: 2 of 2" in q.result.value
    assert "right" in q.notes[0].value and "not answered" not in q.result.value


def test_unanswered_questions_start_empty_and_check_never_raises():
    q = quiz()
    assert all(p.value is None for p in q.pickers)
    assert q.check().right == 0
    assert "not answered; the answer is 2PC" in q.notes[0].value


@pytest.mark.parametrize("call, message", [
    (lambda q: q.answer(2, "saga"), "i=2 must be a question number; allowed: 0 to 1"),
    (lambda q: q.answer(True, "saga"), "i=True must be a question number"),
    (lambda q: q.answer(0, "maybe"), "choice='maybe' must be one of the choices of question 0; allowed: saga, 2PC"),
    (lambda q: q.feedback(-1), "i=-1 must be a question number"),
])
def test_bad_answers_are_one_line_value_errors(call, message):
    with pytest.raises(ValueError) as info:
        call(quiz())
    assert message in str(info.value) and "\n" not in str(info.value)


@pytest.mark.parametrize("kwargs, message", [
    (dict(prompt="p", choices=["a"], answer="a", explanation="e"), "two or more distinct"),
    (dict(prompt="p", choices=["a", "a"], answer="a", explanation="e"), "two or more distinct"),
    (dict(prompt="p", choices=["a", "b"], answer="c", explanation="e"), "answer='c' must be one of the choices"),
    (dict(prompt="", choices=["a", "b"], answer="a", explanation="e"), "prompt='' must be a non-empty string"),
    (dict(prompt="p", choices=["a", "b"], answer="a", explanation=""), "explanation='' must be"),
])
def test_bad_questions_are_refused(kwargs, message):
    with pytest.raises(ValueError, match=message):
        Question(**kwargs)
    with pytest.raises(ValueError, match="non-empty list of Question"):
        Quiz([])


def test_text_fallback_lists_the_questions():
    bundle = quiz()._repr_mimebundle_()
    assert "application/vnd.jupyter.widget-view+json" in bundle
    assert bundle["text/plain"].splitlines()[1] == "1. Who holds locks while the coordinator is down? (saga / 2PC)"
