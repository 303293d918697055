"""A RaftScope-style picture of one Raft run: lanes over time, and the cluster at one moment.

Top: a lane per server over the run's virtual time, its role as coloured bands (down:
grey, hatched), the term written in the band where it changes, the commit index as a
thin step line inside the lane, and a "now" line.  Bottom left: the servers on a ring
at the chosen moment, each box coloured by role with its term, and every peer message
on the wire then as a dot travelling along its link (requests solid, replies hollow
and dashed, copies the network will drop as grey crosses).  Bottom right: each
server's log at that moment, one cell per entry labelled with the entry's term,
committed entries filled.

:class:`RaftTimelineView` builds the artists once; ``show_run`` draws a run's lanes and
``show_time`` moves everything time-dependent, which is all a scrubber needs
(``widgets/raft_explorer.py``).  :func:`plot_raft_timeline` draws one picture from scratch.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any, Optional, Sequence

from .style import OKABE_ITO

if TYPE_CHECKING:  # pragma: no cover
    from matplotlib.figure import Figure

__all__ = ["RaftTimelineView", "plot_raft_timeline", "ROLE_COLOURS", "MESSAGE_COLOURS", "LOG_WINDOW"]

ROLE_COLOURS = {
    "follower": "#CFE3F1",  # a pale sky blue: the quiet default
    "candidate": OKABE_ITO["orange"],
    "leader": OKABE_ITO["blue"],
    "down": "#BBBBBB",
}
MESSAGE_COLOURS = {
    "RequestVote": OKABE_ITO["vermillion"],
    "VoteReply": OKABE_ITO["vermillion"],
    "AppendEntries": OKABE_ITO["bluish green"],
    "AppendReply": OKABE_ITO["bluish green"],
}
REPLIES = ("VoteReply", "AppendReply")
#: Log entries shown per server (the newest ones; every server shows the same indexes).
LOG_WINDOW = 16
COMMITTED = "#9AD3BF"  # filled cell: a committed entry
DROPPED = "#888888"
LANE_HEIGHT = 0.72


def _text_colour(role: str) -> str:
    return "white" if role in ("leader",) else "black"


class RaftTimelineView:
    """The three panels of a Raft run, built once in ``fig`` for ``servers``; update with ``show_*``."""

    def __init__(self, fig: "Figure", servers: Sequence[str], log_window: int = LOG_WINDOW) -> None:
        import numpy as np
        from matplotlib.collections import LineCollection, PolyCollection
        from matplotlib.lines import Line2D
        from matplotlib.patches import FancyBboxPatch, Patch

        self.fig = fig
        self.servers = tuple(servers)
        n = len(self.servers)
        if n < 1:
            raise ValueError("servers=() must name at least one server")
        self.window = log_window
        self.lane_y = {s: n - 1 - i for i, s in enumerate(self.servers)}  # r0 on top

        # -- lanes over time ------------------------------------------------------
        lanes = fig.add_axes((0.07, 0.60, 0.91, 0.29))
        lanes.set_ylim(-0.5, n - 0.5)
        lanes.set_yticks(range(n), [self.servers[n - 1 - y] for y in range(n)])
        lanes.set_xlabel("virtual time (ms)", labelpad=1)
        lanes.set_ylabel("server")
        lanes.set_title("Each server over time: role, term (t…), commit index (black step)", fontsize="medium",
                        y=1.0)
        lanes.grid(True, axis="x", alpha=0.25)
        # Grid lines beneath the bands, so a figure drawn at once and one whose bands are painted
        # over a cached background (the explorer) look the same.
        lanes.set_axisbelow(True)
        self.lanes = lanes
        self._bands = PolyCollection([], linewidths=0)
        self._down = PolyCollection([], facecolors=ROLE_COLOURS["down"], edgecolors="#777777", hatch="////",
                                    linewidths=0)
        lanes.add_collection(self._bands, autolim=False)
        lanes.add_collection(self._down, autolim=False)
        self._commit = LineCollection([], colors="black", linewidths=0.9)
        lanes.add_collection(self._commit, autolim=False)
        self._cuts = PolyCollection([], facecolors=OKABE_ITO["vermillion"], alpha=0.12, linewidths=0,
                                    transform=lanes.get_xaxis_transform())
        lanes.add_collection(self._cuts, autolim=False)
        self._terms: list[Any] = []
        self.now_line = lanes.axvline(0.0, color=OKABE_ITO["vermillion"], lw=1.4, zorder=5)

        # -- the ring at one moment --------------------------------------------------
        ring = fig.add_axes((0.01, 0.02, 0.40, 0.44))
        ring.set_xlim(-1.45, 1.45)
        ring.set_ylim(-1.3, 1.3)
        ring.set_aspect("equal", adjustable="box")
        ring.axis("off")
        ring.set_title("At the chosen time: servers and messages in flight", fontsize="medium", y=1.0)
        self.ring = ring
        angle0 = math.pi / 2
        self.pos = {s: (math.cos(angle0 - 2 * math.pi * i / n), math.sin(angle0 - 2 * math.pi * i / n))
                    for i, s in enumerate(self.servers)}
        self._links = LineCollection([], linewidths=1.0, alpha=0.7)
        ring.add_collection(self._links, autolim=False)
        self._dots = ring.scatter(np.empty(0), np.empty(0), s=30, zorder=4)
        self._boxes, self._labels = {}, {}
        for s, (x, y) in self.pos.items():
            box = FancyBboxPatch((x - 0.40, y - 0.19), 0.80, 0.38, boxstyle="round,pad=0.02",
                                 facecolor=ROLE_COLOURS["follower"], edgecolor="#444444", lw=0.8, zorder=2)
            ring.add_patch(box)
            self._boxes[s] = box
            self._labels[s] = ring.text(x, y, s, ha="center", va="center", fontsize=8, zorder=3)
        self.clock = ring.text(-1.45, -1.28, "", ha="left", va="bottom", fontsize=8)

        # -- logs at one moment -----------------------------------------------------------
        logs = fig.add_axes((0.49, 0.07, 0.43, 0.34))
        logs.set_xlim(0.5, log_window + 0.5)
        logs.set_ylim(-0.5, n - 0.5 + 0.55)
        logs.set_yticks(range(n), [self.servers[n - 1 - y] for y in range(n)])
        logs.set_xticks([])
        logs.set_xlabel(f"log index (the newest {log_window} entries; numbered above)", labelpad=2)
        logs.set_ylabel("server")
        logs.set_title("Logs: each cell is an entry, numbered with its term where a term begins; filled = committed",
                       fontsize="medium", y=1.08)
        for side in ("top", "right"):
            logs.spines[side].set_visible(False)
        self.logs = logs
        self._cells = PolyCollection([], edgecolors="#555555", linewidths=0.6)
        logs.add_collection(self._cells, autolim=False)
        self._cell_text = [[logs.text(0, 0, "", ha="center", va="center", fontsize=6.5, visible=False)
                            for _ in range(log_window)] for _ in range(n)]
        self._index_text = [logs.text(k + 1, n - 0.5 + 0.3, "", ha="center", va="center", fontsize=6,
                                      color="#555555") for k in range(log_window)]
        self._commit_text = {s: logs.text(log_window + 0.7, self.lane_y[s], "", ha="left", va="center",
                                          fontsize=7, color="#333333", clip_on=False) for s in self.servers}
        logs.text(log_window + 0.7, n - 0.5 + 0.3, "length /\ncommitted", ha="left", va="center", fontsize=6,
                  color="#555555", clip_on=False)

        # -- one legend for all three panels --------------------------------------------------
        handles = [Patch(facecolor=ROLE_COLOURS[r], edgecolor="#777777", label=r,
                         hatch="////" if r == "down" else None) for r in ("follower", "candidate", "leader", "down")]
        handles += [
            Line2D([], [], color=MESSAGE_COLOURS["RequestVote"], marker="o", lw=1, label="RequestVote"),
            Line2D([], [], color=MESSAGE_COLOURS["AppendEntries"], marker="o", lw=1, label="AppendEntries"),
            Line2D([], [], color="#444444", marker="o", markerfacecolor="white", ls="--", lw=1, label="reply"),
            Line2D([], [], color=DROPPED, marker="x", ls=":", lw=1, label="will be dropped"),
            Line2D([], [], color=OKABE_ITO["vermillion"], lw=1.4, label="now"),
            Patch(facecolor=COMMITTED, edgecolor="#555555", label="committed"),
        ]
        self.legend = fig.legend(handles=handles, loc="upper center", ncol=10, fontsize=7, frameon=False,
                                 bbox_to_anchor=(0.5, 1.0), handlelength=1.6, columnspacing=0.9)

    # -- the artists a scrubber moves -------------------------------------------------
    def dynamic_artists(self) -> list:
        """Everything ``show_time`` changes (register with ``LiveFigure.dynamic``)."""
        out = [self.now_line, self._links, self._dots, *self._boxes.values(), *self._labels.values(), self.clock,
               self._cells, *self._index_text, *self._commit_text.values()]
        for row in self._cell_text:
            out.extend(row)
        return out

    def run_artists(self) -> list:
        """Everything ``show_run`` changes: bands, commit steps, cut shading and this run's term labels.

        ``show_run`` replaces the term labels, so register them again after each call.
        """
        return [self._bands, self._down, self._commit, self._cuts, *self._terms]

    def _check(self, timeline: Any) -> None:
        if tuple(timeline.servers) != self.servers:
            raise ValueError(f"timeline servers={timeline.servers!r} must be this view's servers; "
                             f"allowed: {self.servers!r}")

    def show_run(self, timeline: Any, cuts: Sequence[tuple[float, float]] = (),
                 x_end: Optional[float] = None) -> None:
        """Draw a whole run's lanes (roles, terms, commit steps) and shade ``cuts`` (start, end) windows.

        ``x_end`` is where the time axis ends (ms; default: the end of the run, which must fit).
        """
        self._check(timeline)
        lanes = self.lanes
        end = max(timeline.end, 1.0)
        if x_end is not None and not (math.isfinite(x_end) and x_end >= end):
            raise ValueError(f"x_end={x_end!r} must be a time at or after the end of the run; allowed: >= {end:g}")
        axis_end = end if x_end is None else float(x_end)
        lanes.set_xlim(0.0, axis_end)
        for t in self._terms:
            t.remove()
        self._terms = []
        h = LANE_HEIGHT / 2
        bands, colours, down = [], [], []
        width_px = lanes.get_position().width * self.fig.get_figwidth() * 72  # points across the axes
        min_gap = axis_end * 22 / max(width_px, 1.0)  # a term label needs about 22 points of its band
        top_commit = max((c.commit for c in timeline.changes), default=0) or 1
        commit_segments = []
        for s in self.servers:
            y = self.lane_y[s]
            last_label_x = -math.inf
            last_term = None
            for a, b, role, term in timeline.role_spans(s):
                rect = [(a, y - h), (a, y + h), (b, y + h), (b, y - h)]
                if role == "down":
                    down.append(rect)
                else:
                    bands.append(rect)
                    colours.append(ROLE_COLOURS[role])
                if (term != last_term and term > 0 and role != "down" and a - last_label_x >= min_gap
                        and b - a >= min_gap * 0.6):
                    self._terms.append(lanes.text(a + min_gap * 0.08, y + h * 0.15, f"t{term}", fontsize=6.5,
                                                  va="center", ha="left", color=_text_colour(role), clip_on=True))
                    last_label_x = a
                    last_term = term
            steps = timeline.commit_steps(s)
            pts = []
            for i, (t0, c) in enumerate(steps):
                t1 = steps[i + 1][0] if i + 1 < len(steps) else end
                yy = y - h + 0.9 * LANE_HEIGHT * c / top_commit
                pts += [(t0, yy), (t1, yy)]
            commit_segments.append(pts)
        self._bands.set_verts(bands)
        self._bands.set_facecolors(colours)
        self._down.set_verts(down)
        self._commit.set_segments(commit_segments)
        self._cuts.set_verts([[(a, 0), (a, 1), (min(b, end), 1), (min(b, end), 0)] for a, b in cuts])

    def show_time(self, timeline: Any, t: float) -> None:
        """Move the now line, the ring (roles, terms, messages in flight) and the logs to time ``t`` (ms)."""
        import numpy as np

        self._check(timeline)
        self.now_line.set_xdata([t, t])
        states = timeline.state_at(t)
        for s, st in states.items():
            self._boxes[s].set_facecolor(ROLE_COLOURS[st.role])
            self._boxes[s].set_hatch("////" if st.role == "down" else None)
            self._labels[s].set_text(f"{s} {st.role}\nterm {st.term}")
            self._labels[s].set_color(_text_colour(st.role))
        self.clock.set_text(f"t = {t:,.0f} ms")
        segments, colours, styles, dots, dot_face, dot_edge, sizes = [], [], [], [], [], [], []
        for m in timeline.in_flight(t):
            (x0, y0), (x1, y1) = self.pos[m.src], self.pos[m.dst]
            frac = (t - m.sent) / (m.arrived - m.sent) if m.arrived > m.sent else 0.0
            frac = 0.2 + 0.6 * frac  # from box edge to box edge, not centre to centre
            dropped = m.outcome.startswith("dropped")
            colour = DROPPED if dropped else MESSAGE_COLOURS.get(m.kind, "#444444")
            reply = m.kind in REPLIES
            segments.append([(x0, y0), (x1, y1)])
            colours.append(colour)
            styles.append(":" if dropped else ("--" if reply else "-"))
            dots.append((x0 + frac * (x1 - x0), y0 + frac * (y1 - y0)))
            dot_edge.append(colour)
            dot_face.append("white" if reply and not dropped else colour)
            # A heartbeat (no entries) is a small dot; an AppendEntries carrying entries a big one.
            sizes.append(45 if m.kind == "AppendEntries" and m.entries else 22)
        self._links.set_segments(segments)
        self._links.set_colors(colours or ["#444444"])
        self._links.set_linestyles(styles or ["-"])
        self._dots.set_offsets(np.asarray(dots, dtype=float).reshape(-1, 2))
        self._dots.set_facecolors(dot_face or ["white"])
        self._dots.set_edgecolors(dot_edge or ["white"])
        self._dots.set_sizes(sizes or [0])
        self._show_logs(states)

    def _show_logs(self, states: dict) -> None:
        longest = max((st.last_index for st in states.values()), default=0)
        first = max(1, longest - self.window + 1)
        cells, faces = [], []
        for row, s in enumerate(self.servers):
            st = states[s]
            y = self.lane_y[s]
            previous_term = None
            for k in range(self.window):
                index = first + k
                text = self._cell_text[row][k]
                if index <= st.last_index:
                    x = k + 1
                    cells.append([(x - 0.42, y - 0.32), (x - 0.42, y + 0.32), (x + 0.42, y + 0.32),
                                  (x + 0.42, y - 0.32)])
                    faces.append(COMMITTED if index <= st.commit else "white")
                    term = st.log_terms[index - 1]
                    # The term is written where a run of entries of one term starts: text is most of
                    # a frame's drawing time, and a log is mostly long runs of one term.
                    text.set_visible(term != previous_term)
                    if term != previous_term:
                        text.set_position((x, y))
                        text.set_text(str(term))
                    previous_term = term
                else:
                    text.set_visible(False)
            self._commit_text[s].set_text(f"{st.last_index} / {st.commit}")
        for k, text in enumerate(self._index_text):
            index = first + k
            # The first, every fifth and the last index: enough to read any column, few texts to draw.
            shown = index <= longest and (k == 0 or index % 5 == 0 or index == longest)
            text.set_text(str(index) if shown else "")
            text.set_visible(shown)
        self._cells.set_verts(cells)
        self._cells.set_facecolors(faces or ["white"])


def plot_raft_timeline(timeline: Any, t: Optional[float] = None, fig: "Optional[Figure]" = None,
                       cuts: Sequence[tuple[float, float]] = (),
                       figsize: tuple[float, float] = (10.0, 6.4)) -> "Figure":
    """The whole picture of ``timeline`` (a :class:`~consistency_lab.replication.raft_recorder.RaftTimeline`)
    at time ``t`` (default: the end of the run), drawn from scratch into ``fig`` or a new figure."""
    from matplotlib.figure import Figure

    if fig is None:
        fig = Figure(figsize=figsize)
    view = RaftTimelineView(fig, timeline.servers)
    view.show_run(timeline, cuts)
    view.show_time(timeline, timeline.end if t is None else t)
    return fig
