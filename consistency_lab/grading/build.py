"""``build-labs``: write ``labs/labNN_slug.ipynb`` from ``solutions/``, without clobbering student edits.

``labs/.build-manifest.json`` records the SHA-256 of every lab notebook we wrote.  A lab file
that differs both from what we would write now and from what we wrote last time has been
edited by someone; we refuse to overwrite it unless forced.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path

from .labspec import LAB_FILE_RE, LabSpec, read_notebook, registry_problems, spec_from_notebook
from .notebook_build import LabFormatError, nbgrader_source, render, sha256, student_notebook

__all__ = ["MANIFEST_NAME", "BuildReport", "build_lab_bytes", "build_labs", "write_atomic", "write_nbgrader_source"]

MANIFEST_NAME = ".build-manifest.json"


@dataclass
class BuildReport:
    """What build-labs did (or, with ``check``, would do): one line per lab and an exit code."""

    lines: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    @property
    def exit_code(self) -> int:
        """0 when everything is fine, 1 when anything was refused, invalid or out of date."""
        return 1 if self.errors else 0


def build_lab_bytes(solution_path: Path, check_registry: bool = True) -> tuple[LabSpec, bytes]:
    """Validate one solution notebook and return its spec and the student notebook's bytes."""
    nb = read_notebook(solution_path)
    spec = spec_from_notebook(nb, solution_path)
    if check_registry:
        problems = registry_problems(spec)
        if problems:
            raise LabFormatError(f"{solution_path}: the checks registry disagrees with the notebook:\n  - "
                                 + "\n  - ".join(problems))
    return spec, render(student_notebook(nb, where=str(solution_path), lab=spec.lab))


def write_nbgrader_source(solutions_dir: Path, course_dir: Path) -> list[Path]:
    """Write ``course_dir/source/<lab>/<lab>.ipynb`` (nbgrader's layout) for every valid lab in ``solutions_dir``.

    The notebooks are ``notebook_build.nbgrader_source`` of the solutions: ``nbgrader
    generate_assignment`` then releases what ``build-labs`` writes, and ``nbgrader autograde``
    scores each part as ``consistency-lab grade`` does.  An invalid lab raises ``LabFormatError``.
    """
    written = []
    for source in sorted(solutions_dir.glob("*.ipynb")):
        nb = read_notebook(source)
        spec = spec_from_notebook(nb, source)
        problems = registry_problems(spec)
        if problems:
            raise LabFormatError(f"{source}: the checks registry disagrees with the notebook:\n  - "
                                 + "\n  - ".join(problems))
        target = course_dir / "source" / spec.lab / source.name
        target.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(target, render(nbgrader_source(nb, spec.lab, spec.checks_module)))
        written.append(target)
    return written


def write_atomic(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` via a temporary file, so readers never see half a notebook."""
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def _read_manifest(labs_dir: Path) -> dict[str, str]:
    try:
        data = json.loads((labs_dir / MANIFEST_NAME).read_text(encoding="utf-8"))
        labs = data.get("labs", {})
        return {str(k): str(v) for k, v in labs.items()} if isinstance(labs, dict) else {}
    except (OSError, ValueError, AttributeError):
        # No (readable) manifest: every existing lab counts as possibly edited, which is the safe side.
        return {}


def _write_manifest(labs_dir: Path, hashes: dict[str, str]) -> None:
    text = json.dumps({"comment": "SHA-256 of each lab notebook as build-labs wrote it; do not edit",
                       "labs": dict(sorted(hashes.items()))}, indent=1, sort_keys=True) + "\n"
    path = labs_dir / MANIFEST_NAME
    if not path.exists() or path.read_text(encoding="utf-8") != text:
        write_atomic(path, text.encode("utf-8"))


def build_labs(solutions_dir: Path, labs_dir: Path, *, check: bool = False, force: bool = False,
               check_registry: bool = True) -> BuildReport:
    """Build (or with ``check``, only compare) every lab; see the module docstring for the edit rule."""
    report = BuildReport()
    if not solutions_dir.is_dir():
        report.errors.append(f"{solutions_dir}: no such folder (pass --solutions DIR)")
        return report
    sources = sorted(solutions_dir.glob("*.ipynb"))
    manifest = _read_manifest(labs_dir)
    new_manifest = dict(manifest)
    expected_names = set()
    for source in sources:
        try:
            _, data = build_lab_bytes(source, check_registry=check_registry)
        except LabFormatError as exc:
            report.errors.append(f"invalid lab source {exc}")
            continue
        target = labs_dir / source.name
        expected_names.add(source.name)
        current = target.read_bytes() if target.exists() else None
        if current == data:
            report.lines.append(f"{target}: up to date")
            new_manifest[source.name] = sha256(data)
            continue
        if check:
            report.errors.append(f"{target}: {'missing' if current is None else 'out of date'} "
                                 "(run `consistency-lab build-labs` to regenerate it)")
            continue
        edited = current is not None and sha256(current) != manifest.get(source.name)
        if edited and not force:
            report.errors.append(
                f"{target}: refusing to overwrite: it was edited since build-labs generated it "
                f"(it matches neither {source} nor the last build). Save your edits elsewhere, "
                "or pass --force to overwrite it")
            continue
        labs_dir.mkdir(parents=True, exist_ok=True)
        write_atomic(target, data)
        new_manifest[source.name] = sha256(data)
        report.lines.append(f"{target}: {'overwritten (--force)' if edited else 'written'}")
    for stray in sorted(labs_dir.glob("*.ipynb")) if labs_dir.is_dir() else []:
        if LAB_FILE_RE.match(stray.name) and stray.name not in expected_names \
                and not (solutions_dir / stray.name).exists():
            report.errors.append(f"{stray}: no source {solutions_dir / stray.name}; delete it or restore the "
                                 "solution notebook")
    if not check and labs_dir.is_dir():
        kept = {name: digest for name, digest in new_manifest.items() if (labs_dir / name).exists()}
        if kept or (labs_dir / MANIFEST_NAME).exists():
            _write_manifest(labs_dir, kept)
    return report
