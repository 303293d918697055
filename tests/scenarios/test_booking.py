"""Booking: a command to the slot's owner never double-books; an event handled later does under concurrency."""

import pytest

from consistency_lab import simulate
from consistency_lab.scenarios import get_scenario


def _run(**params):
    return simulate("booking", seed=params.pop("seed", 1), **params)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_a_command_never_double_books_even_with_loss_and_an_owner_crash(seed):
    for extra in ({"arrival_rate": 100.0}, {"loss": 0.2, "arrival_rate": 50.0},
                  {"faults": "crash:calendar@200-900", "arrival_rate": 50.0}):
        r = _run(seed=seed, mode="command", **extra)
        assert r.metrics["double_bookings"] == 0, (seed, extra)
        assert all(len(ps) == 1 for ps in r.calendar.values())
        assert r.metrics["booked"] + r.metrics["unconfirmed_bookings"] == len(r.calendar) and r.stopped == ""


def test_an_event_double_books_under_concurrency_and_more_as_it_grows():
    def doubles(rate):
        return sum(_run(seed=s, mode="event", arrival_rate=rate).metrics["double_bookings"] for s in range(3))
    calm, busy, rush = doubles(0.2), doubles(5.0), doubles(50.0)
    assert calm < busy < rush and rush >= 30
    r = _run(mode="event", arrival_rate=50.0)
    doubled = [s for s, ps in r.calendar.items() if len(ps) > 1]
    assert r.metrics["slots_double_booked"] == len(doubled) > 0
    assert r.metrics["double_booked_patients"] == sum(len(r.calendar[s]) for s in doubled)
    # Every patient was told yes at once: the front-end decided alone.
    assert r.metrics["booking_latency_p99_ms"] == 0.0 and r.metrics["booked"] == 40


def test_the_strong_path_pays_in_latency_and_lock_wait_as_concurrency_grows():
    calm, rush = _run(mode="command", arrival_rate=1.0), _run(mode="command", arrival_rate=200.0)
    assert calm.metrics["booking_latency_p50_ms"] > 5  # a round trip to the owner, at least
    assert rush.metrics["lock_wait_p99_ms"] > calm.metrics["lock_wait_p99_ms"]
    assert rush.metrics["rejected_taken"] > calm.metrics["rejected_taken"]
    assert len(rush.lock_waits) >= rush.metrics["booked"]


@pytest.mark.parametrize("mode", ["command", "event"])
def test_reminders_lag_harmlessly_and_an_idempotent_handler_sends_each_once(mode):
    r = _run(mode=mode, duplicate=0.5)
    m = r.metrics
    recorded = sum(len(ps) for ps in r.calendar.values())
    assert m["reminders_sent"] == recorded and m["duplicate_reminders"] == 0 and m["reminders_missing"] == 0
    assert 0 < m["reminder_lag_p50_ms"] < m["reminder_lag_max_ms"] and m["reminders_late"] == 0
    naive = _run(mode=mode, duplicate=0.5, reminder_handler="naive").metrics
    assert naive["duplicate_reminders"] > 0 and naive["reminders_sent"] == recorded + naive["duplicate_reminders"]
    strict = _run(mode=mode, reminder_tolerance_ms=100.0).metrics
    assert strict["reminders_late"] > 0  # the same lag, judged against a tolerance it breaks


def test_handler_lag_is_what_opens_the_double_booking_window():
    quick = _run(mode="event", arrival_rate=20.0, handler_lag_ms="1", latency="0.5").metrics
    slow = _run(mode="event", arrival_rate=20.0, handler_lag_ms="exp:500").metrics
    assert quick["double_bookings"] < slow["double_bookings"]
    assert slow["handler_lag_p50_ms"] > quick["handler_lag_p50_ms"]


def test_a_front_end_crash_loses_bookings_it_had_promised_but_not_yet_sent():
    r = _run(mode="event", arrival_rate=50.0, faults="crash:calendar@0-2000;crash:fe0@300-2500")
    assert r.metrics["lost_bookings"] > 0
    told_yes = {p.patient for p in r.patients if p.outcome in ("booked", "double-booked")}
    recorded = {x for ps in r.calendar.values() for x in ps}
    assert len(told_yes - recorded) == r.metrics["lost_bookings"]


def test_both_modes_face_the_same_patients_and_runs_repeat():
    a, b = _run(mode="command"), _run(mode="event")
    assert [p.arrival_ms for p in a.patients] == [p.arrival_ms for p in b.patients]
    assert [p.picks for p in a.patients] == [p.picks for p in b.patients]
    again = _run(mode="command")
    assert again.trace_digest == a.trace_digest and again.metrics == a.metrics


@pytest.mark.parametrize("params, message", [
    ({"faults": "crash:owner@100"}, "unknown node 'owner'; allowed: fe0, fe1, fe2, calendar"),
    ({"frontends": 2, "faults": "fe2|calendar@100-200"}, "unknown node 'fe2'; allowed: fe0, fe1, calendar"),
    ({"patients": 5000, "attempts": 20}, "patients x attempts = 100000 is more than one booking run"),
    ({"mode": "eventual"}, "mode='eventual' must be one of command, event"),
    ({"handler_lag_ms": "soon"}, "handler_lag_ms"),
])
def test_bad_parameters_are_refused_in_one_line(params, message):
    with pytest.raises(ValueError, match=message) as err:
        get_scenario("booking").run(1, **params)
    assert "\n" not in str(err.value)
