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


# -- what a student sees: layout, sharpness, words, disabled controls ---------------------------------

import io  # noqa: E402
import re  # noqa: E402

import ipywidgets as W  # noqa: E402
import numpy as np  # noqa: E402
from PIL import Image  # noqa: E402

from consistency_lab.plots.live import encode_png, nice_limit, sticky_limit  # noqa: E402
from consistency_lab.widgets.base import format_metric  # noqa: E402

#: Room an ipywidgets slider keeps for its numeric readout (about 4-5 digits) beside the track.
READOUT_PX = 64


def _png(data: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(data)).convert("RGB")).astype(int)


@pytest.fixture(scope="module")
def explorers():
    return {name: cls() for name, cls in EXPLORERS.items()}


def test_figure_keeps_its_aspect_ratio_and_metrics_wrap_instead_of_stretching_it(explorers):
    for name, e in explorers.items():
        box = e.widget.children[3]  # header, controls, footer, then the figure row (a scrubber row may follow)
        assert box.children == (e.image, e.table), name
        # A stretched row would make the image as tall as the table; wrapping puts the table below.
        assert "wrap" in box.layout.flex_flow and box.layout.align_items == "flex-start", name
        assert e.image.layout.height == "auto" and e.image.layout.max_width == "100%", name
        assert e.table.layout.max_width == "100%", name
        controls = e.widget.children[1]
        assert "wrap" in controls.layout.flex_flow, name


def test_png_has_twice_the_pixels_of_its_displayed_size(explorers):
    for name, e in explorers.items():
        img = Image.open(io.BytesIO(e.image.value))
        shown_w, shown_h = e.display_size()
        assert e.image.width == str(shown_w), name
        assert img.size == (2 * shown_w, 2 * shown_h), name
        assert abs(img.size[0] / img.size[1] - shown_w / shown_h) < 0.01, name


def test_slider_tracks_are_at_least_120_px_with_the_label_above(explorers):
    for name, e in explorers.items():
        for key, w in e.controls.items():
            if not isinstance(w, (W.IntSlider, W.FloatSlider)):
                continue
            assert w.description == "", (name, key)  # the label sits above, not beside the track
            width = int(w.layout.width.removesuffix("px"))
            assert width - READOUT_PX >= 120, (name, key, width)
        labels = [c.children[0].value for c in e.widget.children[1].children
                  if isinstance(c.children[0], W.HTML)]
        assert all(len(re.sub("<[^>]+>", "", lab)) <= 32 for lab in labels), (name, labels)


def test_metric_labels_are_words_and_numbers_are_rounded(explorers):
    for name, e in explorers.items():
        cells = re.findall(r"<td[^>]*>(.*?)</td>", e.table.value)
        labels, values = cells[0::2], [re.sub("<[^>]+>", "", v) for v in cells[1::2]]
        assert labels and len(labels) == len(values), name
        assert not any("_" in lab for lab in labels), (name, labels)
        for v in values:
            assert not re.search(r"\d\.\d{2,}", v), (name, v)  # no 152.94335825368125
    pbs = explorers["pbs"].table.value
    assert "R + W &gt; N" in pbs and "ms until 99% fresh" in pbs


def test_format_metric():
    assert format_metric(152.94335825368125, "ms") == "153"
    assert format_metric(4.0123, "ms") == "4.0"
    assert format_metric(0.1234, "pct") == "12%" and format_metric(0.051, "pct") == "5.1%"
    assert format_metric(1.0, "pct") == "100%" and format_metric(True, "yes/no") == "yes"
    assert format_metric(float("nan"), "ms") == "–" and format_metric(1234, "count") == "1,234"
    with pytest.raises(ValueError, match="kind='secs' must be one of"):
        format_metric(1.0, "secs")


def test_quorum_sizes_are_disabled_outside_quorum_mode_with_a_hint():
    e = explore("register")
    e.set(mode="async")
    assert e.controls["r"].disabled and e.controls["w"].disabled
    assert "quorum" in e.hints["r"].value and "quorum" in e.controls["w"].tooltip
    assert not e.controls["wan_ms"].disabled and e.hints["wan_ms"].value == ""
    e.controls["mode"].value = "quorum"
    assert not e.controls["r"].disabled and not e.controls["w"].disabled and e.hints["r"].value == ""


def test_tickets_breaker_and_workers_disabled_for_eventual_and_explained_when_idle():
    e = explore("tickets")
    e.set(inventory="eventual")
    assert e.controls["breaker"].disabled and e.controls["capacity"].disabled
    assert e.hints["breaker"].value and e.hints["capacity"].value
    e.set(inventory="reservation", buyers=200, arrival_window_ms=2000, capacity=4, breaker=True)
    assert not e.controls["breaker"].disabled and e.result.metrics["breaker_trips"] == 0
    assert "never opened" in e.hints["breaker"].value  # why switching it changes nothing here
    e.set(buyers=1000, arrival_window_ms=300, capacity=1)
    assert e.result.metrics["breaker_trips"] > 0 and e.hints["breaker"].value == ""
    assert "times a breaker opened" in e.table.value


def test_pbs_quorum_sliders_end_at_n_in_any_order():
    e = explore("pbs", trials=50)
    e.set(n=3)
    assert e.controls["r"].max == e.controls["w"].max == 3
    e.set(r=4, n=5)  # R named before the N that allows it
    assert (e.result.n, e.result.r) == (5, 4) and e.controls["w"].max == 5
    e.controls["n"].value = 2
    assert e.controls["r"].value == 2 and e.result.r == 2 and e.error is None
    assert not e.controls["r"].disabled
    e.controls["n"].value = 1
    assert e.controls["r"].disabled and e.controls["w"].disabled and "N = 1" in e.hints["w"].value


