"""Shared test settings: headless matplotlib, bounded hypothesis runs, and ``require`` for optional tools."""

import os
from typing import Callable

import matplotlib
import pytest
from hypothesis import HealthCheck, settings

# One-line skip for a tool the machine lacks (a failure under CONSISTENCY_LAB_REQUIRE_ALL=1). It lives in
# its own module so a test module can also call it at import time (``from optional_tools import require``).
from optional_tools import REQUIRE_ALL, require  # noqa: F401

os.environ.setdefault("MPLBACKEND", "Agg")
matplotlib.use("Agg")

# CI has two cores and a time budget: keep property tests deterministic and bounded.
settings.register_profile("course", max_examples=40, deadline=None, derandomize=True,
                          suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("course")


@pytest.fixture(name="require", scope="session")
def require_fixture() -> Callable[[bool, str, str], None]:
    """``require`` as a fixture: several conftest.py files exist, so importing one by name is unreliable."""
    return require
