"""Chapter 07's figures: each has a title, labelled axes with units and a legend, from real results."""

import pytest

from consistency_lab import simulate
from consistency_lab.plots.logistics_plots import (plot_lag_against_rate, plot_load_sweep, plot_projection_lag,
                                                   plot_read_lag, plot_scan_latency, plot_speedups)
from consistency_lab.real.analytics_sqlite import AnalyticsTiming
from consistency_lab.scenarios.logistics_compare import load_sweep


@pytest.fixture(scope="module")
def down():
    return simulate("logistics", 1, architecture="choreography", outage_service="tracking", duration_ms=800.0,
                    outage_start_ms=200.0, outage_ms=300.0)


def _labelled(fig):
    ax = fig.axes[0]
    assert ax.get_title() and ax.get_xlabel() and ax.get_ylabel()
    assert "(" in ax.get_xlabel() or "shape" in ax.get_xlabel()  # a unit, or a category axis
    assert ax.get_legend() is not None and ax.get_legend().get_texts()
    return ax


def test_timelines_shade_the_outage(down):
    ax = _labelled(plot_scan_latency(down))
    assert "tracking down" in [t.get_text() for t in ax.get_legend().get_texts()]
    ax = _labelled(plot_read_lag(down))
    assert max(ax.lines[1].get_ydata()) >= 0.25  # tracking's backlog aged through the 300 ms outage


def test_sweep_speedups_and_lag_figures():
    rows = load_sweep((200.0, 400.0), 0, architectures=("orchestration", "cqrs"), duration_ms=200.0)
    ax = _labelled(plot_load_sweep(rows))
    assert len(ax.lines) == 2
    timings = [AnalyticsTiming(n, q, 2.0, 2.0, 1.0, 0.5, 3) for n in (10, 20) for q in ("daily_counts", "lookup")]
    ax = _labelled(plot_speedups(timings))
    assert [p.get_height() for p in ax.patches] == [4.0, 4.0, 4.0, 4.0]
    lag = simulate("logistics_lag", 0, duration_s=120.0, peak_start_s=10.0, peak_s=60.0, tolerance_s=5.0,
                   write_rate_per_s=5.0)
    _labelled(plot_projection_lag(lag))
    _labelled(plot_lag_against_rate([(1.0, 2.0), (3.0, 300.0)], 120.0, estimate=2.5))
