"""The Raft paper's leader-election experiment (Ongaro & Ousterhout 2014, §9.3, Figure 16).

Five ``RaftReplica`` servers elect a leader and settle.  The leader is then crashed
at a uniformly random point within its heartbeat interval (half the minimum election
timeout, as in the paper).  Just before it dies it makes a synchronised broadcast
that also replicates its last three entries unevenly: the followers end with 3, 2, 1
and 0 of them, so the two shortest logs cannot win an election (the up-to-date rule
leaves them at most two of the three votes they need).  The measured downtime is the
time from the crash to the first leader of a new term.

Network latency: one-way delays uniform on 5–10 ms (``LATENCY``).  The paper's cluster
had a broadcast time (send to all, all answer) of roughly 15 ms; a request and its
reply here take 10–20 ms, the same order.  The spread matters as much as the mean: with
a zero-width timeout range (150–150 ms) the latency jitter is all that breaks the tie
between candidates, as disk and scheduling noise did on the paper's machines.

Timers in the simulation are exact.  With 150–150 ms, once the survivors' timers fire
within one minimum one-way delay (5 ms) of each other, every round is a split vote and
nothing ever perturbs the next round: no leader is elected at all (the paper's servers,
with real timer and disk noise, did elect, slowly).  That is reported as ``math.inf``,
not hidden, and not "fixed" by adding noise the paper does not describe.

Each trial is its own deterministic ``Simulation``; :func:`election_trials` runs them
through a seeded loop (trial ``i`` of seed ``s`` uses simulation seed ``s * 1_000_003 + i``).
"""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass

from ..network import Network, NetworkOptions
from ..replication.raft import RaftReplica
from ..replication.raft_messages import AppendEntries, LogEntry
from ..sim import Simulation
from ..validation import count, positive
from .base import EVENT_BUDGET

__all__ = ["TOP_RANGES", "BOTTOM_RANGES", "LATENCY", "ElectionTrial", "election_trial",
           "election_trials", "downtime_summary"]

#: Figure 16, top panel: how much randomness is enough.
TOP_RANGES = ((150.0, 150.0), (150.0, 151.0), (150.0, 155.0), (150.0, 175.0), (150.0, 200.0), (150.0, 300.0))
#: Figure 16, bottom panel: how short a timeout can be.
BOTTOM_RANGES = ((12.0, 24.0), (25.0, 50.0), (50.0, 100.0), (100.0, 200.0), (150.0, 300.0))
LATENCY = "uniform:5,10"
SERVERS = 5
#: How many of the leader's last entries each follower receives in the final broadcast.
UNEVEN = (3, 2, 1, 0)
MAX_WAIT_MS = 60_000.0


@dataclass(frozen=True)
class ElectionTrial:
    """One trial: when the leader crashed, how long until a new one, and who won."""

    seed: int
    timeout_ms: tuple[float, float]
    crash_at: float
    downtime_ms: float  # math.inf when no leader appeared within max_wait_ms
    winner: str
    logs: tuple  # every live server's log length when the winner was elected, the winner's first


def _check_range(timeout_ms: tuple[float, float]) -> tuple[float, float]:
    low = positive("election_timeout_min_ms", timeout_ms[0])
    high = positive("election_timeout_max_ms", timeout_ms[1])
    if high < low:
        raise ValueError(f"election_timeout_max_ms={high:g} must be >= election_timeout_min_ms={low:g}")
    return low, high


