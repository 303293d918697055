"""Chapter 11's commit explorer, driven headless: every control reaches the simulation and the picture."""

import pytest

from consistency_lab.widgets import EXPLORERS, explore
from consistency_lab.widgets.commit_explorer import WORKLOAD, CommitExplorer, outcomes
from explorer_moves import changed


@pytest.fixture(scope="module")
def explorer():
    return explore("commit")


def test_registered_and_defaults_are_2pc_crashing_after_prepare(explorer):
    assert EXPLORERS["commit"] is CommitExplorer
    p = explorer.result.params
    assert (p["protocol"], p["crash_point"], p["downtime_ms"], p["orders"]) == ("2pc", "after_prepare", 500.0,
                                                                                   WORKLOAD["orders"])
    assert explorer.result.stopped == "" and explorer.image.value[:4] == b"\x89PNG"
    assert explorer.result.metrics["in_doubt_max_ms"] > 450  # the downtime, less a prepare in flight at most


def test_protocol_switches_blocking_for_half_done_orders(explorer):
    before, saga, drawn = changed(explorer, protocol="saga")
    assert drawn and saga.params["protocol"] == "saga"
    assert before.metrics["partial_reads"] == 0 < before.metrics["blocked_reads"]
    assert saga.metrics["blocked_reads"] == 0 < saga.metrics["partial_reads"]
    assert explorer.controls["items"].disabled and "locks nothing" in explorer.hints["items"].value
    assert sum(outcomes(saga.metrics)) == WORKLOAD["orders"]  # the bars account for every order


def test_crash_point_and_downtime_move_the_in_doubt_time(explorer):
    _before, calm, drawn = changed(explorer, crash_point="none")
    assert drawn and calm.crash_window is None and calm.metrics["in_doubt_max_ms"] < 200
    assert explorer.controls["downtime_ms"].disabled
    explorer.set(crash_point="after_decision", downtime_ms=1500)
    long = explorer.result
    assert long.crash_window[1] - long.crash_window[0] == 1500 and long.metrics["in_doubt_max_ms"] > 1400
    assert not explorer.controls["downtime_ms"].disabled


def test_contention_and_declines_reach_the_run(explorer):
    _before, hot, drawn = changed(explorer, items=1)
    assert drawn and hot.params["items"] == 1
    explorer.set(items=50)
    assert hot.metrics["aborted"] > explorer.result.metrics["aborted"]
    _before, declines, drawn = changed(explorer, decline=0.3)
    assert drawn and declines.metrics["declined"] > 40
    assert declines.metrics["atomicity_violations"] == 0
