"""Appendix A1's explorer: edit a small history, see which consistency models it satisfies, witnesses drawn.

Also the two drawings the appendix uses: :func:`plot_model_map` (the map, each model
coloured by its verdict) and :func:`plot_witness` (the history, with the operations
that break one model outlined and numbered).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import ipywidgets as W

from ..check import IMPLIES, MAP_EDGES, MAP_LEVELS, ModelMap, parse_history_text, place_on_map
from ..check.separating import SEPARATING
from ..plots.style import OKABE_ITO
from .base import Explorer, dropdown

if TYPE_CHECKING:  # pragma: no cover
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

    from ..history import Operation

__all__ = ["HistoryExplorer", "HistoryMapResult", "plot_model_map", "plot_witness", "MAX_LINES"]

#: Longest history the explorer checks: the searches are exponential (that is the appendix's point).
MAX_LINES = 40

_COLOUR = {True: OKABE_ITO["bluish green"], False: OKABE_ITO["vermillion"], None: OKABE_ITO["grey"]}
_WORD = {True: "holds", False: "fails", None: "not judged"}

# Where each model sits on the drawn map (x from 0 to 1, y: strongest at the top).
_AT = {
    "linearizable": (0.6, 4), "sequential": (0.6, 3), "causal": (0.35, 2), "consistent prefix": (0.98, 2),
    "read-your-writes": (-0.08, 1), "monotonic reads": (0.3, 1), "monotonic writes": (0.68, 1),
    "writes-follow-reads": (1.06, 1), "eventual": (0.5, 0),
}
_SHORT = {"read-your-writes": "read-your-\nwrites", "monotonic reads": "monotonic\nreads",
          "monotonic writes": "monotonic\nwrites", "writes-follow-reads": "writes-\nfollow-reads",
          "consistent prefix": "consistent\nprefix"}


def plot_model_map(model_map: ModelMap | None = None, ax: Axes | None = None, title: str = "") -> Figure:
    """The map of models, each box coloured by whether ``model_map`` says it holds (grey boxes: no history)."""
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    from ..plots.style import new_figure

    fig, ax = new_figure(5.0, 4.0, ax)
    for strong, weak in MAP_EDGES:
        (x0, y0), (x1, y1) = _AT[strong], _AT[weak]
        ax.plot([x0, x1], [y0, y1], color=OKABE_ITO["black"], lw=1.0, zorder=1,
                linestyle="-" if (strong, weak) in IMPLIES else ":")
    for name in MAP_LEVELS:
        holds = model_map.holds(name) if model_map is not None else None
        x, y = _AT[name]
        ax.text(x, y, _SHORT.get(name, name), ha="center", va="center", fontsize=6.5, zorder=2,
                color="white" if holds is not None else OKABE_ITO["black"],
                bbox=dict(boxstyle="round,pad=0.3", facecolor=_COLOUR[holds] if model_map is not None else "white",
                          edgecolor=OKABE_ITO["black"], linewidth=0.8))
    ax.set_xlim(-0.3, 1.28)
    ax.set_ylim(-0.5, 4.5)
    ax.set_xticks([])
    ax.set_yticks([])
    ax.set_xlabel("models side by side (no unit)")
    ax.set_ylabel("weaker  ←  promise  →  stronger")
    handles = [Patch(facecolor=_COLOUR[v], edgecolor=OKABE_ITO["black"], label=_WORD[v]) for v in (True, False, None)]
    handles += [Line2D([], [], color=OKABE_ITO["black"], lw=1, label="implies (checked)"),
                Line2D([], [], color=OKABE_ITO["black"], lw=1, linestyle=":", label="weaker, no implication")]
    ax.legend(handles=handles, loc="upper left", fontsize=6, framealpha=1)
    ax.set_title(title or "the map of consistency models")
    return fig


def plot_witness(model_map: ModelMap, name: str, ax: Axes | None = None, title: str | None = None) -> Figure:
    """The history with ``name``'s verdict: the checker's own colouring for linearizable and sequential,
    otherwise the bad pattern's operations outlined in red and numbered in the order its reason names them."""
    from matplotlib.patches import Patch, Rectangle

    from ..plots.history_plot import plot_history

    model_map.holds(name)  # validates the name
    res = model_map.results.get(name)
    holds = model_map.holds(name)
    head = title if title is not None else f"{name}: {_WORD[holds]}" + (
        f" ({res.pattern})" if holds is False and getattr(res, "pattern", "") else "")
    ops = model_map.ops
    if name in ("linearizable", "sequential") and res is not None:
        return plot_history(ops, res, ax=ax, title=head)
    fig = plot_history(ops, None, ax=ax, title=head)
    ax = ax if ax is not None else fig.axes[0]
    try:
        clients = sorted({op.client_id for op in ops})
    except TypeError:  # mixed id types: the plot keeps first-seen order
        clients = list(dict.fromkeys(op.client_id for op in ops))
    right = ax.get_xlim()[1]
    for k, op in enumerate(model_map.witness(name), 1):
        y = clients.index(op.client_id)
        end = right if op.pending else max(op.return_time, op.call + 0.004 * right)
        ax.add_patch(Rectangle((op.call, y - 0.36), end - op.call, 0.72, fill=False, zorder=5,
                               edgecolor=OKABE_ITO["vermillion"], linewidth=2.2))
        ax.text(op.call, y - 0.4, f"{k}", ha="left", va="bottom", fontsize=8, fontweight="bold",
                color=OKABE_ITO["vermillion"], zorder=6)
    legend = ax.get_legend()
    handles = list(legend.legend_handles) if legend is not None else []
    if model_map.witness(name):
        handles.append(Patch(facecolor="white", edgecolor=OKABE_ITO["vermillion"], linewidth=2,
                             label="witness (numbered)"))
    ax.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8, frameon=False)
    return fig


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
        """Parse the text and place it on the map (each search limited to 2 s)."""
        text = params["history"]
        lines = [ln for ln in text.splitlines() if ln.split("#", 1)[0].strip()]
        if len(lines) > MAX_LINES:
            raise ValueError(f"history has {len(lines)} operations; at most {MAX_LINES} allowed (the searches "
                             "grow exponentially)")
        ops = parse_history_text(text)
        return HistoryMapResult(ops, place_on_map(ops, timeout=2.0), params["witness"], text)

    def setup(self, live) -> None:
        """Two panels: the map on the left, the history on the right."""
        gs = live.fig.add_gridspec(1, 2, width_ratios=[1.15, 1.75])
        self._map_ax = live.fig.add_subplot(gs[0])
        self._history_ax = live.fig.add_subplot(gs[1])

    def refresh(self, result: HistoryMapResult, live) -> Any:
        """Redraw only the panels whose content changed; the per-axes key tells the cache which."""
        key = {self._map_ax: result.text, self._history_ax: (result.text, result.shown)}
        drawn = getattr(self, "_drawn", {})
        if drawn.get(self._map_ax) != key[self._map_ax]:
            self._map_ax.cla()
            plot_model_map(result.map, ax=self._map_ax, title="where this history sits")
        if drawn.get(self._history_ax) != key[self._history_ax]:
            self._history_ax.cla()
            plot_witness(result.map, result.shown, ax=self._history_ax)
        self._drawn = dict(key)
        return key
