"""What students call in a lab notebook: ``use_lab(...)`` once, then ``check("q1_dedupe")`` per part.

``check`` runs the part's *public* checks against the caller's globals, shows what passed,
what failed and a hint, and returns a :class:`CheckReport` (true when everything passed, so
solutions can ``assert check("q1_dedupe")``).  It never raises: a broken lab setup, a missing
function or a crashing stub all end up as text in the report.
"""

from __future__ import annotations

import html
import importlib
import inspect
import os
import pkgutil
import re
import sys
import textwrap
from dataclasses import dataclass, field
from typing import Any, Mapping, Optional

from ..tables import display_rich
from . import checks as _checks
from .checks import GRADE_ID_RE, NOT_IMPLEMENTED, PASSED, TIMEOUT, Outcome

__all__ = ["CheckReport", "check", "check_all", "needs", "use_lab"]

_current_lab: Optional[str] = None

_MARK = {PASSED: "[pass]", NOT_IMPLEMENTED: "[todo]", TIMEOUT: "[slow]"}


@dataclass(frozen=True)
class CheckReport:
    """What ``check()`` found: one outcome per public check, or the reason none could run."""

    grade_id: str
    lab: Optional[str]
    outcomes: tuple[Outcome, ...] = ()
    problem: str = ""
    _shown: list = field(default_factory=list, repr=False, compare=False)

    @property
    def passed(self) -> bool:
        """True when at least one check ran and every check passed."""
        return not self.problem and bool(self.outcomes) and all(o.passed for o in self.outcomes)

    def __bool__(self) -> bool:
        return self.passed

    @property
    def counts(self) -> tuple[int, int]:
        """(checks passed, checks run)."""
        return sum(o.passed for o in self.outcomes), len(self.outcomes)

    def text(self) -> str:
        """The report as plain text."""
        if self.problem:
            return f"{self.grade_id}: could not run the checks.\n  {self.problem}"
        ok, n = self.counts
        head = f"{self.grade_id}: all {n} checks passed. Well done!" if self.passed \
            else f"{self.grade_id}: {ok} of {n} checks passed."
        lines = [head]
        for o in self.outcomes:
            lines.append(f"  {_MARK.get(o.status, '[FAIL]')} {o.description}")
            lines.extend("        " + line for line in o.message.splitlines())  # a passed check's note too
            if not o.passed and o.hint:
                lines.append(f"        Hint: {o.hint}")
        return "\n".join(lines)

    def html(self) -> str:
        """The report as a small HTML fragment (notebooks show this)."""
        esc = html.escape
        if self.problem:
            return (f"<div style='border-left:4px solid #c62828;padding:4px 8px'><b>{esc(self.grade_id)}</b>: "
                    f"could not run the checks.<br>{esc(self.problem)}</div>")
        ok, n = self.counts
        color = "#2e7d32" if self.passed else "#c62828"
        head = f"all {n} checks passed. Well done!" if self.passed else f"{ok} of {n} checks passed."
        items = []
        for o in self.outcomes:
            symbol = {PASSED: "&#10004;", NOT_IMPLEMENTED: "&#9998;"}.get(o.status, "&#10008;")
            body = f"{symbol} {esc(o.description)}"
            if o.message:  # a failure's message, or a passed check's note
                body += f"<br><code style='white-space:pre-wrap'>{esc(o.message)}</code>"
            if not o.passed and o.hint:
                body += f"<br><i>Hint: {esc(o.hint)}</i>"
            items.append(f"<li style='list-style:none'>{body}</li>")
        return (f"<div style='border-left:4px solid {color};padding:4px 8px'><b>{esc(self.grade_id)}</b>: "
                f"{head}<ul style='margin:4px 0;padding-left:8px'>{''.join(items)}</ul></div>")

    def show(self) -> None:
        """Display the report (HTML in a notebook, text elsewhere)."""
        display_rich(self.text(), self.html())

    def __repr__(self) -> str:
        ok, n = self.counts
        state = "passed" if self.passed else (self.problem and "not run") or "failed"
        return f"<CheckReport {self.grade_id}: {state}, {ok}/{n} checks>"

    def _ipython_display_(self) -> None:
        # check() has already shown the full report; as a cell's last value, show nothing more.
        return None


