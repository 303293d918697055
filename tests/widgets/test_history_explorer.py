"""The history explorer: edit the text, pick a model, see verdicts and the witness drawn."""

from explorer_moves import changed

from consistency_lab.check import MAP_LEVELS, parse_history_text, place_on_map
from consistency_lab.check.separating import SEPARATING
from consistency_lab.plots.model_map_plot import plot_model_map, plot_witness
from consistency_lab.widgets import EXPLORERS, explore


def test_starts_on_a_history_that_is_causal_but_not_sequential():
    e = explore("history")
    assert e.error is None and set(e.result.metrics) == set(MAP_LEVELS)
    assert e.result.metrics["causal"] is True and e.result.metrics["sequential"] is False
    assert EXPLORERS["history"] is type(e)


def test_editing_the_text_moves_the_history_on_the_map():
    e = explore("history")
    before, after, redrawn = changed(e, history="c1 write x 1 @0-1\nc2 read x -> nil @2-3")
    assert redrawn and before.metrics["linearizable"] is False
    assert after.metrics["sequential"] is True and after.metrics["linearizable"] is False
    assert "no" in e.table.value and "yes" in e.table.value


def test_the_witness_choice_redraws_only_the_history_panel():
    e = explore("history")
    partial = e.live.partial_redraws
    _, after, redrawn = changed(e, witness="eventual")
    assert redrawn and after.shown == "eventual" and e.live.partial_redraws > partial
    assert e.witness_view.title.get_text() == "eventual: fails (DivergentFinalReads)"
    outlined = [p for p in e.live.fig.axes[1].patches if not p.get_fill()]
    assert len(outlined) == 2  # the two final reads that disagree


def test_moving_between_outlined_models_repaints_only_title_outlines_and_legend():
    e = explore("history", witness="eventual")
    full, partial = e.live.full_redraws, e.live.partial_redraws
    _, after, redrawn = changed(e, witness="causal")  # the start history is causal: no outlines
    assert redrawn and after.shown == "causal"
    assert (e.live.full_redraws, e.live.partial_redraws) == (full, partial)  # the bars were not drawn again
    assert e.witness_view.title.get_text() == "causal: holds"
    assert not [p for p in e.live.fig.axes[1].patches if not p.get_fill()]
    assert "witness (numbered)" not in [t.get_text() for t in e.witness_view.legend.get_texts()]
    changed(e, witness="eventual")
    assert len([p for p in e.live.fig.axes[1].patches if not p.get_fill()]) == 2
    assert "witness (numbered)" in [t.get_text() for t in e.witness_view.legend.get_texts()]


def test_a_bad_line_is_named_in_the_widget_not_raised():
    e = explore("history")
    e.controls["history"].value = "c1 write x 1 @0-2\nc2 reed x -> 1 @3-4"
    assert e.error.startswith("ValueError: line 2 'c2 reed x -> 1 @3-4' must look like one of")
    assert "Cannot run this" in e.message.value
    e.controls["history"].value = "\n".join(f"c{i} write x {i} @0-1" for i in range(41))
    assert "at most 40 allowed" in e.error


def test_plots_have_titles_labels_and_legends():
    m = place_on_map(SEPARATING[("causal", "monotonic reads")].ops)
    fig = plot_model_map(m)
    ax = fig.axes[0]
    assert ax.get_title() and ax.get_xlabel() and ax.get_ylabel() and ax.get_legend() is not None
    fig = plot_witness(m, "causal")
    ax = fig.axes[0]
    assert ax.get_title() == "causal: fails (WriteCOInitRead)" and ax.get_xlabel() == "time (ms)"
    assert "witness (numbered)" in [t.get_text() for t in ax.get_legend().get_texts()]
    lin = plot_witness(place_on_map(parse_history_text("c1 write x 1 @0-1")), "linearizable")
    assert lin.axes[0].get_title() == "linearizable: holds"
