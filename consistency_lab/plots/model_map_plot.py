"""The map of consistency models and one model's witness on a history (appendix A1 and its explorer).

:func:`plot_model_map` draws the map, each model coloured by its verdict;
:func:`plot_witness` draws the history with the operations that break one model
outlined and numbered.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..check import IMPLIES, MAP_EDGES, MAP_LEVELS, ModelMap, describe_op
from .live import lean_axes
from .style import OKABE_ITO

if TYPE_CHECKING:  # pragma: no cover
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure
    from matplotlib.legend import Legend
    from matplotlib.text import Text

    from .live import LiveFigure

__all__ = ["plot_model_map", "plot_witness", "colour_box", "ModelMapView", "WitnessView"]

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
    from .style import new_figure

    fig, ax = new_figure(5.0, 4.0, ax)
    boxes = _draw_map(ax, title)
    for name, box in boxes.items():
        colour_box(box, model_map.holds(name) if model_map is not None else None, model_map is not None)
    return fig


def colour_box(box: Text, holds: bool | None, placed: bool = True) -> None:
    """Colour one model's box by its verdict (white with black words when no history is placed)."""
    box.set_color("white" if holds is not None else OKABE_ITO["black"])
    box.get_bbox_patch().set_facecolor(_COLOUR[holds] if placed else "white")


