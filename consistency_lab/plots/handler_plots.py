"""Figures for the idempotency lab: wrong results per handler, and memory over a stream."""

from __future__ import annotations

from typing import TYPE_CHECKING, Mapping, Optional, Sequence

from .style import PALETTE, finish, new_figure

if TYPE_CHECKING:  # pragma: no cover
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

__all__ = ["plot_wrong_per_seed", "plot_memory"]


def plot_wrong_per_seed(results: Mapping[str, Sequence[int]], *, what: str = "carts wrong at checkout",
                        title: str = "Your handler against the exactly-once reference",
                        ax: "Optional[Axes]" = None) -> "Figure":
    """One bar per handler (mean over seeds) with each seed's count as a dot."""
    fig, ax = new_figure(7, 3.6, ax)
    for i, (label, counts) in enumerate(results.items()):
        counts = list(counts)
        mean = sum(counts) / len(counts) if counts else 0.0
        ax.bar(i, mean, color=PALETTE[i % len(PALETTE)], alpha=0.75, label=f"{label} (mean {mean:.1f})")
        ax.scatter([i] * len(counts), counts, color="black", s=10, zorder=3,
                   label="one seed" if i == 0 else None)
    ax.set_xticks(range(len(results)), list(results))
    finish(ax, title, "handler", what, loc="upper right")
    return fig


def plot_memory(series: Mapping[str, Sequence[int]], *, capacity: Optional[int] = None,
                title: str = "Dedupe memory over a long stream", ax: "Optional[Axes]" = None) -> "Figure":
    """Keys remembered after each delivery, one line per store."""
    fig, ax = new_figure(7, 3.6, ax)
    for i, (label, values) in enumerate(series.items()):
        ax.plot(range(1, len(values) + 1), list(values), color=PALETTE[i % len(PALETTE)], label=label)
    if capacity is not None:
        ax.axhline(capacity, color="#555555", ls=":", label=f"capacity = {capacity}")
    finish(ax, title, "deliveries handled", "keys remembered", loc="upper left")
    return fig
