"""Shared test settings: headless matplotlib, bounded hypothesis runs, and ``require`` for optional tools."""

import os

import matplotlib
import pytest
from hypothesis import HealthCheck, settings

os.environ.setdefault("MPLBACKEND", "Agg")
matplotlib.use("Agg")

# CI has two cores and a time budget: keep property tests deterministic and bounded.
settings.register_profile("course", max_examples=40, deadline=None, derandomize=True,
                          suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("course")


REQUIRE_ALL = "CONSISTENCY_LAB_REQUIRE_ALL"


def require(condition: bool, what: str, how_to_install: str) -> None:
    """Unless ``condition``, skip the calling test in one line (fail it if CONSISTENCY_LAB_REQUIRE_ALL=1).

    CI sets the variable so that a missing tool (Chromium, bubblewrap, PostgreSQL...) fails the
    run rather than silently skipping the tests that need it.
    """
    if condition:
        return
    message = f"needs {what}; install it with: {how_to_install}"
    if os.environ.get(REQUIRE_ALL) == "1":
        pytest.fail(f"{message} ({REQUIRE_ALL}=1 turns this skip into a failure)", pytrace=False)
    pytest.skip(message)


@pytest.fixture(name="require", scope="session")
def require_fixture():
    """``require`` as a fixture: several conftest.py files exist, so importing one by name is unreliable."""
    return require
