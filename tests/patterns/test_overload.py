"""The store as a queue (M/M/c), shedding and slowdowns, tiers with timeouts, retry policies and budgets."""

import math
import random

import pytest

from consistency_lab.latency import Constant, Exponential
from consistency_lab.patterns import (CapacityService, RetryBudget, RetryingClient, RetryPolicy, Slowdown, Tier,
                                      mmc_expectations)
from consistency_lab.patterns.circuit_breaker import CircuitBreaker
from consistency_lab.patterns.service import Call
from consistency_lab.sim import Simulation


def _poisson(sim, service, rate_per_ms, n, deadline_ms=math.inf):
    """Offer ``n`` calls with exponential gaps; returns the list their answers are appended to."""
    answers: list[str] = []
    rng = sim.rng("arrivals")

    def arrive(i):
        service.handle(Call(i, 0, sim.now), sim.now + deadline_ms, answers.append)
        if i + 1 < n:
            sim.schedule(rng.expovariate(rate_per_ms), arrive, i + 1)

    sim.schedule(rng.expovariate(rate_per_ms), arrive, 0)
    return answers


# -- Erlang C and the simulated queue ---------------------------------------------------------------

def test_erlang_c_matches_closed_forms():
    # M/M/1: P(wait) = rho, Lq = rho^2 / (1 - rho).
    mm1 = mmc_expectations(0.5, 1.0, 1)
    assert mm1["p_wait"] == pytest.approx(0.5) and mm1["queue_length"] == pytest.approx(0.5)
    # M/M/2 with a = 1 Erlang: P(wait) = 1/3, Lq = 1/3, Wq = Lq / lambda.
    mm2 = mmc_expectations(1.0, 1.0, 2)
    assert mm2["utilisation"] == pytest.approx(0.5)
    assert mm2["p_wait"] == pytest.approx(1 / 3) and mm2["queue_length"] == pytest.approx(1 / 3)
    assert mm2["wait_ms"] == pytest.approx(1 / 3)
    with pytest.raises(ValueError, match="steady state"):
        mmc_expectations(2.0, 1.0, 2)


@pytest.mark.parametrize("workers,rho", [(1, 0.6), (4, 0.8)])
def test_queue_matches_mmc_and_littles_law(workers, rho):
    sim = Simulation(7)
    mu = 0.1  # mean service 10 ms
    lam = rho * workers * mu
    store = CapacityService("store", sim, workers=workers, service_time=Exponential(mu), queue_limit=10**6)
    answers = _poisson(sim, store, lam, 30_000)
    sim.run()
    stats = store.stats()
    expected = mmc_expectations(lam, mu, workers)
    assert answers.count("ok") == 30_000
    # Utilisation = offered / capacity.
    assert stats["utilisation"] == pytest.approx(rho, rel=0.04)
    # Erlang C, roughly: queue length and wait fluctuate a lot near saturation.
    assert stats["mean_queue_length"] == pytest.approx(expected["queue_length"], rel=0.2)
    assert stats["mean_wait_ms"] == pytest.approx(expected["wait_ms"], rel=0.2)
    waited = sum(1 for w in store.waits if w > 0) / len(store.waits)
    assert waited == pytest.approx(expected["p_wait"], rel=0.1)
    # Little's law holds on the sample path itself: L = lambda * W with the measured lambda.
    measured_lam = stats["arrivals"] / sim.now
    assert stats["mean_queue_length"] == pytest.approx(measured_lam * stats["mean_wait_ms"], rel=0.03)


def test_no_queue_blocks_as_erlang_b():
    # queue_limit=0: c servers and no waiting room, the Erlang loss system.
    sim = Simulation(3)
    store = CapacityService("store", sim, workers=2, service_time=Exponential(1.0), queue_limit=0)
    answers = _poisson(sim, store, 2.0, 20_000)  # a = 2 Erlangs
    sim.run()
    erlang_b = (2 ** 2 / 2) / (1 + 2 + 2 ** 2 / 2)  # 0.4
    assert answers.count("overloaded") / len(answers) == pytest.approx(erlang_b, rel=0.05)
    assert max(store.waits) == 0.0


# -- bounded queue, shedding, slowdown, wasted work ---------------------------------------------------

def test_a_full_queue_refuses_overloaded_and_serves_the_rest_in_order():
    sim = Simulation(0)
    store = CapacityService("store", sim, workers=1, service_time=Constant(10), queue_limit=2)
    done: list[int] = []
    answers: list[str] = []
    for i in range(5):
        store.handle(Call(i, 0, 0.0), math.inf, lambda o, i=i: (answers.append(o), done.append(i)))
    assert answers == ["overloaded", "overloaded"]  # 1 in service, 2 waiting, 2 refused at once
    sim.run()
    assert done == [3, 4, 0, 1, 2] and answers[2:] == ["ok"] * 3
    assert sim.now == 30.0


