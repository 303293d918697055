"""Predict, lock in, then run: a guess that is fixed before the result is seen.

A :class:`Prediction` is a question with an input and a "Lock in" button.  Once a guess
is locked the input is disabled, so the comparison after the run is honest.  The result
cell calls :meth:`Prediction.reveal` with the measured value; it shows and returns how far
off the guess was.  Everything also works from code (``p.lock(30)``), so notebooks run
headless in CI, where nobody clicks: ``reveal`` on an unlocked prediction only reports the
measurement and never raises.

    p = Prediction("What share of reads will be stale?", kind="number", unit="%", low=0, high=100)
    p                      # the widget
    ...                    # run the experiment
    p.reveal(12.4)         # "You predicted 30 %; the run measured 12.4 % (17.6 points off)"
"""

from __future__ import annotations

import html
import math
import numbers
from dataclasses import dataclass
from typing import Any, Optional, Sequence

import ipywidgets as W

from ..tables import display_rich, format_value

__all__ = ["Prediction", "Reveal", "KINDS"]

#: The kinds of guess a prediction accepts.
KINDS = ("number", "choice")

_GOOD, _BAD, _NEUTRAL = "#009E73", "#D55E00", "#555"


def _is_number(value: Any) -> bool:
    # bool is an int to Python, but "True %" is never a meaningful guess.
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


@dataclass(frozen=True)
class Reveal:
    """The comparison of a locked guess with a measured result (what ``reveal`` returns)."""

    guess: Any
    measured: Any
    #: Absolute difference for number predictions (None for choices or when nothing was locked).
    error: Optional[float]
    #: Whether the guess matched, for choice predictions (None for numbers or when nothing was locked).
    correct: Optional[bool]
    text: str

    def html(self) -> str:
        """The comparison as a small coloured HTML fragment."""
        if self.guess is None:
            color = _NEUTRAL
        elif self.correct is not None:
            color = _GOOD if self.correct else _BAD
        else:
            color = _NEUTRAL
        return (f"<div style='border-left:4px solid {color};padding:2px 8px'>"
                f"{html.escape(self.text)}</div>")

    def show(self) -> None:
        """Display the comparison (HTML in a notebook, text elsewhere)."""
        display_rich(self.text, self.html())

    def __str__(self) -> str:
        return self.text

    def _ipython_display_(self) -> None:
        # reveal() has already shown the comparison; as a cell's last value, show nothing more.
        return None


