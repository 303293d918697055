"""Explorer update time (simulate + redraw) against a bare redraw of the same figure.

For every explorer in ``EXPLORERS``, two kinds of control change:

* ``seed``: the seed changes each time at default settings (every update is a new simulation);
* ``controls``: every other control in turn moves one step (next option, flipped
  box, one slider step) and back, which also exercises the full redraws that a new
  mode, title or axis range needs.
* ``scrub`` (explorers with a time scrubber): the scrubber moves across the run, which
  re-draws only the time-dependent artists over the cached background (no simulation).

Each update is split into its simulation part (``run``) and its drawing part (update
the figure's artists, render, encode the PNG), so a change on either side shows up on
its own.  ``bare redraw`` draws the same figure again from scratch with nothing cached
(every artist, full Agg render, PNG encoding) and ``update / bare`` is update p50 / bare
redraw p50.  ``png`` is the encoding alone.  ``cpu`` is the process's CPU time for the
same updates: on a machine shared with other work it shows what an update costs without
waiting for a core.  Goal: update median under 60 ms and 95th percentile under 120 ms.
Run with ``--profile NAME`` for a cProfile of one explorer's updates.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

os.environ.setdefault("MPLBACKEND", "Agg")
sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from _timing import samples, table  # noqa: E402

from consistency_lab.metrics import percentile  # noqa: E402
from consistency_lab.widgets import EXPLORERS  # noqa: E402

RUNS = 30


def _moves(e) -> list[tuple[str, object]]:
    """One step away from the default for each control, then back: (name, value) pairs."""
    import ipywidgets as W

    out = []
    for name, w in e.controls.items():
        if name == "seed" or getattr(w, "disabled", False):
            continue
        if isinstance(w, W.Checkbox):
            other = not w.value
        elif isinstance(w, W.Dropdown):
            opts = list(w.options)
            other = opts[(opts.index(w.value) + 1) % len(opts)]
        elif isinstance(w, W.Textarea):
            other = w.value.rsplit("\n", 1)[0]  # a text box (a history): drop its last line
        else:
            other = w.value + w.step if w.value + w.step <= w.max else w.value - w.step
        out += [(name, other), (name, w.value)]
    return out


def _measure(e, changes) -> dict[str, list[float]]:
    """Apply each change through the control (as a student would) and time its parts."""
    total, cpu, run, draw = [], [], [], []
    for name, value in changes:
        t0, c0 = time.perf_counter(), time.process_time()
        e.controls[name].value = value
        total.append((time.perf_counter() - t0) * 1000)
        cpu.append((time.process_time() - c0) * 1000)
        assert e.error is None, (name, value, e.error)
        run.append(e.last_run_ms)
        draw.append(e.last_draw_ms)
    return {"total": total, "cpu": cpu, "run": run, "draw": draw}


def bench(name: str, runs: int = RUNS) -> list[tuple]:
    """Rows for one explorer: seed changes and control changes."""
    from consistency_lab.plots.live import encode_png

    e = EXPLORERS[name]()
    rows = []
    seeds = [("seed", s) for s in range(1, runs + 1)]
    moves = _moves(e)
    controls = (moves * (runs // len(moves) + 1))[:max(runs, len(moves))]
    for kind, changes in (("seed", seeds), ("controls", controls)):
        m = _measure(e, changes)
        live = e.live
        bare = samples(live.redraw_png, max(5, runs // 3))
        canvas = live.canvas
        png = samples(lambda: encode_png(canvas.buffer_rgba(), canvas.get_width_height(), live.fig.dpi), 10)
        p50 = statistics.median(m["total"])
        rows.append((name, kind, f"{p50:.0f}", f"{percentile(m['total'], 95):.0f}",
                     f"{statistics.median(m['cpu']):.0f}", f"{percentile(m['cpu'], 95):.0f}",
                     f"{statistics.median(m['run']):.0f}", f"{statistics.median(m['draw']):.0f}",
                     f"{percentile(m['draw'], 95):.0f}", f"{statistics.median(bare):.0f}",
                     f"{statistics.median(png):.0f}", f"{p50 / statistics.median(bare):.2f}"))
    if e.scrubbable:  # moving the time scrubber: no simulation, only the time-dependent artists
        lo, hi = e.scrubber.min, e.scrubber.max
        times = [lo + (hi - lo) * (i + 0.5) / runs for i in range(runs)]
        total, cpu = [], []
        for t in times:
            t0, c0 = time.perf_counter(), time.process_time()
            e.scrub_to(t)
            total.append((time.perf_counter() - t0) * 1000)
            cpu.append((time.process_time() - c0) * 1000)
        bare = samples(e.live.redraw_png, max(5, runs // 3))
        p50 = statistics.median(total)
        rows.append((name, "scrub", f"{p50:.0f}", f"{percentile(total, 95):.0f}", f"{statistics.median(cpu):.0f}",
                     f"{percentile(cpu, 95):.0f}", "0", f"{p50:.0f}", f"{percentile(total, 95):.0f}",
                     f"{statistics.median(bare):.0f}", "–", f"{p50 / statistics.median(bare):.2f}"))
    w, h = e.live.canvas.get_width_height()
    print(f"  {name}: PNG {w}x{h} shown at {e.image.width} px wide; "
          f"of {e.live.frames} frames, {e.live.full_redraws} needed a full redraw and "
          f"{e.live.partial_redraws} a redraw of some axes", file=sys.stderr)
    return rows


def main() -> None:
    """Print one table: two rows per explorer."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=RUNS, help="control changes per row (default %(default)s)")
    ap.add_argument("--profile", metavar="NAME", choices=sorted(EXPLORERS), help="cProfile one explorer")
    args = ap.parse_args()
    if args.profile:
        import cProfile
        import pstats
        e = EXPLORERS[args.profile]()
        prof = cProfile.Profile()
        prof.enable()
        for s in range(1, args.runs + 1):
            e.controls["seed"].value = s
        prof.disable()
        pstats.Stats(prof).sort_stats("cumulative").print_stats(30)
        return
    rows = [row for name in EXPLORERS for row in bench(name, args.runs)]
    print(f"{args.runs} control changes per row (ms)")
    print(table(rows, ("explorer", "change", "update p50", "update p95", "cpu p50", "cpu p95", "run p50",
                       "draw p50", "draw p95",
                       "bare redraw p50", "png p50", "update / bare")))


if __name__ == "__main__":
    main()
