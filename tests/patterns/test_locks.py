"""The lock manager, role by role: modes, FIFO queues, upgrades, timeouts, deadlocks, strict 2PL rollback."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from consistency_lab.patterns.deadlock import VICTIM_RULES, choose_victim, find_cycle
from consistency_lab.patterns.locks import EXCLUSIVE as X
from consistency_lab.patterns.locks import SHARED as S
from consistency_lab.patterns.locks import LockManager, TwoPhaseStore, compatible
from consistency_lab.sim import Simulation


class Table:
    """A lock manager on a fresh simulation that logs grants and aborts in the order they arrive."""

    def __init__(self, txns=4, **options):
        self.sim = Simulation(0)
        self.log = []
        self.locks = LockManager(self.sim, on_abort=lambda t, r: self.log.append(("abort", t, r)), **options)
        self.store = TwoPhaseStore(self.locks, 10)
        for t in range(1, txns + 1):
            self.store.begin(t, birth=float(t))  # txn 1 is the oldest

    def ask(self, txn, key, mode):
        """Request a lock; True if granted at once (a later grant shows up in the log)."""
        return self.locks.acquire(txn, key, mode, lambda: self.log.append(("grant", txn, key)))

    def settle(self, until=None):
        self.sim.run(until=until)
        out, self.log = self.log, []
        return out


def test_compatibility_matrix():
    assert compatible(S, S)
    assert not compatible(S, X) and not compatible(X, S) and not compatible(X, X)
    with pytest.raises(ValueError, match="held='U' must be one of S, X"):
        compatible("U", S)


def test_shared_locks_are_granted_together_and_exclusive_waits_for_all_of_them():
    t = Table()
    assert t.ask(1, "a", S) and t.ask(2, "a", S)
    assert not t.ask(3, "a", X)
    assert t.locks.holders("a") == {1: S, 2: S} and t.locks.waits_for(3) == [1, 2]
    t.store.commit(1)
    assert t.settle() == [] and t.locks.is_waiting(3)  # one reader left: still no writer
    t.store.commit(2)
    assert t.settle() == [("grant", 3, "a")] and t.locks.holders("a") == {3: X}


def test_fifo_no_reader_barges_past_a_waiting_writer():
    t = Table()
    assert t.ask(1, "a", S)
    assert not t.ask(2, "a", X)
    # Compatible with the holder, but a writer is waiting: it queues behind it.
    assert not t.ask(3, "a", S)
    assert t.locks.queue("a") == [(2, X), (3, S)] and t.locks.waits_for(3) == [2]
    t.store.commit(1)
    assert t.settle() == [("grant", 2, "a")]
    t.store.commit(2)
    assert t.settle() == [("grant", 3, "a")]


def test_release_wakes_every_compatible_waiter_up_to_the_first_conflict():
    t = Table(5)
    assert t.ask(1, "a", X)
    for txn, mode in ((2, S), (3, S), (4, X), (5, S)):
        assert not t.ask(txn, "a", mode)
    t.store.commit(1)
    assert t.settle() == [("grant", 2, "a"), ("grant", 3, "a")]  # not 5: it is behind the writer 4
    assert t.locks.queue("a") == [(4, X), (5, S)]
    t.store.commit(2)
    t.store.commit(3)
    assert t.settle() == [("grant", 4, "a")]


def test_upgrade_alone_is_immediate_and_with_other_readers_goes_ahead_of_ordinary_waiters():
    t = Table()
    assert t.ask(1, "a", S) and t.ask(1, "a", X) and t.locks.holders("a") == {1: X}
    assert t.ask(1, "a", S)  # already holding X is strong enough
    t2 = Table()
    assert t2.ask(1, "a", S) and t2.ask(2, "a", S)
    assert not t2.ask(3, "a", X)
    assert not t2.ask(1, "a", X)  # the upgrade waits for reader 2 only, ahead of the writer 3
    assert t2.locks.queue("a") == [(1, X), (3, X)] and t2.locks.waits_for(1) == [2]
    t2.store.commit(2)
    assert t2.settle() == [("grant", 1, "a")] and t2.locks.holders("a") == {1: X}


def test_two_upgrading_readers_deadlock_and_exactly_one_is_aborted():
    t = Table()
    assert t.ask(1, "a", S) and t.ask(2, "a", S)
    assert not t.ask(1, "a", X)
    assert not t.ask(2, "a", X)
    assert [(d.cycle, d.victim) for d in t.locks.deadlocks] == [((2, 1), 2)]
    assert t.settle() == [("abort", 2, "deadlock")]
    t.store.rollback(2)
    assert t.settle() == [("grant", 1, "a")]


def test_lock_wait_timeout_aborts_the_waiter_and_wakes_the_ones_behind_it():
    t = Table(timeout_ms=50)
    assert t.ask(1, "a", S)
    assert not t.ask(2, "a", X)
    t.sim.schedule(30, t.ask, 3, "a", S)  # queued behind the writer until it gives up
    assert t.settle(until=49) == []
    assert t.settle(until=60) == [("abort", 2, "timeout"), ("grant", 3, "a")]
    assert t.locks.aborts == {"deadlock": 0, "timeout": 1} and t.locks.timeouts_in_deadlock == 0
    waited = {(w.txn, w.outcome): w.wait_ms for w in t.locks.waits}
    assert waited[(2, "timeout")] == 50 and waited[(3, "granted")] == 20
    with pytest.raises(ValueError, match="txn=2 was aborted"):
        t.ask(2, "b", S)


def test_a_two_transaction_deadlock_is_found_and_only_the_victim_is_rolled_back():
    t = Table()
    assert t.ask(1, 0, X)
    t.store.write(1, 0, 10)
    assert t.ask(2, 1, X)
    t.store.write(2, 1, 20)
    assert not t.ask(1, 1, X)
    assert t.locks.deadlocks == []  # a wait, not yet a deadlock
    assert not t.ask(2, 0, X)
    assert len(t.locks.deadlocks) == 1 and t.locks.deadlocks[0].victim == 2  # the youngest
    assert t.settle() == [("abort", 2, "deadlock")]
    assert t.store.rollback(2) == 1 and t.store.values[1] == 0  # its write is undone
    assert t.settle() == [("grant", 1, 1)]
    t.store.write(1, 1, 11)
    t.store.commit(1)
    assert t.store.values[:2] == [10, 11] and t.store.undone_writes == 1
    assert t.locks.aborts == {"deadlock": 1, "timeout": 0}


@pytest.mark.parametrize("rule, victim", [("youngest", 3), ("requester", 3), ("fewest-locks", 2)])
def test_a_three_cycle_is_found_with_the_victim_of_each_rule(rule, victim):
    t = Table(victim=rule)
    assert t.ask(1, "a", X) and t.ask(2, "b", X) and t.ask(3, "c", X) and t.ask(1, "d", X) and t.ask(3, "e", X)
    assert not t.ask(1, "b", X) and not t.ask(2, "c", X)
    assert t.locks.deadlocks == []
    assert not t.ask(3, "a", X)
    assert [d.cycle for d in t.locks.deadlocks] == [(3, 1, 2)]
    assert t.locks.deadlocks[0].victim == victim
    assert t.settle() == [("abort", victim, "deadlock")]
    assert sum(t.locks.is_waiting(x) for x in (1, 2, 3)) == 2  # the others still wait, nobody else aborted


def test_a_plain_wait_chain_is_no_deadlock_and_unwinds_in_order():
    t = Table()
    assert t.ask(1, "a", X) and t.ask(2, "b", X) and t.ask(3, "c", X)
    assert not t.ask(2, "a", X) and not t.ask(3, "b", X) and not t.ask(4, "c", X)
    assert t.locks.deadlocks == [] and t.settle() == []
    for txn, granted in ((1, (2, "a")), (2, (3, "b")), (3, (4, "c"))):
        t.store.commit(txn)
        assert t.settle() == [("grant", *granted)]


def test_a_reader_queued_behind_a_reader_is_not_taken_for_part_of_the_deadlock():
    # 1 holds a (X) and waits for c; 2 holds c and waits for a behind reader 3, which waits
    # for 1 too but is waited for by nobody: aborting it (it is the youngest) would fix nothing.
    t = Table(victim="youngest")
    assert t.ask(1, "a", X) and t.ask(2, "c", X)
    assert not t.ask(3, "a", S)
    assert not t.ask(2, "a", S)
    assert not t.ask(1, "c", X)
    assert [(d.cycle, d.victim) for d in t.locks.deadlocks] == [((1, 2), 2)]
    assert t.settle() == [("abort", 2, "deadlock")]
    assert t.locks.is_waiting(3) and t.locks.is_waiting(1)


def test_detection_off_leaves_the_deadlock_to_the_timeout_and_counts_it():
    t = Table(detection="off", timeout_ms=100)
    assert t.ask(1, "a", X) and t.ask(2, "b", X)
    assert not t.ask(1, "b", X)
    t.sim.schedule(10, t.ask, 2, "a", X)
    assert t.settle(until=99) == [] and t.locks.deadlocks == []
    assert t.settle(until=105) == [("abort", 1, "timeout")]
    assert t.locks.timeouts_in_deadlock == 1
    t.store.rollback(1)  # before 2's own timeout at 110
    assert t.settle() == [("grant", 2, "a")] and t.locks.aborts["timeout"] == 1


def test_find_cycle_and_choose_victim_on_drawn_graphs():
    graph = {1: [2], 2: [3, 4], 3: [], 4: [1], 5: [1]}
    assert find_cycle(1, graph.__getitem__) == [1, 2, 4]
    assert find_cycle(5, graph.__getitem__) is None  # 5 waits for a cycle it is not on
    assert find_cycle(3, graph.__getitem__) is None
    birth, held = {1: 0.0, 2: 5.0, 4: 5.0}, {1: 3, 2: 1, 4: 2}
    assert choose_victim([1, 2, 4], "youngest", birth=birth, locks_held=held) == 4  # tie on birth: larger id
    assert choose_victim([1, 2, 4], "fewest-locks", birth=birth, locks_held=held) == 2
    assert choose_victim([1, 2, 4], "requester", birth=birth, locks_held=held) == 1
    with pytest.raises(ValueError, match="victim='oldest' must be one of " + ", ".join(VICTIM_RULES)):
        choose_victim([1], "oldest", birth=birth, locks_held=held)


def test_bad_use_is_refused_in_one_line():
    sim = Simulation(0)
    for kwargs, message in (({"timeout_ms": 0}, "timeout_ms=0 must be None"),
                            ({"detection": "sometimes"}, "detection='sometimes' must be one of on-block, off"),
                            ({"victim": "oldest"}, "victim='oldest' must be one of"),
                            ({"on_abort": 3}, "on_abort=3 must be None or a function")):
        with pytest.raises(ValueError, match=message):
            LockManager(sim, **kwargs)
    locks = LockManager(sim)
    store = TwoPhaseStore(locks, 2)
    with pytest.raises(ValueError, match="txn=1 must be an active transaction"):
        locks.acquire(1, "a", S, lambda: None)
    store.begin(1)
    store.begin(2)
    with pytest.raises(ValueError, match="txn=1 is already active"):
        store.begin(1)
    with pytest.raises(ValueError, match="mode='R' must be one of S, X"):
        locks.acquire(1, 0, "R", lambda: None)
    with pytest.raises(ValueError, match="txn=1 must hold a lock on row=0"):
        store.read(1, 0)
    assert locks.acquire(1, 0, S, lambda: None)
    with pytest.raises(ValueError, match="txn=1 must hold an exclusive lock on row=0"):
        store.write(1, 0, 5)
    with pytest.raises(ValueError, match="row=7 must be an integer between 0 and 1"):
        store.read(1, 7)
    assert locks.acquire(2, 1, X, lambda: None) and not locks.acquire(1, 1, S, lambda: None)
    with pytest.raises(ValueError, match="txn=1 is already waiting for 1"):
        locks.acquire(1, 0, X, lambda: None)


# -- every reachable lock table stays sound ---------------------------------------------------------

STEP = st.tuples(st.integers(0, 2), st.sampled_from([S, X]), st.integers(0, 5))


@settings(max_examples=60, deadline=None)
@given(plans=st.lists(st.lists(STEP, min_size=1, max_size=4), min_size=2, max_size=5),
       detection=st.sampled_from(["on-block", "off"]), victim=st.sampled_from(VICTIM_RULES))
def test_random_lock_workloads_keep_the_table_sound(plans, detection, victim):
    """Holders always compatible, the queue front always blocked, no cycle left with detection on, all end."""
    sim = Simulation(0)
    ended = {}
    locks = LockManager(sim, timeout_ms=40, detection=detection, victim=victim,
                        on_abort=lambda txn, reason: finish(txn, reason))

    def check():
        for key in range(3):
            modes = list(locks.holders(key).values())
            assert modes.count(X) == 0 or len(modes) == 1, locks.holders(key)
            queue = locks.queue(key)
            if queue:
                front, mode = queue[0]
                others = [m for t, m in locks.holders(key).items() if t != front]
                assert any(not compatible(m, mode) for m in others), (key, queue, locks.holders(key))
        if detection == "on-block":
            for txn in range(len(plans)):
                if locks.is_waiting(txn):
                    assert find_cycle(txn, locks.waits_for) is None

    def finish(txn, reason):
        ended[txn] = reason
        locks.release_all(txn)
        check()

    def step(txn, i):
        check()
        if i == len(plans[txn]):
            finish(txn, "commit")
            return
        key, mode, work = plans[txn][i]

        def granted():
            sim.schedule(work, step, txn, i + 1)
        if locks.acquire(txn, key, mode, granted):
            granted()
        check()

    for txn in range(len(plans)):
        locks.begin(txn)
        sim.schedule(txn, step, txn, 0)
    sim.run(until=10_000)
    assert sorted(ended) == list(range(len(plans)))  # nobody is stuck: timeouts end every wait
    assert all(locks.holders(k) == {} and locks.queue(k) == [] for k in range(3))
    if detection == "off":
        assert locks.deadlocks == []
