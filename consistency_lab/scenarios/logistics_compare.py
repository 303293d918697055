"""The article's comparison of three architectures, rebuilt from runs of the logistics scenario.

:func:`load_sweep` runs each architecture at rising scan rates; :func:`comparison_rows`
runs the experiments behind each row of the table (a quiet baseline, heavy analytics, a
tracking outage, an outage of the read path, the load sweep) and returns one row per
(property, architecture) with the article's claim, in the course's words, beside the
measured value.  Every number comes from a run made here with the given seed.
"""

from __future__ import annotations

import math
from typing import Any, Optional, Sequence

from .logistics import LOGISTICS
from .logistics_world import ARCHITECTURES

__all__ = ["load_sweep", "sustained_rate", "comparison_rows", "experiment", "EXPERIMENTS", "READ_PATH",
           "ARTICLE_CLAIMS"]

#: What the article's table says about each property, paraphrased (the column the measured value sits beside).
ARTICLE_CLAIMS: dict[str, dict[str, str]] = {
    "scan wait p50 / p99 (ms)": {
        "orchestration": "linear and transactional: every step waits for the one before",
        "choreography": "independent steps that react to events",
        "cqrs": "commands and queries split: a command only waits for its own store",
    },
    "highest rate with scans ok and p99 < 100 ms (per s)": {
        "orchestration": "brittle when load rises",
        "choreography": "scales for background work",
        "cqrs": "write throughput stays steady",
    },
    "highest rate with read lag p99 < 0.25 s (per s)": {
        "orchestration": "reads come from the authoritative store",
        "choreography": "consumer lag is the thing to manage",
        "cqrs": "read/write sync latency must be kept in check",
    },
    "scan p99 under heavy analytics (ms)": {
        "orchestration": "reporting shares the transactional store",
        "choreography": "reporting shares a service's own store",
        "cqrs": "suits high read/write asymmetry (dashboards, reports)",
    },
    "tracking down 1 s: scans failed / longest wait (ms)": {
        "orchestration": "coupling: one failed step stops the whole line",
        "choreography": "resilience and flow: others keep going",
        "cqrs": "the command side does not depend on tracking",
    },
    "read path down 1 s: worst lag / stale / failed queries": {
        "orchestration": "nothing to lag: analytics read the write store",
        "choreography": "watch stream health; repair drift",
        "cqrs": "projection failures must be handled; say reads are eventual",
    },
    "services in one scan's story (lineage)": {
        "orchestration": "one coordinator holds the whole story",
        "choreography": "mystery bugs: debugging across time and services",
        "cqrs": "more moving parts: added architectural complexity",
    },
}


#: The runs behind the table, by kind: changes from the base workload (2 s of scans at 200/s).
EXPERIMENTS: dict[str, dict[str, Any]] = {
    "quiet": {},
    "heavy": {"query_rps": 100.0},
    "tracking_down": {"outage_service": "tracking", "outage_start_ms": 500.0, "outage_ms": 1000.0},
    "read_path_down": {"outage_start_ms": 500.0, "outage_ms": 1000.0},
}
#: What answers analytics queries in each architecture (the read path an outage takes down).
READ_PATH = {"orchestration": "none", "choreography": "tracking", "cqrs": "projector"}
_BASE = {"duration_ms": 2000.0}


def experiment(architecture: str, kind: str, seed: int = 0, **params: Any) -> Any:
    """One run of the table: ``kind`` is one of :data:`EXPERIMENTS` (the read path is the architecture's own)."""
    if kind not in EXPERIMENTS:
        raise ValueError(f"kind={kind!r} must be one of the experiments; allowed: {', '.join(EXPERIMENTS)}")
    changes = dict(EXPERIMENTS[kind])
    if kind == "read_path_down":
        changes["outage_service"] = READ_PATH.get(architecture, "none")
    return LOGISTICS.run(seed, architecture=architecture, **{**_BASE, **changes, **params})


def load_sweep(rates: Sequence[float], seed: int = 0, architectures: Sequence[str] = ARCHITECTURES,
               **params: Any) -> list[dict[str, Any]]:
    """One run per (architecture, scan rate): the rate, success, goodput, scan p50/p99 and read lag p99."""
    rows = []
    for arch in architectures:
        for rate_per_s in rates:
            m = LOGISTICS.run(seed, architecture=arch, scan_rps=rate_per_s,
                              **{"lineage": False, **params}).metrics
            rows.append({"architecture": arch, "scan_rps": float(rate_per_s),
                         "scan_success_rate": m["scan_success_rate"], "goodput_scans_per_s": m["goodput_scans_per_s"],
                         "scan_p50_ms": m["scan_p50_ms"], "scan_p99_ms": m["scan_p99_ms"],
                         "read_lag_p99_s": 0.0 if arch == "orchestration" else m["read_lag_p99_s"],
                         "query_p99_ms": m["query_p99_ms"]})
    return rows