def election_trial(seed: int, timeout_ms: tuple[float, float], *, latency: str = LATENCY,
                   max_wait_ms: float = MAX_WAIT_MS) -> ElectionTrial:
    """Elect, settle, crash the leader within its heartbeat interval; time the next election."""
    low, high = _check_range(timeout_ms)
    positive("max_wait_ms", max_wait_ms)
    heartbeat = low / 2
    sim = Simulation(seed, trace=False, max_events=EVENT_BUDGET)
    net = Network(sim, NetworkOptions(latency=latency))
    names = [f"s{i}" for i in range(SERVERS)]
    elected: list[tuple[float, RaftReplica, tuple]] = []
    wake = [sim.env.event()]

    def on_leader(node: RaftReplica) -> None:
        # Called before the new leader appends its no-op: the logs it was elected with.
        logs = (node.last_index,) + tuple(s.last_index for s in servers if s.alive and s is not node)
        elected.append((sim.now, node, logs))
        if not wake[0].triggered:
            wake[0].succeed()

    servers = [RaftReplica(n, sim, net, peers=names, election_timeout_ms=(low, high),
                           heartbeat_ms=heartbeat, on_leader=on_leader) for n in names]
    boot = sim.rng("experiment/boot")
    for s in servers:
        # Servers boot at different moments; with a zero-width timeout range, booting
        # together would tie the very first election forever.
        sim.schedule(boot.uniform(0, high), s.start)
    leader = None
    for _ in range(50):
        if not elected:
            sim.run_bounded(sim.now + max_wait_ms, stop_when=wake[0])
        # Settle: a few heartbeats, so every follower holds the leader's log.
        sim.run_bounded(sim.now + 4 * heartbeat + 2 * high)
        candidate = _stable_leader(servers)
        if candidate is None:
            continue
        since = max(t for t, node, _ in elected if node is candidate)
        next_beat = since + math.ceil((sim.now - since) / heartbeat + 1e-9) * heartbeat
        sim.run_bounded(next_beat + sim.rng("experiment").uniform(0, heartbeat))
        # Short timeouts over a slow network elect spontaneously now and then: crash
        # only a leader the whole cluster still follows, else settle and try again.
        if _stable_leader(servers) is candidate:
            leader = candidate
            break
    if leader is None:
        return ElectionTrial(seed, (low, high), sim.now, math.inf, "", ())
    _final_broadcast_and_crash(leader)
    crashed_at = sim.now
    wake[0] = sim.env.event()
    before = len(elected)
    sim.run_bounded(crashed_at + max_wait_ms, stop_when=wake[0])
    if len(elected) == before:
        return ElectionTrial(seed, (low, high), crashed_at, math.inf, "", ())
    when, winner, logs = elected[before]
    return ElectionTrial(seed, (low, high), crashed_at, when - crashed_at, winner.name, logs)


def _stable_leader(servers: list[RaftReplica]) -> "RaftReplica | None":
    """The leader, if every server is in its term, follows it and holds its whole log."""
    leaders = [s for s in servers if s.is_primary]
    if len(leaders) != 1:
        return None
    leader = leaders[0]
    stable = all(s.term == leader.term and s.log == leader.log and s.leader == leader.name for s in servers)
    return leader if stable else None


def _final_broadcast_and_crash(leader: RaftReplica) -> None:
    """The synchronised heartbeat: append three entries, send each follower a different share, die."""
    base = leader.last_index
    for i in range(len(UNEVEN)):
        leader.append_entry(LogEntry(leader.term, "write", "x", -(i + 1), "experiment", -(base + i + 1)))
    for peer, extra in zip(leader.peers, UNEVEN):
        prev = leader.match_index[peer]
        upto = base + extra
        prev_term = leader.log[prev - 1].term if prev else 0
        leader.send(peer, AppendEntries(leader.term, leader.name, prev, prev_term,
                                        tuple(leader.log[prev:upto]), leader.commit, leader.round + 1))
    leader.crash()


def election_trials(seed: int, timeout_ms: tuple[float, float], trials: int, *, latency: str = LATENCY,
                    max_wait_ms: float = MAX_WAIT_MS) -> list[ElectionTrial]:
    """``trials`` independent trials of one timeout range, through a seeded loop."""
    count("trials", trials)
    return [election_trial(seed * 1_000_003 + i, timeout_ms, latency=latency, max_wait_ms=max_wait_ms)
            for i in range(trials)]


def downtime_summary(results: list[ElectionTrial]) -> dict[str, float]:
    """Median, 99th percentile and worst downtime (ms), and how many trials found no leader."""
    times = sorted(r.downtime_ms for r in results)
    finite = [t for t in times if math.isfinite(t)]
    p99 = times[min(len(times) - 1, math.ceil(0.99 * len(times)) - 1)] if times else math.nan
    return {"trials": float(len(times)), "median_ms": statistics.median(times) if times else math.nan,
            "p99_ms": p99, "worst_ms": times[-1] if times else math.nan,
            "no_leader": float(len(times) - len(finite))}
