"""Figures for "how eventual is eventual": t-visibility curves."""

from __future__ import annotations

from typing import TYPE_CHECKING, Mapping, Optional, Sequence

from .style import PALETTE, finish, new_figure

if TYPE_CHECKING:  # pragma: no cover
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

__all__ = ["plot_t_visibility"]


def plot_t_visibility(curves: Mapping[str, tuple[Sequence[float], Sequence[float]]], *,
                      title: str = "Chance a read sees the latest write", log: bool = True,
                      threshold_ms: Optional[float] = None, ax: "Optional[Axes]" = None) -> "Figure":
    """One line per configuration: P(consistent read) against ms since the write committed."""
    fig, ax = new_figure(7, 4, ax)
    for i, (label, (ts, ps)) in enumerate(curves.items()):
        ax.plot(list(ts), ps, marker=".", color=PALETTE[i % len(PALETTE)], label=label)
    if threshold_ms is not None:
        ax.axvline(threshold_ms, color="#555555", ls=":", label=f"{threshold_ms:g} ms")
    if log:
        # Linear below 1 ms so t = 0 sits on the axis, logarithmic above it.
        ax.set_xscale("symlog", linthresh=1.0)
        ax.set_xlim(left=0)
    ax.set_ylim(-0.02, 1.02)
    finish(ax, title, "time since the write committed (ms)", "probability the read is consistent",
           loc="lower right")
    return fig
