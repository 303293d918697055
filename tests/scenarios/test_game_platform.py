"""Game platform: a strong session stops double wins; reconciling at start stops missing friends."""

import pytest

from consistency_lab import simulate
from consistency_lab.network import Network
from consistency_lab.scenarios.game_platform import (GAME_PLATFORM, Claim, CopyClaims, FriendBatch, FriendReplica,
                                                     GameReplica, Granted, ReadFriends)
from consistency_lab.sim import Simulation

BEFORE = dict(session="eventual", reconcile=False)
AFTER = dict(session="strong", reconcile=True)


@pytest.fixture(scope="module")
def runs():
    return {name: GAME_PLATFORM.run(7, sessions=80, **p).metrics
            for name, p in (("before", BEFORE), ("after", AFTER),
                            ("strong only", dict(session="strong", reconcile=False)))}


def test_before_players_see_double_wins_and_missing_friends(runs):
    m = runs["before"]
    assert m["double_win_sessions"] > 5 and m["item_forks"] >= m["double_win_sessions"]
    assert 0 < m["missing_friend_sessions"] <= m["fresh_friend_sessions"]


def test_after_no_fork_and_no_missing_friend_for_round_trips(runs):
    before, after = runs["before"], runs["after"]
    assert after["double_win_sessions"] == after["item_forks"] == after["missing_friend_sessions"] == 0
    assert after["sessions_started"] == after["sessions"] == 80 and after["unfinished_sessions"] == 0
    assert after["move_latency_p50_ms"] > 10 * before["move_latency_p50_ms"]
    assert after["start_latency_p50_ms"] > 60 > before["start_latency_p50_ms"]
    assert after["friend_reads"] == 3 * before["friend_reads"]


def test_a_strong_session_alone_still_loses_fresh_friends(runs):
    # Strengthening one part fixes that part only: the friend list is still read from one copy.
    m = runs["strong only"]
    assert m["double_win_sessions"] == 0
    assert m["missing_friend_sessions"] == runs["before"]["missing_friend_sessions"] > 0


def test_missing_friends_need_a_fresh_friendship_and_a_slow_copy():
    none_fresh = GAME_PLATFORM.run(3, sessions=60, fresh_friend_share=0.0, **BEFORE).metrics
    assert none_fresh["missing_friend_sessions"] == 0
    fast_copy = GAME_PLATFORM.run(3, sessions=60, friend_sync_ms=1.0, invite_delay_ms=5_000, **BEFORE).metrics
    slow_copy = GAME_PLATFORM.run(3, sessions=60, friend_sync_ms=5_000, invite_delay_ms=5_000, **BEFORE).metrics
    assert fast_copy["missing_friend_sessions"] < slow_copy["missing_friend_sessions"]


def test_game_replica_grants_an_item_once_and_the_earliest_claim_wins_everywhere():
    sim = Simulation(0)
    net = Network(sim)
    g = GameReplica("g0", sim, net, "R0", [], "eventual")
    answers = []
    g.reply = lambda dst, req, typ, **kw: answers.append(typ(req.req_id, **kw))  # type: ignore[method-assign]
    g.on_Claim(Claim(1, 0, "win", 5, (10.0, 5)), "p0")
    g.on_Claim(Claim(2, 0, "win", 6, (9.0, 6)), "p0")
    assert [a.ok for a in answers] == [True, False] and all(isinstance(a, Granted) for a in answers)
    g.on_CopyClaims(CopyClaims(((0, "win", (9.0, 6), 6),)), "g1")  # an earlier grant made elsewhere
    assert g.owner[(0, "win")] == ((9.0, 6), 6)


def test_friend_replica_merges_batches_by_union():
    sim = Simulation(0)
    net = Network(sim)
    f = FriendReplica("f0", sim, net, "R0", [], 100.0, {1: {2}, 2: {1}})
    f.on_FriendBatch(FriendBatch(((1, 3), (1, 2))), "f1")
    replies = []
    f.reply = lambda dst, req, typ, **kw: replies.append(kw["lists"])  # type: ignore[method-assign]
    f.on_ReadFriends(ReadFriends(1, (1, 3, 9)), "s0")
    assert replies == [((2, 3), (1,), ())]


def test_same_seed_same_run_and_work_limit():
    a = simulate("game_platform", 4, sessions=30)
    b = simulate("game_platform", 4, sessions=30)
    c = simulate("game_platform", 5, sessions=30)
    assert a.trace_digest == b.trace_digest != c.trace_digest and a.metrics == b.metrics
    with pytest.raises(ValueError, match="sessions × players_per_session × moves_per_player"):
        simulate("game_platform", 0, sessions=5_000, players_per_session=8, moves_per_player=50)
