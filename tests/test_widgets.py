"""Explorers driven headlessly: every control changes the result it should."""

import pytest

from consistency_lab.widgets import EXPLORERS, explore


@pytest.fixture(scope="module")
def register():
    return explore("register")


def test_every_explorer_builds_with_defaults_and_renders_a_png():
    for name, cls in EXPLORERS.items():
        e = cls()
        assert e.error is None, (name, e.error)
        assert e.image.value[:4] == b"\x89PNG", name
        assert "seed" in e.controls
        assert e.widget is not None


def test_register_mode_changes_staleness_and_latency(register):
    register.set(mode="async", partition=False, loss=0.0)
    async_stale = register.result.metrics["stale_read_fraction"]
    async_write = register.result.metrics["write_latency_p50_ms"]
    register.controls["mode"].value = "sync"
    assert register.result.params["mode"] == "sync"
    assert register.result.metrics["stale_reads"] == 0 < async_stale
    assert register.result.metrics["write_latency_p50_ms"] > async_write


def test_register_quorum_sliders_reach_the_simulation(register):
    register.set(mode="quorum", r=1, w=1)
    assert (register.result.params["r"], register.result.params["w"]) == (1, 1)
    register.controls["w"].value = 3
    assert register.result.params["w"] == 3 and register.result.metrics["stale_reads"] == 0


def test_register_wan_loss_and_partition_controls(register):
    register.set(mode="async", wan_ms=10, loss=0.0, partition=False)
    near = register.result.metrics["write_latency_p99_ms"]
    register.controls["wan_ms"].value = 150
    assert register.result.metrics["write_latency_p99_ms"] > near + 100
    register.controls["loss"].value = 0.2
    assert register.result.params["loss"] == 0.2
    register.set(mode="sync", loss=0.0, wan_ms=40)
    full = register.result.metrics["availability"]
    register.controls["partition"].value = True
    assert register.result.faults.partitions() and register.result.metrics["availability"] < full


def test_seed_and_reset(register):
    register.set(mode="async", seed=1)
    a = register.result.trace_digest
    register.controls["seed"].value = 2
    assert register.result.trace_digest != a
    register.reset()
    assert register.params() == register._defaults


def test_errors_are_shown_in_the_widget_not_raised():
    e = explore("register")
    before = e.result
    e.controls["mode"].value = "quorum"
    e.run = lambda params: (_ for _ in ()).throw(ValueError("w=4 must be between 1 and n=3"))
    e.controls["w"].value = 3
    assert e.error == "ValueError: w=4 must be between 1 and n=3"
    assert "Cannot run this" in e.message.value and e.result is not before


def test_pbs_controls_move_the_curve():
    e = explore("pbs", trials=200)
    e.set(model="LNKD-DISK", n=3, r=1, w=1)
    low = e.result.metrics["consistent_at_0ms"]
    e.controls["w"].value = 2
    assert e.result.metrics["consistent_at_0ms"] > low
    e.controls["r"].value = 2
    assert e.result.metrics["consistent_at_0ms"] == 1.0 and e.result.metrics["r_plus_w_gt_n"]
    e.controls["model"].value = "WAN"
    assert e.result.model == "WAN"
    e.controls["n"].value = 5
    assert e.result.n == 5
    e.controls["trials"].value = 300
    assert e.error is None


def test_unknown_explorer_and_control_named():
    with pytest.raises(ValueError, match="unknown explorer 'nope'; allowed: "):
        explore("nope")
    with pytest.raises(ValueError, match="unknown control 'colour'"):
        explore("register", colour="red")


def test_tickets_inventory_decides_oversell_and_controls_reach_the_sale():
    e = explore("tickets")
    e.set(inventory="eventual", seats=50, buyers=300)
    assert e.result.metrics["oversold"] > 0
    e.controls["inventory"].value = "reservation"
    assert e.result.metrics["oversold"] == 0 and e.result.metrics["sold"] == 50
    e.controls["seats"].value = 20
    assert e.result.metrics["sold"] == 20
    e.controls["buyers"].value = 15
    assert e.result.params["buyers"] == 15 and e.result.metrics["sold_out_rejections"] == 0
    e.set(buyers=1000, arrival_window_ms=300, capacity=1, breaker=True)
    assert e.result.metrics["rejected_fast"] > 0
    e.controls["breaker"].value = False
    assert e.result.metrics["rejected_fast"] == 0
    e.controls["lease_ms"].value = 200
    assert e.result.params["lease_ms"] == 200
    e.controls["loss"].value = 0.1
    assert e.result.params["loss"] == 0.1 and e.result.metrics["oversold"] == 0
