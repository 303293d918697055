"""The timeline and cart scenarios: divergence and repair, handlers at checkout, determinism, errors."""

import math

import pytest

from consistency_lab.scenarios.cart import CART
from consistency_lab.scenarios.timeline import TIMELINE

SEEDS = range(20)
SMALL = {"users": 20, "posts": 150, "follows": 150, "duration_ms": 3_000.0, "loss": 0.05,
         "scan_interval_ms": 200.0, "page_size": 5}


@pytest.fixture(scope="module")
def timeline_runs():
    return {(mode, seed): TIMELINE.run(seed, reconciliation=mode, **SMALL) for mode in ("on", "off") for seed in SEEDS}


def test_without_reconciliation_timelines_stay_divergent_under_loss(timeline_runs):
    for seed in SEEDS:
        m = timeline_runs[("off", seed)].metrics
        assert m["events_lost"] > 0 and m["divergent_timelines_final"] > 0, seed
        assert m["repairs"] == 0 and m["passes"] == 0


def test_with_reconciliation_every_timeline_converges(timeline_runs):
    for seed in SEEDS:
        r = timeline_runs[("on", seed)]
        m = r.metrics
        assert m["divergent_timelines_final"] == 0 and m["divergent_users_final"] == 0, seed
        assert m["repairs"] > 0 and m["reconciliation_success_rate"] == 1.0
        assert m["false_repairs"] <= m["repairs"]
        assert m["convergence_time_s"] <= m["convergence_bound_s"] + SMALL["scan_interval_ms"] / 1000
        assert r.divergence[-1][1] == 0 and max(v for _, v in r.divergence) > 0


def test_timeline_result_carries_series_and_lineage(timeline_runs):
    r = timeline_runs[("on", 0)]
    m = r.metrics
    for name in ("divergent_timelines_final", "repairs", "false_repairs", "consumer_lag_p99_s", "backlog_age_max_s"):
        assert name in m and not (isinstance(m[name], float) and math.isnan(m[name])), name
    times = [t for t, _ in r.divergence]
    assert times == sorted(times) and len(times) > 50
    assert r.journey is not None and r.journey.has("lost") and r.journey.has("repaired")
    assert r.journey.first("lost").time < r.journey.first("repaired").time
    assert r.to_json()["metrics"]["repairs"] == m["repairs"]


def test_timeline_is_deterministic_and_seed_sensitive(timeline_runs):
    again = TIMELINE.run(3, reconciliation="on", **SMALL)
    first = timeline_runs[("on", 3)]
    assert again.trace_digest == first.trace_digest and again.metrics == _nan_safe(first.metrics, again.metrics)
    assert timeline_runs[("on", 4)].trace_digest != first.trace_digest


def _nan_safe(a, b):
    """``a`` with NaNs replaced by ``b``'s (NaN != NaN would hide equality)."""
    return {k: (b[k] if isinstance(v, float) and math.isnan(v) and math.isnan(b[k]) else v) for k, v in a.items()}


def test_grace_period_trades_false_repairs_for_time():
    eager = TIMELINE.run(5, grace_ms=0.0, **SMALL).metrics
    patient = TIMELINE.run(5, grace_ms=600.0, **SMALL).metrics
    assert patient["false_repairs"] <= eager["false_repairs"]
    assert patient["divergent_timelines_final"] == 0


def test_slow_feed_lags_more():
    fast = TIMELINE.run(1, processing_ms=1.0, **SMALL).metrics
    slow = TIMELINE.run(1, processing_ms=15.0, **SMALL).metrics
    assert slow["consumer_lag_p99_s"] > fast["consumer_lag_p99_s"]
    assert slow["backlog_age_max_s"] > fast["backlog_age_max_s"]


@pytest.mark.parametrize("params, message", [
    ({"page_size": 0}, "page_size=0 must be an integer between 1 and 10000"),
    ({"reconciliation": "maybe"}, "reconciliation='maybe' must be one of on, off"),
    ({"scan_interval_ms": -1}, "scan_interval_ms=-1 must be a number between 1 and 3600000"),
    ({"loss": 2}, "loss=2 must be a number between 0 and 1"),
    ({"users": "many"}, "users='many' must be an integer between 2 and 10000"),
    ({"colour": "red"}, "unknown parameter 'colour' for scenario 'timeline'"),
])
def test_timeline_rejects_bad_parameters(params, message):
    with pytest.raises(ValueError, match=message.replace("+", r"\+")):
        TIMELINE.run(0, **params)


# -- cart ---------------------------------------------------------------------------------------

CART_SEEDS = range(8)


@pytest.fixture(scope="module")
def cart_runs():
    return {(h, s): CART.run(s, handler=h, carts=30) for h in ("naive", "dedupe", "versioned") for s in CART_SEEDS}


def test_versioned_carts_are_always_right_at_checkout(cart_runs):
    for seed in CART_SEEDS:
        m = cart_runs[("versioned", seed)].metrics
        assert m["carts_wrong_at_checkout"] == 0 and m["carts_wrong_final"] == 0 and m["held_final"] == 0
        assert m["duplicate_deliveries"] > 0 and m["out_of_order_deliveries"] > 0 and m["unfinished_devices"] == 0