def _draw_map(ax: Axes, title: str) -> dict[str, Text]:
    """Edges, one box per model (uncoloured), labels, legend and title on ``ax``: the boxes by model name."""
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    for strong, weak in MAP_EDGES:
        (x0, y0), (x1, y1) = _AT[strong], _AT[weak]
        ax.plot([x0, x1], [y0, y1], color=OKABE_ITO["black"], lw=1.0, zorder=1,
                linestyle="-" if (strong, weak) in IMPLIES else ":")
    boxes = {}
    for name in MAP_LEVELS:
        x, y = _AT[name]
        boxes[name] = ax.text(x, y, _SHORT.get(name, name), ha="center", va="center", fontsize=6.5, zorder=2,
                              bbox=dict(boxstyle="round,pad=0.3", facecolor="white",
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
    return boxes


class ModelMapView:
    """The map built once on ``ax``; :meth:`show` only recolours the boxes, :attr:`legend` never changes."""

    def __init__(self, ax: Axes, title: str = "") -> None:
        self.ax = ax
        self.boxes = _draw_map(ax, title)
        self.legend = ax.get_legend()
        ax.set_title(ax.get_title(), y=1.0)  # no ticks above the map: skip the search for a title position

    def show(self, model_map: ModelMap | None) -> None:
        """Colour every box by ``model_map``'s verdicts (all white when it is None)."""
        for name, box in self.boxes.items():
            colour_box(box, model_map.holds(name) if model_map is not None else None, model_map is not None)


def plot_witness(model_map: ModelMap, name: str, ax: Axes | None = None, title: str | None = None) -> Figure:
    """The history with ``name``'s verdict: the checker's own colouring for linearizable and sequential,
    otherwise the bad pattern's operations outlined in red and numbered in the order its reason names them."""
    from .history_plot import plot_history

    head = title if title is not None else witness_title(model_map, name)
    res = model_map.results.get(name)
    if _own_colouring(model_map, name):
        return plot_history(model_map.ops, res, ax=ax, title=head)
    fig = plot_history(model_map.ops, None, ax=ax, title=head)
    ax = ax if ax is not None else fig.axes[0]
    _outline_witness(ax, model_map, name)
    legend = ax.get_legend()
    _witness_legend(ax, list(legend.legend_handles) if legend is not None else [], bool(model_map.witness(name)))
    return fig


def witness_title(model_map: ModelMap, name: str) -> str:
    """``name``'s verdict in words, with the bad pattern's name when it fails (e.g. "causal: fails (...)")."""
    holds = model_map.holds(name)  # validates the name
    res = model_map.results.get(name)
    return f"{name}: {_WORD[holds]}" + (f" ({res.pattern})" if holds is False and getattr(res, "pattern", "") else "")


def _own_colouring(model_map: ModelMap, name: str) -> bool:
    """Whether the checker's result colours the history itself (linearizable, sequential) instead of outlines."""
    model_map.holds(name)  # validates the name
    return name in ("linearizable", "sequential") and model_map.results.get(name) is not None


def _outline_witness(ax: Axes, model_map: ModelMap, name: str) -> list:
    """Outline the witness's operations in red and number them; returns the artists added."""
    from matplotlib.patches import Rectangle

    ops = model_map.ops
    try:
        clients = sorted({op.client_id for op in ops})
    except TypeError:  # mixed id types: the plot keeps first-seen order
        clients = list(dict.fromkeys(op.client_id for op in ops))
    right = ax.get_xlim()[1]
    added = []
    for k, op in enumerate(model_map.witness(name), 1):
        y = clients.index(op.client_id)
        end = right if op.pending else max(op.return_time, op.call + 0.004 * right)
        added.append(ax.add_patch(Rectangle((op.call, y - 0.36), end - op.call, 0.72, fill=False, zorder=5,
                                            edgecolor=OKABE_ITO["vermillion"], linewidth=2.2)))
        # The number names the operation too: in a long history its bar is too short for a label.
        left_half = op.call < (ax.get_xlim()[0] + right) / 2  # labels grow inwards, never over the legend
        added.append(ax.text(op.call if left_half else end, y - 0.4, f"{k}: {describe_op(op.input, op.output)}",
                             ha="left" if left_half else "right", va="bottom",
                             fontsize=7.5, fontweight="bold", color=OKABE_ITO["vermillion"], zorder=6,
                             bbox=dict(boxstyle="square,pad=0.1", facecolor="white", edgecolor="none", alpha=0.85)))
    return added


def _witness_legend(ax: Axes, handles: list, with_witness: bool) -> Legend:
    """The history's legend right of ``ax``, with an entry for the outlines when there are any."""
    from matplotlib.patches import Patch

    if with_witness:
        handles = [*handles, Patch(facecolor="white", edgecolor=OKABE_ITO["vermillion"], linewidth=2,
                                   label="witness (numbered)")]
    return ax.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8, frameon=False)


class WitnessView:
    """A history panel that shows one model's witness after another on the same axes, for a LiveFigure.

    The history's bars and labels are the static background; they are drawn again only for a
    new history or a change between the checker's own colouring (linearizable, sequential) and
    plain bars.  The title, the outlines and their numbers are dynamic artists and the legend an
    overlay, so moving between the other models repaints only those.  A new history removes the
    previous drawing's artists instead of clearing the axes: clearing throws away the axis
    ticks, and building them again costs more than the drawing.
    """

    def __init__(self, ax: Axes, live: LiveFigure) -> None:
        from matplotlib.transforms import ScaledTranslation

        self.ax, self.live = ax, live
        lean_axes(ax, "", y=False)  # the clients' ticks are fixed; the title is the dynamic text below
        # Where and how matplotlib puts a title (centred, 6 points above the axes), as a text that can change.
        offset = ScaledTranslation(0, 6 / 72, ax.figure.dpi_scale_trans)
        self.title = ax.text(0.5, 1.0, "", transform=ax.transAxes + offset, ha="center", va="baseline",
                             fontsize=ax.title.get_fontsize())
        live.dynamic(self.title)
        self._base: tuple = (None, None)
        self._handles: list = []
        self._outlines: list = []
        self.legend: Legend | None = None
        self._drawings = 0  # how many times the background was drawn: a legend belongs to one drawing
        self._legend_for: tuple = (None, None)

    def show(self, model_map: ModelMap, name: str) -> Any:
        """Draw ``model_map``'s history with ``name``'s verdict; returns what the static background shows."""
        from .history_plot import plot_history

        ax, live = self.ax, self.live
        own = _own_colouring(model_map, name)
        base = (model_map, name if own else None)
        if base[0] is not self._base[0] or base[1] != self._base[1]:
            for artist in (*self._outlines, *ax.patches, *ax.texts, *ax.lines, *ax.collections):
                if artist is not self.title:
                    live.forget(artist)
                    artist.remove()
            self._outlines = []
            ax.containers.clear()  # the bar containers of the previous drawing (their bars are gone)
            plot_history(model_map.ops, model_map.results.get(name) if own else None, ax=ax, title="")
            legend = ax.get_legend()
            self._handles = list(legend.legend_handles) if legend is not None else []
            if legend is not None:
                legend.remove()
            self._base = base
            self._drawings += 1
        for artist in self._outlines:
            live.forget(artist)
            artist.remove()
        self._outlines = [] if own else _outline_witness(ax, model_map, name)
        live.dynamic(*self._outlines)
        self.title.set_text(witness_title(model_map, name))
        wanted = (self._drawings, bool(self._outlines))
        if self._legend_for != wanted:
            if self.legend is not None:
                live.forget(self.legend)
                self.legend.remove()
            # Outside the axes, where a redraw of this axes alone would not blank it: an overlay is
            # painted over the background and rendered again only when its words change.
            self.legend = _witness_legend(ax, self._handles, bool(self._outlines))
            live.overlay(self.legend)
            self._legend_for = wanted
        return base[1]