def test_a_call_can_bring_its_own_work_and_competes_for_the_same_workers():
    sim = Simulation(0)
    store = CapacityService("store", sim, workers=1, service_time=Constant(10), queue_limit=10)
    finished: dict[str, float] = {}
    store.handle(Call(0, 0, 0.0, service_time=Constant(100)), math.inf, lambda o: finished.setdefault("query", sim.now))
    store.handle(Call(1, 0, 0.0), math.inf, lambda o: finished.setdefault("scan", sim.now))
    sim.run()
    # The 100 ms analytic query holds the only worker, so the 10 ms scan behind it waits for it.
    assert finished == {"query": 100.0, "scan": 110.0}


def test_queue_shedding_never_lets_more_than_shed_queue_wait():
    sim = Simulation(1)
    store = CapacityService("store", sim, workers=2, service_time=Exponential(0.1), shedding="queue", shed_queue=5)
    longest = []
    answers = _poisson(sim, store, 0.4, 3000)  # twice the capacity

    def watch():
        longest.append(store.queue_length)
        if sim.now < 7000:
            sim.schedule(1.0, watch)

    sim.schedule(0.0, watch)
    sim.run()
    assert max(longest) == 5
    assert answers.count("shed") > 1000 and "overloaded" not in answers
    # shed_queue=0: nobody waits, but a free worker still takes the request.
    sim0 = Simulation(0)
    none_waiting = CapacityService("s", sim0, workers=2, service_time=Constant(10), shedding="queue", shed_queue=0)
    got: list[str] = []
    for i in range(3):
        none_waiting.handle(Call(i, 0, 0.0), math.inf, got.append)
    sim0.run()
    assert got == ["shed", "ok", "ok"]


def test_deadline_shedding_refuses_what_cannot_finish_in_time():
    sim = Simulation(0)
    store = CapacityService("store", sim, workers=1, service_time=Constant(10), shedding="deadline")
    answers: list[str] = []
    for i in range(4):  # expected finishes: 10, 20, 30, 40 ms
        store.handle(Call(i, 0, 0.0), 25.0, answers.append)
    assert answers == ["shed", "shed"]  # the third and fourth would finish after 25 ms
    sim.run()
    assert answers == ["shed", "shed", "ok", "ok"]


def test_deadline_estimate_learns_a_slowdown():
    sim = Simulation(0)
    store = CapacityService("store", sim, workers=1, service_time=Constant(10), shedding="deadline",
                            slowdown=Slowdown(0, 10_000, 10.0), estimate_weight=0.5)
    for i in range(6):
        sim.schedule(i * 100.0, store.handle, Call(i, 0, 0.0), math.inf, lambda o: None)
    sim.run()
    assert store.estimated_service_ms == pytest.approx(100.0, rel=0.05)  # learnt from what it served
    answers: list[str] = []
    store.handle(Call(9, 0, sim.now), sim.now + 50.0, answers.append)
    assert answers == ["shed"]  # nominal 10 ms would fit in 50 ms; the measured 100 ms does not


def test_slowdown_multiplies_service_time_only_in_its_window():
    sim = Simulation(0)
    store = CapacityService("store", sim, workers=1, service_time=Constant(10),
                            slowdown=Slowdown(100, 200, 5.0))
    finished: list[float] = []
    for t in (0.0, 150.0, 300.0):
        sim.schedule(t, store.handle, Call(int(t), 0, t), math.inf, lambda o: finished.append(sim.now))
    sim.run()
    assert finished == [10.0, 200.0, 310.0]
    assert Slowdown(0, 1, 2.0).factor_at(1.0) == 1.0  # the window is half-open


def test_work_for_an_abandoned_call_is_counted_as_wasted():
    sim = Simulation(0)
    store = CapacityService("store", sim, workers=1, service_time=Constant(10))
    kept, dropped = Call(1, 0, 0.0), Call(2, 0, 0.0)
    store.handle(kept, math.inf, lambda o: None)
    store.handle(dropped, math.inf, lambda o: None)
    sim.schedule(5.0, setattr, dropped, "abandoned", True)  # its caller gives up while it waits
    sim.run()
    stats = store.stats()
    assert stats["work_ms"] == 20.0 and stats["wasted_ms"] == 10.0 and stats["wasted_requests"] == 1


# -- tiers: timeouts cascade, breakers fail fast ------------------------------------------------------------

