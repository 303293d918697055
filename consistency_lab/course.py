"""``release``: write the student-facing copy of the course (no solutions, no hidden checks).

The copy is assembled in a staging folder next to the destination, scanned for leaks (hidden
check names, hidden module names, solution or hidden-test markers in notebooks) and only
then moved into place, so a failed release leaves nothing half-written behind.
"""

from __future__ import annotations

import ast
import importlib.util
import os
import re
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable, Optional

from .grading.build import build_lab_bytes
from .grading.checks import HIDDEN_SUFFIX
from .grading.notebook_build import BEGIN_HIDDEN, BEGIN_SOLUTION, LabFormatError

__all__ = ["ReleaseError", "ReleaseReport", "release", "hidden_names", "scan_for_leaks", "student_readme",
           "TOP_FILES", "STUDENT_README"]

#: Top-level files copied as they are (missing ones are skipped).  README.md is not among them:
#: the release gets the student README (``STUDENT_README``), not the instructor's.
TOP_FILES = ("pyproject.toml", "environment.yml", "requirements.txt", "Makefile", ".gitignore", "LICENSE")
#: The student README's source; its placeholder line gets the course table of the instructor README.
STUDENT_README = "etc/release/README.md"
_COURSE_PLACEHOLDER = "<!-- release: the course table is copied here from the instructor README -->"
# Left out of the student copy: grader tests (they hold fixtures with hidden checks), the
# grading benchmarks (they need those fixtures), tests of the instructor's repo (CI script,
# solutions) and the student README's source (it becomes README.md).
_EXCLUDED = {"tests/grading", "benchmarks/bench_grader.py", "benchmarks/bench_dask.py",
             "tests/repo/test_instructor_repo.py", "etc/release"}
_JUNK = ("__pycache__", "*.pyc", ".ipynb_checkpoints", ".pytest_cache", ".hypothesis", ".ruff_cache")
_TEXT_SUFFIXES = {".py", ".ipynb", ".md", ".txt", ".toml", ".yml", ".yaml", ".cfg", ".ini", ".json", ".csv", ""}


class ReleaseError(Exception):
    """The release could not be written (the message says why and what to do)."""


@dataclass
class ReleaseReport:
    """What the release contains."""

    dest: Path
    entries: list[str] = field(default_factory=list)
    labs: list[str] = field(default_factory=list)


def _decorated_check_names(path: Path) -> set[str]:
    """Names of functions in ``path`` decorated with ``check_for(...)``."""
    try:
        tree = ast.parse(path.read_text(encoding="utf-8"))
    except (OSError, SyntaxError, UnicodeDecodeError):
        return set()
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            for deco in node.decorator_list:
                target = deco.func if isinstance(deco, ast.Call) else deco
                label = target.attr if isinstance(target, ast.Attribute) else getattr(target, "id", "")
                if label == "check_for":
                    names.add(node.name)
    return names


def hidden_names(root: Path, checks_modules: Iterable[str] = ()) -> set[str]:
    """Names that must not appear in a release: hidden check functions and hidden module names.

    Collected from every ``*_hidden.py`` in the package and from the hidden siblings of the
    given checks modules (which may live outside the package, e.g. in tests).
    """
    files = set((root / "consistency_lab").rglob(f"*{HIDDEN_SUFFIX}.py"))
    for module in checks_modules:
        try:
            spec = importlib.util.find_spec(module + HIDDEN_SUFFIX)
        except (ImportError, ValueError):
            spec = None
        if spec is not None and spec.origin and spec.origin.endswith(".py"):
            files.add(Path(spec.origin))
    names = set()
    for path in files:
        names.add(path.stem)
        names |= _decorated_check_names(path)
    return names


def scan_for_leaks(folder: Path, names: Iterable[str]) -> list[str]:
    """Files under ``folder`` that mention a hidden name, or notebooks that still hold markers."""
    names = sorted(set(names))
    pattern = re.compile(r"\b(" + "|".join(map(re.escape, names)) + r")\b") if names else None
    leaks = []
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        if path.suffix not in _TEXT_SUFFIXES or path.stat().st_size > 5_000_000:
            continue
        text = path.read_text(encoding="utf-8", errors="replace")
        rel = path.relative_to(folder)
        if path.name.endswith(f"{HIDDEN_SUFFIX}.py"):
            leaks.append(f"{rel}: hidden checks module")
        if pattern and (m := pattern.search(text)):
            leaks.append(f"{rel}: mentions hidden name {m.group(1)!r}")
        if path.suffix == ".ipynb":
            for marker in (BEGIN_SOLUTION, BEGIN_HIDDEN):
                if marker in text:
                    leaks.append(f"{rel}: contains {marker!r}")
    return leaks


