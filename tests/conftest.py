"""Shared test settings: headless matplotlib and bounded hypothesis runs."""

import os

import matplotlib
from hypothesis import HealthCheck, settings

os.environ.setdefault("MPLBACKEND", "Agg")
matplotlib.use("Agg")

# CI has two cores and a time budget: keep property tests deterministic and bounded.
settings.register_profile("course", max_examples=40, deadline=None, derandomize=True,
                          suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("course")
