"""The outbox never loses an event under crashes; a dual write does, and reconciliation repairs what it lost."""

import math

import pytest

from consistency_lab import simulate
from consistency_lab.scenarios import get_scenario


def _run(**params):
    return simulate("outbox_crash", seed=params.pop("seed", 1), **params)


@pytest.mark.parametrize("seed", [1, 2])
def test_the_outbox_loses_nothing_and_the_dual_write_loses_events_under_crashes(seed):
    outbox = _run(seed=seed, mode="outbox", reconciliation=False, crash_after_write=0.1).metrics
    dual = _run(seed=seed, mode="write_then_publish", reconciliation=False, crash_after_write=0.1).metrics
    assert outbox["crashes"] > 0 and outbox["events_lost"] == 0 and outbox["reminders_missing"] == 0
    assert outbox["published"] == outbox["writes"]
    assert dual["events_lost"] > 0 and dual["reminders_missing"] == dual["events_lost"]
    assert dual["published"] + dual["events_lost"] == dual["writes"]


def test_without_crashes_the_dual_write_loses_nothing():
    m = _run(mode="write_then_publish", crash_after_write=0.0, reconciliation=False).metrics
    assert m["crashes"] == 0 and m["events_lost"] == 0 and m["reminders_missing"] == 0


def test_reconciliation_repairs_every_lost_reminder_and_none_that_was_only_lagging():
    m = _run(mode="write_then_publish", crash_after_write=0.1).metrics
    assert m["events_lost"] > 0 and m["reminders_missing"] == 0
    assert m["repairs"] == m["events_lost"] and m["false_repairs"] == 0
    assert m["reconciliation_success_rate"] == 1.0
    # With no age threshold it also "repairs" items whose events were merely on their way.
    eager = _run(mode="write_then_publish", crash_after_write=0.1, min_age_ms=0.0, processing_ms="exp:40").metrics
    assert eager["false_repairs"] > 0


def test_with_nothing_to_repair_there_is_no_success_rate():
    m = _run(mode="outbox").metrics
    assert m["repairs"] == 0 and math.isnan(m["reconciliation_success_rate"]) and m["reconciliation_passes"] > 0


def test_redelivery_needs_the_idempotent_handler():
    dedupe = _run(duplicate=0.3).metrics
    naive = _run(duplicate=0.3, handler="naive").metrics
    assert dedupe["redeliveries"] > 0 and dedupe["reminders_doubled"] == 0
    assert naive["reminders_doubled"] > 0


def test_event_age_is_sampled_and_the_run_repeats():
    r = _run()
    assert len(r.lag_samples) > 100 and r.metrics["event_age_max_ms"] > 0
    assert _run().trace_digest == r.trace_digest


@pytest.mark.parametrize("params, message", [
    ({"mode": "dual"}, "mode='dual' must be one of outbox, write_then_publish"),
    ({"relay_interval_ms": 1.0, "duration_ms": 600_000.0}, "relay_interval_ms=1 must be at least"),
    ({"reconcile_every_ms": 1.0, "rate": 1000.0}, "reconcile_every_ms=1 must be longer"),
    ({"rate": 10_000.0, "duration_ms": 600_000.0, "reconciliation": False},
     "expected appointments = 6000000 is more than"),
])
def test_bad_parameters_are_refused_in_one_line(params, message):
    with pytest.raises(ValueError, match=message) as err:
        get_scenario("outbox_crash").run(1, **params)
    assert "\n" not in str(err.value)
