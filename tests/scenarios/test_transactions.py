"""The transactions scenario: strict 2PL is serializable; deadlocks come from lock order and contention."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from consistency_lab import simulate
from consistency_lab.patterns.locks import TwoPhaseStore
from consistency_lab.scenarios import get_scenario
from consistency_lab.scenarios.transactions import _Client

FAST = {"transactions": 25, "trace": False}


def serial_replay_mismatches(result):
    """Replay the committed transactions one at a time in commit order; list where the run disagrees.

    Every committed read must see what the serial execution would have read there, every
    write must be that value + 1, and the rows must end as the serial execution ends.
    """
    values = [0] * result.params["rows"]
    wrong = []
    for rec in result.committed():
        assert rec.outcome == "committed"
        for kind, row, value in rec.steps:
            expected = values[row] if kind == "r" else values[row] + 1
            if value != expected:
                wrong.append((rec.txn, kind, row, value, expected))
            values[row] = value if kind == "w" else values[row]
    if values != result.final_values:
        wrong.append(("final", values, result.final_values))
    return wrong


@pytest.mark.parametrize("params", [
    {"rows": 10},
    {"rows": 10, "write_lock": "upgrade"},
    {"rows": 6, "deadlock_detection": False, "lock_timeout_ms": 30},
    {"rows": 5, "rows_per_txn": 3, "read_share": 0.0, "victim": "fewest-locks"},
    {"rows": 30, "read_share": 0.9, "victim": "requester", "lock_order": "sorted"},
])
def test_committed_transactions_equal_a_serial_execution_in_commit_order(params):
    for seed in range(3):
        result = simulate("transactions", seed, **FAST, **params)
        assert result.stopped == ""
        assert result.metrics["commits"] == len(result.commit_order) > 0
        assert serial_replay_mismatches(result) == []
        # The run is meaningful: aborts happened and their writes were undone.
        if params["rows"] <= 10:
            assert result.metrics["aborts"] > 0


@settings(max_examples=12, deadline=None)
@given(seed=st.integers(0, 10_000), rows=st.integers(2, 12), k=st.integers(1, 4), read_share=st.floats(0, 1),
       write_lock=st.sampled_from(["exclusive", "upgrade"]), detection=st.booleans(),
       timeout=st.sampled_from([5.0, 50.0, 1000.0]))
def test_serializable_for_any_mix(seed, rows, k, read_share, write_lock, detection, timeout):
    result = simulate("transactions", seed, clients=5, transactions=10, rows=rows, rows_per_txn=min(k, rows),
                      read_share=read_share, write_lock=write_lock, deadlock_detection=detection,
                      lock_timeout_ms=timeout, trace=False)
    assert serial_replay_mismatches(result) == []
    m = result.metrics
    assert m["commits"] + m["gave_up"] == m["transactions"]
    assert m["attempts"] == m["commits"] + m["aborts"]  # every attempt ends in a commit or one abort


def test_the_replay_catches_a_rollback_that_forgets_its_undo_log(monkeypatch):
    """The check has teeth: release an aborted transaction's locks without undoing, and it disagrees."""
    def release_without_undo(self, txn):
        self._undo.pop(txn)
        self.locks.release_all(txn)
        return 0
    monkeypatch.setattr(TwoPhaseStore, "rollback", release_without_undo)
    result = simulate("transactions", 0, **FAST, rows=10, read_share=0.2)
    assert result.metrics["aborts"] > 0
    assert serial_replay_mismatches(result)


def test_the_replay_catches_locks_released_before_commit(monkeypatch):
    """Two-phase but not strict (each row's lock freed after its step) lets others read undone values."""
    original = _Client._advance

    def advance_and_unlock(self):
        row = self.plan.ops[self.step][0]
        holders = self.locks._locks[row].holders
        held = self.locks._held[self.plan.txn]
        del holders[self.plan.txn], held[row]
        self.locks._grant_waiters(self.locks._locks[row])
        original(self)
    monkeypatch.setattr(_Client, "_advance", advance_and_unlock)
    mismatches = [serial_replay_mismatches(simulate("transactions", s, **FAST, rows=10)) for s in range(3)]
    assert any(mismatches)


def test_same_seed_same_run_and_another_seed_another_run():
    a = simulate("transactions", 7, rows=20, transactions=20)
    b = simulate("transactions", 7, rows=20, transactions=20)
    c = simulate("transactions", 8, rows=20, transactions=20)
    assert a.trace_digest == b.trace_digest and a.metrics == b.metrics and a.commit_order == b.commit_order
    assert c.trace_digest != a.trace_digest
    assert a.trace and any(e.what == "deadlock" for e in a.trace)


