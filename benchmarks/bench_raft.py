"""Raft's simulated messages per second against the primary–backup engine, in the same run.

Both run the register scenario at the same size (replicas, clients, operations, a
partition and a crash), one after the other in this process; a message is one
``Network.send``.  The ratio (Raft / primary–backup) is what to compare across
machines; the absolute rates only describe this one.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from _timing import best_of, table  # noqa: E402

from consistency_lab import simulate  # noqa: E402

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


if __name__ == "__main__":
    main()
