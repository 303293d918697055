"""The check registry: ``@check_for`` functions that test a student's code, and how they are run.

A check is a function of one argument, the student's namespace (see :class:`StudentNamespace`),
that raises ``AssertionError`` with a friendly message when the student's code is wrong.
Public checks live in a lab's public module (``consistency_lab.grading.labs.lab01``);
hidden checks live only in its sibling ``..._hidden`` module, which the release leaves out,
so a student copy of the course cannot import them.  The registry enforces that split.
"""

from __future__ import annotations

import importlib
import re
import signal
import threading
import traceback
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Callable, Iterator, Mapping, Optional

__all__ = [
    "Check", "CheckRegistrationError", "CheckTimeout", "MissingName", "Outcome", "StudentNamespace",
    "check_for", "checks_for", "default_checks_module", "hidden_module_name", "known_labs",
    "load_lab_checks", "run_check", "failed_checks", "HIDDEN_SUFFIX", "LAB_ID_RE", "GRADE_ID_RE",
]

HIDDEN_SUFFIX = "_hidden"
LAB_ID_RE = re.compile(r"^lab\d\d_[a-z0-9_]+$")
GRADE_ID_RE = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")
LABS_PACKAGE = "consistency_lab.grading.labs"

#: Outcome statuses, from the student's point of view.
PASSED, FAILED, NOT_IMPLEMENTED, ERROR, TIMEOUT = "passed", "failed", "not implemented", "error", "timeout"


class CheckRegistrationError(ValueError):
    """A ``@check_for`` declaration that breaks the authoring rules."""


class MissingName(AssertionError):
    """The student's namespace lacks a name a check needs (a failure, not a crash)."""


class CheckTimeout(BaseException):
    """Raised inside a check that ran past its time limit.

    A BaseException so that a student's ``except Exception:`` cannot swallow it.
    """


@dataclass(frozen=True)
class Check:
    """One registered check."""

    lab: str
    grade_id: str
    points: float
    public: bool
    hint: str
    func: Callable[[Any], Any]
    module: str
    name: str
    description: str

    @property
    def key(self) -> str:
        """Stable identity across re-imports: ``module:function``."""
        return f"{self.module}:{self.name}"


@dataclass(frozen=True)
class Outcome:
    """The result of running one check against a student's code."""

    key: str
    grade_id: str
    description: str
    public: bool
    status: str
    message: str = ""
    hint: str = ""

    @property
    def passed(self) -> bool:
        """True when the check passed."""
        return self.status == PASSED

    def to_json(self) -> dict:
        """A plain dict (for the grader's result file)."""
        return {"key": self.key, "grade_id": self.grade_id, "description": self.description,
                "public": self.public, "status": self.status, "message": self.message, "hint": self.hint}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> "Outcome":
        """Inverse of :meth:`to_json`."""
        return cls(key=str(data["key"]), grade_id=str(data["grade_id"]), description=str(data["description"]),
                   public=bool(data["public"]), status=str(data["status"]), message=str(data.get("message", "")),
                   hint=str(data.get("hint", "")))


# lab -> grade_id -> checks, in registration order (dicts keep insertion order).
_REGISTRY: dict[str, dict[str, list[Check]]] = {}


