"""The map of consistency models and one model's witness on a history (appendix A1 and its explorer).

:func:`plot_model_map` draws the map, each model coloured by its verdict;
:func:`plot_witness` draws the history with the operations that break one model
outlined and numbered.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..check import IMPLIES, MAP_EDGES, MAP_LEVELS, ModelMap
from .live import lean_axes
from .style import OKABE_ITO

if TYPE_CHECKING:  # pragma: no cover
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure
    from matplotlib.legend import Legend
    from matplotlib.text import Text

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
    from matplotlib.patches import Patch, Rectangle

    from .history_plot import plot_history

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


class WitnessView:
    """A history panel that shows one model's witness after another on the same axes.

    Each :meth:`show` removes the previous drawing's artists instead of clearing the axes:
    clearing throws away the axis ticks, and building them again costs more than the drawing.
    """

    def __init__(self, ax: Axes) -> None:
        self.ax = ax

    def show(self, model_map: ModelMap, name: str) -> Legend | None:
        """Draw ``model_map``'s history with ``name``'s verdict (as :func:`plot_witness`); returns the new legend."""
        ax = self.ax
        for artist in (*ax.patches, *ax.texts, *ax.lines, *ax.collections):
            artist.remove()
        ax.containers.clear()  # the bar containers of the previous drawing (their bars are gone)
        if ax.get_legend() is not None:
            ax.get_legend().remove()
        plot_witness(model_map, name, ax=ax)
        lean_axes(ax, ax.get_title(), y=False)  # the clients' ticks stay; the title is not re-placed each time
        return ax.get_legend()
