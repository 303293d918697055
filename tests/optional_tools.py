"""``require``: tests that need a tool this machine lacks skip in one line; CI turns the skip into a failure.

Use it inside a test, or at the top of a test module (one skip line for the whole module)::

    from optional_tools import require
    require(shutil.which("bwrap") is not None, "bubblewrap (bwrap)", "apt install bubblewrap")

``tests/conftest.py`` also offers it as the ``require`` fixture.
"""

from __future__ import annotations

import os

import pytest

REQUIRE_ALL = "CONSISTENCY_LAB_REQUIRE_ALL"


def require(condition: bool, what: str, how_to_install: str) -> None:
    """Unless ``condition``, skip the calling test in one line (fail it if CONSISTENCY_LAB_REQUIRE_ALL=1).

    CI sets the variable so that a missing tool (Chromium, bubblewrap, PostgreSQL...) fails the
    run rather than silently skipping the tests that need it.
    """
    __tracebackhide__ = True  # report the caller's line, not this one
    if condition:
        return
    message = f"needs {what}; install it with: {how_to_install}"
    if os.environ.get(REQUIRE_ALL) == "1":
        pytest.fail(f"{message} ({REQUIRE_ALL}=1 turns this skip into a failure)", pytrace=False)
    pytest.skip(message, allow_module_level=True)
