"""The simulation kernel, latency distributions, faults and logical clocks."""

import math
import random

import pytest

from consistency_lab.clocks import HybridClock, LamportClock, VectorClock
from consistency_lab.faults import Clog, Crash, Partition, parse_faults
from consistency_lab.latency import (Constant, Empirical, Exponential, LogNormal, Mixture, Pareto,
                                     Shifted, Uniform, parse_latency)
from consistency_lab.sim import Simulation


def test_schedule_runs_callbacks_in_time_order_and_cancel_works():
    sim = Simulation(1)
    seen = []
    sim.schedule(5, seen.append, "b")
    sim.schedule(1, seen.append, "a")
    t = sim.schedule(3, seen.append, "never")
    t.cancel()
    sim.run()
    assert seen == ["a", "b"]
    assert sim.now == 5


def test_named_streams_are_independent_and_reproducible():
    a, b = Simulation(7), Simulation(7)
    a.rng("clients").random()  # drawing from one stream must not shift another
    assert a.rng("network").random() == b.rng("network").random()
    assert Simulation(8).rng("network").random() != Simulation(7).rng("network").random()


@pytest.mark.parametrize("bad", [-1, 1.5, "3", None, True])
def test_bad_seed_is_rejected(bad):
    with pytest.raises(ValueError, match="seed"):
        Simulation(bad)


def test_negative_delay_rejected():
    with pytest.raises(ValueError, match="delay"):
        Simulation(0).schedule(-1, print)


def test_trace_digest_changes_with_events():
    sim = Simulation(0)
    d0 = sim.trace_digest()
    sim.record("note", what="x")
    assert sim.trace_digest() != d0


@pytest.mark.parametrize("dist", [
    Constant(3), Uniform(1, 5), Exponential(0.5), LogNormal(10, 0.3), Pareto(1.0, 3.0),
    Mixture(((0.9, Constant(1)), (0.1, Constant(100)))), Empirical((1.0, 2.0, 9.0)),
    Shifted(Constant(1), 75),
])
def test_latency_sample_means_match(dist):
    rng = random.Random(3)
    samples = [dist.sample(rng) for _ in range(20000)]
    assert all(s >= 0 for s in samples)
    assert sum(samples) / len(samples) == pytest.approx(dist.mean(), rel=0.08)


def test_parse_latency_forms_and_errors():
    assert parse_latency("20") == Constant(20.0)
    assert parse_latency("exp:5").mean() == pytest.approx(5)
    assert isinstance(parse_latency("lognormal:40,0.2"), LogNormal)
    for bad in ["exp:-1", "bogus:1", "uniform:5,1", "", "pareto:1"]:
        with pytest.raises(ValueError, match="latency"):
            parse_latency(bad)


def test_parse_faults_all_kinds():
    s = parse_faults("A|B@500-1500; A>B@0-900; r0~r1@0-800; crash:r0@200-900; crash:r2@100")
    kinds = [type(f) for f in s.faults]
    assert kinds == [Partition, Partition, Clog, Crash, Crash]
    assert s.faults[1].one_way
    assert s.faults[4].end == math.inf
    assert s.last_heal() == math.inf
    assert parse_faults("").faults == ()


@pytest.mark.parametrize("bad", ["A|B", "A|B@x-1", "A|B@500-100", "crash:r0@-5-10", "what@1-2"])
def test_parse_faults_errors_name_the_fault(bad):
    with pytest.raises(ValueError, match="fault"):
        parse_faults(bad)


def test_vector_clock_orders_and_concurrency():
    a = VectorClock().tick("n1")
    b = a.tick("n2")
    c = a.tick("n3")
    assert a.happened_before(b) and not b.happened_before(a)
    assert b.concurrent(c)
    assert b.merge(c).get("n2") == 1 and b.merge(c).get("n3") == 1
    assert a.merge(a) == a


def test_lamport_and_hybrid_clocks_never_go_back():
    lc = LamportClock().tick()
    assert lc.merge(LamportClock(10)).time == 11
    h = HybridClock().tick(100.0)
    h2 = h.tick(90.0)  # physical clock went backwards: logical part moves on
    assert h2 > h
    h3 = h2.merge(HybridClock(200.0, 4), 150.0)
    assert h3 == HybridClock(200.0, 5)
