"""Growth: anomalies per write rise with the users per shared record; coordination costs round trips."""

import pytest

from consistency_lab import simulate
from consistency_lab.scenarios.growth import (GROWTH, decide, growth_study, per_key_rate,
                                              ticket_sensitivity)

SMALL = dict(writes=1_000)


def test_per_key_rate_is_users_times_actions_per_record_per_second():
    assert per_key_rate(86_400, 10, 100) == pytest.approx(0.1)
    with pytest.raises(ValueError, match="shared_keys=0 must be"):
        per_key_rate(1_000, 1, 0)


def test_eventual_anomalies_grow_with_users_and_strong_has_none():
    few = GROWTH.run(1, mode="eventual", users=10_000, **SMALL).metrics
    many = GROWTH.run(1, mode="eventual", users=1_000_000, **SMALL).metrics
    assert many["anomaly_probability"] > 0.001 > few["anomaly_probability"]
    # Per day the growth is faster than the users': each write also collides more often.
    assert many["anomalies_per_day"] > 100 * max(few["anomalies_per_day"], 1.0)
    strong = GROWTH.run(1, mode="strong", users=1_000_000, **SMALL).metrics
    assert strong["anomalies"] == 0 and strong["writes_done"] == 1_000


def test_strong_pays_wide_area_round_trips_on_every_write():
    ev = GROWTH.run(2, mode="eventual", users=100_000, wan_ms=50, **SMALL).metrics
    st = GROWTH.run(2, mode="strong", users=100_000, wan_ms=50, **SMALL).metrics
    assert ev["latency_mean_ms"] < 5
    assert st["latency_mean_ms"] > 2 * 50 * 0.8  # at least the majority's round trip


def test_a_hot_record_makes_strong_writes_wait_for_the_lock():
    calm = GROWTH.run(3, mode="strong", users=1_000_000, shared_keys=1_000, **SMALL).metrics
    hot = GROWTH.run(3, mode="strong", users=1_000_000, shared_keys=20, **SMALL).metrics
    assert hot["key_utilisation"] > 0.5 > calm["key_utilisation"]
    assert hot["lock_wait_mean_ms"] > 20 * max(calm["lock_wait_mean_ms"], 1.0)


def test_mergeable_updates_never_conflict():
    m = GROWTH.run(4, mode="eventual", users=1_000_000, mergeable_share=1.0, **SMALL).metrics
    assert m["anomalies"] == 0
    half = GROWTH.run(4, mode="eventual", users=1_000_000, mergeable_share=0.5, **SMALL).metrics
    none = GROWTH.run(4, mode="eventual", users=1_000_000, **SMALL).metrics
    assert 0 < half["anomalies"] < none["anomalies"]


def test_decide_weighs_tickets_against_coordination():
    cheap = decide(100, 120, 1e6, tickets_per_anomaly=0.05, cost_per_ticket=15, cost_per_ms=1e-5)
    assert cheap.choice == "eventual" and cheap.tickets_per_day == pytest.approx(5)
    assert cheap.coordination_cost_per_day == pytest.approx(1_200)
    assert "coordination" in cheap.reason and "tickets/day" in cheap.reason
    dear = decide(100_000, 120, 1e6, tickets_per_anomaly=0.05, cost_per_ticket=15, cost_per_ms=1e-5)
    assert dear.choice == "strong" and dear.anomaly_cost_per_day == pytest.approx(75_000)
    with pytest.raises(ValueError, match="tickets_per_anomaly=-1 must be"):
        decide(1, 1, 1, tickets_per_anomaly=-1, cost_per_ticket=1, cost_per_ms=1)


def test_study_finds_the_flip_between_the_user_counts_that_disagree():
    s = growth_study((10_000, 100_000, 1_000_000), writes=1_000)
    choices = [r.decision.choice for r in s.rows]
    assert choices[0] == "eventual" and choices[-1] == "strong"
    i = next(i for i, c in enumerate(choices) if c == "strong")
    assert s.rows[i - 1].users < s.flip_users < s.rows[i].users
    assert all(r.extra_ms > 60 for r in s.rows)
    # The flip depends on the assumptions: ten times fewer tickets per anomaly moves it up.
    calmer = growth_study((10_000, 100_000, 1_000_000), writes=1_000, tickets_per_anomaly=0.005)
    assert calmer.flip_users is None or calmer.flip_users > s.flip_users
    sens = ticket_sensitivity(s.rows[-1], [0.0, 0.05, 1.0], cost_per_ticket=15, cost_per_ms=1e-5)
    assert [d.choice for d in sens][0] == "eventual" and sens[-1].choice == "strong"
    with pytest.raises(ValueError, match="must be increasing"):
        growth_study((100, 10))


def test_same_seed_same_run_and_work_limit():
    a = simulate("growth", 5, users=50_000, writes=500)
    b = simulate("growth", 5, users=50_000, writes=500)
    c = simulate("growth", 6, users=50_000, writes=500)
    assert a.trace_digest == b.trace_digest != c.trace_digest and a.metrics == b.metrics
    with pytest.raises(ValueError, match="writes=30000 must be"):
        simulate("growth", 0, writes=30_000)
