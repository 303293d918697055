"""Property tests: invariants of the replication modes under random fault schedules."""

from hypothesis import given
from hypothesis import strategies as st

from consistency_lab import simulate

from _schedules import fault_schedules

NODES = ["r0", "r1", "r2"]


common = dict(operations=15, clients=4, settle_ms=3000)


@given(faults=fault_schedules(NODES), seed=st.integers(0, 10_000), loss=st.sampled_from([0.0, 0.05]))
def test_every_mode_converges_after_the_last_heal(faults, seed, loss):
    for mode in ("sync", "async", "quorum"):
        r = simulate("register", seed=seed, mode=mode, faults=faults, loss=loss, **common)
        assert r.metrics["converged"], (mode, faults)


@given(faults=fault_schedules(NODES), seed=st.integers(0, 10_000))
def test_sync_never_loses_acknowledged_writes(faults, seed):
    r = simulate("register", seed=seed, mode="sync", faults=faults, **common)
    assert r.metrics["lost_acknowledged_writes"] == 0


@given(faults=fault_schedules(NODES), seed=st.integers(0, 10_000),
       nrw=st.sampled_from([(3, 2, 2), (3, 3, 1), (3, 1, 3)]))
def test_overlapping_quorums_never_read_stale_even_with_faults(faults, seed, nrw):
    n, r, w = nrw
    res = simulate("register", seed=seed, mode="quorum", n=n, r=r, w=w, faults=faults, **common)
    assert res.metrics["stale_reads"] == 0


@given(seed=st.integers(0, 10_000), faults=fault_schedules(NODES))
def test_determinism_for_any_schedule(seed, faults):
    a = simulate("register", seed=seed, mode="async", faults=faults, **common)
    b = simulate("register", seed=seed, mode="async", faults=faults, **common)
    assert a.trace_digest == b.trace_digest and a.history.operations == b.history.operations
