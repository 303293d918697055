"""The register scenario keeps the promises each replication mode makes, and breaks the others."""

import math
from math import comb

import pytest

from consistency_lab import simulate
from consistency_lab.scenarios import get_scenario

SEEDS = range(6)


def run(**params):
    seed = params.pop("seed", 0)
    return simulate("register", seed=seed, **params)


@pytest.mark.parametrize("seed", SEEDS)
def test_sync_without_faults_never_reads_stale(seed):
    r = run(seed=seed, mode="sync", clients=6, operations=40)
    assert r.metrics["stale_reads"] == 0
    assert r.metrics["availability"] == 1.0
    assert r.metrics["lost_acknowledged_writes"] == 0


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("n,r,w", [(3, 2, 2), (3, 1, 3), (5, 3, 3), (5, 2, 4)])
def test_overlapping_quorums_never_read_stale(seed, n, r, w):
    res = run(seed=seed, mode="quorum", n=n, r=r, w=w, clients=6, operations=40,
              anti_entropy_ms=0, read_repair="off")
    assert res.metrics["stale_reads"] == 0


@pytest.mark.parametrize("n,r,w", [(3, 1, 1), (5, 2, 2), (5, 1, 3)])
def test_partial_quorum_stale_rate_matches_closed_form(n, r, w):
    # Regime of the closed form: each write lands on exactly W random replicas and
    # nothing spreads it further; a single client makes writes and reads sequential.
    res = run(seed=3, mode="quorum", n=n, r=r, w=w, fanout="quorum", clients=1, operations=3000,
              anti_entropy_ms=0, read_repair="off", hinted_handoff=False, think_ms=5,
              latency="lognormal:1,0.3")
    reads = [op for op in res.history if op.input[0] == "read" and op.status == "ok"]
    first_write_done = min(op.return_time for op in res.history if op.input[0] == "write" and op.status == "ok")
    after_write = [op for op in reads if op.call > first_write_done]
    expected = comb(n - w, r) / comb(n, r)
    measured = res.metrics["stale_reads"] / len(after_write)
    sd = math.sqrt(expected * (1 - expected) / len(after_write))
    assert abs(measured - expected) < 4 * sd + 0.01, (measured, expected)


def test_async_reads_go_stale_but_replicas_converge_after_heal():
    stale = [run(seed=s, mode="async", clients=6, operations=40).metrics["stale_read_fraction"] for s in SEEDS]
    assert all(x > 0 for x in stale)
    for s in SEEDS:
        r = run(seed=s, mode="async", faults="A|B@300-1200", loss=0.05, operations=30)
        assert r.metrics["converged"]
        assert len(set(r.replica_states.values())) == 1
        assert r.metrics["convergence_time_ms"] < 1000


def test_async_primary_crash_loses_acknowledged_writes_and_counts_them():
    lost = [run(seed=s, mode="async", faults="crash:r0@400-2000", loss=0.1, operations=60)
            .metrics["lost_acknowledged_writes"] for s in range(8)]
    assert max(lost) > 0
    sync_lost = [run(seed=s, mode="sync", faults="crash:r0@400-2000", loss=0.1, operations=60)
                 .metrics["lost_acknowledged_writes"] for s in range(8)]
    assert sync_lost == [0] * 8


def _minority_writes(res, start, end, timeout):
    """Writes by region-B clients called well inside the partition, and how many succeeded."""
    ops = [op for op in res.history if op.input[0] == "write" and res.regions[op.client_id] == "B"
           and start + 500 <= op.call <= end - timeout]
    return len(ops), sum(op.status == "ok" for op in ops)


def test_partition_sync_refuses_minority_writes_async_accepts_them():
    start, end = 300, 3000
    for s in range(4):
        kw = dict(seed=s, faults=f"A|B@{start}-{end}", operations=80, clients=4, timeout_ms=300)
        total, ok = _minority_writes(run(mode="sync", **kw), start, end, 300)
        assert total > 0 and ok == 0
        total, ok = _minority_writes(run(mode="async", **kw), start, end, 300)
        assert total > 0 and ok / total > 0.8
    sync = run(seed=0, mode="sync", faults=f"A|B@{start}-{end}", operations=80)
    asyn = run(seed=0, mode="async", faults=f"A|B@{start}-{end}", operations=80)
    assert asyn.metrics["availability_during_faults"] > sync.metrics["availability_during_faults"] + 0.2


def test_availability_during_faults_counts_by_return_time():
    from consistency_lab.history import Operation
    from consistency_lab.scenarios.register import _during_faults, _fault_periods
    from consistency_lab.faults import parse_faults

    periods = _fault_periods(parse_faults("A|B@100-200;crash:r0@150-300;A|B@500-600"))
    assert periods == [(100, 300), (500, 600)]
    inf = float("inf")
    ops = {
        "before": Operation("c0", ("read", None), 10, 1, 50),
        "inside": Operation("c0", ("read", None), 120, 1, 130),
        "answered after the heal": Operation("c1", ("write", 2), 250, None, 320),
        "began before, answered inside": Operation("c1", ("write", 3), 90, None, 110),
        "pending": Operation("c2", ("write", 4), 520, None, inf, "info"),
        "failed inside": Operation("c3", ("read", None), 510, None, 590, "fail"),
        "between": Operation("c3", ("read", None), 310, 1, 320),
    }
    got = {name: served for name, op in ops.items()
           for op2, served in _during_faults([op], periods) if op2 is op}
    assert got == {"inside": True, "answered after the heal": False, "began before, answered inside": True,
                   "pending": False, "failed inside": False}


