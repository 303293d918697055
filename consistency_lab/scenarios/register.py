"""One register on N replicas in two regions: the course's first and central experiment.

Clients in both regions read and write one key.  The replication ``mode`` decides
what "ok" means (sync, semi-sync, async primary–backup, a leaderless quorum, or Raft) and
the fault schedule decides what the network and the replicas go through.  The run
returns the history (for the checkers), the trace (for space–time diagrams) and
metrics (latency, stale reads, availability, convergence, lost writes).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Optional

from ..faults import FaultSchedule, parse_faults
from ..history import History, Operation
from ..latency import Exponential, parse_latency
from ..check.convergence import convergence_time
from ..metrics import latency_summary, rate, stale_reads
from ..network import Network, NetworkOptions
from ..faults import Crash, Partition
from ..replication import PrimaryBackupReplica, QuorumReplica, RaftReplica, RegisterClient
from ..replication.quorum import READ_REPAIR_MODES
from ..replication.raft_recorder import RaftRecorder, RaftTimeline
from ..sim import Simulation, TraceEvent
from . import register_scenario
from .base import EVENT_BUDGET, Param, RunResult, Scenario, finite_end, stop_note

__all__ = ["RegisterResult", "REGISTER", "MODES", "kv_operations", "key_names"]

MODES = ("sync", "semi-sync", "async", "quorum", "raft")

PARAMS = (
    Param("mode", str, "async", "how a write is replicated before the client hears ok", choices=MODES),
    Param("n", int, 3, "number of replicas", low=1, high=9),
    Param("k", int, 1, "semi-sync: backups that must ack before ok", low=0, high=8),
    Param("r", int, 2, "quorum: replicas a read waits for", low=1, high=9),
    Param("w", int, 2, "quorum: replicas a write waits for", low=1, high=9),
    Param("fanout", str, "all", "quorum: contact all N replicas, or only R/W random ones",
          choices=("all", "quorum")),
    Param("conflicts", str, "lww", "quorum: last-writer-wins or keep siblings", choices=("lww", "siblings")),
    Param("reads", str, "auto", "primary-backup: where reads go (auto: primary unless async)",
          choices=("auto", "primary", "local")),
    Param("clients", int, 4, "number of clients, alternating between regions", low=1, high=64),
    Param("operations", int, 25, "operations per client", low=1, high=100_000),
    Param("read_ratio", float, 0.5, "share of operations that are reads", low=0.0, high=1.0),
    Param("think_ms", float, 20.0, "mean pause between a client's operations (ms)", low=0.0, high=60_000),
    Param("timeout_ms", float, 500.0, "client gives up after this long (ms)", low=1.0, high=600_000),
    Param("local_latency", str, "lognormal:1,0.3", "one-way delay inside a region"),
    Param("latency", str, "lognormal:40,0.2", "one-way delay between the two regions"),
    Param("loss", float, 0.0, "probability a message is dropped", low=0.0, high=1.0),
    Param("duplicate", float, 0.0, "probability a message is delivered twice", low=0.0, high=1.0),
    Param("reorder", float, 0.0, "probability a message is held back (reordered)", low=0.0, high=1.0),
    Param("faults", str, "", "partitions, clogs and crashes, e.g. 'A|B@500-1500;crash:r0@200-900'"),
    Param("heartbeat_ms", float, 50.0, "primary-backup and raft: heartbeat interval (ms)", low=1.0, high=60_000),
    Param("election_timeout_min_ms", float, 150.0, "raft: shortest randomised election timeout (ms)",
          low=1.0, high=600_000),
    Param("election_timeout_max_ms", float, 300.0, "raft: longest randomised election timeout (ms)",
          low=1.0, high=600_000),
    Param("failover_timeout_ms", float, 300.0, "primary-backup: silence before a backup takes over (ms)",
          low=1.0, high=600_000),
    Param("failover", bool, True, "primary-backup: promote a backup when the primary goes quiet"),
    Param("read_repair", str, "async",
          "quorum: off; async (answer, then repair stale replicas); blocking (write the value back "
          "to W replicas before answering, as ABD does)", choices=READ_REPAIR_MODES),
    Param("hinted_handoff", bool, True, "quorum: coordinators retry writes a replica missed"),
    Param("anti_entropy_ms", float, 200.0, "quorum: gossip interval, 0 = off (ms)", low=0.0, high=600_000),
    Param("clock_skew_ms", float, 0.0, "max clock error of a replica (ms), drawn per replica",
          low=0.0, high=600_000),
    Param("settle_ms", float, 2000.0, "quiet time after the last operation and heal (ms)",
          low=0.0, high=600_000),
    Param("trace", bool, True, "include the full message trace in the result (the digest is always computed)"),
    Param("keys", int, 1, "a key-value store: each operation reads or writes one of this many keys, drawn "
          "uniformly (1: the single register x; more: keys k0, k1, ..., checked one key at a time)", low=1, high=64),
    Param("crash_leader", str, "", "crash whichever replica leads (primary or raft leader) at START ms and "
          "restart it at END ms: 'START-END', 'START' (never restarts) or '' (never)"),
    Param("isolate_leader", str, "", "cut whichever replica leads at START ms off from every other node "
          "until END ms: 'START-END' or '' (never)"),
    Param("raft_timeline", bool, False,
          "raft: record each server's role, term, log and commit index over time and every peer message "
          "in flight (result.raft_timeline, for the Raft explorer)"),
)


def _cross_check(p: dict) -> None:
    n = p["n"]
    for name in ("crash_leader", "isolate_leader"):
        if p[name].strip() and p["mode"] == "quorum":
            raise ValueError(f"{name}={p[name]!r} needs a replica that leads; allowed: '' with mode=quorum "
                             "(leaderless), any window with sync, semi-sync, async or raft")
        _leader_window(name, p[name])
    if p["mode"] == "quorum":
        for name in ("r", "w"):
            if p[name] > n:
                raise ValueError(f"{name}={p[name]} must be between 1 and n={n}")
    if p["mode"] == "raft" and p["election_timeout_max_ms"] < p["election_timeout_min_ms"]:
        raise ValueError(f"election_timeout_max_ms={p['election_timeout_max_ms']:g} must be >= "
                         f"election_timeout_min_ms={p['election_timeout_min_ms']:g}")
    if p["mode"] == "semi-sync" and p["k"] > n - 1:
        raise ValueError(f"k={p['k']} must be between 0 and n-1={n - 1}")
    for name in ("local_latency", "latency"):
        parse_latency(p[name], name)
    parse_faults(p["faults"])


def _leader_window(name: str, text: str) -> "tuple[float, float] | None":
    """The (start, end) of a leader fault ('' -> None), checked as a fault window is."""
    if not text.strip():
        return None
    try:
        (crash,) = parse_faults(f"crash:leader@{text.strip()}").faults
    except ValueError:
        raise ValueError(f"{name}={text!r} must be a window 'START-END' or 'START' in ms, or ''") from None
    return crash.start, crash.end


def _leader_of(replicas: dict) -> "str | None":
    """The replica that leads now: alive, believing it leads, of the newest term (epoch); None in an election."""
    leading = [r for r in replicas.values() if r.alive and r.is_primary]
    if not leading:
        return None
    return max(leading, key=lambda r: getattr(r, "term", None) or getattr(r, "epoch", 0)).name


def key_names(keys: int) -> tuple[str, ...]:
    """The keys of a run: ``("x",)`` for the single register, else ``k0 .. k{keys-1}``."""
    return ("x",) if keys == 1 else tuple(f"k{i}" for i in range(keys))


class _KeyedHistory(History):
    """Records each operation with its key as a third input element: ("write", v, key), ("read", None, key)."""

    def __init__(self, clients: dict) -> None:
        super().__init__()
        self._clients = clients

    def add(self, op: Operation) -> None:
        """Add ``op`` tagged with the key its client is working on (unchanged until its next operation)."""
        key = self._clients[op.client_id].key
        super().add(Operation(op.client_id, (*op.input, key), op.call, op.output, op.return_time, op.status))


def kv_operations(result: "RegisterResult") -> list[Operation]:
    """The run's history in the key-value model's form (("put", key, v), ("get", key, None)), for
    ``check_operations(tuple_kv_model(), ...)``; a one-key run reads and writes key "x"."""
    out = []
    for op in result.history:
        key = op.input[2] if len(op.input) > 2 else "x"
        f = "put" if op.input[0] == "write" else "get"
        out.append(Operation(op.client_id, (f, key, op.input[1] if f == "put" else None), op.call,
                             op.output, op.return_time, op.status))
    return out


def _stale_per_key(ops: list[Operation], keyed: bool) -> list[Operation]:
    """Stale reads, judged within each key (one key: the whole history)."""
    if not keyed:
        return stale_reads(ops)
    by_key: dict[str, list[Operation]] = {}
    for op in ops:
        by_key.setdefault(op.input[2], []).append(op)
    stale = {id(op) for part in by_key.values() for op in stale_reads(part)}
    return [op for op in ops if id(op) in stale]


@dataclass
class RegisterResult(RunResult):
    """A register run: metrics plus history, trace, replica states and topology."""

    history: History = field(default_factory=History)
    stale: list[Operation] = field(default_factory=list)  # reads that returned an overwritten value
    trace: list[TraceEvent] = field(default_factory=list)
    replica_states: dict = field(default_factory=dict)
    change_log: list = field(default_factory=list)
    faults: FaultSchedule = field(default_factory=FaultSchedule)
    regions: dict = field(default_factory=dict)
    end_time: float = 0.0
    #: Raft runs asked for it (``raft_timeline=True``): every server's state and message over time.
    raft_timeline: Optional[RaftTimeline] = None


def _topology(n: int, clients: int) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    """Replicas r0.. split over regions A (the larger half) and B; clients alternate A, B."""
    in_a = (n + 1) // 2
    replicas = [(f"r{i}", "A" if i < in_a else "B") for i in range(n)]
    people = [(f"c{i}", "A" if i % 2 == 0 else "B") for i in range(clients)]
    return replicas, people


def _run_register(seed: int, p: dict, _hooks: dict) -> RegisterResult:
    """Build the cluster, run the workload and the faults, and measure what happened (``REGISTER.run``)."""
    sim = Simulation(seed, trace=True, max_events=EVENT_BUDGET)
    faults = parse_faults(p["faults"])
    options = NetworkOptions(latency=p["latency"], loss=p["loss"], duplicate=p["duplicate"],
                             reorder=p["reorder"])
    net = Network(sim, options)
    replica_specs, client_specs = _topology(p["n"], p["clients"])
    names = [r for r, _ in replica_specs]
    change_log: list[tuple[float, str, Any]] = []
    keys = key_names(p["keys"])
    keyed = len(keys) > 1

    def state_of(replica) -> Any:
        """One key: its value; several: a tuple of every key's value, in key order."""
        return tuple(replica.value(k) for k in keys) if keyed else replica.value()

    def on_change(replica) -> None:
        change_log.append((sim.now, replica.name, state_of(replica)))

    skew_rng = sim.rng("clocks")
    skews = {r: skew_rng.uniform(-p["clock_skew_ms"], p["clock_skew_ms"]) for r in names}
    mode = p["mode"]
    replicas: dict[str, Any] = {}
    recorder = RaftRecorder(sim) if mode == "raft" and p["raft_timeline"] else None
    # Raft serves every read at the leader (ReadIndex), so ``reads`` does not apply to it.
    reads_local = mode != "raft" and (mode == "async" if p["reads"] == "auto" else p["reads"] == "local")
    for name, region in replica_specs:
        if mode == "quorum":
            node = QuorumReplica(
                name, sim, net, region=region, replicas=names, n=p["n"], r=p["r"], w=p["w"],
                conflicts=p["conflicts"], fanout=p["fanout"], timeout_ms=p["timeout_ms"],
                read_repair=p["read_repair"], hinted_handoff=p["hinted_handoff"],
                anti_entropy_ms=p["anti_entropy_ms"], clock_skew_ms=skews[name], on_change=on_change)
        elif mode == "raft":
            node = RaftReplica(
                name, sim, net, region=region, peers=names, heartbeat_ms=p["heartbeat_ms"],
                election_timeout_ms=(p["election_timeout_min_ms"], p["election_timeout_max_ms"]),
                on_change=on_change, observer=recorder)
            if recorder is not None:
                recorder.watch(node)
        else:
            acks = {"sync": p["n"] - 1, "semi-sync": p["k"], "async": 0}[mode]
            node = PrimaryBackupReplica(
                name, sim, net, region=region, peers=names, mode=mode, acks_needed=acks,
                is_primary=(name == "r0"), heartbeat_ms=p["heartbeat_ms"],
                failover_timeout_ms=p["failover_timeout_ms"], failover=p["failover"],
                serve_local_reads=reads_local, on_change=on_change)
        replicas[name] = node

    local_of: dict[str, str] = {}
    for i, (cname, region) in enumerate(client_specs):
        here = [r for r, reg in replica_specs if reg == region] or names
        local_of[cname] = here[(i // 2) % len(here)]

    def route(client: RegisterClient, kind: str) -> str:
        if mode == "quorum" or (kind == "read" and reads_local):
            return local_of[client.name]
        # Writes go to the primary the client last heard of; without one, to the
        # local replica, which redirects to whoever it believes leads.
        return client.primary_hint or local_of[client.name]

    by_name: dict[str, RegisterClient] = {}
    history = _KeyedHistory(by_name) if keyed else History()
    counter = iter(range(1, 10**9))
    clients: list[RegisterClient] = []

    # A client crashed with no restart never finishes: the workload is over without it.
    down_for_good = {c.node for c in faults.crashes() if c.end == math.inf}
    finished = sim.env.event()

    def client_settled(_client: "RegisterClient | None" = None) -> None:
        if not finished.triggered and all(c.done or (c.name in down_for_good and not c.alive) for c in clients):
            finished.succeed()

    think = Exponential(1.0 / p["think_ms"]) if p["think_ms"] > 0 else parse_latency(0)
    for cname, region in client_specs:
        client = RegisterClient(cname, sim, net, region=region, route=route, history=history,
                                next_value=lambda: next(counter), operations=p["operations"],
                                read_ratio=p["read_ratio"], think=think, timeout_ms=p["timeout_ms"],
                                keys=keys if keyed else (), on_done=client_settled)
        by_name[cname] = client
        clients.append(client)
        client.start()
    local = parse_latency(p["local_latency"], "local_latency")
    for a in ("A", "B"):
        net.set_region_latency(a, a, local)
    net.set_region_latency("A", "B", parse_latency(p["latency"], "latency"))
    for node in replicas.values():
        node.start()
    net.apply(faults)
    struck: list = []  # the leader faults, once they have found their leader

    def strike(kind: str, start: float, end: float) -> None:
        leader = _leader_of(replicas)
        if leader is None:
            sim.record("note", "", "", f"no leader to {kind}", detail="an election was under way")
            return
        others = tuple(n for n in net.nodes if n != leader)
        fault = Crash(leader, start, end) if kind == "crash" else Partition(((leader,), others), start, end)
        struck.append(fault)
        net.apply(FaultSchedule((fault,)))

    leader_faults = [(kind, _leader_window(name, p[name])) for kind, name in
                     (("crash", "crash_leader"), ("isolate", "isolate_leader"))]
    for kind, window in leader_faults:
        if window is not None:
            sim.schedule(window[0], strike, kind, *window)
    for crash in faults.crashes():
        if crash.node in down_for_good and crash.node in local_of:
            sim.schedule(crash.start, client_settled)  # queued after the crash itself

    # Bounds count the leader faults as planned (whoever they strike), as if they were in ``faults``.
    planned = FaultSchedule.of([*faults.faults, *(Crash("leader", *w) for _kind, w in leader_faults if w)])
    bound = _workload_bound(p, planned)
    reason = sim.run_bounded(bound, stop_when=finished)
    unfinished = [c.name for c in clients if not c.done and c.name not in down_for_good]
    stopped = stop_note(reason, bound, "clients " + ", ".join(unfinished)) if unfinished else ""
    last_heal = planned.last_heal()
    if reason != "events":
        stop = max(sim.now, finite_end(last_heal)) + p["settle_ms"]
        if sim.run_bounded(stop) == "events":
            stopped = stop_note("events", stop, "the settle period after the workload")

    faults = FaultSchedule.of([*faults.faults, *struck])  # the leader faults as they struck, for the metrics
    states = {name: state_of(node) for name, node in replicas.items()}
    # Convergence is measured from quiescence: the last heal, or the last write, whichever is later.
    last_write = max((op.call for op in history if op.input[0] == "write"), default=0.0)
    heal = max(last_heal if last_heal != math.inf else sim.now, last_write)
    stale = _stale_per_key(history.operations, keyed)
    metrics = _metrics(history, stale, faults, net, replicas, change_log, heal, mode, client_specs, keys)
    return RegisterResult(
        scenario="register", seed=seed, params=dict(p), metrics=metrics,
        trace_digest=sim.trace_digest(), history=history, stale=stale,
        trace=sim.trace if p["trace"] else [], replica_states=states, change_log=change_log,
        faults=faults, regions={**dict(replica_specs), **dict(client_specs)}, end_time=sim.now,
        stopped=stopped, raft_timeline=recorder.timeline() if recorder is not None else None)


def _workload_bound(p: dict, faults: FaultSchedule) -> float:
    """Virtual time by which every client has surely finished: a bound, not an estimate.

    Each operation takes at most ``timeout_ms`` (redirects share one timeout); think
    times are exponential, so ``3n`` means plus 50 means is exceeded with negligible
    probability; a crashed client resumes at its restart, the latest finite fault end.
    """
    ops = p["operations"]
    work = ops * p["timeout_ms"] + (3 * ops + 50) * p["think_ms"]
    return finite_end(*(f.end for f in faults.faults)) + work + p["settle_ms"] + 1000.0


def _lost_writes(history: History, replicas: dict, mode: str, keys: tuple[str, ...] = ("x",)) -> int:
    """Acknowledged writes missing from the final authoritative state."""
    acked = [op for op in history if op.input[0] == "write" and op.status == "ok"]
    if mode == "raft":
        # Acknowledged means committed: it must be in the committed log of the final
        # leader (of the highest term); with no leader at the end, the longest committed
        # prefix any server knows (committed prefixes agree, which the tests check).
        leaders = [r for r in replicas.values() if r.is_primary and r.alive]
        final = (max(leaders, key=lambda r: r.term) if leaders
                 else max(replicas.values(), key=lambda r: r.commit))
        kept = {e.value for e in final.committed_log() if e.kind == "write"}
        return sum(1 for op in acked if op.input[1] not in kept)
    if mode != "quorum":
        leaders = [r for r in replicas.values() if r.is_primary and r.alive] or list(replicas.values())
        final = max(leaders, key=lambda r: (r.epoch, len(r.log)))
        kept = {e.value for e in final.log}
        return sum(1 for op in acked if op.input[1] not in kept)
    # Leaderless: a write that began after the surviving value's write had finished
    # should have replaced it; if it did not, last-writer-wins threw it away (key by key).
    by_value = {op.input[1]: op for op in history if op.input[0] == "write"}
    lost = 0
    for key in keys:
        mine = [op for op in acked if (op.input[2] if len(op.input) > 2 else "x") == key]
        values = [r.value(key) for r in replicas.values()]
        finals = {v for value in values for v in (value if isinstance(value, tuple) else (value,))}
        cutoff = min((by_value[v].return_time for v in finals if v in by_value), default=-math.inf)
        lost += sum(1 for op in mine if op.call > cutoff and op.input[1] not in finals)
    return lost


def _since(t: "float | None", start: float) -> float:
    """Milliseconds from ``start`` to ``t`` (NaN when ``t`` is None: never happened)."""
    return math.nan if t is None else t - start


def _fault_periods(faults: FaultSchedule) -> list[tuple[float, float]]:
    """Partition and crash windows merged into disjoint (start, end) periods, in time order."""
    windows = sorted(faults.partition_windows() + [(c.start, c.end) for c in faults.crashes()])
    merged: list[list[float]] = []
    for a, b in windows:
        if merged and a <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], b)
        else:
            merged.append([a, b])
    return [(a, b) for a, b in merged]


