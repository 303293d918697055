"""Every run ends: client crashes, time bounds, work limits and the event budget."""

import math
import subprocess
import sys

import pytest

from consistency_lab import simulate
from consistency_lab.sim import EventBudgetExceeded, Simulation


def test_a_client_crash_without_restart_ends_the_run_and_its_in_flight_op_is_indeterminate():
    # Crash c0 in the middle of its fifth operation (same seed: same run up to the crash).
    calm = [op for op in simulate("register", seed=1).history if op.client_id == "c0"]
    fifth = sorted(calm, key=lambda op: op.call)[4]
    at = (fifth.call + fifth.return_time) / 2
    r = simulate("register", seed=1, faults=f"crash:c0@{at}")
    mine = sorted((op for op in r.history if op.client_id == "c0"), key=lambda op: op.call)
    assert len(mine) == 5 and all(op.call < at for op in mine)
    assert r.stopped == ""
    # The operation c0 had in flight when it died has an unknown outcome.
    assert mine[-1].input == fifth.input and mine[-1].status == "info" and mine[-1].return_time == math.inf
    # Everyone else finished their work.
    others = [op for op in r.history if op.client_id != "c0"]
    assert len(others) == 3 * 25


def test_a_restarted_client_resumes_and_finishes_its_operations():
    r = simulate("register", seed=1, faults="crash:c0@100-600")
    mine = [op for op in r.history if op.client_id == "c0"]
    assert len(mine) == 25  # the in-flight one (recorded as indeterminate) plus all the rest
    assert any(op.call > 600 for op in mine)
    assert not any(100 < op.call < 600 for op in mine)  # nothing issued while down
    assert r.stopped == ""


def test_the_client_crash_from_the_command_line_returns():
    out = subprocess.run([sys.executable, "-m", "consistency_lab", "simulate", "register",
                          "--param", "faults=crash:c0@100", "--json"],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert '"stopped": ""' in out.stdout


def test_a_crash_of_an_unknown_node_lists_replicas_and_clients():
    with pytest.raises(ValueError, match=r"crash of unknown node 'c9'; allowed: c0, c1, c2, c3, r0, r1, r2"):
        simulate("register", seed=1, faults="crash:c9@100")


def test_a_run_that_cannot_finish_stops_at_its_event_budget_and_says_what_was_unfinished(monkeypatch):
    # Every message lost and timeouts of ten minutes: the clients cannot finish within
    # the event budget (heartbeats every millisecond), so the run stops and says so.
    # (A smaller budget than the real one keeps the test quick; the logic is the same.)
    from consistency_lab.scenarios import base, register
    monkeypatch.setattr(base, "EVENT_BUDGET", 20_000)
    monkeypatch.setattr(register, "EVENT_BUDGET", 20_000)
    r = simulate("register", seed=1, loss=1.0, timeout_ms=600_000, heartbeat_ms=1, operations=10, trace=False)
    assert r.stopped == ("stopped early: the event budget (20000 events) ran out; "
                         "unfinished: clients c0, c1, c2, c3")
    assert r.end_time < 600_000


def test_a_run_stopped_by_its_time_bound_says_so():
    # Lost messages and long timeouts: the clients are still waiting when the bound is reached
    # only if the bound is shorter than the work; with a restart far in the future the bound grows.
    r = simulate("cart", seed=28, loss=0.9, retry_ms=600_000)
    assert r.stopped.startswith("stopped early: the time bound (")
    assert r.stopped.endswith("unfinished: 50 devices")


def test_oversized_workloads_are_refused_up_front_naming_the_limit():
    with pytest.raises(ValueError, match=r"clients × operations = 6400000 is more than one register run "
                                         r"simulates; allowed: at most 10000"):
        simulate("register", seed=0, clients=64, operations=100_000)
    with pytest.raises(ValueError, match=r"posts \+ follows \+ burst_posts = 2000000 .* at most 10000"):
        simulate("timeline", seed=0, posts=1_000_000, follows=1_000_000)
    with pytest.raises(ValueError, match=r"carts × events_per_cart"):
        simulate("cart", seed=0, carts=100_000, events_per_cart=10)
    with pytest.raises(ValueError, match=r"buyers = 100000"):
        simulate("tickets", seed=0, buyers=100_000)


def test_the_event_budget_bounds_a_plain_run():
    sim = Simulation(0, max_events=100)

    def tick():
        sim.schedule(1, tick)

    tick()
    with pytest.raises(EventBudgetExceeded, match=r"more than max_events=100 simulation events"):
        sim.run(until=10_000)
    assert sim.events_processed <= 100 and sim.now <= 100  # whichever budget (run or queued) ran out first


def test_run_bounded_says_why_it_stopped():
    sim = Simulation(0)
    done = sim.env.event()
    sim.schedule(5, done.succeed)
    assert sim.run_bounded(100, stop_when=done) == "done" and sim.now == 5
    sim.schedule(50, lambda: None)
    assert sim.run_bounded(20) == "time" and sim.now == 20
    assert sim.run_bounded(math.inf) == "idle" and sim.now == 55
    with pytest.raises(ValueError, match=r"max_events=-1 must be None or an integer >= 0"):
        sim.run_bounded(60, max_events=-1)