def _public_lab_modules() -> list[str]:
    """Every public module in ``consistency_lab.grading.labs`` (imported to find a lab by part id)."""
    try:
        package = importlib.import_module(_checks.LABS_PACKAGE)
    except ImportError:
        return []
    return [f"{package.__name__}.{m.name}" for m in pkgutil.iter_modules(package.__path__)
            if not m.name.endswith(_checks.HIDDEN_SUFFIX) and not m.name.startswith("_")]


def _resolve_lab(grade_id: str, lab: Optional[str]) -> tuple[Optional[str], str]:
    """(lab, problem): which lab ``grade_id`` belongs to, or why that is unclear."""
    lab = lab or _current_lab
    if lab:
        if lab not in _checks.known_labs():
            try:
                _checks.load_lab_checks(lab)
            except ImportError as exc:
                return None, (f"no checks are installed for lab {lab!r} ({exc}). "
                              "Is the consistency_lab package up to date?")
        return lab, ""
    owners = [name for name, parts in _checks.known_labs().items() if grade_id in parts]
    if not owners:
        for module in _public_lab_modules():
            try:
                importlib.import_module(module)
            except Exception:  # noqa: BLE001 - one broken lab module must not hide the others
                continue
        owners = [name for name, parts in _checks.known_labs().items() if grade_id in parts]
    if len(owners) == 1:
        return owners[0], ""
    if not owners:
        return None, (f"no lab has a part called {grade_id!r}. Run the lab's first cell "
                      "(it calls use_lab(...)) and check the spelling.")
    return None, (f"{grade_id!r} is a part of several labs ({', '.join(sorted(owners))}); "
                  "run the lab's first cell, which calls use_lab(...).")


def use_lab(lab: str, checks: Optional[str] = None) -> None:
    """Make ``check()`` use ``lab``'s checks (imported from ``checks``, or the lab's default module)."""
    global _current_lab
    try:
        if checks is not None or lab not in _checks.known_labs():
            _checks.load_lab_checks(lab, checks)
        _current_lab = lab
    except Exception as exc:  # noqa: BLE001 - tell the student, do not crash their setup cell
        print(f"Could not load the checks for {lab!r}: {type(exc).__name__}: {exc}\n"
              "check() will not work until this is fixed; ask your instructor.", file=sys.stderr)


def _run(grade_ids: Optional[list[str]], label: str, lab: Optional[str], namespace: Mapping[str, Any],
         time_limit: float, quiet: bool) -> CheckReport:
    try:
        lab, problem = _resolve_lab(grade_ids[0] if grade_ids else label, lab)
        if problem:
            report = CheckReport(label, lab, problem=problem)
        else:
            known = _checks.known_labs().get(lab, [])
            wanted = grade_ids if grade_ids is not None else known
            missing = [g for g in wanted if g not in known]
            if missing or not wanted:
                report = CheckReport(label, lab, problem=(
                    f"lab {lab} has no part called {missing[0]!r}; its parts are: {', '.join(known) or 'none'}"
                    if missing else f"lab {lab} has no checks registered"))
            else:
                outcomes = []
                for gid in wanted:
                    for chk in _checks.checks_for(lab, gid):
                        outcomes.append(_checks.run_check(chk, namespace, time_limit))
                report = CheckReport(label, lab, tuple(outcomes))
    except KeyboardInterrupt:
        report = CheckReport(label, lab, problem="interrupted before the checks finished")
    except BaseException as exc:  # noqa: B036 - check() must never show a framework traceback
        report = CheckReport(label, lab, problem=f"the checker itself failed ({type(exc).__name__}: {exc}); "
                                                 "please tell your instructor")
    if not quiet:
        try:
            report.show()
        except Exception:  # noqa: BLE001 - display problems must not turn into tracebacks
            print(report.text())
    return report


def check(grade_id: str, *, lab: Optional[str] = None, quiet: bool = False,
          time_limit: float = 10.0) -> CheckReport:
    """Run the public checks of part ``grade_id`` on the caller's code; show and return the report."""
    frame = inspect.currentframe()
    namespace = frame.f_back.f_globals if frame is not None and frame.f_back is not None else {}
    del frame
    if not isinstance(grade_id, str):
        report = CheckReport(str(grade_id), lab, problem="check() takes a part id like check('q1_dedupe')")
        if not quiet:
            report.show()
        return report
    return _run([grade_id], grade_id, lab, namespace, time_limit, quiet)


