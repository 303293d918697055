"""Chapter 04's explorer: two or three editors, a cut-off schedule, typing rates, four ways to share a text.

Every update draws one editing session and replays it with all four strategies (the
same intentions for each), so the bars compare characters lost and refused per
strategy on identical work.  The chosen strategy's run is drawn over time: each
replica's document length, and at the scrubbed moment every replica's text.
"""

from __future__ import annotations

import textwrap
from bisect import bisect_right
from typing import Any

from ..scenarios import get_scenario
from ..scenarios.document import STRATEGIES
from .base import Explorer, dropdown, float_slider, slider

__all__ = ["DocumentExplorer", "SCHEDULES", "DURATION_MS"]

#: One session lasts this long (ms): long enough for a cut and its healing, short enough to feel live.
DURATION_MS = 8_000.0
#: Cut-off schedules by name: (partitions_per_min, partition_ms, explicit cut window of e0 or "").
SCHEDULES = {
    "e0 cut off from 2 s to 5 s": (0.0, 0.0, "2000-5000"),
    "no cut-offs": (0.0, 0.0, ""),
    "random, 4 per minute (about 3 s each)": (4.0, 3_000.0, ""),
    "random, 12 per minute (about 2 s each)": (12.0, 2_000.0, ""),
}
#: Runs kept by one explorer (four per session: the last few settings of every control).
RUN_CACHE = 32
_WRAP = 120  # characters per text line in the figure (two lines per replica at most)


