"""``grade``: find submissions, run each in its own runner process (in parallel), score the checks.

Scores come only from the checks the grader runs itself (public and hidden); nothing the
notebook prints or its own check cells do is trusted.  A part earns its points when every
one of its checks passes, else nothing.  Submissions are read once and copied to a private
temporary folder; the originals are never opened for writing.

Every kernel runs in the sandbox chosen once per run (``sandbox.py``: bubblewrap, or a child
subreaper).  A submission's row exists only after its runner and every process below it are
gone (:func:`grade_submission` kills what is left and sweeps for its token), and the CLI writes
``grades.csv`` and the feedback once, after :func:`grade_all` has returned.
"""

from __future__ import annotations

import dataclasses
import hashlib
import importlib.util
import json
import multiprocessing
import os
import re
import secrets
import shutil
import signal
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Optional, Sequence

from . import checks as _checks
from . import runner, sandbox
from .checks import Outcome
from .labspec import LabSpec, lab_number, load_specs, registry_problems
from .notebook_build import LabFormatError

__all__ = ["GradingError", "Settings", "Submission", "Graded", "find_notebooks", "student_name",
           "identify_lab", "collect_submissions", "grade_submission", "grade_all", "NOT_RUN"]

NOT_RUN = "not run"
# The runner owns the per-submission time limit; this slack covers its start-up and clean-up.
_OUTER_SLACK_S = 45.0
_SAFE_NAME_RE = re.compile(r"[^A-Za-z0-9._-]+")
_LABLIKE_RE = re.compile(r"^lab\d\d", re.IGNORECASE)
_CONTEXT: Optional[multiprocessing.context.BaseContext] = None


class GradingError(Exception):
    """A usage problem that stops grading before it starts (exit code 2)."""


@dataclass(frozen=True)
class Settings:
    """How to grade: where lab sources are, parallelism and time limits."""

    solutions_dir: Path = Path("solutions")
    jobs: int = 1
    cell_timeout: float = 60.0
    max_time: float = 300.0
    kernel_name: str = "python3"
    max_restarts: int = 3
    sandbox: str = "auto"
    memory: int = 4 * 1024 ** 3
    cpu_seconds: Optional[float] = None


@dataclass
class Submission:
    """One notebook to grade, identified but not yet run."""

    path: Path
    student: str
    data: bytes
    lab: Optional[str] = None
    problem: str = ""

    @property
    def digest(self) -> str:
        """SHA-256 of the submitted bytes."""
        return hashlib.sha256(self.data).hexdigest()


@dataclass
class Graded:
    """The result for one submission."""

    student: str
    lab: str
    path: Path
    points: dict[str, float] = field(default_factory=dict)
    part_max: dict[str, float] = field(default_factory=dict)
    max_total: float = 0.0
    status: str = "ok"
    outcomes: list[Outcome] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    seconds: float = 0.0
    internal_error: bool = False

    @property
    def total(self) -> float:
        """Sum of the part points."""
        return sum(self.points.values())


def find_notebooks(paths: Sequence[Path]) -> list[Path]:
    """The notebooks named by ``paths`` (folders are searched recursively, checkpoints skipped)."""
    found: list[Path] = []
    for path in paths:
        if path.is_dir():
            found.extend(p for p in sorted(path.rglob("*.ipynb")) if ".ipynb_checkpoints" not in p.parts)
        elif path.suffix == ".ipynb" and path.is_file():
            found.append(path)
        else:
            raise GradingError(f"{path}: not a notebook (.ipynb) or a folder of them")
    unique: dict[Path, Path] = {}
    for p in found:
        unique.setdefault(p.resolve(), p)
    return list(unique.values())


def student_name(path: Path) -> str:
    """The file name's stem, unless it is named like a lab: then the nearest parent folder that is not."""
    name = path.stem
    if _LABLIKE_RE.match(name):
        for parent in path.resolve().parents:
            if parent.name and not _LABLIKE_RE.match(parent.name):
                name = parent.name
                break
    return _SAFE_NAME_RE.sub("_", name).strip("._") or "student"


