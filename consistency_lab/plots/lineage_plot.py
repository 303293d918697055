"""Lineage swimlanes: one event's journey across services, one lane per service."""

from __future__ import annotations

from typing import TYPE_CHECKING, Optional

from .style import OKABE_ITO, finish, new_figure

if TYPE_CHECKING:  # pragma: no cover
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

    from ..streams.lineage import Journey

__all__ = ["plot_lineage", "STEP_STYLE"]

#: Colour and marker of each lineage step.  Trouble (lost, dead-lettered) is vermillion,
#: repair is bluish green, ordinary progress is blue/sky blue, redelivery is orange.
STEP_STYLE: dict[str, tuple[str, str]] = {
    "written": (OKABE_ITO["black"], "s"),
    "published": (OKABE_ITO["blue"], "o"),
    "appended": (OKABE_ITO["sky blue"], "D"),
    "delivered": (OKABE_ITO["blue"], ">"),
    "redelivered": (OKABE_ITO["orange"], ">"),
    "retried": (OKABE_ITO["yellow"], "^"),
    "applied": (OKABE_ITO["bluish green"], "o"),
    "duplicate": (OKABE_ITO["orange"], "x"),
    "stale": (OKABE_ITO["grey"], "x"),
    "held": (OKABE_ITO["reddish purple"], "v"),
    "released": (OKABE_ITO["reddish purple"], "^"),
    "lost": (OKABE_ITO["vermillion"], "X"),
    "crashed": (OKABE_ITO["vermillion"], "*"),
    "dead_lettered": (OKABE_ITO["vermillion"], "P"),
    "repaired": (OKABE_ITO["bluish green"], "*"),
    "compensated": (OKABE_ITO["reddish purple"], "P"),
}
_OTHER = (OKABE_ITO["grey"], "o")


def plot_lineage(journey: "Journey", ax: "Optional[Axes]" = None, title: Optional[str] = None) -> "Figure":
    """Draw ``journey`` as swimlanes: services top to bottom, steps as markers along time.

    Steps of one event are joined by a thin line so the path across services reads
    left to right.  Time is in ms for journeys shorter than 5 s, else in seconds.
    """
    lanes = journey.services()
    fig, ax = new_figure(9, 1.2 + 0.5 * max(2, len(lanes)), ax)
    steps = journey.steps
    seconds = bool(steps) and steps[-1].time >= 5_000
    scale, unit = (1 / 1000.0, "s") if seconds else (1.0, "ms")
    y = {name: len(lanes) - 1 - i for i, name in enumerate(lanes)}

    # Steps at the same instant on the same lane (delivered + applied) are nudged apart vertically.
    stacked: dict[tuple[str, float], int] = {}
    ys = []
    for s in steps:
        k = stacked.get((s.service, s.time), 0)
        stacked[(s.service, s.time)] = k + 1
        ys.append(y[s.service] + 0.14 * k)
    paths: dict[str, list[tuple[float, float]]] = {}
    for s, sy in zip(steps, ys, strict=True):
        paths.setdefault(s.event_id, []).append((s.time * scale, sy))
    for points in paths.values():
        if len(points) > 1:
            px, py = zip(*points, strict=True)
            ax.plot(px, py, color=OKABE_ITO["grey"], lw=0.8, alpha=0.6, zorder=1)

    shown: set[str] = set()
    for s, sy in zip(steps, ys, strict=True):
        colour, marker = STEP_STYLE.get(s.step, _OTHER)
        label = s.step.replace("_", " ") if s.step not in shown else None
        shown.add(s.step)
        ax.scatter([s.time * scale], [sy], color=colour, marker=marker, s=70, zorder=3,
                   edgecolors="black" if marker not in ("x", "X", "|") else None, linewidths=0.4, label=label)

    ax.set_yticks(range(len(lanes)))
    ax.set_yticklabels(list(reversed(lanes)))
    ax.set_ylim(-0.6, max(len(lanes), 1) - 0.2)
    if not steps:
        ax.text(0.5, 0.5, "no lineage recorded for this event", transform=ax.transAxes, ha="center", va="center")
    if title is None:
        extra = len(paths) - 1
        title = f"Journey of event {journey.event_id}" + (f" (+{extra} caused events)" if extra > 0 else "")
    finish(ax, title, f"time ({unit})", "service", legend=bool(steps), loc="upper left",
           bbox_to_anchor=(1.01, 1.0), borderaxespad=0.0)
    return fig
