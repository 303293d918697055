"""Raft's rules one at a time, on a tiny hand-built network.

One real ``RaftReplica`` ("r0") talks to two recorder nodes that stand in for its
peers, so each test decides exactly which message arrives when and reads what r0
sent back: vote granting, the consistency check and conflict truncation, the commit
rule (Figure 8: an older term's entry is not committed by counting), durability
across a crash, exactly-once writes and ReadIndex.
"""

import pytest

from consistency_lab.network import Network, NetworkOptions
from consistency_lab.node import Node
from consistency_lab.replication import ClientRead, ClientWrite, RaftReplica, ReadOk, Redirect, WriteOk
from consistency_lab.replication.raft_messages import (
    NOOP,
    AppendEntries,
    AppendReply,
    LogEntry,
    RequestVote,
    VoteReply,
)
from consistency_lab.sim import Simulation

PEERS = ["r0", "r1", "r2"]


class Recorder(Node):
    """A stand-in peer or client: keeps every message it receives."""

    def init_volatile(self) -> None:
        self.inbox: list = []

    def receive(self, msg, src):
        self.inbox.append((msg, src))


def w(term, value, client="c"):
    """A write entry of ``term`` (the value doubles as the client's sequence number)."""
    return LogEntry(term, "write", "x", value, client, value)


def cluster(log=(), term=0, election=(10_000.0, 10_000.0)):
    """r0 (real) plus recorders r1, r2 and client c; r0's election timer far away unless asked."""
    sim = Simulation(1)
    net = Network(sim, NetworkOptions(latency=1.0))
    r0 = RaftReplica("r0", sim, net, peers=PEERS, election_timeout_ms=election, heartbeat_ms=5_000)
    for e in log:
        r0.append_entry(e)
    r0.term = term
    others = {name: Recorder(name, sim, net) for name in ("r1", "r2", "c")}
    r0.start()
    return sim, r0, others


def deliver(sim, node, msg, src):
    """Hand ``msg`` to ``node`` now and let its replies travel (1 ms)."""
    node.receive(msg, src)
    sim.run(until=sim.now + 2)


def last(rec, kind):
    """The last message of type ``kind`` a recorder received."""
    found = [m for m, _ in rec.inbox if isinstance(m, kind)]
    assert found, f"no {kind.__name__} received"
    return found[-1]


def make_leader(sim, r0, others):
    """Let r0 time out, win r1's vote, and return it as leader."""
    r0._start_election()
    deliver(sim, r0, VoteReply(r0.term, True), "r1")
    assert r0.role == "leader"
    sim.run(until=sim.now + 2)
    return r0


# -- votes -------------------------------------------------------------------------------

def test_one_vote_per_term_and_the_term_is_adopted():
    sim, r0, o = cluster(log=[w(1, 1)], term=1)
    deliver(sim, r0, RequestVote(2, "r1", 1, 1), "r1")
    assert last(o["r1"], VoteReply) == VoteReply(2, True)
    assert (r0.term, r0.voted_for) == (2, "r1")
    deliver(sim, r0, RequestVote(2, "r2", 5, 1), "r2")
    assert last(o["r2"], VoteReply) == VoteReply(2, False)  # already voted in term 2
    deliver(sim, r0, RequestVote(2, "r1", 1, 1), "r1")
    assert last(o["r1"], VoteReply) == VoteReply(2, True)  # asking again: same answer


def test_vote_refused_to_a_candidate_whose_log_is_behind():
    sim, r0, o = cluster(log=[w(1, 1), w(2, 2)], term=2)
    # Longer, but its last term is older: not up to date.
    deliver(sim, r0, RequestVote(3, "r1", 5, 1), "r1")
    assert last(o["r1"], VoteReply) == VoteReply(3, False)
    assert r0.term == 3 and r0.voted_for is None  # the higher term is adopted anyway
    # Same last term, shorter log: not up to date either.
    deliver(sim, r0, RequestVote(3, "r2", 1, 2), "r2")
    assert last(o["r2"], VoteReply) == VoteReply(3, False)
    # Same last term, same length: up to date.
    deliver(sim, r0, RequestVote(3, "r2", 2, 2), "r2")
    assert last(o["r2"], VoteReply) == VoteReply(3, True)


def test_stale_candidate_is_told_the_newer_term():
    sim, r0, o = cluster(term=5)
    deliver(sim, r0, RequestVote(4, "r1", 9, 4), "r1")
    assert last(o["r1"], VoteReply) == VoteReply(5, False)


def test_vote_and_term_survive_a_crash():
    sim, r0, o = cluster(term=1)
    deliver(sim, r0, RequestVote(2, "r1", 0, 0), "r1")
    r0.crash()
    r0.restart()
    assert (r0.term, r0.voted_for, r0.role) == (2, "r1", "follower")
    deliver(sim, r0, RequestVote(2, "r2", 0, 0), "r2")
    assert last(o["r2"], VoteReply) == VoteReply(2, False)  # no second vote in term 2 after a restart


