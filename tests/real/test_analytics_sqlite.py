"""The analytics comparison on real SQLite: both stores answer the same; the code paths work; files go away."""

import sqlite3
import tempfile
from pathlib import Path

import pytest

from consistency_lab.real.analytics_sqlite import (QUERY_SHAPES, build_projection, build_write_store,
                                                   run_analytics_comparison, scan_events, store_answers)


def _stores(tmp, events_for_projection=None, scans=3000, seed=1):
    routes, packages, events = scan_events(scans, seed=seed)
    w, r = Path(tmp) / "w.db", Path(tmp) / "r.db"
    build_write_store(w, routes, packages, events)
    build_projection(r, routes, events if events_for_projection is None else events_for_projection(events))
    return w, r, routes, packages, events


def test_every_shape_answers_the_same_on_the_write_store_and_the_projection(tmp_path):
    w, r, routes, packages, events = _stores(tmp_path)
    for pkg in (events[0].package_id, events[-1].package_id, events[1500].package_id):
        answers = store_answers(w, r, events, package=pkg, route=events[7].route_id)
        assert set(answers) == set(QUERY_SHAPES)
        for shape, (written, projected) in answers.items():
            assert written, shape  # a non-empty answer: the comparison means something
            assert [tuple(x) for x in written] == [tuple(x) for x in projected], shape


def test_a_projection_that_missed_an_event_answers_differently(tmp_path):
    w, r, routes, packages, events = _stores(tmp_path, lambda evs: evs[:-1])
    last = events[-1]
    answers = store_answers(w, r, events, package=last.package_id, route=last.route_id)
    differ = {shape for shape, (a, b) in answers.items() if [tuple(x) for x in a] != [tuple(x) for x in b]}
    assert {"daily_counts", "route_history", "package_lookup"} <= differ


def test_the_comparison_returns_one_row_per_size_and_shape_and_removes_its_files(monkeypatch):
    made = []
    real = tempfile.TemporaryDirectory

    def spy(*a, **kw):
        d = real(*a, **kw)
        made.append(d.name)
        return d

    monkeypatch.setattr(tempfile, "TemporaryDirectory", spy)
    rows = run_analytics_comparison((500, 1500), repeats=2)
    assert [(row.scans, row.query) for row in rows] == [(s, q) for s in (500, 1500) for q in QUERY_SHAPES]
    assert all(row.write_min_ms <= row.write_median_ms and row.read_min_ms <= row.read_median_ms for row in rows)
    assert all(row.speedup > 0 and row.rows >= 1 for row in rows)
    assert next(row for row in rows if row.query == "top_routes").rows == 10
    assert made and not any(Path(d).exists() for d in made)


def test_the_workload_is_seeded_and_the_write_store_has_its_indexes(tmp_path):
    assert scan_events(200, seed=3) == scan_events(200, seed=3)
    assert scan_events(200, seed=3)[2] != scan_events(200, seed=4)[2]
    w, *_ = _stores(tmp_path, scans=300)
    con = sqlite3.connect(w)
    try:
        names = {row[0] for row in con.execute("SELECT name FROM sqlite_master WHERE type = 'index'")}
    finally:
        con.close()
    assert {"packages_route", "scans_package_time", "scans_time"} <= names


def test_bad_arguments_are_refused():
    with pytest.raises(ValueError, match="shapes='median' must be one of the query shapes; allowed: daily_counts"):
        run_analytics_comparison((100,), shapes=("median",))
    with pytest.raises(ValueError, match="sizes=0 must be"):
        run_analytics_comparison((0,))
    with pytest.raises(ValueError, match="must name at least one data size"):
        run_analytics_comparison(())