class _Slow:
    """A downstream that answers "ok" after ``ms``."""

    def __init__(self, sim, ms):
        self.sim, self.ms, self.calls = sim, ms, 0

    def handle(self, call, deadline_ms, reply):
        self.calls += 1
        self.sim.schedule(self.ms, reply, "ok")


def test_a_tier_times_out_marks_the_call_abandoned_and_ignores_the_late_answer():
    sim = Simulation(0)
    tier = Tier("app", sim, _Slow(sim, 100.0), timeout_ms=50.0, link=0)
    answers: list[tuple[float, str]] = []
    call = Call(1, 0, 0.0)
    tier.handle(call, math.inf, lambda o: answers.append((sim.now, o)))
    sim.run()
    assert answers == [(50.0, "timeout")] and call.abandoned
    fast = Tier("app", sim, _Slow(sim, 10.0), timeout_ms=50.0, link=1.0)
    ok_call = Call(2, 0, sim.now)
    fast.handle(ok_call, math.inf, lambda o: answers.append((sim.now, o)))
    sim.run()
    assert answers[-1] == (100.0 + 12.0, "ok") and not ok_call.abandoned  # two links of 1 ms


def test_a_shorter_timeout_upstream_abandons_work_the_hops_below_still_do():
    sim = Simulation(0)
    store = CapacityService("store", sim, workers=1, service_time=Constant(80))
    app = Tier("app", sim, store, timeout_ms=200.0, link=0)
    web = Tier("web", sim, app, timeout_ms=50.0, link=0)
    answers: list[str] = []
    web.handle(Call(1, 0, 0.0), math.inf, answers.append)
    sim.run()
    assert answers == ["timeout"]
    assert web.counts["timeout"] == 1 and app.counts["ok"] == 1  # app got its answer, nobody read it
    assert store.stats()["wasted_ms"] == 80.0


def test_a_breaker_on_a_tier_opens_after_timeouts_and_fails_fast():
    sim = Simulation(0)
    slow = _Slow(sim, 100.0)
    tier = Tier("app", sim, slow, timeout_ms=10.0, link=0, breaker=CircuitBreaker(3, 1000.0))
    answers: list[str] = []
    for i in range(5):
        sim.schedule(i * 20.0, tier.handle, Call(i, 0, 0.0), math.inf, answers.append)
    sim.run()
    assert answers == ["timeout"] * 3 + ["breaker-open"] * 2
    assert slow.calls == 3


# -- retry policies and the budget --------------------------------------------------------------------------

def test_retry_policies_wait_as_documented():
    rng = random.Random(1)
    assert RetryPolicy("none", 5).retries_allowed() == 0
    immediate = RetryPolicy("immediate", 3)
    assert [immediate.delay(n, rng) for n in (1, 2, 3)] == [0.0, 0.0, 0.0]
    backoff = RetryPolicy("backoff", 6, base_ms=10.0, cap_ms=100.0)
    for n, ceiling in [(1, 10.0), (2, 20.0), (3, 40.0), (4, 80.0), (5, 100.0), (6, 100.0)]:
        draws = [backoff.delay(n, rng) for _ in range(2000)]
        assert 0.0 <= min(draws) and max(draws) <= ceiling
        assert sum(draws) / len(draws) == pytest.approx(ceiling / 2, rel=0.08)  # full jitter: uniform
    low_cap = RetryPolicy("backoff", 2, base_ms=100.0, cap_ms=10.0)
    assert max(low_cap.delay(1, rng) for _ in range(200)) <= 10.0  # the cap wins even below the base
    big = RetryPolicy("backoff", 2000, base_ms=1.0, cap_ms=5.0)
    assert 0 <= big.delay(1500, rng) <= 5.0  # no overflow far past the cap
    a, b = random.Random(9), random.Random(9)
    assert [backoff.delay(2, a) for _ in range(5)] == [backoff.delay(2, b) for _ in range(5)]


@pytest.mark.parametrize("kwargs,needle", [
    ({"kind": "sometimes"}, "kind='sometimes' must be one of none, immediate, backoff"),
    ({"max_retries": -1}, "max_retries=-1 must be an integer >= 0"),
    ({"max_retries": 2.5}, "max_retries=2.5 must be an integer"),
    ({"base_ms": 0}, "base_ms=0 must be a finite number > 0"),
    ({"cap_ms": float("nan")}, "cap_ms=nan must be a finite number > 0 ms"),
])
def test_bad_policies_are_refused_in_one_line(kwargs, needle):
    with pytest.raises(ValueError) as err:
        RetryPolicy(**kwargs)
    assert needle in str(err.value) and "\n" not in str(err.value)