def test_candidate_with_majority_becomes_leader_and_appends_a_noop():
    sim, r0, o = cluster(log=[w(1, 1)], term=1)
    r0._start_election()
    sim.run(until=sim.now + 2)
    assert r0.role == "candidate" and r0.term == 2
    ask = last(o["r2"], RequestVote)
    assert ask == RequestVote(2, "r0", 1, 1)
    deliver(sim, r0, VoteReply(2, False), "r2")
    assert r0.role == "candidate"
    deliver(sim, r0, VoteReply(2, True), "r1")
    assert r0.role == "leader"
    sim.run(until=sim.now + 2)
    assert r0.log[-1] == LogEntry(2, NOOP)
    assert last(o["r2"], AppendEntries).entries == (LogEntry(2, NOOP),)


def test_leader_steps_down_on_a_higher_term():
    sim, r0, o = cluster()
    make_leader(sim, r0, o)
    deliver(sim, r0, ClientWrite(7, "x", 1), "c")
    deliver(sim, r0, AppendReply(r0.term + 3, False, 0, 1), "r2")
    assert r0.role == "follower" and r0.term == 4
    # The write may still commit under a later leader: no answer, the client times out.
    assert not any(isinstance(m, (WriteOk, Redirect)) for m, _ in o["c"].inbox)


# -- AppendEntries -----------------------------------------------------------------------

def test_consistency_check_refuses_a_gap_and_a_mismatch_with_a_hint():
    sim, r0, o = cluster(log=[w(1, 1), w(1, 2)], term=1)
    deliver(sim, r0, AppendEntries(1, "r1", 4, 1, (w(1, 5),), 0, 1), "r1")
    assert last(o["r1"], AppendReply) == AppendReply(1, False, 2, 1)  # my log ends at 2
    deliver(sim, r0, AppendEntries(2, "r1", 2, 2, (w(2, 3),), 0, 2), "r1")
    assert last(o["r1"], AppendReply) == AppendReply(2, False, 1, 2)  # entry 2 has term 1, not 2
    assert len(r0.log) == 2 and r0.leader == "r1"


def test_conflicting_suffix_is_truncated_but_a_stale_message_cuts_nothing():
    sim, r0, o = cluster(log=[w(1, 1), w(1, 2), w(2, 3), w(2, 4)], term=2)
    deliver(sim, r0, AppendEntries(3, "r1", 2, 1, (w(3, 5), w(3, 6)), 0, 1), "r1")
    assert [e.value for e in r0.log] == [1, 2, 5, 6]
    assert last(o["r1"], AppendReply) == AppendReply(3, True, 4, 1)
    # A delayed, shorter copy of the same leader's message: everything matches, keep the log.
    deliver(sim, r0, AppendEntries(3, "r1", 2, 1, (w(3, 5),), 0, 1), "r1")
    assert [e.value for e in r0.log] == [1, 2, 5, 6]
    # The truncated write is forgotten: a later copy of it is a new entry, not a duplicate.
    assert (("c", 3) in r0._where, ("c", 6) in r0._where) == (False, True)


def test_follower_commits_only_what_it_checked_against_the_leader():
    sim, r0, o = cluster(log=[w(1, 1), w(1, 2), w(1, 3)], term=1)
    # The leader has committed 3, but only entry 1 is known to match: commit 1, no further.
    deliver(sim, r0, AppendEntries(2, "r1", 1, 1, (), 3, 1), "r1")
    assert r0.commit == 1 and r0.value() == 1


def test_commit_rule_figure_8_older_term_entry_not_committed_by_counting():
    # r0 holds an entry of term 2 that never committed, and leads term 4.
    sim, r0, o = cluster(log=[w(1, 1), w(2, 2)], term=3)
    make_leader(sim, r0, o)
    assert r0.term == 4 and r0.log[-1] == LogEntry(4, NOOP)
    # r1 now holds entry 2 (term 2): a majority (r0, r1) has it, yet it is not committed.
    deliver(sim, r0, AppendReply(4, True, 2, 1), "r1")
    assert r0.commit == 0
    # Once the term-4 no-op is on a majority, it commits and carries entry 2 with it.
    deliver(sim, r0, AppendReply(4, True, 3, 1), "r1")
    assert r0.commit == 3 and r0.value() == 2


def test_leader_backs_up_next_index_once_per_refusal_even_if_duplicated():
    sim, r0, o = cluster(log=[w(1, 1), w(1, 2), w(1, 3)], term=1)
    make_leader(sim, r0, o)
    refusal = AppendReply(r0.term, False, 1, 1)  # r2 has only entry 1
    deliver(sim, r0, refusal, "r2")
    assert r0.next_index["r2"] == 2
    assert last(o["r2"], AppendEntries).prev_index == 1
    deliver(sim, r0, refusal, "r2")  # the network duplicated the refusal
    assert r0.next_index["r2"] == 2


