"""The explorer base's time scrubber, on a tiny fake explorer: moving it redraws, never re-runs."""

import io

import ipywidgets as W
import numpy as np
import pytest
from PIL import Image

from consistency_lab.widgets.base import Explorer, slider


class Clock(Explorer):
    """A run is a straight line from 0 to ``length`` ms; the scrubber moves a "now" line along it."""

    figsize = (4.0, 2.0)

    def __init__(self, **initial):
        self.runs = 0
        self.shown: list[float] = []
        super().__init__(**initial)

    def make_controls(self):
        return {"length": slider(1000, 100, 5000, "run length (ms)", step=100)}

    def run(self, params):
        self.runs += 1
        return {"length": params["length"], "seed": params["seed"]}

    def setup(self, live):
        self._ax = live.fig.add_subplot()
        (self._line,) = self._ax.plot([], [], label="run")
        self._now = self._ax.axvline(0.0, color="red", label="now")
        live.dynamic(self._line, self._now)

    def refresh(self, result, live):
        self._line.set_data([0, result["length"]], [0, 1])
        self._ax.set_xlim(0, 5000)
        self._ax.set_ylim(0, 1)

    def time_range(self, result):
        return 0.0, float(result["length"])

    def at_time(self, result, t_ms, live):
        self.shown.append(t_ms)
        self._now.set_xdata([t_ms, t_ms])


def _pixels(png: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(png)).convert("RGB")).astype(int)


def test_scrubber_row_under_the_figure_with_play_linked_to_the_slider():
    e = Clock()
    assert e.scrubbable and isinstance(e.play, W.Play) and isinstance(e.scrubber, W.IntSlider)
    link = e._scrub_link
    assert link.source == (e.play, "value") and link.target == (e.scrubber, "value")
    rows = e.widget.children
    assert rows[3].children == (e.image, e.table)  # the figure row, then the scrubber row under it
    assert e.scrubber in rows[4].children and e.play in rows[4].children
    assert e.step_back in rows[4].children and e.step_forward in rows[4].children


def test_first_run_starts_at_its_end_with_the_default_step():
    e = Clock()
    assert (e.scrubber.min, e.scrubber.max, e.time) == (0, 1000, 1000.0)
    assert e.scrubber.step == e.play.step == 5  # (1000 - 0) / 200
    assert e.play.max == 1000 and e.play.value == 1000
    assert e.shown == [1000]


def test_scrubbing_changes_the_image_but_never_re_runs():
    e = Clock()
    runs, before = e.runs, e.image.value
    e.scrub_to(250)
    assert e.runs == runs and e.time == 250.0 and e.shown[-1] == 250
    assert e.image.value != before and e.play.value == 250
    after = e.image.value
    e.scrubber.value = 600  # as a browser drag (or the Play button through jslink) does
    assert e.runs == runs and e.shown[-1] == 600 and e.image.value != after
    assert e.last_scrub_ms >= 0
    assert "600 ms" in e.time_label.value


def test_scrubbing_back_gives_the_same_picture():
    e = Clock()
    e.scrub_to(300)
    first = _pixels(e.image.value)
    e.scrub_to(900)
    e.scrub_to(300)
    assert np.array_equal(_pixels(e.image.value), first)


def test_step_buttons_move_one_step_and_stop_at_the_ends():
    e = Clock()
    e.scrub_to(500)
    e.step_forward.click()
    assert e.time == 505
    e.step_back.click()
    e.step_back.click()
    assert e.time == 495
    e.scrub_to(0)
    e.step_back.click()
    assert e.time == 0
    e.scrub_to(1000)
    e.step_forward.click()
    assert e.time == 1000


def test_another_control_re_runs_and_keeps_the_time_inside_the_new_range():
    e = Clock()
    e.scrub_to(400)
    runs = e.runs
    e.controls["length"].value = 2000
    assert e.runs == runs + 1
    assert (e.scrubber.max, e.time, e.scrubber.step) == (2000, 400.0, 10)
    assert e.shown[-1] == 400
    e.scrub_to(1800)
    e.controls["length"].value = 500  # 1800 ms is past the end of the shorter run: clamped
    assert (e.scrubber.max, e.time) == (500, 500.0) and e.play.max == 500
    e.controls["seed"].value = 7
    assert e.time == 500.0 and e.runs == runs + 3


def test_scrub_to_outside_the_run_or_without_a_scrubber_is_a_clear_error():
    e = Clock()
    with pytest.raises(ValueError, match=r"t_ms=1500 must be a time within this run; allowed: 0 to 1000 ms"):
        e.scrub_to(1500)
    with pytest.raises(ValueError, match="t_ms='x' must be"):
        e.scrub_to("x")

    class Plain(Clock):
        time_range = Explorer.time_range

    p = Plain()
    assert not p.scrubbable and p.scrubber is None and np.isnan(p.time)
    assert len(p.widget.children) == 4
    with pytest.raises(ValueError, match="has no time scrubber"):
        p.scrub_to(10)


def test_a_custom_step_is_used():
    class Coarse(Clock):
        def scrub_step_ms(self, result):
            return 50

    e = Coarse()
    e.scrub_to(100)
    e.step_forward.click()
    assert e.time == 150 and e.play.step == 50