class DocumentExplorer(Explorer):
    """Change who types how fast and who is cut off; scrub through each replica's text."""

    title = "Collaborative editing: every replica's text over time, and what each strategy loses"
    metric_labels = {
        "converged": ("replicas agree at the end", "yes/no"),
        "typed_chars": ("characters typed", "count"),
        "lost_chars": ("typed, never deleted, missing (nobody told)", "count"),
        "silent_overwrites": ("silent overwrites (incidents)", "count"),
        "conflicts": ("conflicts a person must resolve", "count"),
        "refused_edits": ("keystrokes refused by the server", "count"),
        "merge_spots": ("jumbled merge spots", "count"),
        "orphans": ("text typed into a deleted passage", "count"),
        "tickets": ("tickets in this session (all kinds)", "count"),
    }
    shown_metrics = list(metric_labels)
    figsize = (10.0, 4.8)
    margins = dict(left=0.07, right=0.98, bottom=0.06, top=0.93, wspace=0.3, hspace=0.45)

    def __init__(self, seed: int = 0, **initial: Any) -> None:
        self._runs: dict[tuple, Any] = {}  # (seed, strategy, settings) -> run; the base's __init__ runs once
        super().__init__(seed, **initial)

    def make_controls(self) -> dict:
        """Strategy, editors, cut-off schedule, typing rate and how scattered the editing is."""
        return {
            "strategy": dropdown("crdt", list(STRATEGIES), "strategy drawn over time"),
            "schedule": dropdown(next(iter(SCHEDULES)), list(SCHEDULES), "who is cut off"),
            "editors": slider(3, 2, 3, "editors"),
            "keys_per_s": float_slider(3.0, 0.5, 8.0, "keystrokes / s, each editor", step=0.5),
            "jump_share": float_slider(0.05, 0.0, 0.4, "share of keys that jump", step=0.05),
            "delete_share": float_slider(0.15, 0.0, 0.4, "share of keys that delete", step=0.05),
        }

    def run(self, params: dict) -> Any:
        """Replay one session with every strategy; return the chosen one's run with the others' counts."""
        rate, length, window = SCHEDULES[params["schedule"]]
        others = ",".join([f"e{i}" for i in range(1, params["editors"])] + ["server"])
        faults = f"e0|{others}@{window}" if window else ""
        common = dict(editors=params["editors"], duration_ms=DURATION_MS, keys_per_s=params["keys_per_s"],
                      jump_share=params["jump_share"], delete_share=params["delete_share"],
                      partitions_per_min=rate, partition_ms=length, faults=faults)
        runs = {s: self._run_once(params["seed"], s, common) for s in STRATEGIES}
        chosen = runs[params["strategy"]]
        chosen.extra["by_strategy"] = {s: (r.metrics["lost_chars"], r.metrics["refused_edits"], r.metrics["tickets"])
                                       for s, r in runs.items()}
        return chosen

    def _run_once(self, seed: int, strategy: str, common: dict) -> Any:
        """One strategy's run, simulated once per (seed, strategy, settings) and then kept for a while.

        Runs are deterministic, so switching the drawn strategy (or moving a control back) reuses the
        four runs of the session instead of simulating them again.
        """
        key = (seed, strategy, tuple(sorted(common.items())))
        cache = self._runs
        if key in cache:
            cache[key] = cache.pop(key)  # most recently used last
            return cache[key]
        result = get_scenario("document").run(seed, strategy=strategy, **common)
        cache[key] = result
        while len(cache) > RUN_CACHE:
            del cache[next(iter(cache))]  # the least recently used
        return result

    # -- drawing --------------------------------------------------------------------
    def render(self, result: Any, fig) -> None:
        """The same three panels from scratch (the benchmark's bare-redraw baseline)."""
        from ..plots.document_plots import plot_replica_lengths

        gs = fig.add_gridspec(2, 3, height_ratios=[3, 1.3])
        plot_replica_lengths(result, ax=fig.add_subplot(gs[0, :2]))
        self._draw_bars(fig.add_subplot(gs[0, 2]), result)
        ax = fig.add_subplot(gs[1, :])
        ax.set_axis_off()
        ax.text(0, 1, self._texts_at(result, result.end_time), va="top", family="monospace", fontsize=8,
                transform=ax.transAxes)

    def _draw_bars(self, ax, result=None) -> tuple[list, list]:
        """Lost and refused keystrokes per strategy (heights from ``result``, or 0 to be set later)."""
        from matplotlib.patches import Patch

        from ..plots.document_plots import STRATEGY_COLOURS
        from ..plots.style import OKABE_ITO

        counts = result.extra["by_strategy"] if result is not None else {s: (0, 0, 0) for s in STRATEGIES}
        xs = range(len(STRATEGIES))
        colours = [STRATEGY_COLOURS[s] for s in STRATEGIES]
        lost = ax.bar([x - 0.2 for x in xs], [counts[s][0] for s in STRATEGIES], 0.4, color=colours)
        refused = ax.bar([x + 0.2 for x in xs], [counts[s][1] for s in STRATEGIES], 0.4, color="white",
                         edgecolor=colours, hatch="//")
        ax.set_xticks(list(xs), list(STRATEGIES))
        ax.set_title("Same session, every strategy")
        ax.set_xlabel("strategy")
        ax.set_ylabel("keystrokes (count)")
        ax.grid(True, axis="y", alpha=0.25)
        ax.legend(handles=[Patch(color=OKABE_ITO["grey"], label="lost, nobody told"),
                           Patch(facecolor="white", edgecolor=OKABE_ITO["grey"], hatch="//",
                                 label="refused (a conflict)")], fontsize="x-small", loc="upper left")
        return list(lost), list(refused)

    def _texts_at(self, result, t_ms: float) -> str:
        """Every replica's readable text at ``t_ms``, wrapped."""
        from ..scenarios.document_session import display as readable

        lines = []
        for name, series in result.snapshots.items():
            k = max(bisect_right([t for t, _ in series], t_ms) - 1, 0)
            shown = readable(series[k][1], result.session)
            wrapped = textwrap.wrap(shown, _WRAP, drop_whitespace=False) or [""]
            lines.append(f"{name:>6}: {wrapped[0]}")
            lines += [f"        {w}" for w in wrapped[1:2]]
            if len(wrapped) > 2:
                lines[-1] += " ..."
        return "\n".join(lines)

    def setup(self, live) -> None:
        """Length-over-time axes with a now line, the per-strategy bars, and a text panel."""
        from ..plots.live import lean_axes, time_spans
        from ..plots.style import OKABE_ITO

        gs = live.fig.add_gridspec(2, 3, height_ratios=[3, 1.3])
        ax = live.fig.add_subplot(gs[0, :2])
        bars = live.fig.add_subplot(gs[0, 2])
        text_ax = live.fig.add_subplot(gs[1, :])
        lean_axes(ax)
        lean_axes(bars, x=False)
        ax.set_xlabel("virtual time (s)")
        ax.set_ylabel("characters in the document")
        ax.grid(True, alpha=0.25)
        self._spans = time_spans(ax, OKABE_ITO["grey"], alpha=0.2)
        self._lines: dict[str, Any] = {}
        self._now = ax.axvline(0.0, color=OKABE_ITO["vermillion"], lw=1.2, ls="--")
        text_ax.set_axis_off()
        self._text = text_ax.text(0.0, 1.0, "", va="top", ha="left", family="monospace", fontsize=8.5,
                                  transform=text_ax.transAxes)
        self._axes = (ax, bars, text_ax)
        self._legend_key: Any = None
        self._bars = self._draw_bars(bars)
        live.dynamic(self._now, self._text, self._spans, *self._bars[0], *self._bars[1])

    def refresh(self, result: Any, live) -> Any:
        """New curves, cut spans and bars for a new run (static until the next run)."""
        from ..plots.document_plots import REPLICA_COLOURS
        from ..plots.live import set_spans, sticky_limit
        from ..plots.style import OKABE_ITO

        ax, bars, _ = self._axes
        end_s = result.end_time / 1000.0
        set_spans(self._spans, [(p.start / 1000.0, p.end / 1000.0) for p in result.faults.partitions()], end_s)
        names = list(result.snapshots)
        for name in names:
            if name not in self._lines:
                (self._lines[name],) = ax.step([], [], where="post", label=name,
                                               color=REPLICA_COLOURS.get(name, OKABE_ITO["grey"]),
                                               lw=2.0 if name == "server" else 1.3)
                live.dynamic(self._lines[name])
        top = 1
        for name, line in self._lines.items():
            series = result.snapshots.get(name)
            line.set_visible(series is not None)
            if series:
                line.set_data([t / 1000.0 for t, _ in series], [len(text) for _, text in series])
                top = max(top, max(len(text) for _, text in series))
        if self._legend_key != tuple(names):
            ax.legend(handles=[self._lines[n] for n in names], loc="upper left", fontsize="x-small")
            self._legend_key = tuple(names)
        # Sticky ends: runs settle at slightly different times, and a fixed axis keeps the cached background.
        ax.set_xlim(0, sticky_limit(ax.get_xlim()[1] if ax.get_xlim()[1] > 1 else None, end_s, 2, slack=0.6))
        # More slack on the value axes (the longest text fills 60% or more, the tallest bar 40% or more):
        # a new seed then mostly keeps them, where each change redraws an axes.
        ax.set_ylim(0, sticky_limit(ax.get_ylim()[1] if ax.get_ylim()[1] > 1 else None, top * 1.1, 50, slack=0.6))
        ax.set_title(f"Document length on each replica ({result.params['strategy']}); grey: someone cut off")
        counts = result.extra["by_strategy"]
        for k, s in enumerate(STRATEGIES):
            self._bars[0][k].set_height(counts[s][0])
            self._bars[1][k].set_height(counts[s][1])
        highest = max(max(c[0], c[1]) for c in counts.values())
        bars.set_ylim(0, sticky_limit(bars.get_ylim()[1] if bars.get_ylim()[1] > 1 else None, highest * 1.15, 5,
                                      slack=0.4))
        return None  # curves, spans and bars are dynamic: the background changes only with limits and titles

    def time_range(self, result: Any) -> tuple[float, float]:
        """The whole run, from 0 to when everything settled (ms)."""
        return 0.0, result.end_time

    def at_time(self, result: Any, t_ms: float, live) -> None:
        """Move the now line and show every replica's text at ``t_ms``."""
        self._now.set_xdata([t_ms / 1000.0, t_ms / 1000.0])
        self._text.set_text(f"at t = {t_ms / 1000.0:.2f} s\n" + self._texts_at(result, t_ms))
