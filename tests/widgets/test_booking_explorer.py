"""The booking explorer, headless: every control reaches both modes' runs and changes the picture."""

import pytest
from explorer_moves import changed

from consistency_lab.widgets import EXPLORERS, explore
from consistency_lab.widgets.booking_explorer import RATES


@pytest.fixture(scope="module")
def e():
    return explore("booking")


def test_defaults_show_the_event_double_booking_more_as_concurrency_grows_and_the_command_never(e):
    assert "booking" in EXPLORERS and e.error is None
    sweep = e.result
    assert sweep.rates == list(RATES) and set(sweep.runs) == {"command", "event"}
    assert all(r.params["arrival_rate"] == rate for mode in sweep.runs for r, rate in zip(sweep.runs[mode], RATES))
    ev = sweep.series("event", "double_bookings")
    assert sweep.series("command", "double_bookings") == [0] * len(RATES)
    assert ev[-1] > ev[0] and ev[-1] > 0
    shown = e.metrics(sweep)
    assert shown["event_double_bookings"] == ev[-1] and shown["command_double_bookings"] == 0
    assert "Double bookings" in e.table.value or "double bookings" in e.table.value


def test_handler_lag_widens_the_window(e):
    before, after, image = changed(e, handler_lag_ms=1500)
    assert after.runs["event"][0].params["handler_lag_ms"] == "exp:1500"
    assert sum(after.series("event", "double_bookings")) > sum(before.series("event", "double_bookings"))
    assert image


def test_one_front_end_cannot_double_book_with_itself(e):
    _before, after, image = changed(e, frontends=1)
    assert after.series("event", "double_bookings") == [0] * len(RATES) and image


@pytest.mark.parametrize("control, value, param", [
    ("slots", 20, "slots"), ("choice_window", 8, "choice_window"), ("reminder_ms", 500, "reminder_ms"),
    ("duplicate", 0.4, "duplicate"),
])
def test_every_other_control_reaches_the_runs(e, control, value, param):
    before, after, image = changed(e, **{control: value})
    got = after.runs["command"][-1].params[param]
    assert got == (f"exp:{value}" if control == "reminder_ms" else value)
    digests = [r.trace_digest for runs in (before.runs, after.runs) for mode in runs for r in runs[mode]]
    assert digests[:len(digests) // 2] != digests[len(digests) // 2:]
    assert image


def test_slower_reminders_lag_more_and_a_naive_handler_repeats_them(e):
    # The handler changes what is sent twice, not when the first reminder goes: the table and the title show it.
    _, naive, image = changed(e, reminder_handler="naive")
    assert naive.runs["event"][-1].params["reminder_handler"] == "naive"
    assert e.metrics(naive)["duplicate_reminders"] > 0 and "duplicate reminders" in e.table.value
    doubled = e.metrics(naive)["duplicate_reminders"]
    assert image and f"({doubled} reminders sent twice)" in e.live.fig.axes[1].get_title()
    before, after, _ = changed(e, reminder_ms=800)
    assert e.metrics(after)["reminder_lag_p99_ms"] > e.metrics(before)["reminder_lag_p99_ms"]
    _, naive, _ = changed(e, reminder_handler="naive", duplicate=0.5)
    assert e.metrics(naive)["duplicate_reminders"] > 0
    _, dedupe, _ = changed(e, duplicate=0.5)
    assert e.metrics(dedupe)["duplicate_reminders"] == 0