def check_for(*, lab: str, grade_id: str, points: float, public: bool = True,
              hint: str = "") -> Callable[[Callable[[Any], Any]], Callable[[Any], Any]]:
    """Register the decorated function as a check of part ``grade_id`` of ``lab``.

    ``points`` is the whole part's points (every check of a part states the same number, and
    it must equal the check cell's nbgrader points).  ``public=False`` marks a hidden check,
    allowed only in a module whose name ends in ``_hidden``.  ``hint`` is shown on failure.
    A check fails by raising; when it passes it may return a note (a string) for the feedback.
    """
    if not isinstance(lab, str) or not LAB_ID_RE.match(lab):
        raise CheckRegistrationError(f"lab={lab!r} must look like 'lab01_idempotent_handlers' (labNN_slug)")
    if not isinstance(grade_id, str) or not GRADE_ID_RE.match(grade_id) or grade_id.endswith("_check"):
        raise CheckRegistrationError(
            f"grade_id={grade_id!r} must be a part id made of letters, digits and '_' (like 'q1_dedupe'), "
            "not ending in '_check' (that suffix names the notebook's check cell)")
    if isinstance(points, bool) or not isinstance(points, (int, float)) or not points > 0:
        raise CheckRegistrationError(f"points={points!r} for {lab}/{grade_id} must be a positive number")

    def register(func: Callable[[Any], Any]) -> Callable[[Any], Any]:
        module = getattr(func, "__module__", None) or "?"
        is_hidden_module = module.endswith(HIDDEN_SUFFIX)
        where = f"{module}.{func.__qualname__}"
        if not public and not is_hidden_module:
            raise CheckRegistrationError(
                f"{where}: hidden checks (public=False) must live in a module named '*{HIDDEN_SUFFIX}' "
                f"(e.g. {module}{HIDDEN_SUFFIX}) so the student release can leave them out")
        if public and is_hidden_module:
            raise CheckRegistrationError(
                f"{where}: public checks belong in the lab's public module "
                f"{module[: -len(HIDDEN_SUFFIX)]}, not in {module} (students could not run them)")
        doc = (func.__doc__ or "").strip().splitlines()
        check = Check(lab=lab, grade_id=grade_id, points=float(points), public=public, hint=hint.strip(),
                      func=func, module=module, name=func.__qualname__,
                      description=doc[0].strip() if doc else func.__name__.replace("_", " "))
        part = _REGISTRY.setdefault(lab, {}).setdefault(grade_id, [])
        others = [c for c in part if c.key != check.key]
        for other in others:
            if other.points != check.points:
                raise CheckRegistrationError(
                    f"{where} says {lab}/{grade_id} is worth {points} points but {other.module}.{other.name} "
                    f"says {other.points:g}; every check of a part must state the part's points")
        # Re-importing a module (the grader does, on purpose) replaces its checks in place.
        for i, existing in enumerate(part):
            if existing.key == check.key:
                part[i] = check
                break
        else:
            part.append(check)
        return func

    return register


def checks_for(lab: str, grade_id: Optional[str] = None, *, include_hidden: bool = False) -> list[Check]:
    """Registered checks of ``lab`` (optionally one part), public ones unless ``include_hidden``."""
    parts = _REGISTRY.get(lab, {})
    selected = [parts.get(grade_id, [])] if grade_id is not None else list(parts.values())
    return [c for group in selected for c in group if c.public or include_hidden]


def known_labs() -> dict[str, list[str]]:
    """Labs with registered checks and their part ids (grade_ids), in registration order."""
    return {lab: list(parts) for lab, parts in _REGISTRY.items()}


def part_points(lab: str) -> dict[str, float]:
    """Points of each registered part of ``lab`` (from the decorators)."""
    return {gid: checks[0].points for gid, checks in _REGISTRY.get(lab, {}).items() if checks}


def default_checks_module(lab: str) -> str:
    """Where a lab's public checks live by convention: ``consistency_lab.grading.labs.labNN``."""
    return f"{LABS_PACKAGE}.{lab.split('_', 1)[0]}"


def hidden_module_name(module: str) -> str:
    """The hidden sibling of a public checks module."""
    return module + HIDDEN_SUFFIX


def load_lab_checks(lab: str, module: Optional[str] = None, *, hidden: bool = False) -> list[str]:
    """Import a lab's public checks module (and its hidden sibling when ``hidden``); return what was imported.

    A missing hidden module is fine (a lab may have no hidden checks, and a student release
    has none); a hidden module that exists but fails to import is an error.
    """
    module = module or default_checks_module(lab)
    importlib.import_module(module)
    imported = [module]
    if hidden:
        name = hidden_module_name(module)
        try:
            importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name != name:
                raise
        else:
            imported.append(name)
    return imported