def student_readme(root: Path) -> str:
    """The release's README: ``etc/release/README.md`` with the course table of the instructor README."""
    template_path = root / STUDENT_README
    if not template_path.is_file():
        raise ReleaseError(f"{template_path} is missing: the release needs a README written for students")
    template = template_path.read_text(encoding="utf-8")
    if _COURSE_PLACEHOLDER not in template:
        raise ReleaseError(f"{template_path} has no line {_COURSE_PLACEHOLDER!r} for the course table")
    readme = (root / "README.md").read_text(encoding="utf-8") if (root / "README.md").is_file() else ""
    # The table of the "## The course" section: one source for the chapter list, two READMEs.
    section = readme.split("\n## The course\n", 1)[1].split("\n## ", 1)[0] if "\n## The course\n" in readme else ""
    table = "\n".join(line for line in section.splitlines() if line.startswith("|"))
    if not table:
        raise ReleaseError("README.md has no table under '## The course' to copy into the student README")
    return template.replace(_COURSE_PLACEHOLDER, table)


def _ignore_for(root: Path) -> Callable[[str, list[str]], set[str]]:
    junk = shutil.ignore_patterns(*_JUNK)

    def ignore(directory: str, names: list[str]) -> set[str]:
        skipped = set(junk(directory, names))
        rel_dir = Path(directory).resolve().relative_to(root)
        for name in names:
            rel = (rel_dir / name).as_posix()
            if rel in _EXCLUDED or name.endswith(f"{HIDDEN_SUFFIX}.py") or name.endswith(HIDDEN_SUFFIX):
                skipped.add(name)
        return skipped

    return ignore


def release(root: Path, dest: Path, *, force: bool = False, solutions_dir: Optional[Path] = None) -> ReleaseReport:
    """Write the student copy of the course at ``root`` into ``dest``; ReleaseError on any problem."""
    root = root.resolve()
    dest = dest.resolve()
    solutions_dir = (solutions_dir or root / "solutions").resolve()
    for needed in ("consistency_lab", "chapters"):
        if not (root / needed).is_dir():
            raise ReleaseError(f"{root} is not the course folder (no {needed}/); run from the repo root "
                               "or pass --root")
    copied_dirs = ["chapters", "consistency_lab", "tests", "benchmarks", "labs", "etc"]
    if dest == root or any(dest == root / d or (root / d) in dest.parents for d in copied_dirs + ["solutions"]):
        raise ReleaseError(f"{dest}: the release cannot go inside the course's own folders; pick a new folder")
    if dest.exists() and not dest.is_dir():
        raise ReleaseError(f"{dest} exists and is not a folder")
    if dest.exists() and any(dest.iterdir()) and not force:
        raise ReleaseError(f"{dest} is not empty; pass --force to replace the release's files in it")

    readme = student_readme(root)
    # Build the labs first: an invalid solution should stop the release before anything is written.
    labs: dict[str, bytes] = {}
    modules = []
    if solutions_dir.is_dir():
        for source in sorted(solutions_dir.glob("*.ipynb")):
            try:
                spec, data = build_lab_bytes(source)
            except LabFormatError as exc:
                raise ReleaseError(f"invalid lab source {exc}") from None
            labs[source.name] = data
            modules.append(spec.checks_module)

    created = not dest.exists()
    dest.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".release-staging-", dir=dest.parent))
    try:
        report = ReleaseReport(dest=dest)
        for name in ("chapters", "consistency_lab", "tests", "benchmarks", "etc"):
            if (root / name).is_dir():
                shutil.copytree(root / name, staging / name, ignore=_ignore_for(root))
        (staging / "labs").mkdir()
        if (root / "labs").is_dir():  # data files that labs read; the notebooks themselves are rebuilt
            for item in sorted((root / "labs").iterdir()):
                if item.is_file() and item.suffix != ".ipynb" and not item.name.startswith("."):
                    shutil.copy2(item, staging / "labs" / item.name)
        for name, data in labs.items():
            (staging / "labs" / name).write_bytes(data)
            report.labs.append(f"labs/{name}")
        for name in TOP_FILES:
            if (root / name).is_file():
                shutil.copy2(root / name, staging / name)
        (staging / "README.md").write_text(readme, encoding="utf-8")
        leaks = scan_for_leaks(staging, hidden_names(root, modules))
        if leaks:
            if created:
                dest.rmdir()
            raise ReleaseError("the release would leak hidden material, nothing was written:\n  - "
                               + "\n  - ".join(leaks))
        for item in sorted(staging.iterdir()):
            target = dest / item.name
            if target.is_dir() and not target.is_symlink():
                shutil.rmtree(target)
            elif target.exists() or target.is_symlink():
                target.unlink()
            os.replace(item, target)
            report.entries.append(item.name + ("/" if target.is_dir() else ""))
        return report
    finally:
        shutil.rmtree(staging, ignore_errors=True)
