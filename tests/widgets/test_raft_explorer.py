"""The Raft explorer: every control reaches the run, the scrubber never re-runs, bad ranges stay in the widget."""

import math

import pytest

from consistency_lab.widgets import explore


@pytest.fixture(scope="module")
def raft():
    return explore("raft")


def test_defaults_elect_one_leader_and_stay_linearizable(raft):
    raft.reset()
    m = raft.result.metrics
    assert raft.error is None and m["leaders_elected"] >= 1 and m["one_leader_per_term"]
    assert m["linearizable"] is True and m["lost_acknowledged_writes"] == 0
    assert 0 < m["time_without_leader_ms"] < 400  # only the first election
    assert raft.time == raft.scrubber.max == math.ceil(raft.result.raft_timeline.end)


def test_timeouts_reach_the_servers(raft):
    raft.reset()
    default = raft.result.metrics
    # Timeouts barely above the 50 ms heartbeat and the 20-60 ms round trip: followers time out
    # before a heartbeat arrives, so elections keep interrupting each other.
    raft.set(timeout_min=50, timeout_max=60)
    assert (raft.result.params["election_timeout_min_ms"], raft.result.params["election_timeout_max_ms"]) == (50, 60)
    churn = raft.result.metrics
    assert churn["terms"] > 3 * default["terms"]
    assert churn["time_without_leader_ms"] > 5 * default["time_without_leader_ms"]
    assert churn["one_leader_per_term"]
    raft.set(timeout_min=400, timeout_max=600)
    slow = raft.result.metrics
    assert slow["time_without_leader_ms"] > default["time_without_leader_ms"] and slow["terms"] <= default["terms"]
    raft.reset()


def test_crashing_the_leader_forces_an_election(raft):
    raft.reset()
    calm = raft.result.metrics
    raft.controls["crash_at"].value = "1000"
    (crash,) = raft.result.faults.crashes()
    assert (crash.start, crash.end) == (1000.0, 2000.0)
    assert raft.result.raft_timeline.state_at(1000.0)[crash.node].role == "down"
    m = raft.result.metrics
    assert m["leaders_elected"] > calm["leaders_elected"] and m["terms"] > calm["terms"]
    assert m["time_without_leader_ms"] > calm["time_without_leader_ms"]
    assert m["linearizable"] and m["one_leader_per_term"] and m["lost_acknowledged_writes"] == 0
    raft.reset()


def test_cuts_when_and_how_long_and_loss(raft):
    raft.reset()
    assert raft.controls["cut_at"].disabled and "no cut" in raft.hints["cut_ms"].value
    raft.set(cut="isolate the leader", cut_at=1000, cut_ms=1200)
    (cut,) = raft.result.faults.partitions()
    assert len(cut.groups[0]) == 1 and (cut.start, cut.end) == (1000.0, 2200.0)
    assert not raft.controls["cut_at"].disabled
    assert raft.result.metrics["leaders_elected"] >= 2 and raft.result.metrics["one_leader_per_term"]
    raft.controls["cut"].value = "split 2|3"
    (cut,) = raft.result.faults.partitions()
    assert cut.groups == (("r0", "r1"), ("r2", "r3", "r4"))
    raft.controls["cut_at"].value = 500
    assert raft.result.faults.partitions()[0].start == 500.0
    raft.controls["cut_ms"].value = 300
    assert raft.result.faults.partitions()[0].end == 800.0
    raft.controls["loss"].value = 0.2
    assert raft.result.params["loss"] == 0.2 and raft.result.metrics["messages_dropped"] > 0
    assert raft.result.metrics["linearizable"] is not False
    raft.reset()


def test_seed_changes_the_run(raft):
    raft.reset()
    a = raft.result.trace_digest
    raft.controls["seed"].value = 5
    assert raft.result.trace_digest != a
    raft.reset()


def test_scrubbing_changes_the_image_not_the_result(raft):
    raft.reset()
    result, digest, image = raft.result, raft.result.trace_digest, raft.image.value
    raft.scrub_to(250)
    assert raft.result is result and raft.result.trace_digest == digest
    assert raft.image.value != image and raft.time == 250
    at_250 = raft.image.value
    raft.step_forward.click()
    assert raft.time == 250 + raft.scrubber.step and raft.image.value != at_250
    assert raft.result is result
    raft.scrub_to(250)
    assert raft.image.value == at_250  # the same moment is the same picture


def test_a_new_run_keeps_the_scrubbed_time(raft):
    raft.reset()
    raft.scrub_to(700)
    raft.controls["seed"].value = 3
    assert raft.time == 700 and raft.scrubber.max == math.ceil(raft.result.raft_timeline.end)
    raft.reset()


def test_timeout_max_below_min_is_a_red_message_not_a_traceback():
    e = explore("raft")
    before = e.result
    e.controls["timeout_max"].value = 100  # below the minimum of 150
    assert e.error == "ValueError: election_timeout_max_ms=100 must be >= election_timeout_min_ms=150"
    assert "color:#D55E00" in e.message.value and "Cannot run this" in e.message.value
    assert e.result is before  # the last good run stays on screen, and can still be scrubbed
    e.scrub_to(300)
    assert e.time == 300
    e.controls["timeout_max"].value = 300
    assert e.error is None and e.result is not before


def test_scrubbed_frames_match_a_full_redraw(raft):
    import io

    import numpy as np
    from PIL import Image

    def pixels(png):
        return np.asarray(Image.open(io.BytesIO(png)).convert("RGB")).astype(int)

    raft.reset()
    frames = raft.live.frames
    full = raft.live.full_redraws
    for t in (200, 1100, 2500):
        raft.scrub_to(t)
        cached, fresh = pixels(raft.image.value), pixels(raft.live.redraw_png())
        assert (np.abs(cached - fresh).max(axis=2) > 0).mean() < 0.005, t
    assert raft.live.frames == frames + 3 and raft.live.full_redraws == full  # the lanes were reused


def test_a_new_run_paints_its_lanes_over_a_shared_time_axis(raft):
    raft.reset()
    for seed in (1, 2, 3):
        raft.set(seed=seed)
        end, axis_end = raft.result.raft_timeline.end, raft.view.lanes.get_xlim()[1]
        assert end <= axis_end and end >= 0.6 * axis_end  # the run fills most of the axis
        assert all(a in raft.live._dynamic for a in raft.view.run_artists())  # this run's term labels too
    raft.reset()
