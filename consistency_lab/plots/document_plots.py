"""Chapter 04's figures: each replica's document over time, and anomalies per session by strategy."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Optional, Sequence

from .style import OKABE_ITO, PALETTE, finish, new_figure, shade_windows

if TYPE_CHECKING:  # pragma: no cover
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

__all__ = ["STRATEGY_COLOURS", "REPLICA_COLOURS", "plot_replica_lengths", "plot_anomaly_bars", "cut_windows"]

#: The same strategy is the same colour in every figure of chapter 04.
STRATEGY_COLOURS = {"crdt": OKABE_ITO["bluish green"], "pycrdt": OKABE_ITO["sky blue"],
                    "lww": OKABE_ITO["vermillion"], "central": OKABE_ITO["blue"]}
#: Editors e0, e1, e2 and the central server.
REPLICA_COLOURS = {"e0": PALETTE[0], "e1": PALETTE[1], "e2": PALETTE[2], "server": OKABE_ITO["black"]}


def cut_windows(result: Any) -> list[tuple[float, float]]:
    """(start, end) in seconds of every cut-off in the run (drawn ones and those given as faults)."""
    return [(p.start / 1000.0, min(p.end, result.end_time) / 1000.0) for p in result.faults.partitions()]


def plot_replica_lengths(result: Any, ax: "Optional[Axes]" = None) -> "Figure":
    """Characters on each replica over time, with the cut-off windows shaded."""
    fig, ax = new_figure(8.0, 3.6, ax)
    shade_windows(ax, cut_windows(result), "someone cut off")
    for name, series in result.snapshots.items():
        ax.step([t / 1000.0 for t, _ in series], [len(text) for _, text in series], where="post",
                color=REPLICA_COLOURS.get(name, OKABE_ITO["grey"]), lw=2.2 if name == "server" else 1.4,
                label=name)
    finish(ax, f"Document length on each replica ({result.params['strategy']})", "virtual time (s)",
           "characters in the document", loc="upper left")
    return fig


def plot_anomaly_bars(rows: Sequence[dict], ax: "Optional[Axes]" = None, kind: str = "tickets") -> "Figure":
    """Mean ``kind`` per session for each strategy, one group of bars per (cut-offs, typing rate) setting."""
    fig, ax = new_figure(9.0, 3.8, ax)
    settings = sorted({(r["partitions_per_min"], r["keys_per_s"]) for r in rows})
    strategies = list(dict.fromkeys(r["strategy"] for r in rows))
    by = {(r["strategy"], r["partitions_per_min"], r["keys_per_s"]): r[kind] for r in rows}
    width = 0.8 / max(len(strategies), 1)
    for k, strategy in enumerate(strategies):
        xs = [i + (k - (len(strategies) - 1) / 2) * width for i in range(len(settings))]
        ax.bar(xs, [by.get((strategy, *s), 0.0) for s in settings], width, label=strategy,
               color=STRATEGY_COLOURS.get(strategy, OKABE_ITO["grey"]))
    ax.set_xticks(range(len(settings)), [f"{p:g} cuts/min\n{k:g} keys/s" for p, k in settings], fontsize="small")
    words = kind.replace("_", " ")
    finish(ax, f"{words[0].upper()}{words[1:]} per session (the same sessions for every strategy)",
           "setting (cut-offs per editor per minute, keystrokes per second per editor)",
           f"mean {words} per session (count)")
    return fig