class StudentNamespace:
    """The student's notebook globals, readable as ``ns.add`` or ``ns["add"]``.

    A missing name raises :class:`MissingName` (an ``AssertionError``) with a message a
    student can act on, so a check never has to test for presence itself.
    """

    def __init__(self, mapping: Mapping[str, Any]) -> None:
        object.__setattr__(self, "_mapping", mapping)

    def __getitem__(self, name: str) -> Any:
        try:
            return self._mapping[name]
        except KeyError:
            raise MissingName(f"`{name}` is not defined. Run the cell that defines it "
                              f"(and check the spelling).") from None

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        return self[name]

    def __contains__(self, name: object) -> bool:
        return name in self._mapping

    def get(self, name: str, default: Any = None) -> Any:
        """The value of ``name``, or ``default`` when the student has not defined it."""
        return self._mapping.get(name, default)

    def __repr__(self) -> str:
        return f"StudentNamespace({len(self._mapping)} names)"


@contextmanager
def _time_limit(seconds: Optional[float]) -> Iterator[None]:
    # SIGALRM is the only way to stop a runaway pure-Python loop in the same thread; it works
    # on Unix in the main thread (where IPython runs cells).  Elsewhere the grader's per-cell
    # timeout and subprocess kill are the backstop.
    usable = (seconds and hasattr(signal, "setitimer")
              and threading.current_thread() is threading.main_thread())
    if not usable:
        yield
        return

    def on_alarm(signum: int, frame: Any) -> None:
        raise CheckTimeout()

    previous = signal.signal(signal.SIGALRM, on_alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def _short(text: str, limit: int = 600) -> str:
    text = text.strip()
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _student_frame(exc: BaseException) -> str:
    """'in add(), line 3' for the innermost frame outside the grading code, when there is one."""
    frames = traceback.extract_tb(exc.__traceback__)
    for frame in reversed(frames):
        if "consistency_lab/grading" not in frame.filename.replace("\\", "/"):
            return f" (in {frame.name}, line {frame.lineno})"
    return ""


def run_check(check: Check, namespace: Any, time_limit: Optional[float] = 10.0) -> Outcome:
    """Run one check against ``namespace`` (a mapping or :class:`StudentNamespace`); never raises
    except ``KeyboardInterrupt``."""
    ns = namespace if isinstance(namespace, StudentNamespace) else StudentNamespace(namespace)

    def outcome(status: str, message: str = "") -> Outcome:
        return Outcome(key=check.key, grade_id=check.grade_id, description=check.description,
                       public=check.public, status=status, message=_short(message),
                       hint=check.hint if status != PASSED else "")

    try:
        with _time_limit(time_limit):
            note = check.func(ns)
    except CheckTimeout:
        return outcome(TIMEOUT, f"took longer than {time_limit:g} s (an infinite loop, or far too slow?)")
    except NotImplementedError:
        return outcome(NOT_IMPLEMENTED, "not implemented yet (the stub still raises NotImplementedError)")
    except AssertionError as exc:
        return outcome(FAILED, str(exc) or "an assertion failed (the check gave no message)")
    except KeyboardInterrupt:
        raise
    except RecursionError:
        return outcome(ERROR, "your code raised RecursionError (infinite recursion?)")
    except BaseException as exc:  # noqa: B036 - student code may raise anything, even SystemExit
        return outcome(ERROR, f"your code raised {type(exc).__name__}: {exc}{_student_frame(exc)}")
    # A passing check may return a one-line note (e.g. that the part also fails with the student's
    # own earlier part, which has a bug): it is kept as the outcome's message.
    return outcome(PASSED, note if isinstance(note, str) else "")


def failed_checks(lab: str, namespace: Any, part: Optional[str] = None, *, module: Optional[str] = None,
                  time_limit: Optional[float] = 10.0) -> list[tuple[Check, Outcome]]:
    """Run every public and hidden check of ``lab`` (or of one ``part``) on ``namespace``; the ones that failed."""
    load_lab_checks(lab, module, hidden=True)
    failed = []
    for chk in checks_for(lab, part, include_hidden=True):
        outcome = run_check(chk, namespace, time_limit)
        if not outcome.passed:
            failed.append((chk, outcome))
    return failed


def _forget_lab(lab: str) -> None:
    """Drop a lab's registrations (tests and the grader's fresh import use this)."""
    _REGISTRY.pop(lab, None)

