"""Chapter 07's logistics explorer, driven headless: every control reaches the simulation and the picture."""

import pytest

from consistency_lab.widgets import EXPLORERS, explore
from consistency_lab.widgets.logistics_explorer import RUN, LogisticsExplorer
from explorer_moves import changed


@pytest.fixture(scope="module")
def explorer():
    return explore("logistics")


def test_registered_and_defaults_are_orchestration_with_tracking_down(explorer):
    assert EXPLORERS["logistics"] is LogisticsExplorer
    p = explorer.result.params
    assert p["architecture"] == "orchestration" and p["outage_service"] == "tracking"
    assert p["duration_ms"] == RUN["duration_ms"] and explorer.result.stopped == ""
    assert explorer.result.metrics["scans_failed"] > 0  # the chain breaks with tracking down
    assert explorer.image.value[:4] == b"\x89PNG"


def test_architecture_moves_failures_into_lag(explorer):
    before, after, drawn = changed(explorer, architecture="choreography")
    assert drawn and after.params["architecture"] == "choreography"
    assert before.metrics["scan_success_rate"] < 1.0 == after.metrics["scan_success_rate"]
    assert after.metrics["read_lag_max_s"] >= 0.7  # tracking's view waited out the 800 ms outage


def test_load_queries_outage_length_and_projector_reach_the_run(explorer):
    _, after, drawn = changed(explorer, scan_rps=600)
    assert drawn and after.params["scan_rps"] == 600.0
    _, after, _ = changed(explorer, query_rps=0)
    assert after.metrics["queries"] == 0
    before, after, drawn = changed(explorer, outage_ms=300)
    assert drawn and after.params["outage_ms"] == 300.0
    assert 0 < after.metrics["scans_failed"] < before.metrics["scans_failed"]  # a shorter outage, fewer failures
    _, slow, _ = changed(explorer, architecture="cqrs", outage_service="none", projector_per_s=100)
    _, fast, _ = changed(explorer, architecture="cqrs", outage_service="none", projector_per_s=3000)
    assert slow.params["projector_ms"] == pytest.approx(10.0) and fast.params["projector_ms"] == pytest.approx(1 / 3)
    assert slow.metrics["read_lag_max_s"] > 3 * fast.metrics["read_lag_max_s"]


def test_controls_that_do_nothing_are_disabled_with_a_hint(explorer):
    explorer.reset()
    assert "projector_per_s" in explorer.disabled_controls(explorer.params())
    explorer.set(architecture="cqrs", outage_service="none")
    hints = explorer.disabled_controls(explorer.params())
    assert "projector_per_s" not in hints and hints["outage_ms"] == "no service is down"
    explorer.set(architecture="choreography", outage_service="projector")
    assert "no projector" in explorer.result_hints(explorer.result)["outage_service"]
    explorer.reset()
