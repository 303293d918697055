"""The rebuilt comparison table: every cell comes from a run, runs given are reused, the sweep's criteria."""

import math

import pytest

from consistency_lab.scenarios.logistics_compare import (ARTICLE_CLAIMS, comparison_rows, experiment, load_sweep,
                                                         sustained_rate)
from consistency_lab.scenarios.logistics_world import ARCHITECTURES


@pytest.fixture(scope="module")
def table():
    sweep = load_sweep((300.0, 1800.0), 2, duration_ms=400.0)
    given = {("cqrs", "quiet"): experiment("cqrs", "quiet", 2)}
    return comparison_rows(2, runs=given, sweep=sweep), given


def test_one_row_per_property_and_architecture_with_the_article_beside_it(table):
    out, _ = table
    assert [(r["property"], r["architecture"]) for r in out["rows"]] == \
        [(p, a) for p in ARTICLE_CLAIMS for a in ARCHITECTURES]
    assert all(r["article"] == ARTICLE_CLAIMS[r["property"]][r["architecture"]] and r["measured"]
               for r in out["rows"])


def test_given_runs_are_reused_and_the_rest_are_run_with_the_same_seed(table):
    out, given = table
    assert out["runs"][("cqrs", "quiet")] is given[("cqrs", "quiet")]
    assert len(out["runs"]) == 4 * len(ARCHITECTURES) and all(r.seed == 2 for r in out["runs"].values())
    with pytest.raises(ValueError, match="runs must all use seed=3"):
        comparison_rows(3, runs={("cqrs", "quiet"): given[("cqrs", "quiet")]}, sweep=[])


def test_the_cells_say_each_architectures_lesson(table):
    v = table[0]["values"]
    failed = {a: v["tracking down 1 s: scans failed / longest wait (ms)"][a][0] for a in ARCHITECTURES}
    assert failed["orchestration"] > 0 and failed["choreography"] == failed["cqrs"] == 0
    assert v["tracking down 1 s: scans failed / longest wait (ms)"]["orchestration"][1] >= 500.0  # the timeout
    lag, stale, _ = v["read path down 1 s: worst lag / stale / failed queries"]["cqrs"]
    assert lag >= 0.9 and stale > 0
    assert v["read path down 1 s: worst lag / stale / failed queries"]["orchestration"][:2] == (0.0, 0.0)
    p50 = v["scan wait p50 / p99 (ms)"]
    assert p50["orchestration"][0] > 2 * p50["cqrs"][0]
    heavy = v["scan p99 under heavy analytics (ms)"]
    assert heavy["orchestration"] > heavy["cqrs"] == p50["cqrs"][1]  # queries never touch the command side
    services = v["services in one scan's story (lineage)"]
    assert services["orchestration"] < services["choreography"] < services["cqrs"]


def test_sustained_rate_stops_at_the_first_rate_that_fails():
    rows = [{"architecture": "cqrs", "scan_rps": r, "scan_success_rate": ok, "scan_p99_ms": p99, "read_lag_p99_s": lag}
            for r, ok, p99, lag in ((100, 1.0, 10, 0.1), (200, 1.0, 150, 0.1), (300, 1.0, 10, 0.5))]
    assert sustained_rate(rows, "cqrs", "scans") == 100  # 200 is too slow, so 300 does not count
    assert sustained_rate(rows, "cqrs", "lag") == 200
    assert math.isnan(sustained_rate(rows, "orchestration", "lag"))
    with pytest.raises(ValueError, match="ok='fast' must be one of: scans, lag"):
        sustained_rate(rows, "cqrs", "fast")
    with pytest.raises(ValueError, match="kind='calm' must be one of the experiments"):
        experiment("cqrs", "calm")