def _during_faults(ops: list[Operation], periods: list[tuple[float, float]]) -> list[tuple[Operation, bool]]:
    """Operations in flight during a fault period, each with "returned ok before that period ended".

    In flight means called before the period ended and not yet returned when it began
    (a pending operation never returns).  An operation spanning several periods must
    have returned ok before the last of them ended.  Counting by call time instead
    would credit a write that was called during a partition but only answered after
    the heal as "available during the fault".
    """
    out = []
    for op in ops:
        ends = [b for a, b in periods if op.call < b and op.return_time > a]
        if ends:
            out.append((op, op.status == "ok" and op.return_time <= max(ends)))
    return out


def _metrics(history: History, stale: list[Operation], faults: FaultSchedule, net: Network, replicas: dict,
             change_log: list, heal: float, mode: str, client_specs: list,
             keys: tuple[str, ...] = ("x",)) -> dict:
    """Latency, staleness, availability (overall and during faults), convergence and lost writes.

    ``*_during_faults`` metrics count operations by *return* time (see ``_during_faults``):
    ``availability_during_faults`` is the share of operations in flight during a fault
    that returned ok before the fault ended, ``writes_during_faults_region_X`` how many
    writes by region-X clients were in flight during one, and
    ``writes_during_faults_ok_region_X`` how many of those returned ok before the heal.
    Latency is reported overall and per client region (``*_region_A_*``), with the
    number of samples (``*_n``) so nobody reads a p99 off a few dozen operations.
    """
    ops = history.operations
    reads = [op for op in ops if op.input[0] == "read"]
    writes = [op for op in ops if op.input[0] == "write"]
    ok = [op for op in ops if op.status == "ok"]
    ok_reads = [op for op in reads if op.status == "ok"]
    ok_writes = [op for op in writes if op.status == "ok"]
    during = _during_faults(ops, _fault_periods(faults))
    finished = [op.return_time for op in ok]
    span = (max(finished) - min(op.call for op in ops)) if finished else 0.0
    region = dict(client_specs)
    m: dict[str, Any] = {}
    m.update(latency_summary([op.latency for op in ok_writes], "write_latency"))
    m.update(latency_summary([op.latency for op in ok_reads], "read_latency"))
    m.update({"write_latency_n": len(ok_writes), "read_latency_n": len(ok_reads)})
    # Clients in the region without the primary pay the WAN on every write: one
    # distribution with two humps, so report each region on its own.
    for name in ("A", "B"):
        here = [op.latency for op in ok_writes if region[op.client_id] == name]
        m.update(latency_summary(here, f"write_latency_region_{name}"))
        m[f"write_latency_region_{name}_n"] = len(here)
        here = [op.latency for op in ok_reads if region[op.client_id] == name]
        m.update(latency_summary(here, f"read_latency_region_{name}"))
        m[f"read_latency_region_{name}_n"] = len(here)
    m.update({
        "operations": len(ops),
        "throughput_ops_per_s": rate(len(ok) * 1000.0, span),
        "stale_reads": len(stale),
        "stale_read_fraction": rate(len(stale), len(ok_reads)),
        "availability": rate(len(ok), len(ops)),
        "write_availability": rate(len(ok_writes), len(writes)),
        "read_availability": rate(len(ok_reads), len(reads)),
        "operations_during_faults": len(during),
        "availability_during_faults": rate(sum(served for _, served in during), len(during)),
    })
    for name in ("A", "B"):
        mine = [served for op, served in during if op.input[0] == "write" and region[op.client_id] == name]
        m[f"writes_during_faults_region_{name}"] = len(mine)
        m[f"writes_during_faults_ok_region_{name}"] = sum(mine)
    m.update({
        "pending_operations": sum(op.pending for op in ops),
        "failed_operations": sum(op.status == "fail" for op in ops),
        "converged": len({repr(tuple(r.value(k) for k in keys) if len(keys) > 1 else r.value())
                          for r in replicas.values()}) == 1,
        "convergence_time_ms": _since(convergence_time(change_log, heal, {name: None for name in replicas}), heal),
        "messages_per_op": rate(net.sent, len(ops)),
        "messages_dropped": net.dropped,
        "lost_acknowledged_writes": _lost_writes(history, replicas, mode, keys),
    })
    return m


REGISTER = register_scenario(Scenario(
    name="register",
    summary="one key on N replicas in two regions: sync, semi-sync, async, quorum or raft replication",
    params=PARAMS,
    runner=_run_register,
    cross_check=_cross_check,
    work=lambda p: (p["clients"] * p["operations"], "clients × operations"),
    max_work=10_000,
))

