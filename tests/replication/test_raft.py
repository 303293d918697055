"""Raft's safety and liveness under faults, over seeds and hypothesis fault schedules.

A small harness builds Raft replicas and ``RegisterClient``s directly (so the test can
watch every server) and, while the run goes on, records each server's (term, became
leader) events and its committed prefix every few milliseconds.  After the run:

* at most one leader per term (election safety);
* log matching: two logs with an entry of the same index and term agree up to there;
* committed entries are never lost or changed: every committed prefix seen at any time
  agrees with every other, and every new leader's log holds all of them;
* the history is linearizable (``check_operations(register_model(), ...)``);
* no acknowledged write is lost: each is in the final leader's committed log;
* after the last heal a leader that a majority follows appears within ``HEAL_BOUND_MS``.

Then the register scenario's ``raft`` mode: chapter 01's cut, and the contrast with
primary–backup failover, which loses acknowledged writes under the same schedule.
"""

from collections import Counter

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from consistency_lab import simulate
from consistency_lab.check import check_operations, register_model
from consistency_lab.faults import parse_faults
from consistency_lab.history import History, Operation
from consistency_lab.latency import Exponential
from consistency_lab.network import Network, NetworkOptions
from consistency_lab.replication import RaftReplica, RegisterClient
from consistency_lab.replication.raft_messages import LogEntry
from consistency_lab.scenarios.register import _lost_writes
from consistency_lab.sim import Simulation

from _schedules import fault_schedules

ELECTION = (150.0, 300.0)
HEARTBEAT = 50.0
#: The stated liveness bound: ten of the longest election timeouts after the last heal.
#: A round fails only on a split vote or lost votes; ten failures in a row are unlikely
#: enough that a regression (no leader ever, or endless disruption) is what trips it.
HEAL_BOUND_MS = 10 * ELECTION[1]
SAMPLE_MS = 10.0


class Watch:
    """Everything the invariants need, gathered while the run goes on."""

    def __init__(self):
        self.leaders: list[tuple[int, str, float]] = []
        self.committed: dict[int, object] = {}  # index -> entry, from every committed prefix seen
        self.violations: list[str] = []
        self.healed_leader_at: float | None = None

    def on_leader(self, node):
        self.leaders.append((node.term, node.name, node.sim.now))
        missing = [i for i, e in self.committed.items() if i > len(node.log) or node.log[i - 1] != e]
        if missing:
            self.violations.append(f"leader {node.name} of term {node.term} lacks committed {missing[:3]}")

    def sample(self, replicas):
        for r in replicas:
            if not r.alive:
                continue
            for i, e in enumerate(r.committed_log(), start=1):
                seen = self.committed.setdefault(i, e)
                if seen != e:
                    self.violations.append(f"{r.name} committed {e} at {i}, {seen} was committed there")


def log_matching_violations(replicas):
    """Pairs of logs that share an (index, term) but differ before it."""
    bad = []
    for a in replicas:
        for b in replicas:
            if a.name >= b.name:
                continue
            for i in range(min(len(a.log), len(b.log)), 0, -1):
                if a.log[i - 1].term == b.log[i - 1].term:
                    if a.log[:i] != b.log[:i]:
                        bad.append((a.name, b.name, i))
                    break
    return bad


