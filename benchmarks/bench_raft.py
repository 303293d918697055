"""Raft's simulated messages per second against the primary–backup engine, in the same run.

Both run the register scenario at the same size (replicas, clients, operations, a
partition and a crash), one after the other in this process; a message is one
``Network.send``.  The ratio (Raft / primary–backup) is what to compare across
machines; the absolute rates only describe this one.

Then the Raft paper's Figure 16 experiment (``consistency_lab.scenarios.raft_election``):
1,000 trials per election-timeout range, median, 99th percentile and worst time from
the leader's crash to a new leader, and trials per second.  "no leader" counts trials
with no leader within ``MAX_WAIT_MS`` of the crash.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import time  # noqa: E402

from _timing import best_of, table  # noqa: E402

from consistency_lab import simulate  # noqa: E402
from consistency_lab.scenarios.raft_election import (  # noqa: E402
    BOTTOM_RANGES,
    LATENCY,
    MAX_WAIT_MS,
    TOP_RANGES,
    downtime_summary,
    election_trials,
)

SIZE = dict(n=5, clients=8, operations=250, faults="A|B@300-1800;crash:r1@2500-3500", trace=False)
MODES = ("sync", "async", "raft")


def messages(mode: str) -> int:
    """Messages one run of ``mode`` sends (deterministic: same for every repetition)."""
    r = simulate("register", seed=1, mode=mode, **SIZE)
    return round(r.metrics["messages_per_op"] * r.metrics["operations"])


def main() -> None:
    """Time each mode, print messages/s and the ratio of Raft to each primary-backup mode."""
    rows, rates = [], {}
    for mode in MODES:
        sent = messages(mode)
        seconds = best_of(lambda mode=mode: simulate("register", seed=1, mode=mode, **SIZE), repeat=3)
        rates[mode] = sent / seconds
        rows.append((mode, sent, f"{seconds * 1000:.0f}", f"{rates[mode]:,.0f}"))
    print(f"register scenario, {SIZE}")
    print(table(rows, ("mode", "messages", "best of 3 (ms)", "messages/s")))
    for base in ("sync", "async"):
        print(f"raft / {base} primary-backup, messages/s: {rates['raft'] / rates[base]:.2f}")
    figure16()


def _ms(x: float) -> str:
    return "no leader" if x == float("inf") else f"{x:.0f}"


FIGURE = Path(__file__).resolve().parents[1] / ".bench-output" / "raft_figure16.png"


def figure16(trials: int = 1000) -> None:
    """The leader-election experiment: downtime per election-timeout range, as in Figure 16, drawn to FIGURE."""
    from consistency_lab.plots.raft_plots import plot_election_cdfs

    print(f"\nFigure 16: 5 servers, one-way latency {LATENCY} ms, {trials} trials per range, "
          f"waiting at most {MAX_WAIT_MS / 1000:.0f} s for a new leader")
    panels = {}
    for panel, ranges in (("top", TOP_RANGES), ("bottom", BOTTOM_RANGES)):
        rows, curves = [], {}
        for low, high in ranges:
            t0 = time.perf_counter()
            results = election_trials(1, (low, high), trials)
            rate = trials / (time.perf_counter() - t0)
            s = downtime_summary(results)
            curves[f"{low:g}-{high:g}"] = [r.downtime_ms for r in results]
            rows.append((f"{low:g}-{high:g}", _ms(s["median_ms"]), _ms(s["p99_ms"]), _ms(s["worst_ms"]),
                         int(s["no_leader"]), f"{rate:,.0f}"))
        panels[panel] = curves
        print(f"{panel} panel")
        print(table(rows, ("timeout (ms)", "median (ms)", "p99 (ms)", "worst (ms)", "no leader", "trials/s")))
    FIGURE.parent.mkdir(exist_ok=True)
    plot_election_cdfs(panels["top"], panels["bottom"]).savefig(FIGURE, dpi=120)
    print(f"the two CDF panels: {FIGURE}")


if __name__ == "__main__":
    if sys.argv[1:2] == ["--figure16"]:  # only the election experiment, e.g. --figure16 200 for a quick look
        figure16(int(sys.argv[2]) if len(sys.argv) > 2 else 1000)
    else:
        main()
