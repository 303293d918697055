"""Every figure states what it shows: a title, axis labels with units, and a legend; the core stays light."""

import subprocess
import sys

import pytest

from consistency_lab import simulate
from consistency_lab.check import check_operations, register_model
from consistency_lab.pbs import t_visibility_curve
from consistency_lab.plots import plot_history
from consistency_lab.plots.handler_plots import plot_memory, plot_wrong_per_seed
from consistency_lab.plots.lineage_plot import plot_lineage
from consistency_lab.plots.pbs_plots import plot_t_visibility
from consistency_lab.plots.raft_plots import plot_election_cdfs
from consistency_lab.plots.register_plots import plot_latency_cdf, plot_replica_values, plot_stale_vs_age
from consistency_lab.plots.spacetime import plot_spacetime
from consistency_lab.plots.tickets_plots import plot_outcomes, plot_seats

RUN = simulate("register", seed=1, mode="async", faults="A|B@100-400;crash:r1@200-300", clients=2, operations=10,
               loss=0.1, duplicate=0.2)
SMALL = simulate("register", seed=0, mode="async", clients=2, operations=8, read_ratio=0.6)
TICKETS = simulate("tickets", seed=1, inventory="eventual")
TIMELINE = simulate("timeline", seed=1)

FIGURES = {
    "spacetime": lambda: plot_spacetime(RUN.trace, end=500),
    "latency cdf": lambda: plot_latency_cdf({"async": [op.latency for op in RUN.history]}),
    "stale vs age": lambda: plot_stale_vs_age({"async": RUN}),
    "replica values": lambda: plot_replica_values(RUN),
    "t-visibility": lambda: plot_t_visibility({"LNKD-SSD": ([0, 1, 10], t_visibility_curve("LNKD-SSD", 3, 1, 1,
                                                                                             [0, 1, 10], 100))}),
    "history": lambda: plot_history(SMALL.history.checkable(),
                                    check_operations(register_model(), SMALL.history.checkable())),
    "seats": lambda: plot_seats(TICKETS),
    "outcomes": lambda: plot_outcomes(TICKETS),
    "wrong per seed": lambda: plot_wrong_per_seed({"naive": [3, 4], "versioned": [0, 0]}),
    "memory": lambda: plot_memory({"set": [1, 2, 3]}, capacity=2),
    "lineage": lambda: plot_lineage(TIMELINE.journey),
    "raft elections": lambda: plot_election_cdfs({"150-150": [float("inf")] * 3, "150-300": [160.0, 210.0, 400.0]},
                                                 {"12-24": [30.0, 41.0, float("inf")]}),
}


@pytest.mark.parametrize("name", sorted(FIGURES))
def test_figure_has_title_labels_with_units_and_legend(name):
    fig = FIGURES[name]()
    for ax in fig.axes:
        assert ax.get_title(), f"{name}: an axis has no title"
        assert ax.get_xlabel() and ax.get_ylabel(), f"{name}: unlabelled axis"
        assert ax.get_legend() is not None, f"{name}: no legend"
    xlabels = " ".join(ax.get_xlabel() for ax in fig.axes)
    if "time" in xlabels or "latency" in xlabels:
        assert "(ms)" in xlabels or "(s)" in xlabels, f"{name}: a time axis without its unit: {xlabels!r}"


def test_the_core_does_not_import_matplotlib_or_ipywidgets():
    code = ("import sys, consistency_lab, consistency_lab.check, consistency_lab.pbs, consistency_lab.scenarios;"
            "consistency_lab.simulate('register', seed=1); consistency_lab.simulate('tickets', seed=1);"
            "print(sorted(m for m in ('matplotlib', 'ipywidgets') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert out == "[]"


def test_history_labels_never_sit_across_a_bar_they_do_not_fit_in():
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    fig = FIGURES["history"]()
    canvas = FigureCanvasAgg(fig)
    canvas.draw()
    renderer = canvas.get_renderer()
    ax = fig.axes[0]
    bars = [p.get_window_extent(renderer) for p in ax.patches]
    assert ax.texts
    for t in ax.texts:
        box = t.get_window_extent(renderer)
        for bar in bars:
            inside = bar.x0 <= box.x0 and box.x1 <= bar.x1
            apart = box.x1 <= bar.x0 or bar.x1 <= box.x0 or box.y1 <= bar.y0 or bar.y1 <= box.y0
            assert inside or apart, f"label {t.get_text()!r} overlaps a bar it does not fit in"


def test_tickets_outcome_legend_has_a_swatch_per_colour():
    ax = FIGURES["outcomes"]().axes[0]
    colours = [p.get_facecolor() for p in ax.patches]
    assert [h.get_facecolor() for h in ax.get_legend().legend_handles] == colours
    assert len(set(colours)) == len(colours) > 1


def test_table_values_read_as_people_read_them_including_infinity():
    from consistency_lab.tables import format_value
    assert [format_value(v) for v in (3.0, 0.12345, 1234.5, float("nan"), float("inf"), -float("inf"))] \
        == ["3", "0.123", "1,234", "–", "∞", "−∞"]


def test_election_cdf_keeps_trials_without_a_leader_in_the_denominator():
    fig = plot_election_cdfs({"150-151": [200.0, float("inf")]}, {"12-24": [30.0, 40.0]})
    upper, lower = fig.axes
    (line,) = upper.get_lines()
    assert list(line.get_ydata()) == [50.0]  # one of two trials found a leader: the curve stops at 50 %
    assert "1 never" in upper.get_legend().get_texts()[0].get_text()
    assert upper.get_xscale() == "log" and list(lower.get_lines()[0].get_ydata()) == [50.0, 100.0]
