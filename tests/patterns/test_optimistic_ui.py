"""Optimistic UI, role by role: what the client shows when, and how perceived latency charges rollbacks."""

import math

import pytest

from consistency_lab.latency import Constant
from consistency_lab.network import Network, NetworkOptions
from consistency_lab.patterns.optimistic_ui import (ChatClient, Delivery, MessagingServer, feedback_metrics,
                                                    perceived_latency_ms)
from consistency_lab.sim import Simulation


def _world(optimistic, refusal=0.0, server_ms=200.0, loss=0.0, render_ms=16.0, timeout_ms=1000.0):
    sim = Simulation(0)
    net = Network(sim, NetworkOptions(latency=Constant(10.0), loss=loss))
    server = MessagingServer("server", sim, net, processing=Constant(server_ms), refusal=refusal)
    client = ChatClient("client", sim, net, server="server", optimistic=optimistic, render_ms=render_ms,
                        timeout_ms=timeout_ms)
    return sim, server, client


def test_optimistic_bubble_appears_after_one_frame_and_is_kept_when_confirmed():
    sim, server, client = _world(optimistic=True)
    client.send_message(0)
    sim.run()
    d = client.deliveries[0]
    assert d.outcome == "confirmed" and not d.rolled_back
    assert d.feedback_ms == 16.0 and d.confirmation_ms == 220.0  # 10 + 200 + 10
    assert perceived_latency_ms(d, 300.0) == 16.0


def test_pessimistic_shows_nothing_until_the_answer():
    sim, server, client = _world(optimistic=False)
    client.send_message(0)
    sim.run()
    d = client.deliveries[0]
    assert d.feedback_ms == 236.0 and perceived_latency_ms(d, 300.0) == 236.0 and not d.rolled_back


def test_a_refused_optimistic_message_is_rolled_back_and_charged():
    sim, server, client = _world(optimistic=True, refusal=1.0)
    client.send_message(0)
    sim.run()
    d = client.deliveries[0]
    assert d.outcome == "refused" and d.rolled_back and server.refused == 1
    # The bubble came at 16 ms, but the truth (the error) only at 220 + 16 ms, plus the penalty.
    assert d.feedback_ms == 16.0
    assert perceived_latency_ms(d, 300.0) == 236.0 + 300.0
    assert perceived_latency_ms(d, 0.0) == 236.0


def test_a_refused_pessimistic_message_costs_no_penalty():
    sim, server, client = _world(optimistic=False, refusal=1.0)
    client.send_message(0)
    sim.run()
    d = client.deliveries[0]
    assert d.outcome == "refused" and not d.rolled_back and perceived_latency_ms(d, 300.0) == 236.0


def test_an_answer_faster_than_a_frame_shows_no_bubble_to_roll_back():
    sim, server, client = _world(optimistic=True, refusal=1.0, server_ms=1.0, render_ms=30.0)
    client.send_message(0)
    sim.run()
    d = client.deliveries[0]
    assert d.outcome == "refused" and not d.rolled_back and d.feedback_ms == 21.0 + 30.0


def test_a_lost_message_times_out_and_rolls_back():
    sim, server, client = _world(optimistic=True, loss=1.0, timeout_ms=500.0)
    client.send_message(0)
    sim.run()
    d = client.deliveries[0]
    assert d.outcome == "timed-out" and d.rolled_back and d.confirmation_ms == 500.0


def test_feedback_metrics_count_and_share_under_thresholds():
    kept = Delivery(0, 0.0, True, shown_at=16.0, answered_at=220.0, truth_at=16.0, outcome="confirmed")
    undone = Delivery(1, 0.0, True, shown_at=16.0, answered_at=220.0, truth_at=236.0, outcome="refused",
                      rolled_back=True)
    pending = Delivery(2, 0.0, True, shown_at=16.0)
    m = feedback_metrics([kept, undone, pending], rollback_penalty_ms=300.0)
    assert (m["messages"], m["confirmed"], m["refused"], m["pending"], m["rollbacks"]) == (3, 1, 1, 1, 1)
    assert m["rollback_rate"] == pytest.approx(1 / 3)
    assert m["perceived_mean_ms"] == pytest.approx((16.0 + 536.0) / 2)
    assert m["perceived_under_100ms"] == pytest.approx(1 / 3) and m["perceived_under_200ms"] == pytest.approx(1 / 3)
    assert math.isinf(perceived_latency_ms(pending, 0.0))


def test_bad_arguments_are_refused_clearly():
    with pytest.raises(ValueError, match="rollback_penalty_ms"):
        perceived_latency_ms(Delivery(0, 0.0, True), -1.0)
    sim = Simulation(0)
    net = Network(sim)
    with pytest.raises(ValueError, match="refusal"):
        MessagingServer("s", sim, net, processing=1.0, refusal=1.5)
    with pytest.raises(ValueError, match="timeout_ms"):
        ChatClient("c", sim, net, server="s", optimistic=True, render_ms=16.0, timeout_ms=0.0)
