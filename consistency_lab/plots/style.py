"""One look for every figure: the Okabe–Ito colour-blind-safe palette and small helpers."""

from __future__ import annotations

from typing import TYPE_CHECKING, Iterable, Optional

if TYPE_CHECKING:  # pragma: no cover
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

__all__ = ["OKABE_ITO", "PALETTE", "MODE_COLOURS", "new_figure", "finish", "shade_windows"]

OKABE_ITO = {
    "orange": "#E69F00",
    "sky blue": "#56B4E9",
    "bluish green": "#009E73",
    "yellow": "#F0E442",
    "blue": "#0072B2",
    "vermillion": "#D55E00",
    "reddish purple": "#CC79A7",
    "grey": "#999999",
    "black": "#000000",
}

#: Series colours in a fixed order (yellow last: weakest on white).
PALETTE = [OKABE_ITO[c] for c in ("blue", "orange", "bluish green", "vermillion", "reddish purple",
                                   "sky blue", "black", "yellow")]

#: The same replication mode is the same colour in every chapter.
MODE_COLOURS = {
    "sync": OKABE_ITO["blue"],
    "semi-sync": OKABE_ITO["sky blue"],
    "async": OKABE_ITO["orange"],
    "quorum": OKABE_ITO["bluish green"],
    "eventual": OKABE_ITO["orange"],
    "reservation": OKABE_ITO["blue"],
}


def new_figure(width: float = 8.0, height: float = 4.0, ax: "Optional[Axes]" = None) -> tuple["Figure", "Axes"]:
    """A figure not attached to pyplot (no global state, no memory leak in loops), or ``ax``'s."""
    if ax is not None:
        return ax.figure, ax
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), layout="constrained")
    return fig, fig.add_subplot()


def finish(ax: "Axes", title: str, xlabel: str, ylabel: str, legend: bool = True, **legend_kw) -> None:
    """Set the title and axis labels (with units) and draw the legend: every figure has all three."""
    ax.set_title(title)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.grid(True, alpha=0.25)
    if legend:
        handles, labels = ax.get_legend_handles_labels()
        if handles:
            ax.legend(**({"fontsize": "small", "framealpha": 0.9} | legend_kw))


def shade_windows(ax: "Axes", windows: Iterable[tuple[float, float]], label: str, colour: str = "#999999",
                  end: Optional[float] = None) -> None:
    """Shade time windows (partitions, crashes); one legend entry for all of them."""
    first = True
    for a, b in windows:
        if b == float("inf"):
            b = end if end is not None else a
        ax.axvspan(a, b, color=colour, alpha=0.15, label=label if first else None, lw=0)
        first = False
