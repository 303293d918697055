"""The register as a key-value store (``keys``), and faults that strike whichever replica leads."""

import pytest

from consistency_lab import simulate
from consistency_lab.check import check_operations
from consistency_lab.check.builtin_models import tuple_kv_model
from consistency_lab.scenarios.register import key_names, kv_operations

KV = tuple_kv_model()


def run(**params):
    seed = params.pop("seed", 0)
    return simulate("register", seed=seed, trace=False, **params)


def test_one_key_keeps_the_register_history_and_several_keys_tag_every_operation():
    one = run(mode="raft")
    assert all(len(op.input) == 2 for op in one.history)
    assert {op.input[1] for op in kv_operations(one)} == {"x"}
    many = run(mode="raft", keys=4, operations=40)
    keys = {op.input[2] for op in many.history}
    assert keys == set(key_names(4)) == {"k0", "k1", "k2", "k3"}
    assert len(many.replica_states["r0"]) == 4 and many.metrics["converged"]
    # Each read saw a value written to its own key (or nothing yet).
    key_of = {op.input[1]: op.input[2] for op in many.history if op.input[0] == "write"}
    assert all(key_of[op.output] == op.input[2] for op in many.history
               if op.input[0] == "read" and op.status == "ok" and op.output is not None)


@pytest.mark.parametrize("mode", ["raft", "async", "quorum"])
def test_kv_runs_are_deterministic(mode):
    a, b = run(mode=mode, keys=3, seed=4, loss=0.05), run(mode=mode, keys=3, seed=4, loss=0.05)
    assert a.trace_digest == b.trace_digest and a.metrics == b.metrics
    assert [op.input for op in a.history] == [op.input for op in b.history]
    # Keys come from their own streams: the network and the clients' other draws do not move.
    other = run(mode=mode, keys=2, seed=4, loss=0.05)
    assert [op.input[2] for op in other.history] != [op.input[2] for op in a.history]


@pytest.mark.parametrize("faults", ["crash:r0@300-1200", "A|B@300-1100", "crash:r1@200-800;r0|r1,r2@900-1500"])
@pytest.mark.parametrize("seed", range(3))
def test_raft_kv_is_linearizable_per_key_under_faults(seed, faults):
    r = run(mode="raft", keys=3, seed=seed, faults=faults, loss=0.05, operations=20)
    assert check_operations(KV, kv_operations(r)).verdict == "ok", (seed, faults)
    assert r.metrics["lost_acknowledged_writes"] == 0


def test_async_failover_loses_a_write_and_breaks_one_key_the_same_setup_without_failover_does_not():
    params = dict(mode="async", reads="primary", keys=3, faults="crash:r0@400-2000", loss=0.1, operations=40)
    r = run(seed=5, **params)  # seeds 0-7 searched: seed 5 loses an acknowledged write
    verdict = check_operations(KV, kv_operations(r))
    assert verdict.verdict == "illegal" and r.metrics["lost_acknowledged_writes"] >= 1
    assert check_operations(KV, kv_operations(run(seed=5, failover=False, **params))).verdict == "ok"
    assert check_operations(KV, kv_operations(run(seed=5, **{**params, "mode": "raft"}))).verdict == "ok"


def test_stale_reads_are_judged_within_a_key():
    # With async local reads stale reads still show, but a read of key k is never
    # called stale because another key was written meanwhile.
    r = run(mode="sync", keys=8, operations=40, clients=6)
    assert r.metrics["stale_reads"] == 0
    assert run(mode="async", keys=2, operations=40, clients=6).metrics["stale_reads"] > 0


@pytest.mark.parametrize("bad", [0, 65, 2.5, "many"])
def test_bad_keys_is_one_line(bad):
    with pytest.raises(ValueError, match=r"^keys=.* must be an integer between 1 and 64$"):
        run(keys=bad)


@pytest.mark.parametrize("mode", ["raft", "async", "sync"])
def test_crash_leader_strikes_whoever_leads_then(mode):
    r = run(mode=mode, crash_leader="800-1600", n=5, operations=40, think_ms=40)
    (crash,) = r.faults.crashes()
    assert (crash.start, crash.end) == (800.0, 1600.0) and crash.node in r.replica_states
    if mode == "raft":
        leader_then = [s for t, s, _term in run(mode=mode, n=5, operations=40, think_ms=40, raft_timeline=True)
                       .raft_timeline.leaders() if t <= 800][-1]
        assert crash.node == leader_then
        assert r.metrics["lost_acknowledged_writes"] == 0


def test_isolate_leader_cuts_it_off_from_everyone():
    r = run(mode="raft", isolate_leader="700-1500", n=5, clients=3)
    (cut,) = r.faults.partitions()
    (alone,), others = cut.groups
    assert set(others) == {"r0", "r1", "r2", "r3", "r4", "c0", "c1", "c2"} - {alone}
    assert (cut.start, cut.end) == (700.0, 1500.0) and r.metrics["operations_during_faults"] > 0


def test_leader_faults_need_a_leader_and_a_window():
    with pytest.raises(ValueError, match=r"^crash_leader='500' needs a replica that leads"):
        run(mode="quorum", crash_leader="500")
    with pytest.raises(ValueError, match=r"^isolate_leader='soon' must be a window 'START-END'"):
        run(mode="raft", isolate_leader="soon")
    assert run(mode="quorum", crash_leader="").faults.crashes() == []