def sustained_rate(rows: Sequence[dict[str, Any]], architecture: str, ok: str) -> float:
    """The highest swept rate at which ``ok`` holds, and at every lower rate too (NaN if even the lowest fails).

    ``ok="scans"``: at least 99 % of scans succeed and their p99 wait is under 100 ms;
    ``ok="lag"``: the p99 read lag is under 0.25 s (above its capacity a read side's lag
    grows with the length of the run, so "keeps up" is the honest criterion).
    """
    if ok not in ("scans", "lag"):
        raise ValueError(f"ok={ok!r} must be one of: scans, lag")
    best = math.nan
    for r in sorted((r for r in rows if r["architecture"] == architecture), key=lambda r: r["scan_rps"]):
        if ok == "scans":
            good = r["scan_success_rate"] >= 0.99 and r["scan_p99_ms"] < 100.0
        else:
            good = r["read_lag_p99_s"] < 0.25
        if not good:
            break
        best = r["scan_rps"]
    return best


#: The load sweep behind the "highest rate" rows: offered scans per second, runs of one second.
SWEEP_RATES = (500.0, 1000.0, 1500.0, 2000.0)
SWEEP_MS = 1000.0


def comparison_rows(seed: int = 0, runs: Optional[dict[tuple[str, str], Any]] = None,
                    sweep: Optional[Sequence[dict[str, Any]]] = None) -> dict[str, Any]:
    """Every experiment of the table, run with ``seed`` (or taken from ``runs`` / ``sweep`` when given).

    ``runs`` maps (architecture, kind of :data:`EXPERIMENTS`) to a result of :func:`experiment` with
    the same seed; what is missing is run here (and added to it).  ``sweep`` is
    ``load_sweep(SWEEP_RATES, seed, duration_ms=SWEEP_MS)``, run here when None.  Returns ``rows``
    (property, architecture, article, measured), ``values`` (property -> architecture -> raw
    numbers), ``sweep`` and ``runs``.
    """
    runs = {} if runs is None else runs
    if any(r.seed != seed for r in runs.values()):
        raise ValueError(f"runs must all use seed={seed}; allowed: results of experiment(..., seed={seed})")
    sweep = list(sweep) if sweep is not None else load_sweep(SWEEP_RATES, seed, duration_ms=SWEEP_MS)
    values: dict[str, dict[str, Any]] = {k: {} for k in ARTICLE_CLAIMS}
    for arch in ARCHITECTURES:
        for kind in EXPERIMENTS:
            if (arch, kind) not in runs:
                runs[(arch, kind)] = experiment(arch, kind, seed)
        quiet, heavy = runs[(arch, "quiet")], runs[(arch, "heavy")]
        down, lagging = runs[(arch, "tracking_down")], runs[(arch, "read_path_down")]
        m, h, d, lg = quiet.metrics, heavy.metrics, down.metrics, lagging.metrics
        stalls = [s.latency_ms for s in down.scans]
        values["scan wait p50 / p99 (ms)"][arch] = (m["scan_p50_ms"], m["scan_p99_ms"])
        values["highest rate with scans ok and p99 < 100 ms (per s)"][arch] = sustained_rate(sweep, arch, "scans")
        values["highest rate with read lag p99 < 0.25 s (per s)"][arch] = sustained_rate(sweep, arch, "lag")
        values["scan p99 under heavy analytics (ms)"][arch] = h["scan_p99_ms"]
        values["tracking down 1 s: scans failed / longest wait (ms)"][arch] = (d["scans_failed"],
                                                                               max(stalls, default=math.nan))
        values["read path down 1 s: worst lag / stale / failed queries"][arch] = (
            0.0 if arch == "orchestration" else lg["read_lag_max_s"], lg["stale_read_share"],
            1.0 - lg["queries_ok"] / lg["queries"] if lg["queries"] else math.nan)
        values["services in one scan's story (lineage)"][arch] = m["lineage_services"]
    rows = []
    for prop, per_arch in values.items():
        for arch in ARCHITECTURES:
            rows.append({"property": prop, "architecture": arch, "article": ARTICLE_CLAIMS[prop][arch],
                         "measured": _cell(per_arch[arch], prop)})
    return {"rows": rows, "values": values, "sweep": sweep, "runs": runs}


def _cell(value: Any, prop: str) -> str:
    """A measured value as the table shows it."""
    def num(x: float) -> str:
        if isinstance(x, float) and math.isnan(x):
            return "–"
        return f"{x:,.0f}" if abs(x) >= 100 else f"{x:.3g}"
    if prop.startswith("read path"):
        lag, stale, failed = value
        return f"{num(lag)} s / {100 * stale:.0f} % stale / {100 * failed:.0f} % failed"
    if isinstance(value, tuple):
        return " / ".join(num(float(v)) for v in value)
    return num(float(value))