@pytest.mark.parametrize("mode", ["sync", "semi-sync", "async", "quorum"])
def test_no_operation_answered_after_the_heal_counts_as_available_during_the_cut(mode):
    start, end = 300, 1800
    for s in range(4):
        res = run(seed=s, mode=mode, faults=f"A|B@{start}-{end}")
        in_flight = [op for op in res.history if op.call < end and op.return_time > start]
        served = [op for op in in_flight if op.status == "ok" and op.return_time <= end]
        m = res.metrics
        assert m["operations_during_faults"] == len(in_flight)
        assert m["availability_during_faults"] == pytest.approx(len(served) / len(in_flight))
        for region in "AB":
            writes = [op for op in in_flight if op.input[0] == "write" and res.regions[op.client_id] == region]
            assert m[f"writes_during_faults_region_{region}"] == len(writes)
            assert m[f"writes_during_faults_ok_region_{region}"] == sum(op in served for op in writes)
    # Sync needs the far replica for every write, so nothing that was in flight during the
    # cut is acknowledged before the heal, on either side.
    sync = run(seed=1, mode="sync", faults=f"A|B@{start}-{end}")
    assert sync.metrics["writes_during_faults_ok_region_A"] == 0
    assert sync.metrics["writes_during_faults_ok_region_B"] == 0


def test_write_latency_is_reported_per_client_region_with_sample_counts():
    for mode in ("semi-sync", "async", "quorum"):
        m = run(seed=1, mode=mode, operations=150).metrics
        assert m["write_latency_region_A_n"] + m["write_latency_region_B_n"] == m["write_latency_n"]
        assert m["write_latency_region_A_n"] > 100 and m["write_latency_region_B_n"] > 100
        # Region A holds the primary (or a local write quorum); region B pays the WAN round trip.
        assert m["write_latency_region_B_p50_ms"] > 10 * m["write_latency_region_A_p50_ms"]
        assert m["write_latency_region_A_p99_ms"] < m["write_latency_region_B_p50_ms"]


def test_quorum_siblings_keep_concurrent_writes():
    r = run(seed=1, mode="quorum", conflicts="siblings", faults="A|B@0-1500", w=1, r=1,
            operations=20, anti_entropy_ms=100)
    assert any(isinstance(op.output, tuple) for op in r.history if op.input[0] == "read")


def test_same_seed_same_run_different_seed_different_run():
    a, b, c = run(seed=5, mode="quorum"), run(seed=5, mode="quorum"), run(seed=6, mode="quorum")
    assert a.trace_digest == b.trace_digest and a.metrics == b.metrics
    assert a.trace_digest != c.trace_digest


@pytest.mark.parametrize("params,match", [
    ({"mode": "quorum", "w": 4}, "w=4 must be between 1 and n=3"),
    ({"mode": "paxos"}, "mode='paxos' must be one of"),
    ({"n": 0}, "n=0 must be an integer between 1 and 9"),
    ({"loss": 2}, "loss=2 must be a number between 0 and 1"),
    ({"bogus": 1}, "unknown parameter 'bogus'"),
    ({"latency": "fast"}, "latency='fast'"),
    ({"faults": "A|B@9-1"}, "fault"),
    ({"mode": "semi-sync", "k": 3}, "k=3 must be between 0 and n-1=2"),
])
def test_bad_parameters_are_named(params, match):
    with pytest.raises(ValueError, match=match.replace("(", r"\(").replace("|", r"\|")):
        get_scenario("register").run(0, **params)


def test_unknown_node_in_faults_is_named():
    with pytest.raises(ValueError, match="crash of unknown node 'r9'; allowed: c0"):
        run(faults="crash:r9@1-2")


def test_quorum_refuses_every_minority_write_and_keeps_the_majority_writing():
    for s in range(6):
        m = run(seed=s, mode="quorum", faults="A|B@300-1800").metrics
        assert m["writes_during_faults_region_B"] > 0
        assert m["writes_during_faults_ok_region_B"] == 0  # r2 alone is not a write quorum
        assert m["writes_during_faults_ok_region_A"] > 0
        assert m["lost_acknowledged_writes"] == 0


def test_semi_sync_loses_acknowledged_writes_when_a_partitioned_backup_promotes_itself():
    # The cut outlasts the failover timeout, so r2 promotes itself; at the heal the newer
    # epoch wins and the old primary's writes, acknowledged by r0 + r1, are thrown away.
    lost = [run(seed=s, mode="semi-sync", faults="A|B@300-1800").metrics["lost_acknowledged_writes"]
            for s in range(6)]
    assert all(x > 0 for x in lost), lost
    # Without the promotion there is one primary, and semi-sync keeps what it acknowledged.
    kept = [run(seed=s, mode="semi-sync", faults="A|B@300-1800", failover=False).metrics["lost_acknowledged_writes"]
            for s in range(6)]
    assert kept == [0] * 6