def identify_lab(path: Path, nb_json: dict, specs: dict[str, LabSpec]) -> tuple[Optional[str], str]:
    """(lab, problem): from ``metadata.consistency_lab.lab``, else from a 'labNN' in the path."""
    meta = nb_json.get("metadata", {}) if isinstance(nb_json, dict) else {}
    meta_lab = meta.get("consistency_lab", {}).get("lab") if isinstance(meta.get("consistency_lab"), dict) else None
    if isinstance(meta_lab, str) and meta_lab in specs:
        return meta_lab, ""
    if path.stem in specs:
        return path.stem, ""
    for text in [path.name] + [p.name for p in path.resolve().parents]:
        number = lab_number(text)
        if number:
            matches = [lab for lab in specs if lab.split("_", 1)[0] == number]
            if len(matches) == 1:
                return matches[0], ""
            break
    said = f"its metadata says {meta_lab!r}" if meta_lab else "it has no metadata.consistency_lab.lab"
    return None, (f"unknown lab: {said} and its path names no known lab "
                  f"(known: {', '.join(sorted(specs)) or 'none'})")


def collect_submissions(paths: Sequence[Path], specs: dict[str, LabSpec]) -> list[Submission]:
    """Read and identify every notebook under ``paths``; GradingError when there are none or names clash."""
    notebooks = find_notebooks(paths)
    if not notebooks:
        raise GradingError(f"no notebooks (.ipynb) found in {', '.join(str(p) for p in paths)}")
    subs = []
    for path in notebooks:
        data = path.read_bytes()
        sub = Submission(path=path, student=student_name(path), data=data)
        try:
            nb_json = json.loads(data.decode("utf-8"))
            if not isinstance(nb_json, dict) or not isinstance(nb_json.get("cells"), list):
                raise ValueError("no 'cells' list")
        except (ValueError, UnicodeDecodeError) as exc:
            sub.problem = f"unreadable notebook ({type(exc).__name__}: {str(exc)[:120]})"
            sub.lab, _ = identify_lab(path, {}, specs)
        else:
            sub.lab, sub.problem = identify_lab(path, nb_json, specs)
        subs.append(sub)
    seen: dict[tuple[str, str], Path] = {}
    for sub in subs:
        key = (sub.student, sub.lab or "?")
        if key in seen:
            raise GradingError(f"{seen[key]} and {sub.path} both count as student {sub.student!r}, lab {key[1]}; "
                               "rename one (the student is the file name, or the folder name for files named "
                               "like the lab)")
        seen[key] = sub.path
    return subs


def _pythonpath_for(module: str) -> Optional[str]:
    """The sys.path root a checks module was imported from, if the kernel may not find it by itself."""
    mod = sys.modules.get(module)
    if mod is None or not getattr(mod, "__file__", None) or module.startswith("consistency_lab."):
        return None
    root = Path(mod.__file__).resolve().parent
    for _ in range(module.count(".")):
        root = root.parent
    return str(root)


def _mp_context() -> multiprocessing.context.BaseContext:
    """Fork server where available: each runner is a fresh, killable process without re-importing nbclient."""
    global _CONTEXT
    if _CONTEXT is None:
        if "forkserver" in multiprocessing.get_all_start_methods():
            ctx = multiprocessing.get_context("forkserver")
            ctx.set_forkserver_preload(runner.PRELOAD)
        else:  # pragma: no cover - Windows
            ctx = multiprocessing.get_context("spawn")
        _CONTEXT = ctx
    return _CONTEXT


def _kill(proc: multiprocessing.process.BaseProcess, pid_file: Path) -> None:
    """Kill a runner and the kernels it started (they live in their own sessions), then the runner itself."""
    if proc.pid is not None and sys.platform.startswith("linux"):
        # While the runner lives it is a subreaper: orphans of what we kill reparent to it and are
        # found by the next round, whatever session or process group they moved to.
        sandbox.kill_descendants(proc.pid)
    try:
        pids = [int(x) for x in pid_file.read_text().split()]
    except (OSError, ValueError):
        pids = []
    for pid in pids:
        try:
            os.kill(pid, signal.SIGKILL if hasattr(signal, "SIGKILL") else signal.SIGTERM)
        except OSError:
            pass
    proc.kill()
    proc.join()


