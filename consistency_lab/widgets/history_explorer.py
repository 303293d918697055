"""Appendix A1's explorer: edit a small history, see which consistency models it satisfies, witnesses drawn.

The drawings are :mod:`consistency_lab.plots.model_map_plot`'s: the map is built once and
redrawn only when the verdicts change; the history's bars are drawn again only for a new
history or when the checker's colouring (linearizable, sequential) comes or goes, while the
witness's title, outlines and legend are repainted over them; the text is checked again only
when it changes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import ipywidgets as W

from ..check import MAP_LEVELS, ModelMap, parse_history_text, place_on_map
from ..check.separating import SEPARATING
from .base import Explorer, dropdown

if TYPE_CHECKING:  # pragma: no cover
    from ..history import Operation

__all__ = ["HistoryExplorer", "HistoryMapResult", "MAX_LINES"]

#: Longest history the explorer checks: the searches are exponential (that is the appendix's point).
MAX_LINES = 40

@dataclass
class HistoryMapResult:
    """The parsed history, its place on the map, and which model's witness is shown."""

    ops: list[Operation]
    map: ModelMap
    shown: str
    text: str

    @property
    def metrics(self) -> dict[str, Any]:
        """Each model on the map: True, False or None (not judged)."""
        return {name: self.map.holds(name) for name in MAP_LEVELS}


_START = SEPARATING[("sequential", "causal")].text


class HistoryExplorer(Explorer):
    """Type a history, one operation a line; see which models it satisfies and one model's witness."""

    title = "Which consistency models does this history satisfy?"
    metric_labels = {name: (name, "yes/no") for name in MAP_LEVELS}
    shown_metrics = list(MAP_LEVELS)
    figsize = (11.0, 4.2)
    margins = dict(left=0.03, right=0.83, bottom=0.13, top=0.9, wspace=0.12)

    def make_controls(self) -> dict:
        """The history as text (one operation a line) and the model whose witness is drawn."""
        text = W.Textarea(value=_START, layout=W.Layout(width="360px", height="150px"), continuous_update=False)
        text._explorer_label = "history: one operation a line"
        text.tooltip = "e.g. c1 write x 1 @0-2, c2 read x -> 1 @3-4, c3 write x 2 @5-? (pending)"
        return {"history": text, "witness": dropdown("sequential", list(MAP_LEVELS), "draw the verdict of")}

    def run(self, params: dict) -> HistoryMapResult:
        """Parse the text and place it on the map (each search limited to 2 s); an unchanged text is not re-checked."""
        text = params["history"]
        checked = getattr(self, "_checked", None)
        if checked is None or checked[0] != text:
            lines = [ln for ln in text.splitlines() if ln.split("#", 1)[0].strip()]
            if len(lines) > MAX_LINES:
                raise ValueError(f"history has {len(lines)} operations; at most {MAX_LINES} allowed (the searches "
                                 "grow exponentially)")
            ops = parse_history_text(text)
            # Only the text decides the verdicts: a new witness choice reuses them.
            checked = self._checked = (text, ops, place_on_map(ops, timeout=2.0))
        return HistoryMapResult(checked[1], checked[2], params["witness"], text)

    def setup(self, live) -> None:
        """Two panels: the map on the left (built once), the history on the right."""
        from ..plots.model_map_plot import ModelMapView, WitnessView

        gs = live.fig.add_gridspec(1, 2, width_ratios=[1.15, 1.75])
        self._map_ax = live.fig.add_subplot(gs[0])
        self._history_ax = live.fig.add_subplot(gs[1])
        self._map = ModelMapView(self._map_ax, title="where this history sits")
        self.witness_view = WitnessView(self._history_ax, live)
        live.overlay(self._map.legend)  # rendered once and pasted: a redraw of the map skips its texts
        self._verdicts: Any = None

    def refresh(self, result: HistoryMapResult, live) -> Any:
        """Recolour the map and redraw the history panel, each only when what it shows changed.

        The per-axes key tells the cache which panel to redraw: the map's is its verdicts (an edit
        that keeps them leaves the map alone), the history panel's the text and whether the checker
        colours the bars; outlines, numbers and the title are dynamic.
        """
        verdicts = tuple(result.metrics.values())
        if verdicts != self._verdicts:
            self._map.show(result.map)
            self._verdicts = verdicts
        colouring = self.witness_view.show(result.map, result.shown)
        return {self._map_ax: verdicts, self._history_ax: (result.text, colouring)}