def test_sorted_lock_order_never_deadlocks_where_random_order_does():
    for seed in range(4):
        sorted_run = simulate("transactions", seed, **FAST, rows=8, lock_order="sorted")
        random_run = simulate("transactions", seed, **FAST, rows=8, lock_order="random")
        assert sorted_run.metrics["deadlocks"] == 0 and sorted_run.metrics["aborts"] == 0
        assert random_run.metrics["deadlocks"] > 0
        # Without detection nothing in sorted order ever waits on a cycle, even as it times out.
        off = simulate("transactions", seed, **FAST, rows=8, lock_order="sorted", deadlock_detection=False,
                       lock_timeout_ms=20)
        assert off.metrics["timeouts_in_deadlock"] == 0


def test_upgrading_readers_deadlock_even_in_sorted_order():
    runs = [simulate("transactions", seed, **FAST, rows=8, lock_order="sorted", write_lock="upgrade")
            for seed in range(3)]
    assert all(r.metrics["deadlocks"] > 0 for r in runs)
    # Each of those cycles is two readers of one row that both want to write it.
    for r in runs:
        assert all(len(d.cycle) >= 2 for d in r.deadlocks)


def test_deadlocks_and_lock_waits_rise_with_contention():
    def total(rows, metric):
        return sum(simulate("transactions", s, **FAST, rows=rows).metrics[metric] for s in range(3))
    deadlocks = [total(rows, "deadlocks") for rows in (1000, 50, 20, 8)]  # k/M = 0.004 ... 0.5
    assert deadlocks[0] == 0 and deadlocks == sorted(deadlocks) and deadlocks[-1] > 10 * max(deadlocks[1], 1)
    waits = [total(rows, "lock_wait_p99_ms") for rows in (1000, 50, 8)]
    assert waits == sorted(waits) and waits[0] < waits[-1]


def test_without_detection_deadlocks_last_until_the_timeout():
    on = simulate("transactions", 1, **FAST, rows=10)
    off = simulate("transactions", 1, **FAST, rows=10, deadlock_detection=False, lock_timeout_ms=500)
    assert on.metrics["aborts_deadlock"] > 0 and on.metrics["aborts_timeout"] == 0
    assert off.metrics["deadlocks"] == 0 and off.metrics["aborts_deadlock"] == 0
    assert off.metrics["timeouts_in_deadlock"] > 0
    assert off.metrics["lock_wait_max_ms"] == pytest.approx(500)
    assert off.metrics["throughput_per_s"] < on.metrics["throughput_per_s"] / 2


def test_bad_parameters_are_refused_in_one_line():
    with pytest.raises(ValueError, match="rows_per_txn=5 must be at most rows=3"):
        simulate("transactions", 0, rows=3, rows_per_txn=5)
    with pytest.raises(ValueError, match="clients x transactions x rows_per_txn = 800000 is more than"):
        simulate("transactions", 0, clients=200, transactions=1000, rows_per_txn=4)
    with pytest.raises(ValueError, match="lock_order='fifo' must be one of random, sorted"):
        simulate("transactions", 0, lock_order="fifo")
    with pytest.raises(ValueError, match="work_ms"):
        simulate("transactions", 0, work_ms="nonsense")
    assert "transactions" in get_scenario("transactions").name


def test_a_run_cut_short_by_the_event_budget_says_so(monkeypatch):
    import consistency_lab.scenarios.transactions as module
    monkeypatch.setattr(module, "EVENT_BUDGET", 500)  # the same path as the real budget, reached sooner
    result = simulate("transactions", 0, **FAST)
    assert result.stopped.startswith("stopped early: the event budget") and "unfinished: c0" in result.stopped
    assert 0 < result.metrics["commits"] < result.metrics["transactions"]
    # What did commit is still serializable, and the unfinished transactions were rolled back.
    assert serial_replay_mismatches(result) == []


def test_victim_rules_trade_rollback_work_against_starvation():
    def total(victim, metric):
        return sum(simulate("transactions", s, **FAST, rows=10, rows_per_txn=6, max_attempts=4,
                            victim=victim).metrics[metric] for s in range(3))
    # The fewest-locks victim has the least to undo; the youngest-by-first-start rule lets a
    # retried transaction age into the winner, so fewer give up than when the requester always loses.
    assert total("fewest-locks", "undone_writes") < total("youngest", "undone_writes")
    assert total("youngest", "gave_up") < total("requester", "gave_up")
