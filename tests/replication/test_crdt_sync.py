"""CRDTs on simulated nodes: every sync mode converges to the join of every update, under faults."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from _schedules import fault_schedules
from consistency_lab.crdt import RGA, RGADelete, RGAInsert
from consistency_lab.replication.crdt_sync import CRDT_KINDS, SYNC_MODES, CrdtUpdate, run_crdt

NODES = ["r0", "r1", "r2"]


def assert_converged(result):
    assert result.converged, result.stopped
    assert result.stopped == ""
    for name, replica in result.replicas.items():
        assert replica == result.expected, name
        assert result.values[name] == result.expected.value()


def check_semantics(result):
    """Independent of the CRDT code: what the issued updates add up to."""
    value = result.values["r0"]
    ups = result.updates
    if result.kind in ("gcounter", "pncounter"):
        assert value == sum(u.args[0] if u.op == "increment" else -u.args[0] for u in ups)
    elif result.kind == "gset":
        assert value == {u.args[0] for u in ups}
    elif result.kind == "rga":  # every inserted, never deleted character exactly once (two may delete one)
        chars = {op.id: op.char for op in result.payloads if isinstance(op, RGAInsert)}
        deleted = {op.target for op in result.payloads if isinstance(op, RGADelete)}
        assert sorted(value) == sorted(c for eid, c in chars.items() if eid not in deleted)


@pytest.mark.parametrize("sync", SYNC_MODES)
@pytest.mark.parametrize("kind", CRDT_KINDS)
@settings(max_examples=6)
@given(seed=st.integers(0, 10_000), faults=fault_schedules(NODES), loss=st.sampled_from([0.0, 0.1, 0.3]),
       duplicate=st.sampled_from([0.0, 0.3]), reorder=st.sampled_from([0.0, 0.5]))
def test_every_mode_converges_under_faults(kind, sync, seed, faults, loss, duplicate, reorder):
    result = run_crdt(kind, seed, sync=sync, updates=25, duration_ms=2500, loss=loss, duplicate=duplicate,
                      reorder=reorder, faults=faults)
    assert_converged(result)
    check_semantics(result)
    assert len(result.updates) + result.skipped == 25


@pytest.mark.parametrize("sync", SYNC_MODES)
def test_two_sides_of_a_partition_count_every_increment(sync):
    ups = [CrdtUpdate(100 + 10 * i, NODES[i % 3], "increment" if i % 4 else "decrement", (i + 1,)) for i in range(30)]
    result = run_crdt("pncounter", 3, sync=sync, updates=ups, faults="r0|r1,r2@0-1500", loss=0.2)
    assert_converged(result)
    assert result.values["r1"] == sum((i + 1) * (1 if i % 4 else -1) for i in range(30))
    assert result.converged_at_ms >= 1500  # nothing crosses the cut before it heals


@pytest.mark.parametrize("sync", SYNC_MODES)
def test_editors_typing_on_both_sides_of_a_partition_keep_every_character(sync):
    ups = [CrdtUpdate(50 + 20 * i, "r0" if i % 2 else "r2", "insert", (0, chr(ord("a") + i))) for i in range(20)]
    ups.append(CrdtUpdate(900, "r2", "delete", (0,)))
    result = run_crdt("rga", 5, sync=sync, updates=ups, faults="r0|r1,r2@0-1000", reorder=0.5, duplicate=0.3)
    assert_converged(result)
    text = result.values["r1"]
    # r2 typed a, c, ..., s, each at index 0, so at 900 ms its first character was "s"
    assert sorted(text) == sorted(set("abcdefghijklmnopqrst") - {"s"})
    assert "".join(c for c in text if c in "bdfhjlnprt") == "trpnljhfdb"  # r0's own text, in r0's order
    assert "".join(c for c in text if c in "acegikmoq") == "qomkigeca"


def test_ops_mode_delivers_causally_so_rga_never_sees_a_missing_predecessor():
    # r0 types forwards (each op depends on the previous); heavy reordering must not break apply
    ups = [CrdtUpdate(10 + i, "r0", "insert", (i, chr(ord("a") + i))) for i in range(15)]
    result = run_crdt("rga", 11, sync="ops", updates=ups, reorder=0.9, duplicate=0.5, loss=0.3)
    assert_converged(result)
    assert result.values["r2"] == "abcdefghijklmno"


def test_state_and_delta_route_around_a_one_way_cut_and_ops_waits_for_the_origin():
    # r0 > r1 never heals: r0's updates reach r1 only through r2
    for sync in ("state", "delta"):
        assert_converged(run_crdt("rga", 3, sync=sync, updates=200, faults="r0>r1@0-", settle_ms=3000))
    ops = run_crdt("rga", 3, sync="ops", updates=200, faults="r0>r1@0-", settle_ms=3000)
    assert not ops.converged and "replicas r1 had not converged" in ops.stopped  # only the origin resends


def test_same_seed_same_run_and_another_seed_another_run():
    one = run_crdt("orset", 4, sync="delta", loss=0.2, reorder=0.3, faults="r0|r1,r2@100-900")
    two = run_crdt("orset", 4, sync="delta", loss=0.2, reorder=0.3, faults="r0|r1,r2@100-900")
    other = run_crdt("orset", 5, sync="delta", loss=0.2, reorder=0.3, faults="r0|r1,r2@100-900")
    assert one.trace_digest == two.trace_digest and one.values == two.values and one.updates == two.updates
    assert other.trace_digest != one.trace_digest


def test_a_cut_that_never_heals_ends_the_run_unconverged_and_says_why():
    result = run_crdt("gset", 1, sync="state", updates=20, faults="r0|r1,r2@0-", settle_ms=500)
    assert not result.converged and result.converged_at_ms is None and result.convergence_ms is None
    assert "a fault never heals" in result.stopped and "r" in result.stopped


def test_the_event_budget_stops_a_run():
    result = run_crdt("rga", 1, sync="ops", updates=200, sync_ms=1, max_events=2000)
    assert not result.converged and "the event budget" in result.stopped


def test_a_crashed_node_catches_up_after_restart_and_misses_its_own_updates_while_down():
    result = run_crdt("pncounter", 2, sync="delta", updates=40, faults="crash:r1@200-1200")
    assert_converged(result)
    assert result.skipped >= 1  # updates planned at r1 while it was down were never issued
    check_semantics(result)


def test_delta_sync_ships_fewer_bytes_than_full_state_gossip_for_a_big_set():
    state = run_crdt("gset", 8, sync="state", updates=300, duration_ms=3000)
    delta = run_crdt("gset", 8, sync="delta", updates=300, duration_ms=3000)
    assert_converged(state), assert_converged(delta)
    assert delta.bytes < state.bytes / 2


def test_rga_state_gossip_converges_too():
    result = run_crdt("rga", 9, sync="state", updates=60, loss=0.3)
    assert_converged(result)
    assert isinstance(result.replicas["r0"], RGA)
    check_semantics(result)


@pytest.mark.parametrize("bad, message", [
    (dict(kind="counter"), "kind='counter' must be one of gcounter"),
    (dict(sync="push"), "sync='push' must be one of state, delta, ops"),
    (dict(nodes=0), "nodes=0 must be an integer between 1 and 50"),
    (dict(updates=-1), "updates=-1 must be an integer between 0 and 100000"),
    (dict(updates=[("r0", "add")]), "must be a CrdtUpdate"),
    (dict(updates=[CrdtUpdate(1, "r9", "add", (1,))]), "node='r9' must be one of r0, r1, r2"),
    (dict(loss=1.5), "loss=1.5 must be a probability"),
    (dict(sync_ms=0), "sync_ms=0 must be a finite number > 0 ms"),
    (dict(clock_skew_ms=[0, 1]), "must have one entry per node"),
])
def test_bad_arguments_are_one_line_value_errors(bad, message):
    args = dict(kind="gset", seed=0) | bad
    with pytest.raises(ValueError, match=message.replace("(", r"\(")) as info:
        run_crdt(**args)
    assert "\n" not in str(info.value)
