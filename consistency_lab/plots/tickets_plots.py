"""Figures for the ticket sale: seats left over time, and how buyers' attempts ended."""

from __future__ import annotations

from typing import TYPE_CHECKING, Optional

from .style import OKABE_ITO, PALETTE, finish, new_figure

if TYPE_CHECKING:  # pragma: no cover
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

__all__ = ["plot_seats", "plot_outcomes", "OUTCOME_COLOURS"]

#: One colour per buyer outcome (the explorer and the static chart share it).
OUTCOME_COLOURS = {
    "sold": OKABE_ITO["bluish green"], "oversold": OKABE_ITO["vermillion"],
    "sold-out": OKABE_ITO["grey"], "failed-fast": OKABE_ITO["reddish purple"],
    "payment-failed": OKABE_ITO["orange"], "abandoned": OKABE_ITO["sky blue"],
    "expired": OKABE_ITO["yellow"], "failed": OKABE_ITO["black"],
}
_OUTCOME_COLOURS = OUTCOME_COLOURS  # the old private name


def _steps(ax, series, end, **kw) -> None:
    if not series:
        return
    xs = [t for t, _ in series] + [end]
    ys = [v for _, v in series] + [series[-1][1]]
    ax.step(xs, ys, where="post", **kw)


def plot_seats(result, *, title: Optional[str] = None, ax: "Optional[Axes]" = None) -> "Figure":
    """Seats left over time: the truth (black) against what each inventory node believes."""
    fig, ax = new_figure(7, 3.8, ax)
    for i, (node, series) in enumerate(sorted(result.seats_believed.items())):
        _steps(ax, series, result.end_time, color=PALETTE[(i + 1) % len(PALETTE)], lw=1.2,
               label=f"{node} believes")
    _steps(ax, result.seats_truth, result.end_time, color=OKABE_ITO["black"], lw=2.2, label="truth")
    ax.axhline(0, color=OKABE_ITO["vermillion"], ls=":", lw=1.2, label="sold out")
    mode = result.params["inventory"]
    finish(ax, title or f"Seats left ({mode} inventory)", "virtual time (ms)", "seats left (negative = oversold)",
           loc="upper right")
    return fig


def plot_outcomes(result, *, title: str = "How each buyer's attempt ended",
                  ax: "Optional[Axes]" = None) -> "Figure":
    """Horizontal bars: number of buyers per outcome; the legend has one swatch per bar colour."""
    from matplotlib.patches import Patch

    fig, ax = new_figure(5, 3.8, ax)
    counts = [(k, v) for k, v in result.outcome_counts().items() if v]
    labels = [k for k, _ in counts]
    colours = [OUTCOME_COLOURS.get(k, "#999999") for k in labels]
    ax.barh(labels, [v for _, v in counts], color=colours)
    ax.invert_yaxis()
    finish(ax, title, "buyers", "outcome", legend=False)
    # One handle per colour: a single "buyers" entry would show one swatch for several colours.
    ax.legend(handles=[Patch(color=c, label=f"{k} ({v})") for (k, v), c in zip(counts, colours)],
              loc="lower right", fontsize="small", framealpha=0.9)
    return fig
