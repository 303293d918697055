"""The timeline's operational events: a burst of posts and an outage of the whole feed group."""

import pytest

from consistency_lab.scenarios.timeline import TIMELINE

SMALL = dict(users=20, posts=150, follows=150, duration_ms=4000.0, loss=0.03, consumer_crashes=0,
             scan_interval_ms=250.0, page_size=10)


@pytest.fixture(scope="module")
def runs():
    return {name: TIMELINE.run(2, **SMALL, **kw) for name, kw in {
        "calm": {}, "burst": dict(burst_posts=600, burst_at=0.25, burst_ms=300.0),
        "outage": dict(outage_at=0.5, outage_ms=1500.0),
        "outage, no daemon": dict(outage_at=0.5, outage_ms=1500.0, reconciliation="off")}.items()}


def test_a_burst_builds_a_backlog_that_the_feed_then_works_off(runs):
    calm, burst = runs["calm"].metrics, runs["burst"].metrics
    assert burst["events_published"] >= calm["events_published"] + 500
    # 600 posts in 300 ms against about 400 events/s of feed capacity: more than a second behind.
    assert burst["backlog_age_max_s"] > 1.0 > 10 * calm["backlog_age_max_s"]
    assert burst["lag_offsets_max"] > 200 and burst["lag_offsets_final"] == 0
    peak = max(runs["burst"].lag, key=lambda s: s.lag_offsets)
    assert 1000.0 <= peak.time <= 3000.0  # during or just after the burst (1.0 s to 1.3 s), not at the end
    assert burst["divergent_timelines_final"] == 0


def test_an_outage_ages_the_backlog_by_its_length_and_the_daemon_still_converges(runs):
    out, off = runs["outage"], runs["outage, no daemon"].metrics
    assert out.metrics["consumer_crashes"] == 2  # both consumers at once
    assert 1.4 <= out.metrics["backlog_age_max_s"] <= 1.6 + 0.5
    down = [s for s in out.lag if 2000.0 < s.time < 3500.0]
    assert down and max(s.lag_offsets for s in down) > 20
    assert out.metrics["divergent_timelines_final"] == 0 and off["divergent_timelines_final"] > 0


def test_without_a_burst_its_knobs_change_nothing():
    a = TIMELINE.run(3, **SMALL)
    b = TIMELINE.run(3, **SMALL, burst_at=0.9, burst_ms=50.0, outage_at=0.1)
    assert a.trace_digest == b.trace_digest and a.metrics == b.metrics


def test_a_burst_is_deterministic_and_counts_as_work():
    kw = dict(SMALL, burst_posts=200)
    assert TIMELINE.run(4, **kw).trace_digest == TIMELINE.run(4, **kw).trace_digest
    with pytest.raises(ValueError, match="posts \\+ follows \\+ burst_posts"):
        TIMELINE.run(0, **dict(SMALL, burst_posts=9_800))