# -- durability, clients -----------------------------------------------------------------

def test_restart_keeps_the_log_and_rebuilds_the_state_machine():
    sim, r0, o = cluster()
    deliver(sim, r0, AppendEntries(1, "r1", 0, 0, (w(1, 1), w(1, 2)), 2, 1), "r1")
    assert r0.value() == 2
    r0.crash()
    r0.restart()
    assert len(r0.log) == 2 and (r0.commit, r0.applied, r0.value()) == (0, 0, None)
    deliver(sim, r0, AppendEntries(1, "r1", 2, 1, (), 2, 2), "r1")
    assert (r0.commit, r0.value()) == (2, 2)


def test_a_follower_redirects_clients_to_the_leader_it_knows():
    sim, r0, o = cluster()
    deliver(sim, r0, AppendEntries(1, "r1", 0, 0, (), 0, 1), "r1")
    deliver(sim, r0, ClientWrite(9, "x", 1), "c")
    assert last(o["c"], Redirect) == Redirect(9, "r1")


def test_requests_held_during_an_election_are_redirected_once_a_leader_is_known():
    sim, r0, o = cluster()
    deliver(sim, r0, ClientRead(9, "x"), "c")
    assert o["c"].inbox == []
    deliver(sim, r0, AppendEntries(1, "r2", 0, 0, (), 0, 1), "r2")
    assert last(o["c"], Redirect) == Redirect(9, "r2")


def test_a_retried_write_is_appended_and_applied_once():
    sim, r0, o = cluster()
    make_leader(sim, r0, o)
    deliver(sim, r0, ClientWrite(7, "x", 1), "c")
    deliver(sim, r0, ClientWrite(8, "x", 1), "c")  # the same write retried with a new request id
    assert sum(e.kind == "write" for e in r0.log) == 1
    deliver(sim, r0, AppendReply(r0.term, True, len(r0.log), r0.round), "r1")
    assert last(o["c"], WriteOk) == WriteOk(8)
    deliver(sim, r0, ClientWrite(9, "x", 1), "c")  # and again after it committed
    assert last(o["c"], WriteOk) == WriteOk(9) and sum(e.kind == "write" for e in r0.log) == 1


def test_state_machine_applies_a_client_sequence_at_most_once():
    sim, r0, o = cluster()
    # A duplicate of write 1 that reached the log after write 2 must not bring 1 back.
    deliver(sim, r0, AppendEntries(1, "r1", 0, 0, (w(1, 1), w(1, 2), w(1, 1)), 3, 1), "r1")
    assert r0.value() == 2


def test_read_index_waits_for_the_noop_and_a_confirming_round():
    sim, r0, o = cluster(log=[w(1, 5)], term=1)
    make_leader(sim, r0, o)
    deliver(sim, r0, ClientRead(11, "x"), "c")
    assert not any(isinstance(m, ReadOk) for m, _ in o["c"].inbox)  # no-op of term 2 not committed
    rnd = r0.round
    deliver(sim, r0, AppendReply(r0.term, True, len(r0.log), rnd), "r1")  # commits the no-op
    assert r0.commit == 2
    assert not any(isinstance(m, ReadOk) for m, _ in o["c"].inbox)  # leadership not yet reconfirmed
    deliver(sim, r0, AppendReply(r0.term, True, len(r0.log), r0.round), "r2")
    assert last(o["c"], ReadOk) == ReadOk(11, 5)


def test_a_deposed_leader_cannot_confirm_a_read():
    sim, r0, o = cluster(log=[w(1, 5)], term=1)
    make_leader(sim, r0, o)
    deliver(sim, r0, AppendReply(r0.term, True, len(r0.log), r0.round), "r1")
    deliver(sim, r0, ClientRead(12, "x"), "c")
    # Both followers have moved on to a newer term: the only replies say so.
    deliver(sim, r0, AppendReply(r0.term + 1, False, 0, r0.round), "r1")
    assert r0.role == "follower"
    assert not any(isinstance(m, ReadOk) for m, _ in o["c"].inbox)


def test_bad_timeouts_are_refused_with_one_line():
    sim = Simulation(1)
    net = Network(sim)
    with pytest.raises(ValueError, match="election_timeout_max_ms=100 must be >= election_timeout_min_ms=150"):
        RaftReplica("r0", sim, net, peers=PEERS, election_timeout_ms=(150, 100))
    with pytest.raises(ValueError, match="heartbeat_ms"):
        RaftReplica("r9", sim, net, peers=["r9"], heartbeat_ms=0)
