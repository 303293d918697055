"""Chapter 06's timeline explorer, headless: every control reaches the run; scrubbing never re-runs it."""

import math

import pytest

from consistency_lab.widgets import EXPLORERS, explore
from consistency_lab.widgets.timeline_explorer import TimelineExplorer, success_text
from explorer_moves import changed


@pytest.fixture(scope="module")
def explorer():
    return explore("timeline")


def test_registered_and_starts_at_the_end_of_a_converged_run(explorer):
    explorer.reset()
    assert EXPLORERS["timeline"] is TimelineExplorer and explorer.scrubber is not None
    m = explorer.result.metrics
    assert explorer.time == explorer.result.end_time
    assert m["events_lost"] > 0 and m["divergent_timelines_final"] == 0 and m["repairs"] > 0


def test_without_the_daemon_drift_stays_and_there_is_no_success_rate(explorer):
    before, off, drawn = changed(explorer, reconciliation=False)
    assert off.params["reconciliation"] == "off" and drawn
    assert off.metrics["divergent_timelines_final"] > 0 and off.metrics["repairs"] == 0
    assert explorer.metrics(off)["success"] == "no repairs" and "no repairs" in explorer.table.value
    assert explorer.controls["grace_ms"].disabled and explorer.controls["scan_interval_ms"].disabled
    assert success_text(before.metrics) == "100%"


def test_loss_interval_and_grace_reach_the_run(explorer):
    _b, lossless, drawn = changed(explorer, loss=0.0)
    assert lossless.metrics["events_lost"] == 0 and drawn
    _b, slow, drawn = changed(explorer, scan_interval_ms=2000)
    assert slow.metrics["convergence_bound_s"] == pytest.approx(6.0) and drawn  # 30 users / 10 per pass x 2 s
    before, graced, drawn = changed(explorer, grace_ms=1000, burst_posts=1000)
    explorer.set(grace_ms=0)
    assert graced.metrics["false_repairs"] < explorer.result.metrics["false_repairs"] and drawn
    assert graced.metrics["deferred"] > 0


def test_a_burst_and_an_outage_age_the_backlog(explorer):
    before, burst, drawn = changed(explorer, burst_posts=1500)
    assert burst.metrics["backlog_age_max_s"] > 1.0 > 10 * before.metrics["backlog_age_max_s"] and drawn
    _b, outage, drawn = changed(explorer, outage_ms=2000)
    assert outage.metrics["backlog_age_max_s"] == pytest.approx(2.0, abs=0.25) and drawn


def test_the_scrubber_replays_without_re_running(explorer):
    explorer.set(burst_posts=1500)
    run = explorer.result
    end_png = explorer.image.value
    explorer.scrub_to(4600)
    assert explorer.result is run and explorer.time == 4600 and explorer.image.value != end_png
    age = explorer._age.get_data()
    assert max(age[0]) <= 4.6 and max(age[1]) > 0.3  # the backlog has started to age, and nothing later is drawn
    assert explorer.divergent_at(run, 4600) > explorer.divergent_at(run, run.end_time) == 0
    explorer.scrub_to(0)
    assert explorer.image.value != end_png and len(explorer._rep.get_data()[0]) == 2  # no repair yet
    assert math.isnan(explorer.divergent_at(run, -1))


def test_bad_input_shows_a_red_error_in_the_widget():
    e = explore("timeline")
    e.run = lambda params: (_ for _ in ()).throw(ValueError("loss=2 must be a number between 0 and 1"))
    e.controls["loss"].value = 0.1
    assert e.error == "ValueError: loss=2 must be a number between 0 and 1"
    assert "color:#D55E00" in e.message.value


def test_the_time_axis_holds_across_seeds_and_fits_every_run(explorer):
    from consistency_lab.widgets.timeline_explorer import time_axis_end

    explorer.reset()
    full = explorer.live.full_redraws
    for seed in (1, 2, 3, 4):  # runs end at 10.0 or 10.1 s: one axis for all, so no full redraw
        explorer.set(seed=seed)
        end = explorer.live.fig.axes[0].get_xlim()[1]
        assert explorer.result.end_time / 1000 * 1.02 <= end <= explorer.result.end_time / 1000 * 1.3 + 1
    assert explorer.live.full_redraws == full
    assert time_axis_end(11.0, 10.1) == 11.0 and time_axis_end(11.0, 12.0) == 13.0
    assert time_axis_end(30.0, 10.0) == 11.0  # far too wide for this run: shrink
    with pytest.raises(ValueError, match="end_s=nan must be"):
        time_axis_end(11.0, math.nan)
    explorer.reset()


def test_a_burst_or_an_outage_is_shaded_without_redrawing_the_whole_figure(explorer):
    explorer.reset()
    full = explorer.live.full_redraws
    explorer.set(burst_posts=1000, outage_ms=1000)
    assert all(len(s.get_paths()) == 2 for s in explorer._spans)  # both windows shaded in every panel
    explorer.set(burst_posts=0, outage_ms=0)
    assert all(len(s.get_paths()) == 0 for s in explorer._spans)
    assert explorer.live.full_redraws == full
    explorer.reset()