def _status(events: list[dict], fatal: str) -> tuple[str, list[str]]:
    """(status, notes) from the runner's events; the status leads with the most serious problem."""
    lead: list[str] = []
    pieces: list[str] = []
    notes: list[str] = []
    errors = [e for e in events if e["kind"] == "error"]
    for e in events:
        kind = e["kind"]
        if kind == "error":
            notes.append(f"Cell {e['cell']} raised {e['detail']}")
        elif kind == "timeout":
            pieces.append(f"timeout in cell {e['cell']} (>{e['seconds']:g} s, skipped)")
            notes.append(f"Cell {e['cell']} ran longer than {e['seconds']:g} s; it was skipped and the other "
                         "cells were run again in a fresh kernel")
        elif kind == "died":
            pieces.append(f"kernel died in cell {e['cell']} (skipped)")
            notes.append(f"Cell {e['cell']} stopped the Python kernel (os._exit, a crash, or running out of "
                         "memory); it was skipped and the other cells were run again in a fresh kernel")
        elif kind in ("check_died", "check_timeout"):
            what = "killed the kernel" if kind == "check_died" else "hung"
            pieces.append(f"kernel {'died' if kind == 'check_died' else 'hung'} during a check")
            notes.append(f"Your code {what} while the check '{e['check']}' was running; the other checks "
                         "ran in a fresh kernel")
        elif kind in ("memory", "cpu"):
            limit = (f"memory limit {sandbox.format_bytes(e['memory'])}" if kind == "memory"
                     else f"CPU limit {e['cpu_seconds']:g} s")
            pieces.append(f"{limit} exceeded in cell {e['cell']} (skipped)")
            notes.append(f"Cell {e['cell']} went over the {limit} and was stopped; it was skipped and the other "
                         "cells were run again in a fresh kernel")
        elif kind == "gave_up":
            lead.append("kernel died")
            notes.append(f"Gave up after {e['kernels']} fresh kernels; checks that never ran score nothing")
        elif kind == "wall_clock":
            lead.append(f"timeout (wall-clock limit {e['seconds']:g} s)")
            notes.append(f"Grading stopped at the {e['seconds']:g} s limit; checks that never ran score nothing")
    if errors:
        first = errors[0]
        more = f" (+{len(errors) - 1} more)" if len(errors) > 1 else ""
        pieces.insert(0, f"error in cell {first['cell']}: {first['detail'].split(':', 1)[0]}{more}")
    if fatal:
        lead.insert(0, f"internal error: {fatal}")
    status = "; ".join(lead + pieces) or "ok"
    return status, notes


def _score(graded: Graded, spec: LabSpec, outcomes: dict[str, Outcome], missing_reason: str) -> None:
    """Fill ``graded.points`` and ``graded.outcomes``: a part scores only when all its checks pass."""
    graded.max_total = spec.total
    for part in spec.parts:
        part_outcomes = []
        for chk in _checks.checks_for(spec.lab, part.part_id, include_hidden=True):
            part_outcomes.append(outcomes.get(chk.key) or Outcome(
                chk.key, chk.grade_id, chk.description, chk.public, NOT_RUN, missing_reason, chk.hint))
        graded.outcomes.extend(part_outcomes)
        passed = bool(part_outcomes) and all(o.passed for o in part_outcomes)
        graded.points[part.cell_id] = part.points if passed else 0.0
        graded.part_max[part.cell_id] = part.points


def _hidden_source(module: str) -> tuple[str, str]:
    """(file, source) of the hidden sibling of checks ``module``; ('', '') when the lab has none."""
    name = _checks.hidden_module_name(module)
    loaded = sys.modules.get(name)
    path = getattr(loaded, "__file__", None)
    if not path:
        try:
            found = importlib.util.find_spec(name)
        except (ImportError, ValueError):
            found = None
        path = found.origin if found is not None and found.has_location else None
    if not path or not path.endswith(".py"):
        return "", ""
    return path, Path(path).read_text(encoding="utf-8")


