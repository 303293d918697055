"""What an nbgrader autograder cell calls: a part scores only when all its public and hidden checks pass.

nbgrader gives a test cell its points when the cell runs without an error, and runs only what
is in the notebook.  The nbgrader source of a lab (``notebook_build.nbgrader_source``) puts a
call to :func:`assert_part` inside ``### BEGIN HIDDEN TESTS`` in each check cell, so nbgrader
scores a part exactly as ``consistency-lab grade`` does (``grader._score``): every check of the
part, public and hidden, on the student's namespace, with the grader's default time limit.
"""

from __future__ import annotations

import inspect
from typing import Any, Mapping, Optional

from .checks import checks_for, failed_checks, load_lab_checks

__all__ = ["DEFAULT_TIME_LIMIT", "assert_part"]

#: Seconds per check: the grader's default ``--timeout`` (``grader.Settings.cell_timeout``).
DEFAULT_TIME_LIMIT = 60.0


def assert_part(lab: str, part: str, *, checks: Optional[str] = None, namespace: Optional[Mapping[str, Any]] = None,
                time_limit: float = DEFAULT_TIME_LIMIT) -> None:
    """Raise ``AssertionError`` naming the failed checks unless every check of ``part`` passes."""
    if namespace is None:
        # The notebook cell that called us: its globals are the student's namespace.
        frame = inspect.currentframe()
        caller = frame.f_back if frame is not None else None
        namespace = caller.f_globals if caller is not None else {}
    load_lab_checks(lab, checks, hidden=True)
    selected = checks_for(lab, part, include_hidden=True)
    if not selected:
        raise ValueError(f"part={part!r} has no checks in lab {lab!r}; allowed: the lab's part ids")
    failed = [f"{chk.description}: {outcome.status}: {outcome.message}"
              for chk, outcome in failed_checks(lab, namespace, part, module=checks, time_limit=time_limit)]
    if failed:
        raise AssertionError(f"{part}: {len(failed)} of {len(selected)} checks failed:\n- " + "\n- ".join(failed))