def test_tickets_outcome_legends_have_one_swatch_per_bar_colour():
    from consistency_lab.plots.tickets_plots import plot_outcomes

    e = explore("tickets")
    fig = plot_outcomes(e.result)
    ax = fig.axes[0]
    bars = [p.get_facecolor() for p in ax.patches]
    handles = ax.get_legend().legend_handles
    assert len(handles) == len(bars) > 1
    assert [h.get_facecolor() for h in handles] == bars
    for mode in ("eventual", "reservation"):
        e.controls["inventory"].value = mode
        (outcomes,) = [lg for lg in e.legends() if lg.axes is e.live.fig.axes[1]]
        shown = [b.get_facecolor() for b in e.live.fig.axes[1].patches if b.get_visible()]
        assert [h.get_facecolor() for h in outcomes.legend_handles] == shown and len(set(shown)) == len(shown)


def test_cached_frames_match_a_full_redraw(explorers):
    # The background is reused between frames; a stale one would show old ticks or titles.
    moves = {"register": [{"seed": 3}, {"mode": "sync"}, {"partition": True}, {"seed": 4}],
             "tickets": [{"seed": 3}, {"inventory": "reservation"}, {"seats": 20}, {"seed": 4}],
             "pbs": [{"w": 2}, {"model": "WAN"}],
             "logistics": [{"seed": 3}, {"architecture": "cqrs"}, {"outage_service": "none"}, {"outage_ms": 300},
                           {"seed": 4}],
             "raft": [{"seed": 3}, {"crash_at": "1000"}, {"cut": "split 2|3"}, {"seed": 4}],
             "overload": [{"seed": 3}, {"fault": False}, {"load_pct": 140}, {"shedding": "deadline"}, {"seed": 4}],
             "timeline": [{"seed": 3}, {"burst_posts": 1500}, {"reconciliation": False}, {"outage_ms": 2000},
                          {"seed": 4}],
             "document": [{"seed": 3}, {"strategy": "central"}, {"schedule": "no cut-offs"}, {"editors": 2},
                          {"seed": 4}],
             "booking": [{"seed": 3}, {"handler_lag_ms": 1000}, {"frontends": 1}, {"reminder_ms": 500}, {"seed": 4}],
             "history": [{"seed": 3}, {"witness": "causal"}, {"history": "c1 write x 1 @0-1\nc2 read x -> nil @2-3"},
                         {"seed": 4}],
             "growth": [{"seed": 3}, {"shared_keys": "20"}, {"tickets_per_anomaly": 0.3}, {"users_k": 900},
                        {"seed": 4}],
             "commit": [{"seed": 3}, {"protocol": "saga"}, {"crash_point": "none"}, {"downtime_ms": 1500},
                        {"seed": 4}],
             "optimistic_ui": [{"seed": 3}, {"server_ms": 50}, {"refusal": 0.4}, {"optimistic": False}, {"seed": 4}]}
    for name, e in explorers.items():
        for move in moves[name]:
            move = {k: v for k, v in move.items() if k in e.controls}
            e.set(**move)
            cached, full = _png(e.image.value), _png(e.live.redraw_png())
            differs = (np.abs(cached - full).max(axis=2) > 0).mean()
            # Only antialiased edges differ (data over a spine, a legend's frame line).
            assert differs < 0.005, (name, move, differs)
        if e.scrubbable:  # each run redraws its background; moving in time reuses it
            e.scrub_to(e.scrubber.min)
        assert e.live.full_redraws < e.live.frames, name


def test_png_encoding_is_lossless():
    rng = np.random.default_rng(0)
    rgba = rng.integers(0, 256, size=(7, 5, 4), dtype=np.uint8)
    img = Image.open(io.BytesIO(encode_png(rgba.tobytes(), (5, 7), 160.0)))
    assert img.size == (5, 7) and img.mode == "RGBA"
    assert np.array_equal(np.asarray(img), rgba)
    assert round(img.info["dpi"][0]) == 160


def test_axis_limits_are_rounded_and_sticky():
    assert [nice_limit(v) for v in (0.7, 1.2, 2.9, 3400, 151)] == [1, 1.5, 3, 4000, 200]
    assert sticky_limit(4000, 3000, 100) == 4000  # fits and fills more than 70%: keep
    # Half empty is not kept (a student saw the data end mid-axis after a mode change).
    assert sticky_limit(8000, 4000, 100) == 4000
    assert sticky_limit(4000, 1500, 100) == 1500 and sticky_limit(4000, 4100, 100) == 5000
    with pytest.raises(ValueError, match="must be a positive finite number"):
        nice_limit(float("inf"))


def test_an_explorer_with_only_render_still_draws_at_twice_the_density():
    from consistency_lab.widgets.base import Explorer, slider

    class Line(Explorer):
        figsize = (4.0, 2.0)

        def make_controls(self):
            return {"k": slider(1, 1, 5, "slope")}

        def run(self, params):
            return params["k"]

        def render(self, result, fig):
            fig.add_subplot().plot([0, 1], [0, result])

    e = Line()
    e.controls["k"].value = 3
    assert e.error is None and e.result == 3 and e.live is None
    assert Image.open(io.BytesIO(e.image.value)).size == (640, 320) and e.image.width == "320"
