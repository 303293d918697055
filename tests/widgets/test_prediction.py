"""The prediction helper, headless: lock in from code and through the widget, then reveal."""

import json
import math
import re
from pathlib import Path

import pytest

from consistency_lab.widgets import Prediction


def stale_share() -> Prediction:
    return Prediction("What share of reads will be stale?", kind="number", unit="%", low=0, high=100)


def modes() -> Prediction:
    return Prediction("Which mode loses acknowledged writes?", choices=["sync", "semi-sync", "async"])


# -- locking from code ----------------------------------------------------------------------

def test_lock_stores_the_guess_and_disables_the_input():
    p = stale_share()
    assert p.guess is None and not p.locked
    assert not p.input.disabled and not p.button.disabled
    assert p.lock(30) == 30
    assert p.guess == 30 and p.locked
    assert p.input.disabled and p.button.disabled
    assert "Locked in: 30 %" in p.status.value


def test_a_locked_guess_cannot_be_replaced():
    p = stale_share()
    p.lock(30)
    with pytest.raises(ValueError, match="already locked in"):
        p.lock(10)
    assert p.guess == 30


def test_choice_lock_accepts_only_a_choice():
    p = modes()
    with pytest.raises(ValueError, match=r"guess='quorum' must be one of the choices; allowed: sync, semi-sync, async"):
        p.lock("quorum")
    assert p.guess is None
    p.lock("async")
    assert p.guess == "async"


@pytest.mark.parametrize("bad", [-1, 100.5, math.nan, math.inf, "30", None, True])
def test_number_lock_rejects_out_of_range_and_non_numbers(bad):
    p = stale_share()
    with pytest.raises(ValueError, match=r"guess=.* must be"):
        p.lock(bad)
    assert p.guess is None and not p.input.disabled


def test_bounds_are_inclusive_and_one_sided_bounds_work():
    assert stale_share().lock(0) == 0
    assert stale_share().lock(100) == 100
    latency = Prediction("How slow is a sync write?", unit="ms", low=0)
    assert latency.lock(1e6) == 1e6
    with pytest.raises(ValueError, match="at least 0"):
        Prediction("How slow?", unit="ms", low=0).lock(-5)


# -- reveal -----------------------------------------------------------------------------------

def test_reveal_reports_how_far_off_a_number_was(capsys):
    p = stale_share()
    p.lock(30)
    r = p.reveal(12.4)
    assert r.guess == 30 and r.measured == 12.4
    assert r.error == pytest.approx(17.6)
    assert r.correct is None
    assert r.text == "You predicted 30 %; the run measured 12.4 % (17.6 points off)"
    assert r.text in capsys.readouterr().out  # shown, not only returned


def test_reveal_units_other_than_percent_and_an_exact_guess():
    p = Prediction("Median sync write latency?", unit="ms", low=0)
    p.lock(40)
    assert p.compare(52.5).text.endswith("(12.5 ms off)")
    q = Prediction("How many seats oversold?", low=0)
    q.lock(3)
    r = q.compare(3)
    assert r.error == 0 and r.text == "You predicted 3; the run measured 3 (spot on)"


def test_reveal_for_choices_says_right_or_wrong():
    p = modes()
    p.lock("async")
    right = p.reveal("async")
    assert right.correct is True and right.error is None
    assert right.text == "You predicted async; the run says async: right"
    q = modes()
    q.lock("sync")
    wrong = q.compare("async")
    assert wrong.correct is False and wrong.text.endswith(": wrong")


def test_unlocked_reveal_never_raises_and_reports_the_measurement(capsys):
    r = stale_share().reveal(12.4)
    assert r.guess is None and r.error is None and r.correct is None and r.measured == 12.4
    assert r.text == "No prediction was locked in; the run measured 12.4 %."
    assert r.text in capsys.readouterr().out
    c = modes().reveal("async")
    assert c.guess is None and c.correct is None
    assert c.text == "No prediction was locked in; the run says async."


def test_reveal_rejects_a_measurement_the_question_cannot_have():
    with pytest.raises(ValueError, match="measured='often' must be a finite number"):
        stale_share().compare("often")
    with pytest.raises(ValueError, match="measured='raft' must be one of the choices"):
        modes().compare("raft")


def test_reveal_result_does_not_display_twice_as_a_cell_value():
    p = stale_share()
    p.lock(5)
    r = p.compare(5)
    assert r._ipython_display_() is None
    assert "spot on" in r.html() and str(r) == r.text


# -- validating the question ----------------------------------------------------------------

