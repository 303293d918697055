"""Chapter 02's overload explorer, driven headless: every control reaches the simulation and the picture."""

import math

import pytest

from consistency_lab.widgets import EXPLORERS, explore
from consistency_lab.widgets.overload_explorer import CAPACITY_RPS, OverloadExplorer
from explorer_moves import changed


@pytest.fixture(scope="module")
def explorer():
    return explore("overload")


def test_registered_and_defaults_are_the_chapter_peak(explorer):
    assert EXPLORERS["overload"] is OverloadExplorer
    p = explorer.result.params
    assert p["rps"] == pytest.approx(0.9 * CAPACITY_RPS) and p["index_slowdown"] == 5.0 and p["retry"] == "none"
    assert explorer.result.stopped == ""
    assert explorer.image.value[:4] == b"\x89PNG"


def test_load_moves_success_and_latency(explorer):
    before, after, drawn = changed(explorer, load_pct=50, fault=False)
    assert after.params["rps"] == pytest.approx(0.5 * CAPACITY_RPS) and drawn
    assert after.metrics["success_rate"] == 1.0
    explorer.set(load_pct=140)
    assert explorer.result.metrics["success_rate"] < 0.9
    assert explorer.result.metrics["latency_p99_ms"] > 3 * after.metrics["latency_p99_ms"]


def test_retry_policies_reach_the_clients(explorer):
    before, immediate, drawn = changed(explorer, retry="immediate")
    # At the default peak every retry fails too: the success line stays, the store's queue grows.
    assert before.metrics["retries_sent"] == 0 < immediate.metrics["retries_sent"] and drawn
    assert "retries per request" in explorer.table.value
    explorer.controls["retry"].value = "budget"
    budget = explorer.result
    assert budget.params["retry"] == "backoff" and budget.params["retry_budget"] is True
    assert budget.metrics["retries_sent"] < immediate.metrics["retries_sent"] / 5
    assert explorer.metrics(budget)["retries_per_request"] == pytest.approx(
        budget.metrics["retries_sent"] / budget.metrics["requests"])


def test_retries_redraw_when_they_change_who_succeeds(explorer):
    # A client that gives up after 100 ms on a busy healthy store: each retry queues behind abandoned work.
    before, retried, drawn = changed(explorer, fault=False, load_pct=95, client_timeout_ms=100, retry="immediate")
    explorer.set(retry="none")
    assert retried.metrics["success_rate"] < explorer.result.metrics["success_rate"] - 0.2 and drawn


def test_the_fault_and_its_slowdown(explorer):
    before, healthy, drawn = changed(explorer, fault=False)
    assert healthy.params["index_slowdown"] == 1.0 and drawn
    assert healthy.metrics["success_rate"] > before.metrics["success_rate"]
    assert math.isnan(healthy.metrics["fault_success_rate"])
    assert explorer.controls["slowdown"].disabled and "healthy" in explorer.hints["slowdown"].value
    explorer.set(fault=True, slowdown=1.5)
    assert not explorer.controls["slowdown"].disabled
    assert explorer.result.params["index_slowdown"] == 1.5
    assert explorer.result.metrics["success_rate"] > before.metrics["success_rate"]


def test_shedding_refuses_early_and_saves_the_requests_after_the_fault(explorer):
    before, shed, drawn = changed(explorer, shedding="deadline")
    assert before.metrics["store_shed"] == 0 < shed.metrics["store_shed"] and drawn
    assert shed.metrics["success_rate"] > before.metrics["success_rate"] + 0.2
    assert shed.metrics["wasted_share"] < before.metrics["wasted_share"]


def test_the_breaker_opens_and_fails_fast(explorer):
    before, broken, drawn = changed(explorer, retry="immediate", breaker=True)
    assert broken.params["breaker"] is True and drawn
    assert broken.metrics["breaker_trips"] > 0 and broken.metrics["breaker_rejections"] > 0
    explorer.set(fault=False, load_pct=50)
    assert "never opened" in explorer.hints["breaker"].value


def test_client_timeout_reaches_the_client(explorer):
    before, short, drawn = changed(explorer, client_timeout_ms=100, fault=False, load_pct=95)
    assert short.params["client_timeout_ms"] == 100.0 and drawn
    explorer.set(client_timeout_ms=1000)
    # A 100 ms patience fails requests the store answers within the tiers' timeouts.
    assert short.metrics["failed_timeout"] > 0 == explorer.result.metrics["failed_timeout"]
    assert short.metrics["success_rate"] < explorer.result.metrics["success_rate"] == 1.0


def test_seed_changes_the_run(explorer):
    explorer.reset()
    digest = explorer.result.trace_digest
    explorer.controls["seed"].value = 7
    assert explorer.result.trace_digest != digest


def test_bad_input_shows_a_red_error_in_the_widget():
    e = explore("overload")
    e.run = lambda params: (_ for _ in ()).throw(ValueError("rps=-1 must be a number between 1 and 100000"))
    e.controls["load_pct"].value = 60
    assert e.error == "ValueError: rps=-1 must be a number between 1 and 100000"
    assert "color:#D55E00" in e.message.value and "Cannot run this" in e.message.value


def test_render_draws_the_same_figure_from_scratch(explorer):
    from matplotlib.figure import Figure

    explorer.reset()
    fig = Figure()
    explorer.render(explorer.result, fig)
    assert len(fig.axes) == 3
    for ax in fig.axes:
        assert ax.get_legend() is not None and ax.get_title() and ax.get_xlabel() == "time (ms)" and ax.get_ylabel()
    assert fig.axes[2].get_yscale() == "log"
    # The queue panel is where retries show even when no extra request succeeds.
    explorer.set(retry="immediate")
    stormy = max(q for _t, q, _b in explorer.result.samples)
    explorer.set(retry="none")
    assert stormy > 2 * max(q for _t, q, _b in explorer.result.samples)


def test_switching_the_fault_shades_it_without_redrawing_the_whole_figure(explorer):
    explorer.reset()
    full = explorer.live.full_redraws
    explorer.controls["fault"].value = False
    assert not any(s.get_visible() for s in explorer._spans) and explorer._legends["healthy"].get_visible()
    explorer.controls["fault"].value = True
    assert all(s.get_visible() for s in explorer._spans) and explorer._legends["fault"].get_visible()
    assert explorer.live.full_redraws == full  # the spans are painted over the cached background
    explorer.reset()
