"""The anomaly table behind the article's "70 % fewer tickets" claim, measured rather than assumed.

:func:`anomaly_table` runs the ``document`` scenario for every strategy on the same
sessions (same seeds) across partition rates and editing rates and returns, per
setting, the mean anomalies per session.  :func:`claim_check` turns two strategies'
rows into the reduction ``1 - candidate / baseline`` and says, per setting, whether it
reaches the claimed share.  Nothing is printed and nothing is tuned: the numbers are
whatever the sessions produce.
"""

from __future__ import annotations

from typing import Any, Iterable, Optional

from ..validation import choice, count, probability
from .document import DOCUMENT, STRATEGIES

__all__ = ["anomaly_table", "claim_check", "KINDS"]

#: The per-session means a row holds (see document_anomalies for each definition).
KINDS = ("tickets", "strict_tickets", "silent_overwrites", "conflicts", "merge_spots", "orphans", "lost_chars",
         "refused_edits", "typed_chars")


def anomaly_table(seeds: Iterable[int] = range(4), partitions_per_min: Iterable[float] = (0.0, 1.0, 4.0),
                  keys_per_s: Iterable[float] = (1.0, 4.0), strategies: Iterable[str] = STRATEGIES,
                  **params: Any) -> list[dict]:
    """Mean anomalies per session, one row per (strategy, partitions_per_min, keys_per_s).

    Every strategy replays the same sessions (one per seed).  ``params`` are any other
    ``document`` parameters (duration_ms, editors, ...).  Each row also has
    ``sessions`` and ``converged_share``.
    """
    seeds = [count("seed", s, low=0) for s in seeds]
    if not seeds:
        raise ValueError("seeds=[] must hold at least one seed")
    strategies = [choice("strategy", s, STRATEGIES) for s in strategies]
    rows = []
    for rate in partitions_per_min:
        for keys in keys_per_s:
            for strategy in strategies:
                runs = [DOCUMENT.run(seed, strategy=strategy, partitions_per_min=rate, keys_per_s=keys, **params)
                        for seed in seeds]
                row: dict[str, Any] = {"strategy": strategy, "partitions_per_min": rate, "keys_per_s": keys,
                                       "sessions": len(runs)}
                for kind in KINDS:
                    row[kind] = sum(r.metrics[kind] for r in runs) / len(runs)
                row["converged_share"] = sum(r.metrics["converged"] for r in runs) / len(runs)
                rows.append(row)
    return rows


def claim_check(rows: list[dict], *, baseline: str = "central", candidate: str = "crdt",
                kind: str = "tickets", claimed: float = 0.7) -> list[dict]:
    """Per setting: baseline and candidate means of ``kind``, the reduction, and whether it reaches ``claimed``.

    ``reduction`` is ``1 - candidate / baseline``; it is None when the baseline had no
    anomalies at all (nothing to reduce), and then ``holds`` is None too.
    """
    choice("baseline", baseline, STRATEGIES)
    choice("candidate", candidate, STRATEGIES)
    choice("kind", kind, KINDS)
    probability("claimed", claimed)
    by = {(r["strategy"], r["partitions_per_min"], r["keys_per_s"]): r for r in rows}
    out = []
    for (strategy, rate, keys), base in by.items():
        if strategy != baseline or (candidate, rate, keys) not in by:
            continue
        cand = by[(candidate, rate, keys)]
        reduction: Optional[float] = None if base[kind] == 0 else 1.0 - cand[kind] / base[kind]
        out.append({"partitions_per_min": rate, "keys_per_s": keys, "baseline": baseline, "candidate": candidate,
                    "kind": kind, "baseline_mean": base[kind], "candidate_mean": cand[kind],
                    "reduction": reduction, "holds": None if reduction is None else reduction >= claimed})
    return out
