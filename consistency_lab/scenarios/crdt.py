"""Scenario ``crdt``: one CRDT on a few replicas over the faulty network, kept in step three ways.

The lesson of chapter 04's first half: replicas that accept updates on both sides of a cut and
exchange state, deltas or operations afterwards all end equal to the join of every update (the
oracle), with no coordination; what differs is how long it takes and how many bytes it costs.
The work is ``replication.crdt_sync.run_crdt``; this module only declares the parameters,
bounds the work and turns the run into metrics.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from ..crdt import CRDT
from ..faults import parse_faults
from ..latency import Exponential
from ..replication import crdt_sync
from ..replication.crdt_sync import CRDT_KINDS, SYNC_MODES, CrdtSyncResult
from . import register_scenario
from .base import EVENT_BUDGET, Param, RunResult, Scenario, finite_end, stop_note

__all__ = ["CRDT_SCENARIO", "CrdtResult"]

PARAMS = (
    Param("kind", str, "orset", "the data type", choices=CRDT_KINDS),
    Param("sync", str, "delta", "state: gossip whole states; delta: deltas with acks; ops: causal op broadcast",
          choices=SYNC_MODES),
    Param("nodes", int, 3, "replicas (r0, r1, ...)", low=1, high=8),
    Param("updates", int, 30, "updates, at random replicas and times", low=0, high=2_000),
    Param("duration_ms", float, 2_000.0, "the updates are spread over this long (ms)", low=1.0, high=60_000.0),
    Param("sync_ms", float, 50.0, "how often a replica gossips or resends (ms)", low=5.0, high=5_000.0),
    Param("fanout", int, 1, "state mode: peers each gossip round goes to", low=1, high=7),
    Param("latency_ms", float, 5.0, "mean one-way network delay (ms, exponential; 0: instant)", low=0.0,
          high=5_000.0),
    Param("loss", float, 0.0, "probability a message is dropped", low=0.0, high=1.0),
    Param("duplicate", float, 0.0, "probability a message is delivered twice", low=0.0, high=1.0),
    Param("reorder", float, 0.0, "probability a message is held back (reordered)", low=0.0, high=1.0),
    Param("faults", str, "", "cuts, clogs or crashes on r0..r7, e.g. 'r0|r1,r2@200-1500'"),
    Param("clock_skew_ms", float, 0.0, "r0's clock error (ms): last-writer-wins types stamp writes with it",
          low=-60_000.0, high=60_000.0),
    Param("settle_ms", float, 5_000.0, "time after the last update and the last fault to converge (ms)",
          low=0.0, high=60_000.0),
)

#: Messages x state entries one run may touch (each delivered message joins up to one state); the
#: slowest kind at this limit (RGA state gossip, 8 nodes) takes about 8 s on one laptop core.
MAX_WORK = 3_000_000


def _work(p: dict) -> tuple[int, str]:
    """Gossip rounds x messages per round x entries per message, at the worst (a run that never converges)."""
    last_fault = finite_end(parse_faults(p["faults"]).last_heal())
    rounds = math.ceil((max(p["duration_ms"], last_fault) + p["settle_ms"]) / p["sync_ms"]) + 1
    peers = max(p["nodes"] - 1, 1)
    per_round = p["nodes"] * (min(p["fanout"], peers) if p["sync"] == "state" else 2 * peers)
    return rounds * per_round * (p["updates"] + 1), "gossip rounds x messages per round x (updates + 1)"


@dataclass
class CrdtResult(RunResult):
    """A ``crdt`` run: each replica's state and value, the oracle, and the run record."""

    replicas: dict[str, CRDT] = field(default_factory=dict)
    values: dict[str, Any] = field(default_factory=dict)
    expected: Any = None
    run: Any = None  # the CrdtSyncResult: updates issued, payloads, convergence time, traffic


def _run_crdt(seed: int, p: dict, hooks: dict) -> CrdtResult:
    """Run the data type with the chosen sync mode; report convergence, time and traffic."""
    latency = Exponential(1.0 / p["latency_ms"]) if p["latency_ms"] > 0 else 0.0
    skew = [p["clock_skew_ms"]] + [0.0] * (p["nodes"] - 1)
    r: CrdtSyncResult = crdt_sync.run_crdt(
        p["kind"], seed, nodes=p["nodes"], updates=p["updates"], sync=p["sync"], duration_ms=p["duration_ms"],
        sync_ms=p["sync_ms"], fanout=p["fanout"], latency=latency, loss=p["loss"], duplicate=p["duplicate"],
        reorder=p["reorder"], faults=p["faults"], clock_skew_ms=skew, settle_ms=p["settle_ms"],
        max_events=EVENT_BUDGET)
    metrics = {
        "converged": r.converged,
        "convergence_ms": r.convergence_ms if r.convergence_ms is not None else math.inf,
        "messages": r.messages,
        "bytes": r.bytes,
        "updates_issued": len(r.updates),
        "updates_skipped": r.skipped,
        "state_size": max((c.state_size() for c in r.replicas.values()), default=0),
        "replicas_equal": len({c.canonical() for c in r.replicas.values()}) <= 1,
    }
    differ = [n for n, c in r.replicas.items() if c != r.expected]
    stopped = "" if r.converged else stop_note(r.why if r.why in ("time", "events", "idle") else "time",
                                               r.bound_ms, f"replicas {', '.join(differ)} differ from the join "
                                               f"of every update")
    return CrdtResult(scenario="crdt", seed=seed, params=dict(p), metrics=metrics, trace_digest=r.trace_digest,
                      stopped=stopped, replicas=r.replicas, values=r.values, expected=r.expected, run=r)


CRDT_SCENARIO = register_scenario(Scenario(
    "crdt", "one CRDT on a few replicas over a faulty network: state gossip, deltas or causal ops converge",
    PARAMS, _run_crdt, work=_work, max_work=MAX_WORK))