def _plan(settings: Settings, package_dir: str, extra: Optional[str], work: Path, chan: Path, private: Path,
          paths: Sequence[Path]) -> dict:
    """What the sandbox of one submission shows its kernel (see ``sandbox.py``)."""
    mode = sandbox.choose(settings.sandbox)
    roots = [package_dir] + ([extra] if extra else [])
    masks = sandbox.hidden_paths(roots)
    solutions = str(settings.solutions_dir.resolve())
    if mode == "bwrap":
        masks += [solutions] if any(solutions.startswith(r + "/") for r in roots) else []
    else:  # the kernel sees the whole machine: mask the course's secrets and the other submissions
        repo = Path(package_dir).parent
        masks += [solutions, str(repo / "solutions"), str(repo / ".git")] + [str(Path(p).resolve()) for p in paths]
    (private / "empty").write_bytes(b"")
    (private / "empty-dir").mkdir(mode=0o555)
    prefixes = {sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix,
                str(Path(sys.executable).resolve().parent.parent)}
    root = mode == "subreaper" and sys.platform.startswith("linux") and os.geteuid() == 0
    return {"mode": mode, "work": str(work), "writable": [str(work), str(chan)],
            "read_only": sorted(prefixes) + roots, "masks": sorted(set(masks)),
            "empty_file": str(private / "empty"), "empty_dir": str(private / "empty-dir"),
            "memory": settings.memory or 0, "cpu_seconds": settings.cpu_seconds or 0,
            "uid": "auto" if root else None}


def grade_submission(sub: Submission, spec: Optional[LabSpec], settings: Settings,
                     paths: Sequence[Path] = ()) -> Graded:
    """Grade one submission in a private temporary folder; never raises for problems in the notebook.

    ``paths`` are the folders being graded (in subreaper mode they are masked from the kernel).
    """
    started = time.monotonic()
    graded = Graded(student=sub.student, lab=sub.lab or "", path=sub.path)
    if spec is None or sub.problem:
        graded.status = sub.problem or "unknown lab"
        if spec is not None:
            _score(graded, spec, {}, "the notebook could not be read")
        graded.seconds = time.monotonic() - started
        return graded
    tmp = Path(tempfile.mkdtemp(prefix="consistency-lab-grade-"))
    token = secrets.token_hex(16)
    proc = None
    work = tmp / "work"
    chan = tmp / f"c-{secrets.token_hex(8)}"  # connection file, sockets, the check results
    private = tmp / f"p-{secrets.token_hex(8)}"  # the runner's files: never visible to a kernel
    try:
        tmp.chmod(0o711)  # a kernel with its own uid may enter its folders below, but not list them
        for folder in (work, chan, private):
            folder.mkdir(mode=0o700)
        (chan / "home").mkdir()
        notebook = work / sub.path.name
        notebook.write_bytes(sub.data)  # the copy we execute; the original is never touched again
        n_checks = len(_checks.checks_for(spec.lab, None, include_hidden=True))
        package_dir = str(Path(_checks.__file__).resolve().parents[1])
        extra = _pythonpath_for(spec.checks_module)
        hidden_file, hidden_source = _hidden_source(spec.checks_module)
        job = {
            "notebook": str(notebook), "workdir": str(work),
            "checks_file": str(chan / f"{secrets.token_hex(16)}.jsonl"),
            "result_file": str(private / "result.json"), "pid_file": str(private / "kernels.pid"),
            "lab": spec.lab, "checks_module": spec.checks_module, "parts": [p.part_id for p in spec.parts],
            "n_checks": n_checks, "cell_timeout": settings.cell_timeout, "max_time": settings.max_time,
            "kernel_name": settings.kernel_name, "max_restarts": settings.max_restarts,
            "package_dir": package_dir, "hidden_source": hidden_source, "hidden_file": hidden_file,
            "memory": settings.memory or 0, "cpu_seconds": settings.cpu_seconds or 0.0,
            "env": {sandbox.TOKEN_VAR: token},
            "sandbox": _plan(settings, package_dir, extra, work, chan, private, paths),
        }
        if extra:
            job["env"]["PYTHONPATH"] = os.pathsep.join([extra] + [p for p in [os.environ.get("PYTHONPATH")] if p])
        job_path = private / "job.json"
        job_path.write_text(json.dumps(job), encoding="utf-8")
        proc = _mp_context().Process(target=runner.child_main, args=(str(job_path), str(private / "runner.log")),
                                     name=f"grade-{sub.student}")
        proc.start()
        proc.join(timeout=settings.max_time + _OUTER_SLACK_S)
        killed = proc.is_alive()
        if killed:
            _kill(proc, Path(job["pid_file"]))
        result_path = Path(job["result_file"])
        if killed or not result_path.exists():
            tail = (private / "runner.log").read_text(errors="replace")[-400:].strip()
            if killed:
                graded.status = f"timeout (wall-clock limit {settings.max_time:g} s)"
                reason = "grading was stopped at the wall-clock limit"
            else:
                graded.status = f"internal error: the runner exited with code {proc.exitcode}"
                graded.internal_error = True
                graded.notes.append(f"Runner output: {tail}")
                reason = "the grader failed before this check ran"
            _score(graded, spec, {}, reason)
            return graded
        result = json.loads(result_path.read_text(encoding="utf-8"))
        outcomes = {o["key"]: Outcome.from_json(o) for o in result["outcomes"]}
        graded.status, graded.notes = _status(result["events"], result["fatal"])
        if result["problem"]:
            graded.status = result["problem"]
        graded.internal_error = bool(result["fatal"])
        if result["output_bytes"] > 1_000_000:
            graded.notes.append(f"The notebook printed {result['output_bytes'] / 1e6:.1f} MB of output "
                                "(not kept, and not needed for grading)")
        if result["problem"]:
            missing = result["problem"]
        elif any(e["kind"] == "gave_up" for e in result["events"]):
            missing = "the kernel kept dying, so this check never ran"
        else:
            missing = "this check never ran (grading stopped early)"
        _score(graded, spec, outcomes, missing)
        return graded
    finally:
        if proc is not None and proc.is_alive():  # an exception above: never leave a runner behind
            _kill(proc, private / "kernels.pid")
        if sys.platform.startswith("linux"):
            sandbox.kill_tagged(token)  # anything of this submission that outlived its runner
        graded.seconds = time.monotonic() - started
        shutil.rmtree(tmp, ignore_errors=True)


