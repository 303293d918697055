"""R + W > N is not linearizability by itself: the checker decides, run by run.

Two things break a quorum register even when every read quorum overlaps every write
quorum: a read that returns a write still in flight without spreading it first
(read repair after answering, or none), and last-writer-wins on skewed clocks.
Blocking read repair (ABD's write-back) removes the first and nothing here removes
the second.
"""

import pytest

from consistency_lab import simulate
from consistency_lab.check import check_operations, register_model
from consistency_lab.network import Network, NetworkOptions
from consistency_lab.replication import QuorumReplica
from consistency_lab.replication.quorum import READ_REPAIR_MODES, read_repair_mode
from consistency_lab.sim import Simulation

# A read-heavy workload over a WAN with a heavy tail (lognormal sigma = 1: median 40 ms,
# about 1 message in 20 takes over 200 ms).  A region-B write can then sit on r2 alone
# for a while; a B read returns it, and an A read right after it reads r0 and r1,
# which have not heard of it yet: a new value, then an old one.
TAIL = dict(mode="quorum", n=3, r=2, w=2, read_ratio=0.9, clients=8, latency="lognormal:40,1.0")

FAULTS = ["", "A|B@300-1200", "crash:r1@200-900", "crash:r2@100", "r0~r2@100-600", "A>B@200-800"]


def verdict(result, timeout=20):
    return check_operations(register_model(), result.history.checkable(), timeout=timeout).verdict


@pytest.mark.parametrize("faults", FAULTS)
def test_blocking_write_back_without_skew_is_linearizable(faults):
    for seed in range(8):
        for settings in (TAIL, dict(mode="quorum", clients=6, operations=30)):
            res = simulate("register", seed=seed, read_repair="blocking", faults=faults, trace=False, **settings)
            assert verdict(res) == "ok", (seed, faults, settings)


def test_blocking_write_back_is_linearizable_when_each_request_goes_to_a_bare_quorum():
    # fanout="quorum": writes, reads and write-backs each contact only W or R random replicas.
    for seed in range(8):
        for faults in ("", "A|B@300-1200", "crash:r1@200-900"):
            res = simulate("register", seed=seed, read_repair="blocking", fanout="quorum", faults=faults,
                           trace=False, **TAIL)
            assert verdict(res) == "ok", (seed, faults)


@pytest.mark.parametrize("n,r,w", [(3, 1, 3), (3, 3, 1), (5, 3, 3), (5, 2, 4)])
def test_blocking_write_back_is_linearizable_for_every_overlapping_quorum(n, r, w):
    for seed in range(6):
        res = simulate("register", seed=seed, **{**TAIL, "n": n, "r": r, "w": w}, read_repair="blocking",
                       loss=0.05, duplicate=0.05, reorder=0.1, trace=False)
        assert verdict(res) == "ok", (seed, n, r, w)


def _first_illegal(read_repair, seeds=range(60), **params):
    for seed in seeds:
        res = simulate("register", seed=seed, read_repair=read_repair, trace=False, **params)
        if verdict(res) == "illegal":
            return seed
    return None


def test_async_read_repair_is_not_linearizable_somewhere_and_blocking_fixes_that_run():
    # Search instead of naming a seed: roughly 1 seed in 12 shows the new-then-old
    # inversion at these settings, so 60 seeds find one unless the protocol changed.
    seed = _first_illegal("async", **TAIL)
    assert seed is not None, "async read repair looked linearizable on 60 seeds"
    same = simulate("register", seed=seed, read_repair="blocking", trace=False, **TAIL)
    assert verdict(same) == "ok"


def test_without_any_read_repair_the_quorum_register_is_not_linearizable_either():
    assert _first_illegal("off", **TAIL) is not None


def test_clock_skew_breaks_quorums_even_with_blocking_write_back():
    # Last-writer-wins on skewed clocks: a later write can carry an earlier stamp and lose.
    skewed = dict(mode="quorum", r=2, w=2, clock_skew_ms=20)
    runs = [simulate("register", seed=s, read_repair="blocking", trace=False, **skewed) for s in range(10)]
    assert sum(r.metrics["stale_reads"] for r in runs) > 0
    assert any(verdict(r) == "illegal" for r in runs)


def test_blocking_write_back_costs_read_latency_only_when_replicas_disagree():
    base = dict(mode="quorum", clients=6, operations=40, trace=False)
    fast = simulate("register", seed=2, read_repair="async", **base)
    slow = simulate("register", seed=2, read_repair="blocking", **base)
    # A write-back is needed only when fewer than W of the answers already hold the newest
    # version, so the median read barely moves while the tail pays a round trip.
    assert slow.metrics["read_latency_max_ms"] >= fast.metrics["read_latency_max_ms"]
    assert slow.metrics["read_latency_p50_ms"] < fast.metrics["read_latency_p50_ms"] + 5


def test_read_repair_setting_is_validated_with_the_choices_named():
    with pytest.raises(ValueError, match="read_repair='sometimes' must be one of off, async, blocking"):
        simulate("register", seed=0, mode="quorum", read_repair="sometimes")
    with pytest.raises(ValueError, match="read_repair=True must be one of off, async, blocking"):
        simulate("register", seed=0, mode="quorum", read_repair=True)
    with pytest.raises(ValueError, match="read_repair='sometimes' must be one of off, async, blocking"):
        read_repair_mode("sometimes")
    assert READ_REPAIR_MODES == ("off", "async", "blocking")


def test_replica_accepts_the_old_booleans_as_synonyms():
    # Library callers that predate the choice may still pass False/True.
    sim = Simulation(0)
    net = Network(sim, NetworkOptions())
    off = QuorumReplica("r0", sim, net, region=None, replicas=["r0"], n=1, r=1, w=1, read_repair=False)
    on = QuorumReplica("r1", sim, net, region=None, replicas=["r1"], n=1, r=1, w=1, read_repair=True)
    assert (off.read_repair, on.read_repair) == ("off", "async")
