"""Explorer update time (simulate + redraw) against a bare redraw of the same figure.

For every explorer in ``EXPLORERS``: the median and 95th percentile of an update at
default settings (the seed changes each time so nothing is cached), and the same for
redrawing the already computed result, measured in the same run.  Goal: median under
100 ms, 95th percentile under 200 ms.
"""

from __future__ import annotations

import os
import statistics
import sys
from pathlib import Path

os.environ.setdefault("MPLBACKEND", "Agg")
sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from _timing import samples, table  # noqa: E402

from consistency_lab.metrics import percentile  # noqa: E402
from consistency_lab.widgets import EXPLORERS  # noqa: E402
from consistency_lab.widgets.base import figure_png  # noqa: E402

RUNS = 20


def main() -> None:
    """Print one row per explorer."""
    rows = []
    for name, cls in EXPLORERS.items():
        e = cls()
        seeds = iter(range(1, 10_000))
        update = samples(lambda: setattr(e.controls["seed"], "value", next(seeds)), RUNS)
        assert e.error is None, e.error

        def redraw() -> None:
            fig = e.figure()
            e.render(e.result, fig)
            figure_png(fig)
        bare = samples(redraw, RUNS)
        rows.append((name, f"{statistics.median(update):.0f}", f"{percentile(update, 95):.0f}",
                     f"{statistics.median(bare):.0f}", f"{statistics.median(update) / statistics.median(bare):.2f}"))
    print(f"{RUNS} updates per explorer (ms)")
    print(table(rows, ("explorer", "update p50", "update p95", "bare redraw p50", "update / redraw")))


if __name__ == "__main__":
    main()
