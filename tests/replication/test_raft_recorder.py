"""The Raft recorder: a RaftScope view's data (states and messages over time) is faithful and changes nothing."""

import pytest

from consistency_lab import simulate
from consistency_lab.replication.raft_recorder import PEER_MESSAGES, TIMELINE_ROLES

FAULTS = "crash:r0@600-1400;r1|r2,r3,r4@1800-2400"


def run(seed=1, **kw):
    params = dict(mode="raft", n=5, clients=2, operations=20, think_ms=60, faults=FAULTS, trace=True)
    params.update(kw)
    return simulate("register", seed=seed, **params)


@pytest.fixture(scope="module")
def recorded():
    return run(raft_timeline=True)


def test_recording_changes_nothing_and_is_only_there_when_asked(recorded):
    plain = run()
    assert plain.raft_timeline is None
    assert plain.trace_digest == recorded.trace_digest and plain.metrics == recorded.metrics
    again = run(raft_timeline=True)
    assert again.raft_timeline == recorded.raft_timeline  # deterministic, frozen data
    assert simulate("register", seed=1, mode="async", raft_timeline=True).raft_timeline is None


def test_states_follow_the_servers(recorded):
    tl = recorded.raft_timeline
    assert tl.servers == ("r0", "r1", "r2", "r3", "r4") and tl.end == recorded.end_time
    assert {c.role for c in tl.changes} <= set(TIMELINE_ROLES)
    start = tl.state_at(0.0)
    assert all(s.role == "follower" and s.term == 0 and s.log_terms == () for s in start.values())
    assert tl.state_at(1000.0)["r0"].role == "down" and tl.state_at(1000.0)["r0"].commit == 0
    assert tl.state_at(1500.0)["r0"].role != "down"
    # Terms never go down along a server's history, nor do the terms along any log.
    for s in tl.servers:
        terms = [c.term for c in tl.history_of(s)]
        assert terms == sorted(terms)
        for c in tl.history_of(s):
            assert list(c.log_terms) == sorted(c.log_terms) and c.commit <= c.last_index
    # Every committed prefix agrees (what the view fills in is really committed).
    logs = [c.log_terms[:c.commit] for c in tl.changes]
    longest = max(logs, key=len)
    assert all(log == longest[:len(log)] for log in logs)


def test_one_leader_per_term_and_spans_cover_the_run(recorded):
    tl = recorded.raft_timeline
    leaders = tl.leaders()
    assert len(leaders) >= 2  # the crash of r0 (or the cut) forces a new election
    terms = [term for _t, _s, term in leaders]
    assert len(terms) == len(set(terms))
    for s in tl.servers:
        spans = tl.role_spans(s)
        assert spans[0][0] == 0.0 and spans[-1][1] == tl.end
        assert all(a[1] == b[0] for a, b in zip(spans, spans[1:]))
    steps = tl.commit_steps("r2")
    assert steps[0] == (0.0, 0) and steps[-1][1] == tl.state_at(tl.end)["r2"].commit > 0


def test_messages_are_the_traced_peer_messages_with_their_fates(recorded):
    tl = recorded.raft_timeline
    sends = [e for e in recorded.trace if e.kind == "send" and e.what in PEER_MESSAGES]
    copies = sum(1 for e in recorded.trace if e.kind in ("deliver", "drop") and e.what in PEER_MESSAGES)
    unfinished = [m for m in tl.messages if m.outcome == "in flight at the end"]
    assert all(m.arrived == tl.end for m in unfinished)
    assert len(tl.messages) == copies + len(unfinished)
    assert len({(m.src, m.dst, m.sent) for m in tl.messages}) <= len(sends)
    delivered = [m for m in tl.messages if m.outcome == "delivered"]
    assert len(delivered) == sum(1 for e in recorded.trace if e.kind == "deliver" and e.what in PEER_MESSAGES)
    assert any(m.outcome == "dropped: partition" for m in tl.messages)
    assert all(m.arrived >= m.sent for m in tl.messages)
    beats = [m for m in tl.messages if m.kind == "AppendEntries"]
    assert any(m.entries == 0 for m in beats) and any(m.entries > 0 for m in beats)
    assert {m.ok for m in tl.messages if m.kind == "VoteReply"} <= {True, False}
    for t in (250.0, 700.0, 2000.0):
        flying = tl.in_flight(t)
        assert flying == [m for m in tl.messages if m.sent <= t < m.arrived]
    with pytest.raises(ValueError, match="server='r9' must be one of this run's servers"):
        tl.history_of("r9")


def _state(t, server, role, term):
    from consistency_lab.replication.raft_recorder import ServerState
    return ServerState(t, server, role, term, (), 0)


def test_time_without_leader_counts_until_a_majority_follows_a_leader():
    from consistency_lab.replication.raft_recorder import RaftTimeline, one_leader_per_term, time_without_leader

    s = ("a", "b", "c")
    changes = [_state(0, x, "follower", 0) for x in s] + [
        _state(100, "a", "candidate", 1), _state(100, "a", "leader", 1),  # alone in term 1: not followed yet
        _state(120, "b", "follower", 1),  # now a majority (a, b) is in term 1: led from 120
        _state(500, "a", "down", 1),  # the leader crashes
        _state(650, "b", "candidate", 2), _state(660, "c", "follower", 2), _state(660, "b", "leader", 2),
    ]
    tl = RaftTimeline(s, 0.0, 1000.0, tuple(changes), ())
    assert time_without_leader(tl) == 120 + (660 - 500)
    assert one_leader_per_term(tl) and [(t, x) for t, x, _ in tl.leaders()] == [(100, "a"), (660, "b")]
    # An isolated old leader (term 1) does not count once the majority moved to term 2.
    stale = RaftTimeline(s, 0.0, 1000.0, tuple(changes[:6] + [_state(500, "b", "candidate", 2),
                                                               _state(510, "c", "follower", 2)]), ())
    assert time_without_leader(stale) == 120 + (1000 - 500)
    both = [_state(1, "a", "leader", 1), _state(2, "b", "leader", 1)]
    split = RaftTimeline(s, 0.0, 10.0, tuple(changes[:3] + both), ())
    assert not one_leader_per_term(split)


def test_the_recorded_run_keeps_election_safety(recorded):
    from consistency_lab.replication.raft_recorder import one_leader_per_term, time_without_leader

    tl = recorded.raft_timeline
    assert one_leader_per_term(tl)
    first = tl.leaders()[0][0]
    assert first < time_without_leader(tl) < tl.end  # the first election, and the crash of r0 if it led
