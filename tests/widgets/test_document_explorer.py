"""The document explorer, headless: every control re-runs; the scrubber moves through the run without one."""

import pytest

from consistency_lab.widgets import EXPLORERS, explore
from consistency_lab.widgets.document_explorer import SCHEDULES, DocumentExplorer


@pytest.fixture(scope="module")
def explorer():
    return explore("document")


def test_it_is_registered_and_starts_with_a_cut_run(explorer):
    assert EXPLORERS["document"] is DocumentExplorer
    assert explorer.error is None and explorer.result.params["strategy"] == "crdt"
    assert explorer.result.faults.partitions(), "the default schedule cuts e0 off"
    counts = explorer.result.extra["by_strategy"]
    assert set(counts) == {"crdt", "pycrdt", "lww", "central"}
    assert counts["crdt"][0] == counts["pycrdt"][0] == 0 and counts["lww"][0] > 0 and counts["central"][1] > 0


@pytest.mark.parametrize("name, value", [
    ("strategy", "lww"), ("strategy", "central"), ("schedule", "no cut-offs"), ("editors", 2),
    ("keys_per_s", 5.0), ("jump_share", 0.2), ("delete_share", 0.3)])
def test_every_control_re_runs_and_redraws(explorer, name, value):
    before_png, before = explorer.image.value, explorer.result
    explorer.controls[name].value = value
    assert explorer.error is None
    assert explorer.result is not before and explorer.image.value != before_png
    r = explorer.result
    if name == "strategy":
        assert r.params["strategy"] == value
    elif name == "schedule":
        assert not r.faults.partitions() and r.metrics["cutoffs"] == 0
    elif name == "editors":
        assert set(r.texts) <= {"e0", "e1", "server"}
    else:
        assert r.params[name] == value
    explorer.reset()


def test_scrubbing_shows_each_replica_then_without_re_running():
    e = DocumentExplorer()
    run, end = e.result, e.result.end_time
    assert e.time == round(end)
    e.scrub_to(3500)  # e0 is cut off: its text differs from the others'
    text = e._text.get_text()
    assert text.startswith("at t = 3.50 s") and all(f"{n}:" in text for n in ("e0", "e1", "e2"))
    at_cut = e.image.value
    e.scrub_to(end)
    assert e.result is run and e.image.value != at_cut
    lines = {line.split(":")[0].strip(): line.split(": ", 1)[1] for line in e._text.get_text().splitlines()[1:]
             if ":" in line}
    assert lines["e0"] == lines["e1"] == lines["e2"]  # converged by the end
    with pytest.raises(ValueError, match="t_ms=-5 must be a time within this run"):
        e.scrub_to(-5)


def test_every_schedule_runs():
    e = DocumentExplorer()
    for name in SCHEDULES:
        e.controls["schedule"].value = name
        assert e.error is None and e.result.stopped == "", name


def test_switching_the_strategy_reuses_the_sessions_runs():
    from consistency_lab.widgets.document_explorer import RUN_CACHE

    e = DocumentExplorer(seed=2)
    first = e.result
    e.controls["strategy"].value = "lww"
    lww = e.result
    e.controls["strategy"].value = "crdt"
    assert e.result is first and lww.params["strategy"] == "lww"  # the same deterministic runs, not re-simulated
    assert e.result.extra["by_strategy"] == lww.extra["by_strategy"]
    fresh = DocumentExplorer(seed=2).result  # a cached run is what a new simulation gives
    assert fresh.trace_digest == first.trace_digest and fresh.metrics == first.metrics
    for seed in range(3, 3 + RUN_CACHE // 4 + 2):
        e.controls["seed"].value = seed
    assert len(e._runs) == RUN_CACHE
    e.controls["seed"].value = 2
    assert e.result is not first and e.result.trace_digest == first.trace_digest  # evicted, so simulated again
