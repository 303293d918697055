"""The growth explorer: every control reaches the runs or the pricing, and the picture follows."""

import math

import pytest

from consistency_lab.widgets import explore
from consistency_lab.widgets.growth_explorer import GRID


@pytest.fixture(scope="module")
def growth():
    return explore("growth")


def test_defaults_measure_both_modes_and_price_them(growth):
    m = growth.result.metrics
    assert growth.error is None and growth.image.value[:4] == b"\x89PNG"
    assert m["extra_ms"] > 60  # strong pays round trips on every write
    assert m["per_key_rate_per_s"] == pytest.approx(100_000 * 20 / 86_400 / 1_000)
    assert [r.users for r in growth.result.study.rows] == list(GRID)
    assert m["choice"] in ("eventual", "strong")


def test_more_tickets_per_anomaly_moves_the_flip_down_without_new_runs(growth):
    growth.set(tickets_per_anomaly=0.05, shared_keys="1000", users_k=100, mergeable_share=0.0, seed=0)
    flip = growth.result.metrics["flip_users"]
    runs = len(growth._runs)
    png = growth.image.value
    growth.controls["tickets_per_anomaly"].value = 0.5
    assert len(growth._runs) == runs  # only the pricing changed
    assert growth.result.metrics["flip_users"] < flip and growth.image.value != png
    growth.controls["cost_per_ticket"].value = 1
    growth.controls["cost_per_ms_micro"].value = 100
    assert growth.result.metrics["flip_users"] > flip or math.isnan(growth.result.metrics["flip_users"])


def test_users_records_activity_and_merging_reach_the_simulation(growth):
    growth.set(tickets_per_anomaly=0.05, cost_per_ticket=15, cost_per_ms_micro=10, users_k=500,
               shared_keys="1000", actions_per_user_day=20, mergeable_share=0.0)
    base = growth.result.metrics
    growth.controls["shared_keys"].value = "20"
    hot = growth.result.metrics
    assert hot["per_key_rate_per_s"] == pytest.approx(50 * base["per_key_rate_per_s"])
    assert hot["anomalies_per_day"] > max(10 * base["anomalies_per_day"], 0)
    growth.controls["actions_per_user_day"].value = 40
    assert growth.result.metrics["per_key_rate_per_s"] == pytest.approx(2 * hot["per_key_rate_per_s"])
    growth.controls["mergeable_share"].value = 1.0
    assert growth.result.metrics["anomalies_per_day"] == 0 and growth.result.metrics["choice"] == "eventual"
    growth.controls["users_k"].value = 1
    assert growth.result.chosen.users == 1_000
    growth.controls["seed"].value = 5
    assert growth.result.params["seed"] == 5 and growth.error is None