def test_naive_and_dedupe_carts_go_wrong(cart_runs):
    for seed in CART_SEEDS:
        naive = cart_runs[("naive", seed)].metrics["carts_wrong_at_checkout"]
        dedupe = cart_runs[("dedupe", seed)].metrics["carts_wrong_at_checkout"]
        assert naive > dedupe > 0, seed


def test_dedupe_is_exact_when_nothing_overtakes():
    # No loss (a retry would overtake newer events), no reordering, no jitter: duplicates only.
    m = CART.run(0, handler="dedupe", reorder=0.0, loss=0.0, carts=30, latency_ms=0.0).metrics
    assert m["duplicate_deliveries"] > 0 and m["carts_wrong_at_checkout"] == 0


def test_cart_result_and_determinism(cart_runs):
    r = cart_runs[("naive", 2)]
    assert r.wrong_carts and all(r.at_checkout[c] != r.device_state[c] for c in r.wrong_carts)
    assert r.journey is not None and len(r.journey) > 2
    again = CART.run(2, handler="naive", carts=30)
    assert again.trace_digest == r.trace_digest and again.metrics == _nan_safe(r.metrics, again.metrics)
    assert cart_runs[("naive", 3)].trace_digest != r.trace_digest


@pytest.mark.parametrize("params, message", [
    ({"handler": "magic"}, "handler='magic' must be one of naive, dedupe, versioned"),
    ({"carts": 0}, "carts=0 must be an integer between 1 and 100000"),
    ({"retry_ms": 0}, "retry_ms=0 must be a number between 1 and 600000"),
])
def test_cart_rejects_bad_parameters(params, message):
    with pytest.raises(ValueError, match=message):
        CART.run(0, **params)


def test_lineage_plot_draws_a_labelled_swimlane(timeline_runs):
    from consistency_lab.plots.lineage_plot import plot_lineage
    journey = timeline_runs[("on", 0)].journey
    fig = plot_lineage(journey)
    ax = fig.axes[0]
    assert ax.get_title().startswith("Journey of event") and ax.get_xlabel() in ("time (ms)", "time (s)")
    assert ax.get_ylabel() == "service" and ax.get_legend() is not None
    # Tick labels run bottom to top; the first service to touch the event is the top lane.
    assert [t.get_text() for t in ax.get_yticklabels()] == journey.services()[::-1]
    fig2 = plot_lineage(journey, title="custom")
    assert fig2.axes[0].get_title() == "custom"


def test_streams_and_patterns_never_import_matplotlib():
    import subprocess
    import sys
    code = ("import sys, consistency_lab.streams, consistency_lab.patterns, consistency_lab.scenarios.timeline, "
            "consistency_lab.scenarios.cart; print('matplotlib' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"


def test_same_seed_same_digest_in_other_processes():
    import os
    import subprocess
    import sys
    code = ("from consistency_lab.scenarios.timeline import TIMELINE; "
            "from consistency_lab.scenarios.cart import CART; "
            "print(TIMELINE.run(7, users=10, posts=50, follows=50, duration_ms=1000.0).trace_digest, "
            "CART.run(7, handler='dedupe', carts=5).trace_digest)")
    outs = {subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                           env={**os.environ, "PYTHONHASHSEED": str(h)}).stdout for h in (1, 2)}
    assert len(outs) == 1


# -- plug-ins: what a lab hands in ------------------------------------------------------------------

class StudentJob:
    """A lab's reconciliation job, written only against the Reconciler protocol."""

    def __init__(self, social, feed, repair_follows=True):
        self.social, self.feed, self.repair_follows = social, feed, repair_follows

    def keys(self):
        return self.social.users

    def expected(self, user):
        return self.social.item(user)

    def actual(self, user):
        return self.feed.item(user)

    def repair(self, user, value):
        if not self.repair_follows:  # a bug: only the timeline is rewritten
            value = (self.feed.item(user)[0], value[1], value[2])
        self.feed.overwrite(user, value)


def test_a_student_reconciler_plugs_in_and_is_measured_by_the_reference(timeline_runs):
    from consistency_lab.patterns import Reconciler
    params = {**SMALL, "reconciliation": "on"}
    good = TIMELINE.run(0, hooks={"reconciler_factory": StudentJob}, **params)
    assert isinstance(StudentJob(None, None), Reconciler)
    assert good.metrics == _nan_safe(timeline_runs[("on", 0)].metrics, good.metrics)
    buggy = TIMELINE.run(0, hooks={"reconciler_factory": lambda s, f: StudentJob(s, f, repair_follows=False)},
                         **params)
    assert buggy.metrics["reconciliation_success_rate"] < 1.0


def test_a_student_handler_plugs_into_the_cart():
    from consistency_lab.patterns import StatefulHandler
    from consistency_lab.scenarios.cart import cart_reducer

    class SeenIds:
        """A lab's first attempt: remembers ids, ignores order."""

        def __init__(self):
            self.state, self.seen = {}, set()

        def handle(self, event):
            if event.event_id not in self.seen:
                self.seen.add(event.event_id)
                self.state[event.key] = cart_reducer(self.state.get(event.key), event)

    assert isinstance(SeenIds(), StatefulHandler)
    custom = CART.run(1, hooks={"handler_factory": lambda sim: SeenIds()}, carts=30)
    dedupe = CART.run(1, handler="dedupe", carts=30)
    assert custom.params["handler"] == "custom"
    assert custom.metrics["carts_wrong_at_checkout"] == dedupe.metrics["carts_wrong_at_checkout"] > 0