def run_cluster(seed, faults="", leader_crashes=(), n=3, loss=0.0, duplicate=0.0, clients=3,
                operations=12, latency="uniform:1,10", think_ms=20.0):
    """A Raft cluster with clients under ``faults`` and crashes of whoever leads at given times."""
    sim = Simulation(seed, trace=False, max_events=300_000)
    net = Network(sim, NetworkOptions(latency=latency, loss=loss, duplicate=duplicate))
    names = [f"r{i}" for i in range(n)]
    watch = Watch()
    replicas = [RaftReplica(name, sim, net, peers=names, election_timeout_ms=ELECTION,
                            heartbeat_ms=HEARTBEAT, on_leader=watch.on_leader) for name in names]
    history = History()
    counter = iter(range(1, 10**9))
    people = []
    finished = sim.env.event()

    def settled(_client):
        if not finished.triggered and all(c.done for c in people):
            finished.succeed()

    for i in range(clients):
        home = names[i % n]
        people.append(RegisterClient(
            f"c{i}", sim, net, region=None, history=history, next_value=lambda: next(counter),
            route=lambda c, kind, home=home: c.primary_hint or home, operations=operations,
            read_ratio=0.5, think=Exponential(1 / think_ms), timeout_ms=400.0, on_done=settled))
    for r in replicas:
        r.start()
    for c in people:
        c.start()
    schedule = net.apply(parse_faults(faults))
    last_heal = max([schedule.last_heal() if schedule.faults else 0.0]
                    + [at + down for at, down in leader_crashes])

    def crash_leader(down):
        for r in replicas:
            if r.alive and r.is_primary:
                r.crash()
                sim.schedule(down, r.restart)
                return

    for at, down in leader_crashes:
        sim.schedule(at, crash_leader, down)

    def tick():
        watch.sample(replicas)
        if watch.healed_leader_at is None and sim.now >= last_heal:
            for r in replicas:
                followers = sum(1 for o in replicas if o.term == r.term and o.leader == r.name)
                if r.alive and r.is_primary and followers >= n // 2 + 1:
                    watch.healed_leader_at = sim.now
        sim.schedule(SAMPLE_MS, tick)

    sim.schedule(0, tick)
    # Every client finishes first: an operation still in flight would be missing from the
    # history, and a read of its value would then look like a read from nowhere.
    assert sim.run_bounded(120_000, stop_when=finished) == "done"
    end = max(last_heal + HEAL_BOUND_MS + 500, sim.now)
    assert sim.run_bounded(end) == "time"
    # With loss left on, an election may be under way right now: wait (a bounded while) for
    # a leader that has committed an entry of its own term, whose committed log is then
    # the authoritative one.
    for _ in range(50):
        if any(r.alive and r.is_primary and r.commit >= r.noop_index for r in replicas):
            break
        sim.run_bounded(sim.now + 100)
    return replicas, history, watch, last_heal


def final_leader(replicas):
    """The live leader of the highest term that has committed its no-op."""
    leaders = [r for r in replicas if r.alive and r.is_primary and r.commit >= r.noop_index]
    assert leaders, "no leader at the end"
    return max(leaders, key=lambda r: r.term)


def check_all(replicas, history, watch, last_heal):
    """Every invariant in the module docstring."""
    per_term = Counter(term for term, _, _ in watch.leaders)
    assert all(k == 1 for k in per_term.values()), f"two leaders in a term: {watch.leaders}"
    assert watch.violations == []
    assert log_matching_violations(replicas) == []
    leader = final_leader(replicas)
    kept = leader.committed_log()
    assert all(i <= len(kept) and kept[i - 1] == e for i, e in watch.committed.items())
    values = {e.value for e in kept if e.kind == "write"}
    acked = [op.input[1] for op in history if op.input[0] == "write" and op.status == "ok"]
    assert [v for v in acked if v not in values] == []
    assert check_operations(register_model(), history.checkable(), timeout=20).verdict == "ok"
    assert watch.healed_leader_at is not None and watch.healed_leader_at - last_heal <= HEAL_BOUND_MS


# -- seeds -------------------------------------------------------------------------------

@pytest.mark.parametrize("seed", [1, 2, 3])
def test_invariants_without_faults(seed):
    replicas, history, watch, heal = run_cluster(seed)
    check_all(replicas, history, watch, heal)
    acked = sum(op.status == "ok" for op in history)
    assert acked > 0.8 * len(history.operations)  # the happy path actually serves clients


@pytest.mark.parametrize("seed", [1, 2])
def test_leader_crash_and_restart_keeps_every_acknowledged_write(seed):
    replicas, history, watch, heal = run_cluster(seed, leader_crashes=[(400, 500), (1200, 300)], n=5)
    check_all(replicas, history, watch, heal)
    assert len(watch.leaders) >= 3  # the first leader and one after each crash


def test_a_partitioned_leader_is_replaced_and_its_uncommitted_entries_are_cut():
    # Whoever won the first election (same seed, so the same server) is cut away at 400 ms.
    replicas, history, watch, heal = run_cluster(4, operations=20)
    first = watch.leaders[0][1]
    others = ",".join(r.name for r in replicas if r.name != first)
    replicas, history, watch, heal = run_cluster(4, faults=f"{first}|{others}@400-1500", operations=20)
    check_all(replicas, history, watch, heal)
    assert any(term > 1 and name != first for term, name, _ in watch.leaders)


# -- hypothesis fault schedules ----------------------------------------------------------

NODES = ["r0", "r1", "r2", "r3", "r4"]


