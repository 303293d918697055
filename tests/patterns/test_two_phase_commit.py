"""Two-phase commit per role, on the real simulated network: participants lock and wait, the coordinator recovers."""

import pytest

from consistency_lab.network import Network, NetworkOptions
from consistency_lab.node import Node
from consistency_lab.patterns.two_phase_commit import (Decision, Prepare, TwoPCCoordinator, TwoPCParticipant,
                                                       Vote)
from consistency_lab.sim import Simulation


class Probe(Node):
    """Plays the coordinator by hand: sends prepares and decisions, keeps every reply."""

    def init_volatile(self) -> None:
        self.replies = []

    def prepare(self, dst, txn, key):
        self.send(dst, Prepare(req_id=self.sim.next_id(), txn_id=txn, key=key))

    def decide(self, dst, txn, commit):
        self.send(dst, Decision(req_id=self.sim.next_id(), txn_id=txn, commit=commit))

    def on_Vote(self, msg, src):
        self.replies.append((self.sim.now, "vote", msg.yes, msg.reason))

    def on_DecisionAck(self, msg, src):
        self.replies.append((self.sim.now, "ack"))


def world(**participant):
    sim = Simulation(1)
    net = Network(sim, NetworkOptions(latency=1.0))
    part = TwoPCParticipant("p", sim, net, **participant)
    return sim, net, part, Probe("probe", sim, net)


def votes(probe):
    return [(yes, reason) for _t, kind, *rest in probe.replies if kind == "vote" for yes, reason in [rest]]


# -- participant -----------------------------------------------------------------------------------------------

def test_participant_votes_yes_holds_the_lock_in_doubt_and_commits_once():
    sim, _net, part, probe = world()
    probe.prepare("p", "t1", "k")
    sim.run(until=10)
    assert votes(probe) == [(True, "")] and part.locks == {"k": "t1"} and part.in_doubt("t1")
    probe.decide("p", "t1", True)
    probe.decide("p", "t1", True)  # a resent decision must not apply twice
    sim.run(until=20)
    assert part.applied == {"t1": 1} and part.locks == {} and not part.in_doubt("t1")
    assert part.in_doubt_spans == [("t1", "k", 1.0, 11.0)]  # from the yes vote to the decision


def test_a_second_transaction_waits_for_the_lock_and_gets_it_on_release():
    sim, _net, part, probe = world(lock_wait_ms=100)
    probe.prepare("p", "t1", "k")
    probe.prepare("p", "t2", "k")
    sim.run(until=30)
    assert votes(probe) == [(True, "")] and [w[0] for w in part.queue["k"]] == ["t2"]
    probe.decide("p", "t1", False)
    sim.run(until=50)
    assert votes(probe) == [(True, ""), (True, "")] and part.locks == {"k": "t2"}
    assert part.applied == {} and part.lock_waits[-1] == pytest.approx(30.0)


def test_a_lock_wait_that_runs_out_votes_no_and_never_locks_later():
    sim, _net, part, probe = world(lock_wait_ms=20)
    probe.prepare("p", "t1", "k")
    probe.prepare("p", "t2", "k")
    sim.run(until=40)
    assert votes(probe) == [(True, ""), (False, "lock wait timed out")] and part.lock_timeouts == 1
    probe.decide("p", "t1", True)
    sim.run(until=60)
    assert part.locks == {} and part.queue["k"] == []


def test_a_participant_that_refuses_votes_no_and_an_early_abort_blocks_a_late_prepare():
    sim, _net, part, probe = world(refuse_rate=1.0)
    probe.prepare("p", "t1", "k")
    sim.run(until=10)
    assert votes(probe) == [(False, "refused")] and part.locks == {}
    sim2, _n, part2, probe2 = world()
    probe2.decide("p", "t9", False)
    sim2.run(until=5)
    probe2.prepare("p", "t9", "k")
    sim2.run(until=10)
    assert votes(probe2) == [(False, "already decided")] and part2.locks == {}


def test_participant_bad_arguments_are_one_line_value_errors():
    sim = Simulation(1)
    net = Network(sim)
    with pytest.raises(ValueError, match="lock_wait_ms"):
        TwoPCParticipant("p", sim, net, lock_wait_ms=0)
    with pytest.raises(ValueError, match="refuse_rate"):
        TwoPCParticipant("q", sim, net, refuse_rate=2)


# -- coordinator -----------------------------------------------------------------------------------------------

def cluster(on_phase=None, refuse=0.0):
    sim = Simulation(2)
    net = Network(sim, NetworkOptions(latency=1.0))
    coord = TwoPCCoordinator("c", sim, net, vote_timeout_ms=50, decision_timeout_ms=20, on_phase=on_phase)
    parts = [TwoPCParticipant(n, sim, net, refuse_rate=refuse if n == "b" else 0.0) for n in ("a", "b", "d")]
    return sim, coord, parts