def load_lab_specs(solutions_dir: Path, labs: Optional[set[str]] = None) -> dict[str, LabSpec]:
    """Lab specs from the solution notebooks, checked against the registry; GradingError when unusable."""
    if not solutions_dir.is_dir():
        raise GradingError(f"{solutions_dir}: no such folder; the grader reads each lab's parts and points "
                           "from its solution notebook (pass --solutions DIR)")
    try:
        specs = load_specs(solutions_dir)
    except LabFormatError as exc:
        raise GradingError(f"invalid lab source {exc}") from None
    if not specs:
        raise GradingError(f"{solutions_dir}: no lab notebooks (labNN_slug.ipynb) to grade against")
    problems = [p for lab, spec in specs.items() if labs is None or lab in labs for p in registry_problems(spec)]
    if problems:
        raise GradingError("the checks registry disagrees with the solution notebooks:\n  - "
                           + "\n  - ".join(problems))
    return specs


def _require_kernel(name: str) -> None:
    """GradingError unless Jupyter knows a kernel called ``name``."""
    from jupyter_client.kernelspec import KernelSpecManager, NoSuchKernel

    manager = KernelSpecManager()
    try:
        manager.get_kernel_spec(name)
    except NoSuchKernel:
        known = ", ".join(sorted(manager.find_kernel_specs())) or "none"
        raise GradingError(f"no Jupyter kernel named {name!r} (installed: {known})") from None