def check_all(*, lab: Optional[str] = None, quiet: bool = False, time_limit: float = 10.0) -> CheckReport:
    """Run every public check of the current lab on the caller's code; show and return one report."""
    frame = inspect.currentframe()
    namespace = frame.f_back.f_globals if frame is not None and frame.f_back is not None else {}
    del frame
    target = lab or _current_lab
    if target is None:
        report = CheckReport("all parts", None, problem="no lab selected: run the lab's first cell (use_lab(...))")
        if not quiet:
            report.show()
        return report
    return _run(None, "all parts", target, namespace, time_limit, quiet)


# Code in these folders is the course's or a library's, never a student's stub.
_NOT_STUDENT_CODE = tuple(os.path.realpath(p) + os.sep for p in
                          dict.fromkeys([os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                                         sys.prefix, sys.base_prefix]))


def _raised_in_student_code(tb: Any) -> tuple[bool, str]:
    """(whether the innermost frame of ``tb`` is outside the package and the libraries, its function's name)."""
    last = tb
    while last is not None and last.tb_next is not None:
        last = last.tb_next
    if last is None:
        return False, "?"
    code = last.tb_frame.f_code
    name = getattr(code, "co_qualname", code.co_name)
    if code.co_filename.startswith("<"):  # "<ipython-input-...>", "<string>": typed, not installed
        return True, name
    return not os.path.realpath(code.co_filename).startswith(_NOT_STUDENT_CODE), name


class needs:  # noqa: N801 - used like a function: ``with needs("q1_dedupe"):``
    """Run a demo cell that uses the student's parts; an unfinished part prints one line, not a traceback.

    A fresh lab must run top to bottom ("Restart and Run All"): a plotting cell that calls a
    stub would otherwise stop the notebook at a ``NotImplementedError``.  Only a
    ``NotImplementedError`` raised in the student's own code is caught; anything else (a
    real bug, an error in the course package) still shows its traceback.
    """

    def __init__(self, *parts: str, lab: Optional[str] = None) -> None:
        if not parts:
            raise ValueError("needs() takes the part ids the cell uses, like needs('q1_dedupe')")
        for part in parts:
            if not isinstance(part, str) or not GRADE_ID_RE.match(part):
                raise ValueError(f"part={part!r} must be a part id like 'q1_dedupe'")
        self.lab = lab or _current_lab
        known = _checks.known_labs().get(self.lab, []) if self.lab else []
        unknown = [p for p in parts if known and p not in known]
        if unknown:  # a typo in a solution notebook: CI runs every solution, so fail loudly there
            raise ValueError(f"part={unknown[0]!r} must be a part of {self.lab}; allowed: {', '.join(known)}")
        self.parts = parts
        self._known = known
        #: The line printed when the cell was cut short ("" when it ran to the end).
        self.skipped = ""

    def _label(self, part: str) -> str:
        if part in self._known:
            return f"part {self._known.index(part) + 1} ({part})"
        number = re.match(r"q(\d+)_", part)
        return f"part {int(number.group(1))} ({part})" if number else f"part {part}"

    def message(self, function: str) -> str:
        """The friendly line for a stub ``function`` that is not written yet."""
        names = [self._label(p) for p in self.parts]
        labels = names[0] if len(names) == 1 else f"{', '.join(names[:-1])} or {names[-1]}"
        return (f"{labels[0].upper()}{labels[1:]} not implemented yet: `{function}` still raises "
                "NotImplementedError, so the rest of this cell was skipped. Finish it above, then run this cell again.")

    def __enter__(self) -> "needs":
        return self

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> bool:
        if exc_type is None or not issubclass(exc_type, NotImplementedError):
            return False
        in_student_code, function = _raised_in_student_code(tb)
        if not in_student_code:
            return False
        self.skipped = self.message(function)
        # Wrapped here: notebook output areas break long lines anywhere, even mid-word.
        print(textwrap.fill(self.skipped, 88, break_long_words=False, break_on_hyphens=False))
        return True