PARTS = (("a", "x"), ("b", "y"), ("d", "z"))


def test_all_yes_commits_everywhere_and_every_participant_acknowledges():
    sim, coord, parts = cluster()
    rec = coord.begin("t1", PARTS)
    sim.run(until=100)
    assert rec.status == "committed" and rec.finished and rec.finished_at == pytest.approx(4.0)
    assert [p.applied for p in parts] == [{"t1": 1}] * 3 and all(not p.locks for p in parts)


def test_one_no_aborts_everywhere_and_releases_every_lock():
    sim, coord, parts = cluster(refuse=1.0)
    rec = coord.begin("t1", PARTS)
    sim.run(until=100)
    assert rec.status == "aborted" and rec.reason == "refused" and rec.finished
    assert all(p.applied == {} and not p.locks for p in parts)


def crash_at(point, downtime=300.0):
    holder = {}

    def on_phase(txn, phase):
        if phase == point and not holder.get("fired"):
            holder["fired"] = True
            holder["coord"].crash()
            holder["coord"].sim.schedule(downtime, holder["coord"].restart)

    sim, coord, parts = cluster(on_phase)
    holder["coord"] = coord
    return sim, coord, parts


def test_crash_after_prepare_leaves_participants_in_doubt_until_restart_then_presumed_abort():
    sim, coord, parts = crash_at("prepared")
    rec = coord.begin("t1", PARTS)
    sim.run(until=200)
    # Every participant voted yes and now waits: it may neither commit nor abort on its own.
    assert rec.status == "preparing" and all(p.in_doubt("t1") and p.locks for p in parts)
    sim.run(until=400)
    assert rec.status == "aborted" and rec.finished and all(not p.locks and p.applied == {} for p in parts)
    held = [end - start for p in parts for _t, _k, start, end in p.in_doubt_spans]
    assert min(held) >= 298.0  # the whole downtime


def test_crash_after_decision_commits_one_participant_and_the_restart_finishes_the_rest():
    sim, coord, parts = crash_at("decided")
    rec = coord.begin("t1", PARTS)
    sim.run(until=200)
    assert rec.status == "committed" and not rec.finished
    assert parts[0].applied == {"t1": 1} and parts[1].in_doubt("t1") and parts[2].in_doubt("t1")
    sim.run(until=400)
    assert rec.finished and [p.applied for p in parts] == [{"t1": 1}] * 3


def test_crash_before_prepare_aborts_without_locking_and_pending_work_starts_after_restart():
    sim, coord, parts = crash_at("begin")
    first = coord.begin("t1", PARTS)
    sim.run(until=50)
    late = coord.begin("t2", PARTS)  # arrives while the coordinator is down: logged, begun on restart
    sim.run(until=400)
    assert first.status == "aborted" and all("t1" not in p.prepared for p in parts)
    assert late.status == "committed" and late.finished and late.arrived_at == 50


def test_coordinator_bad_arguments_are_one_line_value_errors():
    sim, coord, _parts = cluster()
    with pytest.raises(ValueError, match="each participant once"):
        coord.begin("t1", (("a", "x"), ("a", "y")))
    coord.begin("t1", PARTS)
    with pytest.raises(ValueError, match="txn_id='t1' must be new"):
        coord.begin("t1", PARTS)
    with pytest.raises(ValueError, match="vote_timeout_ms"):
        TwoPCCoordinator("c2", sim, coord.network, vote_timeout_ms=-1)


def test_vote_is_a_reply_record():
    v = Vote(reply_to=3, yes=False, reason="refused")
    with pytest.raises(AttributeError):
        v.yes = True  # frozen: a message is a record, never edited in flight


def test_an_ack_slower_than_the_decision_timeout_still_counts_and_stops_the_resends():
    sim = Simulation(3)
    net = Network(sim, NetworkOptions(latency=10.0))  # a round trip of 20 ms against a 5 ms timeout
    coord = TwoPCCoordinator("c", sim, net, vote_timeout_ms=100, decision_timeout_ms=5, max_decision_attempts=50)
    parts = [TwoPCParticipant(n, sim, net) for n in ("a", "b", "d")]
    rec = coord.begin("t1", PARTS)
    sim.run(until=500)
    assert rec.status == "committed" and rec.finished and [p.applied for p in parts] == [{"t1": 1}] * 3
    sends = sum(1 for e in sim.trace if e.kind == "send" and e.what == "Decision")
    assert 3 < sends <= 3 * 5  # resent while no ack had come back (about 20 ms), then never again