def test_bad_arguments_elsewhere_are_refused_in_one_line():
    sim = Simulation(0)
    cases = [
        (lambda: RetryPolicy("immediate", 2).delay(3, random.Random()), "retry=3 must be between 1 and"),
        (lambda: RetryPolicy("none", 2).delay(1, random.Random()), "retry=1 must be between 1 and max_retries=0"),
        (lambda: RetryBudget(-0.1), "ratio=-0.1 must be a finite number >= 0"),
        (lambda: RetryBudget(0.1, window_ms=0), "window_ms=0 must be"),
        (lambda: CapacityService("s", sim, workers=0), "workers=0 must be an integer >= 1"),
        (lambda: CapacityService("s", sim, shedding="maybe"), "shedding='maybe' must be one of off, queue, deadline"),
        (lambda: CapacityService("s", sim, service_time="fast"), "service_time='fast'"),
        (lambda: CapacityService("s", sim, slowdown=(1, 2, 3)), "slowdown=(1, 2, 3) must be None or a Slowdown"),
        (lambda: Slowdown(10, 5, 2.0), "end_ms=5 must be a number >= 10"),
        (lambda: Slowdown(0, 5, 0.5), "factor=0.5 must be a finite number >= 1"),
        (lambda: Tier("t", sim, None, timeout_ms=0), "timeout_ms=0 must be a finite number > 0"),
        (lambda: Tier("t", sim, None, timeout_ms=5, breaker="on"), "breaker='on' must be None or a CircuitBreaker"),
        (lambda: RetryingClient(sim, None, timeout_ms=5, policy="backoff"), "policy='backoff' must be a RetryPolicy"),
    ]
    for make, needle in cases:
        with pytest.raises(ValueError) as err:
            make()
        assert needle in str(err.value) and "\n" not in str(err.value), str(err.value)


def test_the_budget_grants_a_share_of_requests_within_its_window():
    budget = RetryBudget(0.1, window_ms=1000.0, min_retries=0)
    for i in range(100):
        budget.record_request(i * 1.0)
    granted = [budget.try_retry(100.0) for _ in range(20)]
    assert granted.count(True) == 10 and budget.refused == 10
    # A second later the old requests and retries have left the window.
    assert not budget.try_retry(1099.0)
    assert budget.try_retry(1100.5) is False  # nothing earned in the new window yet
    budget.record_request(1101.0)
    budget.record_request(1102.0)
    # Two requests earn 0.2 retries: the share is rounded up, one retry, not a second.
    assert [budget.try_retry(1103.0) for _ in range(2)] == [True, False]
    assert RetryBudget(0.5, min_retries=0).try_retry(0.0) is False
    with pytest.raises(ValueError, match="must not go back in time"):
        budget.try_retry(5.0)


def test_a_client_retries_until_success_or_its_retries_run_out():
    sim = Simulation(0)

    class Flaky:
        """Refuses the first ``n`` calls, then answers ok."""

        def __init__(self, n):
            self.n, self.calls = n, 0

        def handle(self, call, deadline_ms, reply):
            self.calls += 1
            reply("ok" if self.calls > self.n else "overloaded")

    done = []
    client = RetryingClient(sim, Flaky(2), timeout_ms=50.0, policy=RetryPolicy("backoff", 3, 10.0, 100.0),
                            on_done=done.append)
    rec = client.start(1)
    sim.run()
    assert rec.outcome == "ok" and rec.attempts == 3 and rec.answers == ["overloaded", "overloaded", "ok"]
    assert 0 < rec.latency_ms <= 10.0 + 20.0 and done == [rec] and client.retries_sent == 2
    never = RetryingClient(sim, Flaky(10), timeout_ms=50.0, policy=RetryPolicy("immediate", 2))
    rec2 = never.start(2)
    sim.run()
    assert rec2.outcome == "overloaded" and rec2.attempts == 3
    none = RetryingClient(sim, _Slow(sim, 100.0), timeout_ms=50.0, policy=RetryPolicy("none", 5))
    rec3 = none.start(3)
    sim.run()
    assert rec3.outcome == "timeout" and rec3.attempts == 1 and none.retries_sent == 0


def test_a_client_within_a_budget_sends_no_more_retries_than_it_allows():
    sim = Simulation(0)

    class Down:
        def handle(self, call, deadline_ms, reply):
            reply("overloaded")

    budget = RetryBudget(0.2, window_ms=10_000.0, min_retries=0)
    client = RetryingClient(sim, Down(), timeout_ms=50.0, policy=RetryPolicy("immediate", 3), budget=budget)
    for i in range(50):
        sim.schedule(i * 10.0, client.start, i)
    sim.run()
    assert client.retries_sent <= 0.2 * 50 and client.retries_refused > 0
    assert all(rec.outcome == "overloaded" for rec in client.records)
