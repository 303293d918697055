"""Space–time diagrams: one lane per node, one arrow per message, faults drawn in."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Iterable, Optional, Sequence

from .style import OKABE_ITO, finish, new_figure

if TYPE_CHECKING:  # pragma: no cover
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

    from ..sim import TraceEvent

__all__ = ["plot_spacetime"]

_CLIENT_KINDS = ("ClientWrite", "ClientRead", "WriteOk", "ReadOk", "Refused", "Redirect")


def _lanes(trace: Sequence["TraceEvent"], nodes: Optional[Sequence[str]]) -> list[str]:
    if nodes is not None:
        return list(nodes)
    seen: dict[str, None] = {}
    for e in trace:
        for n in (e.src, e.dst):
            if n:
                seen.setdefault(n, None)
    # Clients on top, replicas below, each in name order: reads like a textbook figure.
    return sorted(seen, key=lambda n: (not n.startswith("c"), len(n), n))


def plot_spacetime(trace: Sequence["TraceEvent"], *, nodes: Optional[Sequence[str]] = None,
                   start: float = 0.0, end: Optional[float] = None,
                   hide: Iterable[str] = ("Heartbeat", "Gossip"), title: str = "Messages over time",
                   ax: "Optional[Axes]" = None) -> "Figure":
    """Draw every message sent in [start, end] ms as an arrow from sender to receiver.

    Client traffic is blue, replication traffic orange; dropped messages end in a red
    cross half-way, duplicates are dashed; partitions are shaded and crashes drawn as
    a thick grey bar on the crashed node's lane.  ``hide`` leaves out message types
    (heartbeats would drown everything else).
    """
    from matplotlib.collections import LineCollection
    from matplotlib.lines import Line2D

    hidden = set(hide)
    if end is None:
        end = max((e.time for e in trace), default=start + 1.0)
    lanes = _lanes(trace, nodes)
    y = {n: i for i, n in enumerate(reversed(lanes))}
    fig, ax = new_figure(9, 0.5 + 0.45 * max(3, len(lanes)), ax)

    sent: dict[int, "TraceEvent"] = {}
    delivered: set[int] = set()
    client_lines, repl_lines, dup_lines, drops = [], [], [], []
    partitions: list[list[float]] = []
    crashes: dict[str, list[float]] = {}
    for e in trace:
        if e.kind == "send":
            sent[e.msg_id] = e
        elif e.kind in ("deliver", "drop") and e.msg_id in sent:
            s = sent[e.msg_id]
            if s.what in hidden or s.src not in y or s.dst not in y or not (start <= s.time <= end):
                continue
            if e.kind == "drop":
                t_mid = s.time + (2.0 if e.detail == "partition" and e.time == s.time else e.time - s.time) / 2
                drops.append((t_mid, (y[s.src] + y[s.dst]) / 2))
                (client_lines if s.what in _CLIENT_KINDS else repl_lines).append(
                    [(s.time, y[s.src]), drops[-1]])
                continue
            seg = [(s.time, y[s.src]), (e.time, y[s.dst])]
            if e.msg_id in delivered:
                dup_lines.append(seg)  # the second copy of a duplicated message
            else:
                delivered.add(e.msg_id)
                (client_lines if s.what in _CLIENT_KINDS else repl_lines).append(seg)
        elif e.kind == "partition":
            partitions.append([e.time, math.inf])
        elif e.kind == "heal" and partitions:
            open_ = [p for p in partitions if p[1] == math.inf]
            if open_:
                open_[0][1] = e.time
        elif e.kind == "crash":
            crashes.setdefault(e.src, []).append(e.time)
        elif e.kind == "restart" and e.src in crashes:
            crashes[e.src].append(e.time)

    ax.add_collection(LineCollection(client_lines, colors=OKABE_ITO["blue"], linewidths=1.2,
                                     label="client request / reply"))
    ax.add_collection(LineCollection(repl_lines, colors=OKABE_ITO["orange"], linewidths=1.0,
                                     label="replica to replica"))
    if dup_lines:
        ax.add_collection(LineCollection(dup_lines, colors=OKABE_ITO["reddish purple"], linewidths=1.0,
                                         linestyles="dashed", label="duplicate delivery"))
    if drops:
        xs, ys = zip(*drops)
        ax.scatter(xs, ys, marker="x", s=40, color=OKABE_ITO["vermillion"], zorder=3, label="dropped")
    for i, (a, b) in enumerate(partitions):
        ax.axvspan(max(a, start), min(b, end), color=OKABE_ITO["grey"], alpha=0.15, lw=0,
                   label="partition" if i == 0 else None)
    first = True
    for node, times in crashes.items():
        if node not in y:
            continue
        for k in range(0, len(times), 2):
            a = times[k]
            b = times[k + 1] if k + 1 < len(times) else end
            ax.plot([max(a, start), min(b, end)], [y[node], y[node]], lw=6, color=OKABE_ITO["black"],
                    alpha=0.35, solid_capstyle="butt", label="node down" if first else None)
            first = False
    for i in y.values():
        ax.axhline(i, color="#dddddd", lw=0.8, zorder=0)
    ax.set_yticks(list(y.values()), list(y.keys()))
    ax.set_xlim(start, end)
    ax.set_ylim(-0.5, len(lanes) - 0.5)
    finish(ax, title, "virtual time (ms)", "node", loc="upper left", bbox_to_anchor=(1.01, 1.0))
    if not client_lines and not repl_lines:
        ax.legend(handles=[Line2D([], [], color=OKABE_ITO["blue"], label="no messages in window")])
    return fig