@st.composite
def schedules(draw):
    """Partitions, one-way cuts and replica crashes, all healed by 2.5 s, plus leader crashes."""
    faults = draw(fault_schedules(NODES))
    crashes = draw(st.lists(st.tuples(st.integers(200, 2000), st.integers(50, 600)), max_size=2))
    return faults, tuple(crashes)


@settings(max_examples=20)
# Found by a longer run: 20% loss left on after the last heal, an election under way at the end.
@example(schedule=("crash:r3@173-539;crash:r0@0-1112;crash:r0@1538-1539", ()), seed=0, loss=0.2, duplicate=0.0)
# Found by a longer run: operations still in flight when the harness stopped (now it waits for them).
@example(schedule=("", ()), seed=2182, loss=0.2, duplicate=0.5)
@given(schedule=schedules(), seed=st.integers(0, 10_000),
       loss=st.sampled_from([0.0, 0.05, 0.2]), duplicate=st.sampled_from([0.0, 0.1, 0.5]))
def test_invariants_under_fault_schedules(schedule, seed, loss, duplicate):
    faults, crashes = schedule
    replicas, history, watch, heal = run_cluster(seed, faults=faults, leader_crashes=crashes, n=5,
                                                 loss=loss, duplicate=duplicate, operations=20, think_ms=80.0)
    # The workload spans the faults (about 2 s of operations), so they hit clients in flight.
    assert max(op.call for op in history) > 1000
    check_all(replicas, history, watch, heal)


def test_every_message_duplicated_still_applies_each_write_once():
    replicas, history, watch, heal = run_cluster(5, duplicate=1.0, operations=10)
    check_all(replicas, history, watch, heal)
    leader = final_leader(replicas)
    writes = [(e.client, e.seq) for e in leader.committed_log() if e.kind == "write"]
    assert len(writes) == len(set(writes))


# -- the register scenario's raft mode ---------------------------------------------------

CUT = dict(faults="A|B@300-1800", operations=40, clients=4)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_chapter_01_cut_on_raft_majority_writes_minority_waits_nothing_lost(seed):
    r = simulate("register", seed=seed, mode="raft", **CUT)
    m = r.metrics
    assert r.stopped == ""
    # n=3: r0, r1 in region A (the majority), r2 in B.
    assert m["writes_during_faults_ok_region_A"] > 0
    assert m["writes_during_faults_region_B"] > 0 and m["writes_during_faults_ok_region_B"] == 0
    assert m["lost_acknowledged_writes"] == 0 and m["converged"]
    assert check_operations(register_model(), r.history.checkable(), timeout=20).verdict == "ok"


def test_primary_backup_loses_acknowledged_writes_where_raft_loses_none():
    pb = [simulate("register", seed=s, mode="async", **CUT).metrics["lost_acknowledged_writes"] for s in range(3)]
    raft = [simulate("register", seed=s, mode="raft", **CUT).metrics["lost_acknowledged_writes"] for s in range(3)]
    assert sum(pb) > 0 and raft == [0, 0, 0], (pb, raft)


def test_raft_mode_is_deterministic():
    a = simulate("register", seed=7, mode="raft", faults="crash:r0@200-900", loss=0.05)
    b = simulate("register", seed=7, mode="raft", faults="crash:r0@200-900", loss=0.05)
    assert a.trace_digest == b.trace_digest and a.history.operations == b.history.operations


def test_raft_mode_refuses_an_inverted_election_range():
    with pytest.raises(ValueError, match="election_timeout_max_ms=100 must be >= election_timeout_min_ms=150"):
        simulate("register", seed=1, mode="raft", election_timeout_max_ms=100.0)


def test_lost_writes_for_raft_counts_acknowledged_writes_missing_from_the_committed_log():
    sim = Simulation(1)
    leader = RaftReplica("r0", sim, Network(sim), peers=["r0"])
    leader.start()
    sim.run(until=400)
    assert leader.is_primary and leader.commit == 1  # a one-server cluster: its no-op is committed
    leader.append_entry(LogEntry(leader.term, "write", "x", 1, "c0", 1))
    leader.append_entry(LogEntry(leader.term, "write", "x", 2, "c0", 2))
    leader.commit = 2  # write 2 is in the log but not committed
    h = History([Operation("c0", ("write", 1), 0, None, 1, "ok"), Operation("c0", ("write", 2), 2, None, 3, "ok")])
    assert _lost_writes(h, {"r0": leader}, "raft") == 1
    leader.commit = 3
    assert _lost_writes(h, {"r0": leader}, "raft") == 0
