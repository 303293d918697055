"""Chapter 09's optimistic UI explorer, driven headless: every control reaches the simulation and the picture."""

import pytest

from consistency_lab.widgets import EXPLORERS, explore
from consistency_lab.widgets.optimistic_ui_explorer import WORKLOAD, OptimisticUIExplorer
from explorer_moves import changed


@pytest.fixture(scope="module")
def explorer():
    return explore("optimistic_ui")


def test_registered_with_the_chapter_defaults(explorer):
    assert EXPLORERS["optimistic_ui"] is OptimisticUIExplorer
    p = explorer.result.params
    assert p["optimistic"] is True and p["server_ms"] == 400.0 and p["messages"] == WORKLOAD["messages"]
    assert explorer.result.extra["other"].params["optimistic"] is False
    assert explorer.result.stopped == "" and explorer.image.value[:4] == b"\x89PNG"
    assert "cut in mean perceived latency" in explorer.table.value


def test_server_time_moves_confirmation_not_optimistic_feedback(explorer):
    before, after, drawn = changed(explorer, server_ms=1500)
    assert after.params["server_ms"] == 1500.0 and drawn
    assert after.metrics["confirmation_p50_ms"] > 2 * before.metrics["confirmation_p50_ms"]
    assert after.metrics["feedback_p50_ms"] == before.metrics["feedback_p50_ms"] == 16.0


def test_refusals_bring_rollbacks_and_shrink_the_cut(explorer):
    before, after, drawn = changed(explorer, refusal=0.5)
    assert after.params["refusal"] == 0.5 and drawn
    assert after.metrics["rollback_rate"] > 0.3 > before.metrics["rollback_rate"]
    assert explorer.metrics(after)["perceived_cut"] < explorer.metrics(before)["perceived_cut"]


def test_optimistic_off_waits_for_the_server(explorer):
    before, after, drawn = changed(explorer, optimistic=False)
    assert after.params["optimistic"] is False and after.extra["other"].params["optimistic"] is True and drawn
    assert after.metrics["rollbacks"] == 0
    assert after.metrics["feedback_p50_ms"] > 10 * before.metrics["feedback_p50_ms"]
    # The cut is the same comparison whichever mode is on screen.
    assert explorer.metrics(after)["perceived_cut"] == pytest.approx(explorer.metrics(before)["perceived_cut"])


def test_seed_changes_the_run(explorer):
    explorer.reset()
    a = explorer.result.trace_digest
    explorer.controls["seed"].value = 7
    assert explorer.result.trace_digest != a