class Prediction:
    """A question whose answer the student locks in before the run, then compares with the result."""

    def __init__(self, question: str, kind: Optional[str] = None, *, unit: str = "",
                 low: Optional[float] = None, high: Optional[float] = None,
                 choices: Optional[Sequence[Any]] = None) -> None:
        if not isinstance(question, str) or not question.strip():
            raise ValueError(f"question={question!r} must be a non-empty string")
        if kind is None:
            kind = "choice" if choices is not None else "number"
        if kind not in KINDS:
            raise ValueError(f"kind={kind!r} must be a known prediction kind; allowed: {', '.join(KINDS)}")
        if not isinstance(unit, str):
            raise ValueError(f"unit={unit!r} must be a string such as '%' or 'ms'")
        if kind == "number":
            if choices is not None:
                raise ValueError(f"choices={choices!r} must be None for kind='number'; "
                                 "allowed: kind='choice' with choices")
            for name, bound in (("low", low), ("high", high)):
                if bound is not None and not (_is_number(bound) and math.isfinite(bound)):
                    raise ValueError(f"{name}={bound!r} must be a finite number or None")
            if low is not None and high is not None and low > high:
                raise ValueError(f"low={low!r} must be at most high={high!r}")
            self.choices: tuple = ()
        else:
            if low is not None or high is not None:
                raise ValueError(f"low={low!r}, high={high!r} must be None for kind='choice'; "
                                 "allowed: bounds only with kind='number'")
            if choices is None or isinstance(choices, str) or len(list(choices)) < 2:
                raise ValueError(f"choices={choices!r} must be a list of at least two answers")
            self.choices = tuple(choices)
            labels = [str(c) for c in self.choices]
            if len(set(labels)) != len(labels):
                raise ValueError(f"choices={list(self.choices)!r} must be distinct answers")
        self.question = question
        self.kind = kind
        self.unit = unit
        self.low = low
        self.high = high
        self._guess: Any = None
        self._build_widget()

    # -- the guess -------------------------------------------------------------
    @property
    def guess(self) -> Any:
        """The locked-in guess, or None while nothing is locked."""
        return self._guess

    @property
    def locked(self) -> bool:
        """True once a guess is locked in."""
        return self._guess is not None

    def _range_text(self) -> str:
        if self.low is not None and self.high is not None:
            return f"between {format_value(self.low)} and {format_value(self.high)}"
        if self.low is not None:
            return f"at least {format_value(self.low)}"
        if self.high is not None:
            return f"at most {format_value(self.high)}"
        return "any finite number"

    def _validated(self, value: Any) -> Any:
        """``value`` as the stored guess, or a ValueError saying what is allowed."""
        if self.kind == "choice":
            for choice in self.choices:
                if value == choice or (isinstance(value, str) and value == str(choice)):
                    return choice
            raise ValueError(f"guess={value!r} must be one of the choices; "
                             f"allowed: {', '.join(str(c) for c in self.choices)}")
        if not _is_number(value) or not math.isfinite(value):
            raise ValueError(f"guess={value!r} must be a finite number; allowed: {self._range_text()}")
        if (self.low is not None and value < self.low) or (self.high is not None and value > self.high):
            raise ValueError(f"guess={value!r} must be {self._range_text()}")
        return float(value)

    def lock(self, guess: Any) -> Any:
        """Lock in ``guess`` (validated like the widget's input); returns the stored guess."""
        if self.locked:
            raise ValueError(f"guess={guess!r} cannot replace the guess already locked in "
                             f"({self._with_unit(self._guess)}); run the prediction cell again for a fresh one")
        value = self._validated(guess)
        self._guess = value
        self._show_locked()
        return value

    # -- formatting ------------------------------------------------------------
    def _with_unit(self, value: Any) -> str:
        if self.kind == "choice":
            return str(value)
        text = format_value(float(value))
        return f"{text} {self.unit}" if self.unit else text

    def _difference_text(self, error: float) -> str:
        if error == 0:
            return "spot on"
        # A difference of percentages is percentage points, not percent.
        unit = "points" if self.unit == "%" else self.unit
        amount = format_value(error)
        return f"{amount} {unit} off" if unit else f"{amount} off"

    def compare(self, measured: Any) -> Reveal:
        """The comparison of the locked guess with ``measured``, without displaying it."""
        if self.kind == "choice":
            matches = [c for c in self.choices if measured == c or (isinstance(measured, str) and measured == str(c))]
            if not matches:
                raise ValueError(f"measured={measured!r} must be one of the choices; "
                                 f"allowed: {', '.join(str(c) for c in self.choices)}")
            answer = matches[0]
            if self._guess is None:
                return Reveal(None, answer, None, None, f"No prediction was locked in; the run says {answer}.")
            correct = self._guess == answer
            verdict = "right" if correct else "wrong"
            return Reveal(self._guess, answer, None, correct,
                          f"You predicted {self._guess}; the run says {answer}: {verdict}")
        if not _is_number(measured) or not math.isfinite(measured):
            raise ValueError(f"measured={measured!r} must be a finite number (the run's result)")
        measured = float(measured)
        if self._guess is None:
            return Reveal(None, measured, None, None,
                          f"No prediction was locked in; the run measured {self._with_unit(measured)}.")
        error = abs(self._guess - measured)
        return Reveal(self._guess, measured, error, None,
                      f"You predicted {self._with_unit(self._guess)}; the run measured "
                      f"{self._with_unit(measured)} ({self._difference_text(error)})")

    def reveal(self, measured: Any) -> Reveal:
        """Show and return how the locked guess compares with ``measured`` (never raises when unlocked)."""
        result = self.compare(measured)
        result.show()
        return result

    # -- the widget --------------------------------------------------------------
    def _build_widget(self) -> None:
        """The question, an input and a Lock-in button (no kernel or browser needed)."""
        style = {"description_width": "initial"}
        if self.kind == "choice":
            # No pre-selected answer: locking in must be a decision, not a default.
            self.input: W.ValueWidget = W.Dropdown(options=list(self.choices), value=None,
                                                   description="Your guess:", style=style)
        else:
            suffix = f" ({self.unit})" if self.unit else ""
            self.input = W.Text(value="", placeholder=f"a number {self._range_text()}",
                                description=f"Your guess{suffix}:", style=style,
                                layout=W.Layout(width="320px"))
        self.button = W.Button(description="Lock in", icon="lock", button_style="primary",
                               layout=W.Layout(width="110px"))
        self.button.on_click(self._on_click)
        self.status = W.HTML("<span style='color:#555'>Lock in a guess before you run the next cell.</span>")
        self.widget = W.VBox([W.HTML(f"<b>Predict:</b> {html.escape(self.question)}"),
                              W.HBox([self.input, self.button]), self.status])

    def _parse_input(self) -> Any:
        value = self.input.value
        if self.kind == "choice":
            if value is None:
                raise ValueError("choose an answer first")
            return value
        text = str(value).strip()
        if self.unit and text.endswith(self.unit):
            text = text[: -len(self.unit)].strip()
        if not text:
            raise ValueError(f"type a number {self._range_text()} first")
        try:
            number = float(text)
        except ValueError:
            raise ValueError(f"{value!r} is not a number; type a number {self._range_text()}") from None
        return number

    def _on_click(self, _button: Any = None) -> None:
        if self.locked:  # a late click (the button is already disabled) must not touch the locked guess
            return
        # A click handler must not raise: a bad guess becomes a message under the input.
        try:
            self.lock(self._parse_input())
        except ValueError as exc:
            self.status.value = f"<span style='color:{_BAD}'>{html.escape(str(exc))}</span>"

    def _show_locked(self) -> None:
        self.input.disabled = True
        self.button.disabled = True
        self.status.value = (f"<span style='color:{_GOOD}'><b>Locked in: "
                             f"{html.escape(self._with_unit(self._guess))}</b></span>")

    def __repr__(self) -> str:
        state = f"locked in {self._with_unit(self._guess)}" if self.locked else "no guess locked in"
        return f"<Prediction {self.question!r}: {state}>"

    def _repr_mimebundle_(self, **kwargs: Any) -> Any:
        bundle = self.widget._repr_mimebundle_(**kwargs)
        if isinstance(bundle, dict):
            # Where widgets cannot render (nbconvert, a terminal), show the question, not "VBox(...)".
            state = f"locked in: {self._with_unit(self._guess)}" if self.locked else "no guess locked in yet"
            bundle = {**bundle, "text/plain": f"Predict: {self.question} [{state}]"}
        return bundle