def grade_all(paths: Sequence[Path], settings: Settings,
              progress: Optional[Callable[[int, int, Graded], None]] = None,
              scheduler: Any = None) -> list[Graded]:
    """Grade every submission under ``paths`` (``settings.jobs`` at a time); results sorted by student, lab.

    With ``scheduler`` (a Dask address such as ``tcp://host:8786``, or a cluster object) each
    submission is one task on that cluster, graded there by the same :func:`grade_submission`.
    """
    _require_kernel(settings.kernel_name)
    settings = dataclasses.replace(settings, sandbox=sandbox_mode(settings))
    specs = load_lab_specs(settings.solutions_dir)
    subs = collect_submissions(paths, specs)
    if scheduler is not None:
        return _grade_on_dask(subs, specs, settings, paths, scheduler, progress)
    from ..executor import open_executor

    results: list[Graded] = []
    tasks = [(sub, specs.get(sub.lab or ""), settings, paths) for sub in subs]
    reaper = settings.sandbox == "subreaper" and sandbox.set_subreaper(True)
    try:
        # Threads: each task starts (and waits for) its own runner process.
        with open_executor(None, settings.jobs, threads=True) as ex:
            for done, graded in enumerate(ex.map(_grade_local, tasks), start=1):
                results.append(graded)
                if progress:
                    progress(done, len(tasks), graded)
    finally:
        if reaper:
            sandbox.set_subreaper(False)
    results.sort(key=lambda g: (g.student, g.lab, str(g.path)))
    return results


def _grade_local(task: tuple) -> Graded:
    """One submission graded from this process (the grader is already the subreaper, if one is needed)."""
    return grade_submission(*task)


_DAEMON_HINT = ("a Dask worker runs each submission's runner as a child process, which daemonic workers may "
                "not start: run the workers with DASK_DISTRIBUTED__WORKER__DAEMON=False (or dask worker --no-nanny)")
_REAPERS = [0]
_REAPERS_LOCK = threading.Lock()


def _grade_task(task: tuple) -> Graded:
    """One submission graded on a Dask worker: the local path's :func:`grade_submission`, in the same sandbox."""
    sub, spec, settings, paths, roots = task
    if multiprocessing.current_process().daemon:
        raise GradingError(_DAEMON_HINT)
    for root in roots:  # where the client found the lab's checks module (a course outside the package)
        if root not in sys.path:
            sys.path.insert(0, root)
    if spec is not None and not _checks.checks_for(spec.lab, None, include_hidden=True):
        _checks.load_lab_checks(spec.lab, spec.checks_module, hidden=True)
    reaper = settings.sandbox == "subreaper"
    if reaper:
        with _REAPERS_LOCK:  # a worker with several threads: the first task on turns it on, the last off
            _REAPERS[0] += 1
            if _REAPERS[0] == 1:
                sandbox.set_subreaper(True)
    try:
        return grade_submission(sub, spec, settings, paths)
    finally:
        if reaper:
            with _REAPERS_LOCK:
                _REAPERS[0] -= 1
                if _REAPERS[0] == 0:
                    sandbox.set_subreaper(False)


def _grade_on_dask(subs: list[Submission], specs: dict[str, LabSpec], settings: Settings, paths: Sequence[Path],
                   scheduler: Any, progress: Optional[Callable[[int, int, Graded], None]]) -> list[Graded]:
    """Every submission as one task on the Dask cluster at ``scheduler``; GradingError when it cannot be used."""
    from ..executor import ExecutorError, open_executor

    roots = sorted({r for spec in specs.values() for r in [_pythonpath_for(spec.checks_module)] if r})
    tasks = [(sub, specs.get(sub.lab or ""), settings, tuple(paths), roots) for sub in subs]
    results: list[Graded] = []
    try:
        with open_executor(scheduler) as ex:
            for done, graded in enumerate(ex.map(_grade_task, tasks), start=1):
                results.append(graded)
                if progress:
                    progress(done, len(tasks), graded)
    except ExecutorError as exc:
        raise GradingError(str(exc)) from None
    results.sort(key=lambda g: (g.student, g.lab, str(g.path)))
    return results


def sandbox_mode(settings: Settings) -> str:
    """The sandbox mode ``settings`` ask for, resolved ('auto' -> bwrap where it works); GradingError if unusable."""
    try:
        return sandbox.choose(settings.sandbox)
    except ValueError as exc:
        raise GradingError(str(exc)) from None