@pytest.mark.parametrize("kwargs, message", [
    (dict(kind="number", low=10, high=5), r"low=10 must be at most high=5"),
    (dict(kind="text"), r"kind='text' must be a known prediction kind; allowed: number, choice"),
    (dict(kind="choice", choices=["only one"]), r"choices=\['only one'\] must be a list of at least two"),
    (dict(kind="choice"), r"choices=None must be a list"),
    (dict(choices=["a", "a"]), r"must be distinct"),
    (dict(kind="number", choices=["a", "b"]), r"choices=\['a', 'b'\] must be None for kind='number'"),
    (dict(choices=["a", "b"], low=0), r"must be None for kind='choice'"),
    (dict(low=math.nan), r"low=nan must be a finite number"),
    (dict(unit=5), r"unit=5 must be a string"),
])
def test_bad_arguments_raise_a_clear_value_error(kwargs, message):
    with pytest.raises(ValueError, match=message):
        Prediction("A question?", **kwargs)


def test_an_empty_question_is_rejected():
    with pytest.raises(ValueError, match="question='' must be a non-empty string"):
        Prediction("")


# -- the widget, driven through its click handler -----------------------------------------

def test_widget_lock_in_through_the_button():
    p = stale_share()
    p.input.value = "30 %"
    p.button.click()
    assert p.guess == 30
    assert p.input.disabled and p.button.disabled
    assert "Locked in: 30 %" in p.status.value
    p.input.value = "90"  # a disabled input cannot change the locked guess
    p.button.click()
    assert p.guess == 30 and "Locked in: 30 %" in p.status.value


def test_widget_bad_input_shows_a_message_instead_of_raising():
    p = stale_share()
    for typed, message in [("", "type a number between 0 and 100"), ("lots", "is not a number"),
                           ("150", "must be between 0 and 100")]:
        p.input.value = typed
        p.button.click()
        assert p.guess is None and not p.input.disabled, typed
        assert message in p.status.value, typed
    p.input.value = "12.5"
    p.button.click()
    assert p.guess == 12.5 and p.input.disabled


def test_choice_widget_starts_empty_and_locks_the_selected_answer():
    p = modes()
    assert p.input.value is None and list(p.input.options) == ["sync", "semi-sync", "async"]
    p.button.click()
    assert p.guess is None and "choose an answer first" in p.status.value
    p.input.value = "semi-sync"
    p.button.click()
    assert p.guess == "semi-sync" and p.input.disabled and "Locked in: semi-sync" in p.status.value


def test_locking_from_code_updates_the_widget_the_same_way():
    p = modes()
    p.lock("sync")
    assert p.input.disabled and p.button.disabled and "Locked in: sync" in p.status.value


def test_display_bundle_is_the_widget_with_a_readable_text_fallback():
    p = stale_share()
    bundle = p._repr_mimebundle_()
    assert "application/vnd.jupyter.widget-view+json" in bundle
    assert bundle["text/plain"] == "Predict: What share of reads will be stale? [no guess locked in yet]"
    p.lock(30)
    assert p._repr_mimebundle_()["text/plain"].endswith("[locked in: 30 %]")


# -- the chapters use it ------------------------------------------------------------------------

CHAPTERS = sorted((Path(__file__).resolve().parents[2] / "chapters").glob("*.ipynb"))


def _cells(path: Path) -> list[tuple[str, str]]:
    nb = json.loads(path.read_text(encoding="utf-8"))
    return [(c["cell_type"], "".join(c["source"]) if isinstance(c["source"], list) else c["source"])
            for c in nb["cells"]]


@pytest.mark.parametrize("path", CHAPTERS, ids=[p.stem for p in CHAPTERS])
def test_every_chapter_locks_in_two_predictions_and_reveals_each_after_it(path):
    cells = _cells(path)
    made = [(i, m.group(1)) for i, (kind, src) in enumerate(cells) if kind == "code"
            for m in re.finditer(r"^(\w+)\s*=\s*Prediction\(", src, re.M)]
    assert len(made) >= 2, f"{path.name}: {len(made)} Prediction(...) prompts; every chapter needs at least two"
    for index, name in made:
        later = [src for kind, src in cells[index + 1:] if kind == "code"]
        assert any(f"{name}.reveal(" in src for src in later), f"{path.name}: {name} is never revealed after the run"


@pytest.mark.parametrize("path", CHAPTERS, ids=[p.stem for p in CHAPTERS])
def test_every_try_this_exercise_keeps_its_answer_collapsed(path):
    text = "\n".join(src for kind, src in _cells(path) if kind == "markdown")
    assert text.count("<details>") == text.count("</details>"), f"{path.name}: unbalanced <details> blocks"
    if "## Try this" in text:
        section = text.split("## Try this", 1)[1].split("\n## ", 1)[0]
        exercises = re.findall(r"^\d+\. ", section, re.M)
        assert exercises and section.count("<details>") >= len(exercises), \
            f"{path.name}: {len(exercises)} exercises but {section.count('<details>')} collapsed answers"


@pytest.mark.parametrize("path", CHAPTERS, ids=[p.stem for p in CHAPTERS])
def test_every_chapter_opens_with_objectives_time_and_article_section(path):
    kind, first = _cells(path)[0]
    assert kind == "markdown" and first.startswith("# ")
    assert "**Time:**" in first and "**Article" in first, path.name
    assert "you can" in first or "Objectives" in first, path.name
